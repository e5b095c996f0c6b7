import CopyprofModel
import CopyprofProfile
import Foundation

/// Two profiles compared cell by cell, the way benchstat compares benchmark runs: medians with confidence
/// intervals, a Mann-Whitney U test, and a change that counts only when it is significant and beyond a threshold.
///
/// Two things keep a drifting machine from passing for a change of the software. The control workload of each
/// profile tells how much the machine itself moved: where it moved significantly, changes of time metrics are judged
/// relative to it. And each transport's ratio to two-copy, taken round by round within a run, is immune to drift the
/// transports share: how those ratios changed is compared too. A third keeps a run's shared moment from passing for a
/// change: the trials of one run are not independent of it, and all the comparisons together say by how much the runs
/// differ beyond their trials (``BetweenRuns``); every test allows for that.
package struct Comparison: Sendable {
    /// The metrics compared, where both profiles measured them.
    package static let metrics: [Metric] = [
        .throughput, .roundTripRate, .rttP50, .rttP99, .cpuNsPerByte, .receiverCPUNsPerByte, .cyclesPerByte, .instructionsPerByte,
        .l1dMissesPerKB, .llcMissesPerKB, .contextSwitchesPerMB, .mappedShare,
    ]

    /// The metrics whose ratio to two-copy is compared, for a workload.
    package static func relativeMetrics(_ mode: Workload) -> [Metric] { [Metric.primary(for: mode), .cpuNsPerByte] }

    package enum Verdict: String, Sendable, Codable {
        case regression, improvement, unchanged
        /// Too few trials for a test (fewer than 4 in either sample).
        case untestable
        /// The cell's trials disagree in either run (stalls, two modes: ``Instability``): its median is no basis for a
        /// change, either way.
        case unstable
        /// Measured differently in the two profiles (user-only against user and kernel, or perf against getrusage):
        /// a difference of method, not of the code.
        case incomparable
    }

    package struct Row: Sendable, Codable {
        /// The baseline's cell.
        package var cell: CellKey
        /// The candidate's cell when it is another one (profiles compared along a dimension: ``Pairing``).
        package var candidateCell: CellKey?
        package var metric: Metric
        package var unit: String
        package var baseline: Summary
        package var candidate: Summary
        /// Percent change of the medians, candidate against baseline.
        package var change: Double
        /// The change's 95% interval in percent (Bauer's, of the ratio), widened for the spread between the runs
        /// (``Comparison/betweenRuns``); nil where a value is 0.
        package var changeLow: Double?
        package var changeHigh: Double?
        /// The p the verdict used: the Mann-Whitney test's, allowed for the spread between the runs.
        package var p: Double?
        /// The test's p before the allowance for the spread between the runs: the Mann-Whitney test's of the trials;
        /// where the run is the unit (``Comparison/runs``), Welch's of the runs, the same as ``p``.
        package var trialsP: Double?
        /// The change relative to the control, in percent, with its p: the candidate's values corrected by the
        /// machine's drift. Nil where the machine did not move significantly or the metric is a count.
        package var correctedChange: Double?
        package var correctedP: Double?
        /// The verdict: where the control corrects the metric, a change counts only when it counts both as measured
        /// and relative to the control; elsewhere on the change as measured.
        package var verdict: Verdict
        /// The verdict the uncorrected change would get.
        package var uncorrectedVerdict: Verdict
        /// The verdict the trials alone would give: no allowance for the spread between the runs, no control.
        package var trialsVerdict: Verdict
        /// The change, in percent, that the transports of the cell's group (same workload, size and connections) share on
        /// this metric: the median of their changes; nil with fewer than three of them, or where nothing changed.
        package var sharedChange: Double?
        /// True when the change counted as measured (and relative to the control) but not against the movement the
        /// transports of its group share: a drift the control does not see, or a change common to every transport.
        package var explainedByGroup = false
        /// Why the row is ``Verdict/unstable``: which run's trials disagree, and how.
        package var instability: String?
        /// Where the run is the unit: each run's value (its median), per side; what the test and the change are of.
        package var runValues: RunValues?
    }

    /// Each run's value of a metric, per side, where the run is the unit of the test.
    package struct RunValues: Sendable, Codable, Hashable {
        package var baseline: [Double]
        package var candidate: [Double]
    }

    /// A transport's ratio to two-copy in the same cell, in each profile, and how it changed.
    package struct RelativeRow: Sendable, Codable {
        /// The transport's cell; the reference is two-copy's cell of the same workload, size and connections.
        package var cell: CellKey
        /// The candidate's cell when it is another one (``Pairing``).
        package var candidateCell: CellKey?
        package var metric: Metric
        /// Per-round ratios to two-copy.
        package var baseline: Summary
        package var candidate: Summary
        /// Percent change of the median ratio.
        package var change: Double
        /// The change's 95% interval in percent, widened for the spread between the runs.
        package var changeLow: Double?
        package var changeHigh: Double?
        /// The p the verdict used, allowed for the spread between the runs; ``trialsP`` is the test's before that allowance.
        package var p: Double?
        package var trialsP: Double?
        package var verdict: Verdict
        /// The verdict the trials alone would give, without the allowance for the spread between the runs.
        package var trialsVerdict: Verdict
        /// Why the row is ``Verdict/unstable``.
        package var instability: String?
        /// Where the run is the unit: each run's median ratio, per side.
        package var runValues: RunValues?
    }

    /// A dimension of the matrix along which two profiles' cells can be paired.
    package enum Dimension: String, Sendable, Codable, CaseIterable {
        case transport, receiver, workload
        case messageSize = "message size"
        case connections

        /// The key's value in this dimension, as text.
        func value(_ key: CellKey) -> String {
            switch self {
            case .transport: return key.transport.rawValue
            case .receiver: return key.receiver.rawValue
            case .workload: return key.workload.name
            case .messageSize: return String(key.messageSize)
            case .connections: return String(key.connections)
            }
        }

        /// The key with this dimension's value taken from `other`.
        func setting(_ key: CellKey, from other: CellKey) -> CellKey {
            var key = key
            switch self {
            case .transport: key.transport = other.transport
            case .receiver: key.receiver = other.receiver
            case .workload: key.workload = other.workload
            case .messageSize: key.messageSize = other.messageSize
            case .connections: key.connections = other.connections
            }
            return key
        }

        /// `1 → 4 connections`, `64 → 65536 B messages`, `receiver copy → mmap`: values of it as the headline names them.
        func phrase(_ a: String, _ b: String) -> String {
            switch self {
            case .connections: return "\(a) → \(b) connections"
            case .messageSize: return "\(a) → \(b) B messages"
            default: return "\(rawValue) \(a) → \(b)"
            }
        }
    }

    /// Profiles that share no cell but differ in one dimension only, with one value of it each (`1 → 4
    /// connections`): their cells are paired along it, the rest of each key equal.
    package struct Pairing: Sendable, Codable {
        package var dimension: Dimension
        package var baseline: String
        package var candidate: String

        /// `comparing 1 → 4 connections`.
        package var description: String { "comparing " + dimension.phrase(baseline, candidate) }
    }

    /// A ratio between the profiles' control times, candidate against baseline.
    package struct Shift: Sendable, Codable {
        /// The Hodges-Lehmann estimate of candidate/baseline.
        package var ratio: Double
        /// Its 95% interval from order statistics (``Statistics/ratioInterval(_:_:confidence:)``).
        package var low: Double?
        package var high: Double?
        /// Mann-Whitney U of the two samples.
        package var p: Double?
        /// True when p < α with at least 4 runs of the control on each side (where the run is the unit, Welch's p of
        /// the runs' medians of the control, 2 runs or more a side).
        package var significant: Bool

        /// (ratio − 1) × 100.
        package var percent: Double { (ratio - 1) * 100 }
    }

    /// How the machine itself moved: the control's times in both profiles.
    package struct MachineDrift: Sendable, Codable {
        /// Wall time of each run of the control's copies and system calls, ms.
        package var baselineMs: Summary
        package var candidateMs: Summary
        /// Their wall time, candidate against baseline: corrects stream throughput and message rate.
        package var wall: Shift
        /// Their CPU time, candidate against baseline: corrects stream CPU ns/B.
        package var cpu: Shift
        /// Wall time of a round trip of the control's pipe ping-pong between two threads, µs; nil when either profile
        /// lacks it.
        package var baselineWakeUs: Summary?
        package var candidateWakeUs: Summary?
        /// Its wall time, candidate against baseline: corrects ping-pong RTT, throughput and message rate.
        package var wakeWall: Shift?
        /// The CPU time of its two threads, candidate against baseline: corrects ping-pong CPU ns/B.
        package var wakeCPU: Shift?

        /// How many times faster the candidate's machine computed (below 1: slower).
        package var speedup: Double { 1 / wall.ratio }
        /// True when any clock of the control moved significantly.
        package var moved: Bool {
            wall.significant || cpu.significant || wakeWall?.significant == true || wakeCPU?.significant == true
        }

        /// The factor a candidate's value of `metric` in a cell of workload `mode` is multiplied by to take the
        /// machine's drift out, or nil when the control does not correct it (a count) or the part of the control
        /// that goes with it did not move significantly: copies and system calls for stream, wake-ups for ping-pong.
        package func correction(for metric: Metric, mode: Workload) -> Double? {
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

    package struct Geomean: Sendable, Codable {
        package var metric: Metric
        /// Percent change of the geometric mean of per-cell median ratios.
        package var change: Double
        package var cells: Int
    }

    package var rows: [Row]
    package var relativeRows: [RelativeRow]
    /// Nil when a profile has no control (written before copyprof ran one).
    package var drift: MachineDrift?
    /// Which profiles lack a control, for the warning.
    package var withoutControl: [String]
    /// Which pooled sides have a control in some of their runs only (so none is pooled).
    package var controlInSomeRuns: [String] = []
    package var geomeans: [Geomean]
    package var environmentDifferences: [String]
    /// Metrics measured differently in the two profiles (mode or source); their rows are ``Verdict/incomparable``.
    package var methodDifferences: [String]
    package var onlyInBaseline: [CellKey]
    package var onlyInCandidate: [CellKey]
    /// The dimension the cells were paired along, when the profiles share no cell.
    package var pairing: Pairing?
    /// Why nothing could be compared — the profiles share no cell and cannot be paired — in one line naming the
    /// dimensions that differ; nil otherwise. Exit status 3.
    package var nothingInCommon: String?
    package var threshold: Double
    package var alpha: Double
    /// How much more the two runs differ than their trials say, from all the comparisons' tests; every p and interval
    /// allows for it. Nil with fewer than ``BetweenRuns/minimumComparisons`` testable comparisons, and where the run
    /// is the unit (``runs``).
    package var betweenRuns: BetweenRuns?
    /// How many runs each side pooled, where both pooled two or more and every test took the run as its unit
    /// (``RunLevelTest``); nil where the trial is the unit.
    package var runs: RunCounts?
    /// How many runs each side pooled, where one side pooled several but the other did not: the trial stays the unit.
    package var unevenRuns: RunCounts?

    /// The runs of each side.
    package struct RunCounts: Sendable, Codable, Hashable {
        package var baseline: Int
        package var candidate: Int
    }
    /// Shifts in where each role's time went; nil when neither profile was sampled.
    package var attributionShifts: AttributionComparison?
    package var baselinePath: String
    package var candidatePath: String

    /// Compares `baseline` with `candidate`. When each side is several runs pooled (``Profile/pooling(_:names:)``),
    /// `baselineRuns` and `candidateRuns` are those runs: with at least two on each side, every test takes the run as
    /// its unit (``RunLevelTest``) rather than the trial.
    package init(baseline: Profile, candidate: Profile, baselinePath: String, candidatePath: String,
                threshold: Double = 5, alpha: Double = 0.05, baselineRuns: [Profile] = [], candidateRuns: [Profile] = []) {
        self.threshold = threshold
        self.alpha = alpha
        self.baselinePath = baselinePath
        self.candidatePath = candidatePath
        environmentDifferences = baseline.environment.differences(from: candidate.environment)
        attributionShifts = AttributionComparison(
            baseline: baseline, candidate: candidate, alpha: alpha, baselineRuns: baselineRuns, candidateRuns: candidateRuns)
        withoutControl = [("baseline", baseline), ("candidate", candidate)].filter { ($0.1.control?.samples.isEmpty ?? true) }.map(\.0)
        controlInSomeRuns = [("baseline", baselineRuns), ("candidate", candidateRuns)]
            .filter { _, runs in runs.contains { $0.control != nil } && runs.contains { $0.control == nil } }.map(\.0)
        drift = Self.drift(baseline.control, candidate.control, alpha: alpha)
        let baseKeys = Set(baseline.cells.map(\.key)), candKeys = Set(candidate.cells.map(\.key))
        var pairs = baseKeys.intersection(candKeys).sorted().map { (baseline: $0, candidate: $0) }
        if pairs.isEmpty {
            (pairs, pairing, nothingInCommon) = Self.pair(baseKeys, candKeys)
        }
        onlyInBaseline = baseKeys.subtracting(pairs.map(\.baseline)).sorted()
        onlyInCandidate = candKeys.subtracting(pairs.map(\.candidate)).sorted()
        // With several runs a side, the run is the unit of every test: each run's median, Welch's t on their logarithms.
        let runMode = baselineRuns.count >= 2 && candidateRuns.count >= 2
        // Each cell's instability, once per profile. Where the run is the unit, a median that trials disagreeing within
        // a run make fragile adds to the spread of the runs' values, which the test measures: no cell is unstable then.
        func unstable(_ cell: CellRecord, _ metric: Metric, _ run: String) -> String? {
            runMode ? nil : Analysis.instability(of: cell, metric: metric).map { "\(run): \($0)" }
        }
        runs = runMode ? RunCounts(baseline: baselineRuns.count, candidate: candidateRuns.count) : nil
        if runMode { drift = Self.runDrift(baselineRuns, candidateRuns, pooled: drift, alpha: alpha) }
        unevenRuns = !runMode && max(baselineRuns.count, candidateRuns.count) > 1
            ? RunCounts(baseline: max(1, baselineRuns.count), candidate: max(1, candidateRuns.count)) : nil
        let minimumCount = runMode ? 2 : 4
        /// The values a test compares: the trials' (`pooled`), or each run's median of them.
        func values(_ runs: [Profile], _ key: CellKey, _ metric: Metric, pooled: Summary) -> [Double] {
            guard runMode else { return pooled.values }
            return runs.compactMap { run in run.cell(key).flatMap { metric.summary(of: $0)?.median } }
        }
        /// What a row's test compared and gave on its own, before the allowance for the spread between the runs.
        struct Tested {
            /// The values compared: trials, or each run's median.
            var b: [Double], c: [Double]
            var p: Double?
            /// The interval of the ratio, candidate over baseline, about its estimate.
            var interval: (estimate: Double, low: Double, high: Double)?
            /// How p was had, which sets its z²'s distribution when nothing changed (``BetweenRuns``).
            var null: BetweenRuns.NullShape
        }
        /// A test of two samples on their own.
        func test(_ b: [Double], _ c: [Double]) -> Tested {
            if runMode {
                let t = RunLevelTest(baseline: b, candidate: c, alpha: alpha)
                return Tested(b: b, c: c, p: t?.p, interval: t.map { ($0.estimate, $0.low, $0.high) }, null: .continuous)
            }
            let u = Statistics.mannWhitneyU(c, b)
            let sizes = (min(b.count, c.count), max(b.count, c.count))
            let null: BetweenRuns.NullShape = u?.exact == true ? .exactU(sizes.0, sizes.1) : .normalU(sizes.0, sizes.1)
            return Tested(b: b, c: c, p: u?.p, interval: Self.ratioInterval(b, c, alpha: alpha), null: null)
        }
        /// The change in percent: of the medians `b` and `c`, or where the run is the unit (and the test had an
        /// interval) of the runs' geometric means, the test's estimate.
        func change(_ b: Double, _ c: Double, _ tested: Tested) -> Double {
            if runMode, let interval = tested.interval { return (interval.estimate - 1) * 100 }
            return Self.percentChange(b, c)
        }
        // First every comparison's test as the trials alone give it; then the spread between the runs that all of them
        // show together (``BetweenRuns``); then each verdict, with that spread allowed for.
        var rows: [Row] = []
        var tested: [Tested] = []
        var methodDifferences: [String] = []
        for (key, candidateKey) in pairs {
            guard let b = baseline.cell(key), let c = candidate.cell(candidateKey) else { continue }
            let other = candidateKey == key ? nil : candidateKey
            for metric in Self.metrics {
                guard let sb = metric.summary(of: b), let sc = metric.summary(of: c), metric.higherIsBetter != nil else { continue }
                let t = test(values(baselineRuns, key, metric, pooled: sb), values(candidateRuns, candidateKey, metric, pooled: sc))
                var row = Row(
                    cell: key, candidateCell: other, metric: metric, unit: metric.unit, baseline: sb, candidate: sc,
                    change: change(sb.median, sc.median, t), p: t.p, trialsP: t.p, verdict: .incomparable,
                    uncorrectedVerdict: .incomparable, trialsVerdict: .incomparable,
                    runValues: runMode ? RunValues(baseline: t.b, candidate: t.c) : nil)
                if sb.userOnly != sc.userOnly || sb.sources != sc.sources {
                    let describe = { (s: Summary) in
                        (s.sources.map(\.rawValue).joined(separator: "+") + (s.userOnly ? " user-only" : "")).trimmingCharacters(in: .whitespaces)
                    }
                    let difference = "\(metric.title): \(describe(sb)) in the baseline, \(describe(sc)) in the candidate"
                    if !methodDifferences.contains(difference) { methodDifferences.append(difference) }
                } else {
                    row.verdict = .unchanged
                }
                rows.append(row)
                tested.append(t)
            }
        }

        var relativeRows: [RelativeRow] = []
        var relativeTested: [Tested] = []
        let base = Analysis(profile: baseline), cand = Analysis(profile: candidate)
        let baseRuns = runMode ? baselineRuns.map { Analysis(profile: $0) } : [], candRuns = runMode ? candidateRuns.map { Analysis(profile: $0) } : []
        let paired = Dictionary(pairs.map { ($0.baseline, $0.candidate) }, uniquingKeysWith: { a, _ in a })
        for (key, candidateKey) in pairs where key.transport != .twoCopy && candidateKey.transport != .twoCopy {
            var reference = key, candidateReference = candidateKey
            reference.transport = .twoCopy
            candidateReference.transport = .twoCopy
            guard paired[reference] == candidateReference else { continue }
            for metric in Self.relativeMetrics(key.workload) {
                guard let rb = base.relative(metric, key, to: reference), let rc = cand.relative(metric, candidateKey, to: candidateReference)
                else { continue }
                let sb = rb.summary, sc = rc.summary
                let t = test(
                    runMode ? baseRuns.compactMap { $0.relative(metric, key, to: reference)?.summary.median } : sb.values,
                    runMode ? candRuns.compactMap { $0.relative(metric, candidateKey, to: candidateReference)?.summary.median } : sc.values)
                relativeRows.append(RelativeRow(
                    cell: key, candidateCell: candidateKey == key ? nil : candidateKey, metric: metric, baseline: sb,
                    candidate: sc, change: change(sb.median, sc.median, t), p: t.p, trialsP: t.p, verdict: .unchanged,
                    trialsVerdict: .unchanged, runValues: runMode ? RunValues(baseline: t.b, candidate: t.c) : nil))
                relativeTested.append(t)
            }
        }

        // The spread between the runs, from every comparison that has a test. Not where the run is the unit (the test
        // measures it), nor along a dimension (1 → 4 connections): there most comparisons are meant to change, and
        // their median z² would take the answer for spread.
        let testable = { (b: Summary, c: Summary) in b.values.count >= 4 && c.values.count >= 4 }
        let cellTests = rows.indices.filter { rows[$0].verdict != .incomparable && testable(rows[$0].baseline, rows[$0].candidate) }
            .compactMap { i in tested[i].p.map { (p: $0, null: tested[i].null) } }
        let ratioTests = relativeRows.indices.filter { testable(relativeRows[$0].baseline, relativeRows[$0].candidate) }
            .compactMap { i in relativeTested[i].p.map { (p: $0, null: relativeTested[i].null) } }
        let between = runMode || pairing != nil ? nil : BetweenRuns(tests: cellTests + ratioTests)
        betweenRuns = between
        /// A test with the spread between the runs allowed for: its p, its interval in percent and its verdict; and the
        /// verdict of the test on its own.
        func judge(_ metric: Metric, _ t: Tested, change: Double)
            -> (p: Double?, low: Double?, high: Double?, verdict: Verdict, trialsVerdict: Verdict)
        {
            let percent = { (i: (estimate: Double, low: Double, high: Double)) in (low: (i.low - 1) * 100, high: (i.high - 1) * 100) }
            let p = between?.adjusted(t.p) ?? t.p
            let interval = t.interval.map { between?.widened($0) ?? $0 }.map(percent)
            let verdict = Self.verdict(
                metric, t.b, t.c, change: change, p: p, interval: interval, alpha: alpha, threshold: threshold, minimumCount: minimumCount)
            let trialsVerdict = between == nil ? verdict : Self.verdict(
                metric, t.b, t.c, change: change, p: t.p, interval: t.interval.map(percent), alpha: alpha, threshold: threshold,
                minimumCount: minimumCount)
            return (p, interval?.low, interval?.high, verdict, trialsVerdict)
        }

        // Each cell row's verdict.
        for i in rows.indices where rows[i].verdict != .incomparable {
            let row = rows[i], key = row.cell
            let judged = judge(row.metric, tested[i], change: row.change)
            rows[i].p = judged.p
            rows[i].changeLow = judged.low
            rows[i].changeHigh = judged.high
            rows[i].verdict = judged.verdict
            rows[i].uncorrectedVerdict = judged.verdict
            rows[i].trialsVerdict = judged.trialsVerdict
            if let factor = drift?.correction(for: row.metric, mode: key.workload) {
                let correctedTest = test(tested[i].b, tested[i].c.map { $0 * factor })
                let cchange = change(row.baseline.median, row.candidate.median * factor, correctedTest)
                let corrected = judge(row.metric, correctedTest, change: cchange)
                rows[i].correctedChange = cchange
                rows[i].correctedP = corrected.p
                // A change counts when it does both as measured and relative to the control: the drift explains
                // the rest, and a correction alone (the control moved, the metric did not) proves nothing.
                rows[i].verdict = corrected.verdict == judged.verdict ? corrected.verdict : .unchanged
            }
            // Trials that disagree in either run: no verdict but that (a test needs trials first).
            if rows[i].verdict != .untestable, let b = baseline.cell(key), let c = candidate.cell(row.candidateCell ?? key),
                let why = unstable(b, row.metric, "baseline") ?? unstable(c, row.metric, "candidate")
            {
                rows[i].verdict = .unstable
                rows[i].instability = why
            }
        }
        // Movement every transport of a cell group shares: the median of their median ratios, where at least three
        // transports of the group measured the metric the same way. A change counts only where it also counts against
        // it: one transport's own change barely moves the median of four, a drift they all share moves it all the way.
        struct GroupKey: Hashable {
            var mode: Workload, size: Int, connections: Int, metric: Metric
        }
        var groupRatios: [GroupKey: [Double]] = [:]
        for row in rows where row.verdict != .incomparable && row.baseline.median > 0 && row.candidate.median > 0 {
            let group = GroupKey(mode: row.cell.workload, size: row.cell.messageSize, connections: row.cell.connections, metric: row.metric)
            groupRatios[group, default: []].append(1 + row.change / 100)
        }
        // Along a dimension, a change every transport shares is the answer sought (1 → 4 connections), not a drift.
        for i in rows.indices where pairing == nil && (rows[i].verdict == .regression || rows[i].verdict == .improvement) {
            let row = rows[i]
            let group = GroupKey(mode: row.cell.workload, size: row.cell.messageSize, connections: row.cell.connections, metric: row.metric)
            guard let ratios = groupRatios[group], ratios.count >= 3, let shared = Statistics.median(ratios), shared > 0 else { continue }
            rows[i].sharedChange = (shared - 1) * 100
            let groupTest = test(tested[i].b, tested[i].c.map { $0 / shared })
            let groupVerdict = judge(row.metric, groupTest, change: change(row.baseline.median, row.candidate.median / shared, groupTest)).verdict
            if groupVerdict != row.verdict {
                rows[i].verdict = .unchanged
                rows[i].explainedByGroup = true
            }
        }
        self.rows = rows

        for i in relativeRows.indices {
            let row = relativeRows[i]
            let judged = judge(row.metric, relativeTested[i], change: row.change)
            relativeRows[i].p = judged.p
            relativeRows[i].changeLow = judged.low
            relativeRows[i].changeHigh = judged.high
            relativeRows[i].verdict = judged.verdict
            relativeRows[i].trialsVerdict = judged.trialsVerdict
            // A ratio of an unstable cell (the transport's or two-copy's, in either run) is no firmer than the cell.
            if judged.verdict != .untestable {
                let candidateKey = row.candidateCell ?? row.cell
                var reference = row.cell, candidateReference = candidateKey
                reference.transport = .twoCopy
                candidateReference.transport = .twoCopy
                let cells = [(baseline.cell(row.cell), "baseline"), (baseline.cell(reference), "baseline"),
                             (candidate.cell(candidateKey), "candidate"), (candidate.cell(candidateReference), "candidate")]
                if let why = cells.lazy.compactMap({ cell, run in cell.flatMap { unstable($0, row.metric, run) } }).first {
                    relativeRows[i].verdict = .unstable
                    relativeRows[i].instability = why
                }
            }
        }
        self.relativeRows = relativeRows
        self.methodDifferences = methodDifferences

        geomeans = Self.metrics.compactMap { metric in
            // 1 + change: the medians' ratio, or where the run is the unit the runs' geometric means'.
            let ratios = rows.filter { $0.metric == metric && $0.verdict != .incomparable && $0.baseline.median > 0 && $0.candidate.median > 0 }
                .map { 1 + $0.change / 100 }
            guard let g = Statistics.geometricMean(ratios) else { return nil }
            return Geomean(metric: metric, change: (g - 1) * 100, cells: ratios.count)
        }
    }

    /// Cells of two profiles that share none, paired along the one dimension in which they differ when each has one
    /// value of it; or, when they cannot be paired, one line naming the dimensions that differ.
    static func pair(_ baseKeys: Set<CellKey>, _ candKeys: Set<CellKey>)
        -> (pairs: [(baseline: CellKey, candidate: CellKey)], pairing: Pairing?, nothingInCommon: String?)
    {
        guard !baseKeys.isEmpty, !candKeys.isEmpty else {
            let empty = [("baseline", baseKeys), ("candidate", candKeys)].filter { $0.1.isEmpty }.map(\.0)
            return ([], nil, "nothing to compare: the \(empty.joined(separator: " and the ")) ha\(empty.count == 1 ? "s" : "ve") no cell")
        }
        func values(_ keys: Set<CellKey>, _ d: Dimension) -> [String] {
            let all = Set(keys.map { d.value($0) })
            return d == .messageSize || d == .connections ? all.sorted { Int($0)! < Int($1)! } : all.sorted()
        }
        let differing = Dimension.allCases.filter { values(baseKeys, $0) != values(candKeys, $0) }
        if differing.count == 1, let d = differing.first, d != .workload,
            let b = values(baseKeys, d).first, let c = values(candKeys, d).first,
            values(baseKeys, d).count == 1, values(candKeys, d).count == 1, let sample = candKeys.first
        {
            let pairs = baseKeys.sorted().compactMap { key -> (baseline: CellKey, candidate: CellKey)? in
                let partner = d.setting(key, from: sample)
                return candKeys.contains(partner) ? (key, partner) : nil
            }
            if !pairs.isEmpty { return (pairs, Pairing(dimension: d, baseline: b, candidate: c), nil) }
        }
        let named = differing.map { d in
            "\(d.rawValue) (\(values(baseKeys, d).joined(separator: ", ")) vs \(values(candKeys, d).joined(separator: ", ")))"
        }
        let how = differing.count == 1 && differing[0] == .workload
            ? "stream and ping-pong measure different things"
            : "compare pairs cells along one dimension when the profiles differ in it alone, with one value each"
        return ([], nil, "no cell in common: the profiles differ in \(named.joined(separator: " and ")); \(how)")
    }

    /// (candidate − baseline) / |baseline| in percent; 0 when the baseline is 0.
    /// (candidate − baseline) / |baseline| in percent, the one formula of every change the report and compare show;
    /// 0 when the baseline is 0 (such a change is never judged: it has no interval).
    static func percentChange(_ baseline: Double, _ candidate: Double) -> Double {
        baseline == 0 ? 0 : (candidate - baseline) / abs(baseline) * 100
    }

    /// The interval of a change, candidate over baseline, as a ratio about its Hodges-Lehmann estimate: Bauer's
    /// order-statistics interval (``Statistics/ratioInterval(_:_:confidence:)``), the one that goes with the
    /// Mann-Whitney test; nil when a value is not positive or the samples are too small.
    static func ratioInterval(_ baseline: [Double], _ candidate: [Double], alpha: Double) -> (estimate: Double, low: Double, high: Double)? {
        Statistics.ratioInterval(candidate, baseline, confidence: 1 - alpha)
    }

    /// A change counts when both samples have at least `minimumCount` values (4 trials, or 2 runs where the run is the
    /// unit), the test gives p < α, the medians differ
    /// by the threshold, and the change's 1 − α interval lies wholly beyond half the threshold: the data say with 95%
    /// confidence that the change is more than a negligible one, not only that there is one. (Where the interval
    /// cannot be had, a value of 0, the first three suffice.) On a drifting machine this keeps a noisy cell whose
    /// median moved past the threshold by chance from counting. Measured on 21 pairs of identical runs and 3 pairs
    /// with one transport about 10% slower: with the interval beyond 0 (the test alone) the identical pairs flagged
    /// up to 4 of 88 comparisons; beyond the whole threshold, up to 1 but the slower transport was never found; beyond
    /// half of it, up to 2, and the slower transport was found in every pair.
    static func verdict(
        _ metric: Metric, _ baseline: [Double], _ candidate: [Double], change: Double, p: Double?,
        interval: (low: Double, high: Double)?, alpha: Double, threshold: Double, minimumCount: Int = 4
    ) -> Verdict {
        guard let higher = metric.higherIsBetter else { return .unchanged }
        if baseline.count < minimumCount || candidate.count < minimumCount { return .untestable }
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

    /// The control's move where the run is the unit: each clock's median per run, Welch's t of those (the pooled
    /// samples' medians stay for the text); nil where either side has no control.
    static func runDrift(_ base: [Profile], _ cand: [Profile], pooled: MachineDrift?, alpha: Double) -> MachineDrift? {
        guard var drift = pooled else { return nil }
        func shift(_ value: (ControlSample) -> UInt64) -> Shift {
            func perRun(_ runs: [Profile]) -> [Double] {
                runs.compactMap { $0.control.flatMap { c in Statistics.median(c.samples.map { Double(value($0)) }) } }
            }
            let b = perRun(base), c = perRun(cand)
            guard let test = RunLevelTest(baseline: b, candidate: c, alpha: alpha) else {
                let mb = Statistics.median(b) ?? 0, mc = Statistics.median(c) ?? 0
                return Shift(ratio: mb > 0 && mc > 0 ? mc / mb : 1, low: nil, high: nil, p: nil, significant: false)
            }
            return Shift(ratio: test.estimate, low: test.low, high: test.high, p: test.p, significant: test.p < alpha)
        }
        drift.wall = shift(\.wallNs)
        drift.cpu = shift(\.cpuNs)
        if drift.wakeWall != nil {
            drift.wakeWall = shift(\.wakeNs)
            drift.wakeCPU = shift(\.wakeCPUNs)
        }
        return drift
    }

    package var regressions: [Row] { rows.filter { $0.verdict == .regression } }
    package var improvements: [Row] { rows.filter { $0.verdict == .improvement } }
    package var relativeRegressions: [RelativeRow] { relativeRows.filter { $0.verdict == .regression } }
    package var relativeImprovements: [RelativeRow] { relativeRows.filter { $0.verdict == .improvement } }

    /// Rows whose change as measured would have counted, but not relative to the control: the machine's drift
    /// explains them.
    package var explainedByDrift: [Row] {
        rows.filter { $0.correctedChange != nil && $0.uncorrectedVerdict != $0.verdict && !$0.explainedByGroup }
    }

    /// Comparisons (cells and ratios) whose change the trials alone would count but that lies within the spread between
    /// the runs (``betweenRuns``).
    package var withinBetweenRuns: Int {
        let counts = { (v: Verdict) in v == .regression || v == .improvement }
        return rows.filter { counts($0.trialsVerdict) && !counts($0.uncorrectedVerdict) && $0.verdict != .unstable }.count
            + relativeRows.filter { counts($0.trialsVerdict) && !counts($0.verdict) && $0.verdict != .unstable }.count
    }

    /// Rows whose change counted as measured but is shared alike by the transports of its group.
    package var sharedByGroup: [Row] { rows.filter(\.explainedByGroup) }

    /// Rows the control corrects (their metric's clock moved significantly).
    package var corrected: [Row] { rows.filter { $0.correctedChange != nil } }

    /// Comparisons with too few trials on a side for any test (cells and ratios to two-copy).
    package var untestableCount: Int { count(.untestable) }

    /// Comparisons of cells whose trials disagree in either run (cells and ratios to two-copy).
    package var unstableCount: Int { count(.unstable) }

    /// Comparisons (cells and ratios) with this verdict.
    package func count(_ verdict: Verdict) -> Int {
        rows.filter { $0.verdict == verdict }.count + relativeRows.filter { $0.verdict == verdict }.count
    }

    /// True when most comparisons cannot be tested or are unstable: "nothing changed" would then say nothing.
    package var mostlyUntestable: Bool {
        let total = rows.count + relativeRows.count
        return total > 0 && (untestableCount + unstableCount) * 2 > total
    }

    /// 0 when nothing changed, 2 when anything regressed (a cell's metric after the control's correction, or a ratio to
    /// two-copy), 4 when there are only improvements (package-benchmark's codes); 3 when nothing was found but most
    /// comparisons had too few trials to test or were unstable, or changes the trials alone would count lie within
    /// the spread between the runs (``withinBetweenRuns``), or the profiles had nothing to compare, so that a script
    /// does not read "nothing changed" where compare could not tell.
    package var exitCode: Int32 {
        if nothingInCommon != nil { return 3 }
        if !regressions.isEmpty || !relativeRegressions.isEmpty { return 2 }
        if !improvements.isEmpty || !relativeImprovements.isEmpty { return 4 }
        return mostlyUntestable || withinBetweenRuns > 0 ? 3 : 0
    }

    /// Per metric, the median half-width of the cells' 95% intervals in percent of their medians, over both profiles:
    /// the noise within these runs, below which no change can be told apart. Empty when no cell has an interval
    /// (fewer than 6 trials).
    package var noise: [(metric: Metric, percent: Double)] {
        Self.metrics.compactMap { metric in
            let widths = rows.filter { $0.metric == metric }
                .flatMap { [$0.baseline.relativeHalfWidth, $0.candidate.relativeHalfWidth] }
                .compactMap { $0 }.filter(\.isFinite)
            return Statistics.median(widths).map { (metric, $0 * 100) }
        }
    }
}
