import CopyprofProfile
import Foundation

/// Two profiles compared cell by cell, the way benchstat compares benchmark runs: medians with confidence
/// intervals, a Mann-Whitney U test, and a change that counts only when it is significant and beyond a threshold.
///
/// Two things keep a drifting machine from passing for a change of the software. The control workload of each
/// profile tells how much the machine itself moved: where it moved significantly, changes of time metrics are judged
/// relative to it. And each transport's ratio to two-copy, taken round by round within a run, is immune to drift the
/// transports share: how those ratios changed is compared too.
public struct Comparison: Sendable {
    /// The metrics compared, where both profiles measured them.
    public static let metrics: [Metric] = [
        .throughput, .rttP50, .rttP99, .cpuNsPerByte, .receiverCPUNsPerByte, .cyclesPerByte, .instructionsPerByte,
        .l1dMissesPerKB, .llcMissesPerKB, .contextSwitchesPerMB, .mappedShare,
    ]

    /// The metrics whose ratio to two-copy is compared, for a workload.
    public static func relativeMetrics(_ mode: Workload) -> [Metric] { [Metric.primary(for: mode), .cpuNsPerByte] }

    public enum Verdict: String, Sendable, Codable {
        case regression, improvement, unchanged
        /// Too few trials for a test (fewer than 4 in either sample).
        case untestable
        /// Measured differently in the two profiles (user-only against user and kernel, or perf against getrusage):
        /// a difference of method, not of the code.
        case incomparable
    }

    public struct Row: Sendable, Codable {
        public var cell: CellKey
        public var metric: Metric
        public var unit: String
        public var baseline: Summary
        public var candidate: Summary
        /// Percent change of the medians, candidate against baseline.
        public var change: Double
        /// The change's 95% interval in percent (Bauer's, of the ratio); nil where a value is 0.
        public var changeLow: Double?
        public var changeHigh: Double?
        public var p: Double?
        /// The change relative to the control, in percent, with its p: the candidate's values corrected by the
        /// machine's drift. Nil where the machine did not move significantly or the metric is a count.
        public var correctedChange: Double?
        public var correctedP: Double?
        /// The verdict: where the control corrects the metric, a change counts only when it counts both as measured
        /// and relative to the control; elsewhere on the change as measured.
        public var verdict: Verdict
        /// The verdict the uncorrected change would get.
        public var uncorrectedVerdict: Verdict
        /// The change, in percent, that the transports of the cell's group (same workload, size and threads) share on
        /// this metric: the median of their changes; nil with fewer than three of them, or where nothing changed.
        public var sharedChange: Double?
        /// True when the change counted as measured (and relative to the control) but not against the movement the
        /// transports of its group share: a drift the control does not see, or a change common to every transport.
        public var explainedByGroup = false
    }

    /// A transport's ratio to two-copy in the same cell, in each profile, and how it changed.
    public struct RelativeRow: Sendable, Codable {
        /// The transport's cell; the reference is two-copy's cell of the same workload, size and threads.
        public var cell: CellKey
        public var metric: Metric
        /// Per-round ratios to two-copy.
        public var baseline: Summary
        public var candidate: Summary
        /// Percent change of the median ratio.
        public var change: Double
        /// The change's 95% interval in percent.
        public var changeLow: Double?
        public var changeHigh: Double?
        public var p: Double?
        public var verdict: Verdict
    }

    /// A ratio between the profiles' control times, candidate against baseline.
    public struct Shift: Sendable, Codable {
        /// The Hodges-Lehmann estimate of candidate/baseline.
        public var ratio: Double
        /// Its 95% interval from order statistics (``Statistics/ratioInterval(_:_:confidence:)``).
        public var low: Double?
        public var high: Double?
        /// Mann-Whitney U of the two samples.
        public var p: Double?
        /// True when p < α with at least 4 runs of the control on each side.
        public var significant: Bool

        /// (ratio − 1) × 100.
        public var percent: Double { (ratio - 1) * 100 }
    }

    /// How the machine itself moved: the control's times in both profiles.
    public struct MachineDrift: Sendable, Codable {
        /// Wall time of each run of the control's copies and system calls, ms.
        public var baselineMs: Summary
        public var candidateMs: Summary
        /// Their wall time, candidate against baseline: corrects stream throughput and message rate.
        public var wall: Shift
        /// Their CPU time, candidate against baseline: corrects stream CPU ns/B.
        public var cpu: Shift
        /// Wall time of a round trip of the control's pipe ping-pong between two threads, µs; nil when either profile
        /// lacks it.
        public var baselineWakeUs: Summary?
        public var candidateWakeUs: Summary?
        /// Its wall time, candidate against baseline: corrects ping-pong RTT, throughput and message rate.
        public var wakeWall: Shift?
        /// The CPU time of its two threads, candidate against baseline: corrects ping-pong CPU ns/B.
        public var wakeCPU: Shift?

        /// How many times faster the candidate's machine computed (below 1: slower).
        public var speedup: Double { 1 / wall.ratio }
        /// True when any clock of the control moved significantly.
        public var moved: Bool {
            wall.significant || cpu.significant || wakeWall?.significant == true || wakeCPU?.significant == true
        }

        /// The factor a candidate's value of `metric` in a cell of workload `mode` is multiplied by to take the
        /// machine's drift out, or nil when the control does not correct it (a count) or the part of the control
        /// that goes with it did not move significantly: copies and system calls for stream, wake-ups for ping-pong.
        public func correction(for metric: Metric, mode: Workload) -> Double? {
            guard let (clock, grows) = metric.clock else { return nil }
            let shift: Shift?
            switch (mode, clock) {
            case (.stream, .wall): shift = wall
            case (.stream, .cpu): shift = cpu
            case (.pingpong, .wall): shift = wakeWall
            case (.pingpong, .cpu): shift = wakeCPU
            }
            guard let shift, shift.significant, shift.ratio > 0 else { return nil }
            return grows ? 1 / shift.ratio : shift.ratio
        }
    }

    public struct Geomean: Sendable, Codable {
        public var metric: Metric
        /// Percent change of the geometric mean of per-cell median ratios.
        public var change: Double
        public var cells: Int
    }

    public var rows: [Row]
    public var relativeRows: [RelativeRow]
    /// Nil when a profile has no control (written before copyprof ran one).
    public var drift: MachineDrift?
    /// Which profiles lack a control, for the warning.
    public var withoutControl: [String]
    public var geomeans: [Geomean]
    public var environmentDifferences: [String]
    /// Metrics measured differently in the two profiles (mode or source); their rows are ``Verdict/incomparable``.
    public var methodDifferences: [String]
    public var onlyInBaseline: [CellKey]
    public var onlyInCandidate: [CellKey]
    public var threshold: Double
    public var alpha: Double
    public var baselinePath: String
    public var candidatePath: String

    public init(baseline: Profile, candidate: Profile, baselinePath: String, candidatePath: String,
                threshold: Double = 5, alpha: Double = 0.05) {
        self.threshold = threshold
        self.alpha = alpha
        self.baselinePath = baselinePath
        self.candidatePath = candidatePath
        environmentDifferences = baseline.environment.differences(from: candidate.environment)
        withoutControl = [("baseline", baseline), ("candidate", candidate)].filter { ($0.1.control?.samples.isEmpty ?? true) }.map(\.0)
        drift = Self.drift(baseline.control, candidate.control, alpha: alpha)
        let baseKeys = Set(baseline.cells.map(\.key)), candKeys = Set(candidate.cells.map(\.key))
        onlyInBaseline = baseKeys.subtracting(candKeys).sorted()
        onlyInCandidate = candKeys.subtracting(baseKeys).sorted()
        let commonKeys = baseKeys.intersection(candKeys)
        let common = commonKeys.sorted()
        var rows: [Row] = []
        var methodDifferences: [String] = []
        for key in common {
            guard let b = baseline.cell(key), let c = candidate.cell(key) else { continue }
            for metric in Self.metrics {
                guard let sb = metric.summary(of: b), let sc = metric.summary(of: c), metric.higherIsBetter != nil else { continue }
                let change = Self.percentChange(sb.median, sc.median)
                let p = Statistics.mannWhitneyU(sc.values, sb.values)?.p
                if sb.userOnly != sc.userOnly || sb.sources != sc.sources {
                    let describe = { (s: Summary) in
                        (s.sources.map(\.rawValue).joined(separator: "+") + (s.userOnly ? " user-only" : "")).trimmingCharacters(in: .whitespaces)
                    }
                    let difference = "\(metric.title): \(describe(sb)) in the baseline, \(describe(sc)) in the candidate"
                    if !methodDifferences.contains(difference) { methodDifferences.append(difference) }
                    rows.append(Row(
                        cell: key, metric: metric, unit: metric.unit, baseline: sb, candidate: sc, change: change, p: p,
                        verdict: .incomparable, uncorrectedVerdict: .incomparable))
                    continue
                }
                let interval = Self.changeInterval(sb.values, sc.values, alpha: alpha)
                let uncorrected = Self.verdict(
                    metric, sb.values, sc.values, change: change, p: p, interval: interval, alpha: alpha, threshold: threshold)
                var row = Row(
                    cell: key, metric: metric, unit: metric.unit, baseline: sb, candidate: sc, change: change,
                    changeLow: interval?.low, changeHigh: interval?.high, p: p, verdict: uncorrected, uncorrectedVerdict: uncorrected)
                if let factor = drift?.correction(for: metric, mode: key.mode) {
                    let correctedValues = sc.values.map { $0 * factor }
                    let cp = Statistics.mannWhitneyU(correctedValues, sb.values)?.p
                    let cchange = Self.percentChange(sb.median, sc.median * factor)
                    row.correctedChange = cchange
                    row.correctedP = cp
                    // A change counts when it does both as measured and relative to the control: the drift explains
                    // the rest, and a correction alone (the control moved, the metric did not) proves nothing.
                    let correctedVerdict = Self.verdict(
                        metric, sb.values, correctedValues, change: cchange, p: cp,
                        interval: Self.changeInterval(sb.values, correctedValues, alpha: alpha), alpha: alpha, threshold: threshold)
                    row.verdict = correctedVerdict == uncorrected ? correctedVerdict : .unchanged
                }
                rows.append(row)
            }
        }
        // Movement every transport of a cell group shares: the median of their median ratios, where at least three
        // transports of the group measured the metric the same way. A change counts only where it also counts against
        // it: one transport's own change barely moves the median of four, a drift they all share moves it all the way.
        struct GroupKey: Hashable {
            var mode: Workload, size: Int, threads: Int, metric: Metric
        }
        var groupRatios: [GroupKey: [Double]] = [:]
        for row in rows where row.verdict != .incomparable && row.baseline.median > 0 && row.candidate.median > 0 {
            let group = GroupKey(mode: row.cell.mode, size: row.cell.messageSize, threads: row.cell.threads, metric: row.metric)
            groupRatios[group, default: []].append(row.candidate.median / row.baseline.median)
        }
        for i in rows.indices where rows[i].verdict == .regression || rows[i].verdict == .improvement {
            let row = rows[i]
            let group = GroupKey(mode: row.cell.mode, size: row.cell.messageSize, threads: row.cell.threads, metric: row.metric)
            guard let ratios = groupRatios[group], ratios.count >= 3, let shared = Statistics.median(ratios), shared > 0 else { continue }
            rows[i].sharedChange = (shared - 1) * 100
            let values = row.candidate.values.map { $0 / shared }
            let gchange = Self.percentChange(row.baseline.median, row.candidate.median / shared)
            let gp = Statistics.mannWhitneyU(values, row.baseline.values)?.p
            let groupVerdict = Self.verdict(
                row.metric, row.baseline.values, values, change: gchange, p: gp,
                interval: Self.changeInterval(row.baseline.values, values, alpha: alpha), alpha: alpha, threshold: threshold)
            if groupVerdict != row.verdict {
                rows[i].verdict = .unchanged
                rows[i].explainedByGroup = true
            }
        }
        self.rows = rows

        var relativeRows: [RelativeRow] = []
        let base = Analysis(profile: baseline), cand = Analysis(profile: candidate)
        for key in common where key.transport != .twoCopy {
            let reference = CellKey(transport: .twoCopy, mode: key.mode, messageSize: key.messageSize, threads: key.threads)
            guard commonKeys.contains(reference) else { continue }
            for metric in Self.relativeMetrics(key.mode) {
                guard let rb = base.relative(metric, key, to: reference), let rc = cand.relative(metric, key, to: reference) else { continue }
                let sb = rb.summary, sc = rc.summary
                let change = Self.percentChange(sb.median, sc.median)
                let p = Statistics.mannWhitneyU(sc.values, sb.values)?.p
                let interval = Self.changeInterval(sb.values, sc.values, alpha: alpha)
                relativeRows.append(RelativeRow(
                    cell: key, metric: metric, baseline: sb, candidate: sc, change: change, changeLow: interval?.low,
                    changeHigh: interval?.high, p: p,
                    verdict: Self.verdict(
                        metric, sb.values, sc.values, change: change, p: p, interval: interval, alpha: alpha, threshold: threshold)))
            }
        }
        self.relativeRows = relativeRows
        self.methodDifferences = methodDifferences

        geomeans = Self.metrics.compactMap { metric in
            let ratios = rows.filter { $0.metric == metric && $0.verdict != .incomparable && $0.baseline.median > 0 && $0.candidate.median > 0 }
                .map { $0.candidate.median / $0.baseline.median }
            guard let g = Statistics.geometricMean(ratios) else { return nil }
            return Geomean(metric: metric, change: (g - 1) * 100, cells: ratios.count)
        }
    }

    /// (candidate − baseline) / |baseline| in percent; 0 when the baseline is 0.
    static func percentChange(_ baseline: Double, _ candidate: Double) -> Double {
        baseline == 0 ? 0 : (candidate - baseline) / abs(baseline) * 100
    }

    /// The interval of a change in percent, candidate against baseline: Bauer's order-statistics interval of the ratio
    /// (``Statistics/ratioInterval(_:_:confidence:)``), the one that goes with the Mann-Whitney test; nil when a value
    /// is not positive or the samples are too small.
    static func changeInterval(_ baseline: [Double], _ candidate: [Double], alpha: Double) -> (low: Double, high: Double)? {
        Statistics.ratioInterval(candidate, baseline, confidence: 1 - alpha).map { (($0.low - 1) * 100, ($0.high - 1) * 100) }
    }

    /// A change counts when both samples have at least 4 values, the Mann-Whitney test gives p < α, the medians differ
    /// by the threshold, and the change's 1 − α interval lies wholly beyond half the threshold: the data say with 95%
    /// confidence that the change is more than a negligible one, not only that there is one. (Where the interval
    /// cannot be had, a value of 0, the first three suffice.) On a drifting machine this keeps a noisy cell whose
    /// median moved past the threshold by chance from counting. Measured on 21 pairs of identical runs and 3 pairs
    /// with one transport about 10% slower: with the interval beyond 0 (the test alone) the identical pairs flagged
    /// up to 4 of 88 comparisons; beyond the whole threshold, up to 1 but the slower transport was never found; beyond
    /// half of it, up to 2, and the slower transport was found in every pair.
    static func verdict(
        _ metric: Metric, _ baseline: [Double], _ candidate: [Double], change: Double, p: Double?,
        interval: (low: Double, high: Double)?, alpha: Double, threshold: Double
    ) -> Verdict {
        guard let higher = metric.higherIsBetter else { return .unchanged }
        if baseline.count < 4 || candidate.count < 4 { return .untestable }
        guard let p, p < alpha, abs(change) >= threshold else { return .unchanged }
        let margin = threshold / 2
        if let interval, !(interval.low >= margin || interval.high <= -margin) { return .unchanged }
        return (change > 0) == higher ? .improvement : .regression
    }

    /// The control's move between two profiles; nil when either has none.
    static func drift(_ baseline: ControlRecord?, _ candidate: ControlRecord?, alpha: Double) -> MachineDrift? {
        guard let baseline, let candidate,
            let bMs = Summary(baseline.samples.map { Double($0.wallNs) / 1e6 }),
            let cMs = Summary(candidate.samples.map { Double($0.wallNs) / 1e6 })
        else { return nil }
        func shift(_ b: [Double], _ c: [Double]) -> Shift {
            let interval = Statistics.ratioInterval(c, b)
            let mb = Statistics.median(b) ?? 0, mc = Statistics.median(c) ?? 0
            let ratio = interval?.estimate ?? (mb > 0 ? mc / mb : 1)
            let p = Statistics.mannWhitneyU(c, b)?.p
            let significant = b.count >= 4 && c.count >= 4 && (p ?? 1) < alpha
            return Shift(ratio: ratio, low: interval?.low, high: interval?.high, p: p, significant: significant)
        }
        // A different control workload cannot be compared.
        guard baseline.copyBufferBytes == candidate.copyBufferBytes, baseline.copyRepetitions == candidate.copyRepetitions,
            baseline.syscalls == candidate.syscalls
        else { return nil }
        var drift = MachineDrift(
            baselineMs: bMs, candidateMs: cMs, wall: shift(bMs.values, cMs.values),
            cpu: shift(baseline.samples.map { Double($0.cpuNs) / 1e6 }, candidate.samples.map { Double($0.cpuNs) / 1e6 }))
        // Wake-ups, where both ran the same ping-pong and it ran in every round.
        if baseline.wakeRoundTrips == candidate.wakeRoundTrips, baseline.wakeRoundTrips > 0,
            baseline.samples.allSatisfy({ $0.wakeNs > 0 }), candidate.samples.allSatisfy({ $0.wakeNs > 0 })
        {
            let trips = Double(baseline.wakeRoundTrips)
            func perTrip(_ r: ControlRecord, _ ns: (ControlSample) -> UInt64) -> [Double] { r.samples.map { Double(ns($0)) / trips / 1e3 } }
            let bWake = perTrip(baseline, \.wakeNs), cWake = perTrip(candidate, \.wakeNs)
            drift.baselineWakeUs = Summary(bWake)
            drift.candidateWakeUs = Summary(cWake)
            drift.wakeWall = shift(bWake, cWake)
            drift.wakeCPU = shift(perTrip(baseline, \.wakeCPUNs), perTrip(candidate, \.wakeCPUNs))
        }
        return drift
    }

    public var regressions: [Row] { rows.filter { $0.verdict == .regression } }
    public var improvements: [Row] { rows.filter { $0.verdict == .improvement } }
    public var relativeRegressions: [RelativeRow] { relativeRows.filter { $0.verdict == .regression } }
    public var relativeImprovements: [RelativeRow] { relativeRows.filter { $0.verdict == .improvement } }

    /// Rows whose change as measured would have counted, but not relative to the control: the machine's drift
    /// explains them.
    public var explainedByDrift: [Row] {
        rows.filter { $0.correctedChange != nil && $0.uncorrectedVerdict != $0.verdict && !$0.explainedByGroup }
    }

    /// Rows whose change counted as measured but is shared alike by the transports of its group.
    public var sharedByGroup: [Row] { rows.filter(\.explainedByGroup) }

    /// Rows the control corrects (their metric's clock moved significantly).
    public var corrected: [Row] { rows.filter { $0.correctedChange != nil } }

    /// Comparisons with too few trials on a side for any test (cells and ratios to two-copy).
    public var untestableCount: Int {
        rows.filter { $0.verdict == .untestable }.count + relativeRows.filter { $0.verdict == .untestable }.count
    }

    /// True when most comparisons cannot be tested: "nothing changed" would then say nothing.
    public var mostlyUntestable: Bool {
        let total = rows.count + relativeRows.count
        return total > 0 && untestableCount * 2 > total
    }

    /// 0 when nothing changed, 2 when anything regressed (a cell's metric after the control's correction, or a ratio to
    /// two-copy), 4 when there are only improvements (package-benchmark's codes); 3 when nothing was found but most
    /// comparisons had too few trials to test, so that a script does not read "nothing changed".
    public var exitCode: Int32 {
        if !regressions.isEmpty || !relativeRegressions.isEmpty { return 2 }
        if !improvements.isEmpty || !relativeImprovements.isEmpty { return 4 }
        return mostlyUntestable ? 3 : 0
    }

    /// Per metric, the median half-width of the cells' 95% intervals in percent of their medians, over both profiles:
    /// the noise within these runs, below which no change can be told apart. Empty when no cell has an interval
    /// (fewer than 6 trials).
    public var noise: [(metric: Metric, percent: Double)] {
        Self.metrics.compactMap { metric in
            let widths = rows.filter { $0.metric == metric }
                .flatMap { [$0.baseline.relativeHalfWidth, $0.candidate.relativeHalfWidth] }
                .compactMap { $0 }.filter(\.isFinite)
            return Statistics.median(widths).map { (metric, $0 * 100) }
        }
    }
}
