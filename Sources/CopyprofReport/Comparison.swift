import CopyprofProfile
import Foundation

/// Two profiles compared cell by cell, the way benchstat compares benchmark runs: medians with confidence
/// intervals, a Mann-Whitney U test, and a change that counts only when it is significant and beyond a threshold.
public struct Comparison: Sendable {
    /// The metrics compared, where both profiles measured them.
    public static let metrics: [Metric] = [
        .throughput, .rttP50, .rttP99, .cpuNsPerByte, .receiverCPUNsPerByte, .cyclesPerByte, .instructionsPerByte,
        .l1dMissesPerKB, .llcMissesPerKB, .contextSwitchesPerMB, .mappedShare,
    ]

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
        public var p: Double?
        public var verdict: Verdict
    }

    public struct Geomean: Sendable, Codable {
        public var metric: Metric
        /// Percent change of the geometric mean of per-cell median ratios.
        public var change: Double
        public var cells: Int
    }

    public var rows: [Row]
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
        let baseKeys = Set(baseline.cells.map(\.key)), candKeys = Set(candidate.cells.map(\.key))
        onlyInBaseline = baseKeys.subtracting(candKeys).sorted()
        onlyInCandidate = candKeys.subtracting(baseKeys).sorted()
        var rows: [Row] = []
        var methodDifferences: [String] = []
        for key in baseKeys.intersection(candKeys).sorted() {
            guard let b = baseline.cell(key), let c = candidate.cell(key) else { continue }
            for metric in Self.metrics {
                guard let sb = metric.summary(of: b), let sc = metric.summary(of: c), let higher = metric.higherIsBetter else { continue }
                let change = sb.median == 0 ? 0 : (sc.median - sb.median) / abs(sb.median) * 100
                let p = Statistics.mannWhitneyU(sc.values, sb.values)?.p
                let verdict: Verdict
                if sb.userOnly != sc.userOnly || sb.sources != sc.sources {
                    verdict = .incomparable
                    let describe = { (s: Summary) in
                        (s.sources.map(\.rawValue).joined(separator: "+") + (s.userOnly ? " user-only" : "")).trimmingCharacters(in: .whitespaces)
                    }
                    let difference = "\(metric.title): \(describe(sb)) in the baseline, \(describe(sc)) in the candidate"
                    if !methodDifferences.contains(difference) { methodDifferences.append(difference) }
                } else if sb.values.count < 4 || sc.values.count < 4 {
                    verdict = .untestable
                } else if let p, p < alpha, abs(change) >= threshold {
                    verdict = (change > 0) == higher ? .improvement : .regression
                } else {
                    verdict = .unchanged
                }
                rows.append(Row(cell: key, metric: metric, unit: metric.unit, baseline: sb, candidate: sc, change: change, p: p, verdict: verdict))
            }
        }
        self.rows = rows
        self.methodDifferences = methodDifferences
        geomeans = Self.metrics.compactMap { metric in
            let ratios = rows.filter { $0.metric == metric && $0.verdict != .incomparable && $0.baseline.median > 0 && $0.candidate.median > 0 }
                .map { $0.candidate.median / $0.baseline.median }
            guard let g = Statistics.geometricMean(ratios) else { return nil }
            return Geomean(metric: metric, change: (g - 1) * 100, cells: ratios.count)
        }
    }

    public var regressions: [Row] { rows.filter { $0.verdict == .regression } }
    public var improvements: [Row] { rows.filter { $0.verdict == .improvement } }

    /// 0 when nothing changed, 2 when anything regressed, 4 when there are only improvements (package-benchmark's codes).
    public var exitCode: Int32 { !regressions.isEmpty ? 2 : !improvements.isEmpty ? 4 : 0 }
}
