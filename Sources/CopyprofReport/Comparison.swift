import CopyprofProfile
import Foundation

/// Two profiles compared cell by cell, the way benchstat compares benchmark runs: medians with confidence
/// intervals, a Mann-Whitney U test, and a change that counts only when it is significant and beyond a threshold.
public struct Comparison: Sendable {
    /// The metrics compared, where both profiles measured them.
    public static let metrics: [Metric] = [
        .throughput, .rttP50, .rttP99, .cpuNsPerByte, .cyclesPerByte, .instructionsPerByte, .l1dMissesPerKB,
        .llcMissesPerKB, .contextSwitchesPerMB,
    ]

    public enum Verdict: String, Sendable, Codable {
        case regression, improvement, unchanged
        /// Too few trials for a test (fewer than 4 in either sample).
        case untestable
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
        for key in baseKeys.intersection(candKeys).sorted() {
            guard let b = baseline.cell(key), let c = candidate.cell(key) else { continue }
            for metric in Self.metrics {
                guard let sb = metric.summary(of: b), let sc = metric.summary(of: c), let higher = metric.higherIsBetter else { continue }
                let change = sb.median == 0 ? 0 : (sc.median - sb.median) / abs(sb.median) * 100
                let p = Statistics.mannWhitneyU(sc.values, sb.values)?.p
                let verdict: Verdict
                if sb.values.count < 4 || sc.values.count < 4 {
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
        geomeans = Self.metrics.compactMap { metric in
            let ratios = rows.filter { $0.metric == metric && $0.baseline.median > 0 && $0.candidate.median > 0 }
                .map { $0.candidate.median / $0.baseline.median }
            guard let g = Statistics.geometricMean(ratios) else { return nil }
            return Geomean(metric: metric, change: (g - 1) * 100, cells: ratios.count)
        }
    }

    public var regressions: [Row] { rows.filter { $0.verdict == .regression } }
    public var improvements: [Row] { rows.filter { $0.verdict == .improvement } }

    /// 0 when nothing changed, 2 when anything regressed, 4 when there are only improvements (package-benchmark's codes).
    public var exitCode: Int32 { !regressions.isEmpty ? 2 : !improvements.isEmpty ? 4 : 0 }

    /// The Markdown text.
    public var markdown: String {
        var md = "# copyprof compare\n\nbaseline `\(baselinePath)` → candidate `\(candidatePath)`. A change counts when the two-sided "
            + "Mann-Whitney U test gives p < \(formatDecimal(alpha, digits: 3)) and the medians differ by at least \(formatDecimal(threshold, digits: 1))%; "
            + "`~` marks a difference that is not significant.\n\n"
        if !environmentDifferences.isEmpty {
            md += "> ⚠ **The environments differ**; changes may come from the machine, not the code: "
                + environmentDifferences.joined(separator: "; ") + ".\n\n"
        }
        if !onlyInBaseline.isEmpty || !onlyInCandidate.isEmpty {
            md += "> ⚠ Cells in only one profile (not compared): "
            md += (onlyInBaseline.map { "\($0) (baseline only)" } + onlyInCandidate.map { "\($0) (candidate only)" }).joined(separator: "; ") + ".\n\n"
        }
        let untestable = rows.filter { $0.verdict == .untestable }.count
        if untestable > 0 { md += "> ⚠ \(untestable) comparisons have fewer than 4 trials on a side: no test possible.\n\n" }
        md += "**\(regressions.count) regression\(regressions.count == 1 ? "" : "s"), \(improvements.count) improvement\(improvements.count == 1 ? "" : "s")**, "
            + "\(rows.filter { $0.verdict == .unchanged }.count) unchanged, \(untestable) untestable, of \(rows.count) comparisons.\n\n"
        if !regressions.isEmpty { md += "## Regressions\n\n" + table(regressions) }
        if !improvements.isEmpty { md += "## Improvements\n\n" + table(improvements) }
        let rest = rows.filter { $0.verdict != .regression && $0.verdict != .improvement }
        if !rest.isEmpty {
            md += "<details><summary>Unchanged or untestable (\(rest.count))</summary>\n\n" + table(rest) + "</details>\n\n"
        }
        if !geomeans.isEmpty {
            md += "## Geomean\n\n| metric | change | cells |\n|---|---:|---:|\n"
            for g in geomeans { md += "| \(g.metric.title) | \(signed(g.change))% | \(g.cells) |\n" }
            md += "\n"
        }
        return md
    }

    func table(_ rows: [Row]) -> String {
        var md = "| cell | metric | baseline | candidate | change | p | n |\n|---|---|---:|---:|---:|---:|---:|\n"
        for row in rows {
            let change = row.verdict == .regression || row.verdict == .improvement ? "\(signed(row.change))%" : "~"
            md += "| \(row.cell) | \(row.metric.title) (\(row.unit)) | \(cell(row.baseline, row.metric)) | \(cell(row.candidate, row.metric)) "
                + "| \(change) | \(pValue(row.p)) | \(row.baseline.values.count)+\(row.candidate.values.count) |\n"
        }
        return md + "\n"
    }

    func cell(_ s: Summary, _ metric: Metric) -> String {
        var text = metric.format(s.median)
        if let low = s.low, let high = s.high { text += " [\(metric.format(low)), \(metric.format(high))]" }
        return text
    }

    /// JSON for scripts.
    public func json() throws -> Data {
        struct Document: Encodable {
            var baseline: String
            var candidate: String
            var threshold: Double
            var alpha: Double
            var environmentDifferences: [String]
            var onlyInBaseline: [CellKey]
            var onlyInCandidate: [CellKey]
            var rows: [Row]
            var geomeans: [Geomean]
            var exitCode: Int32
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(Document(
            baseline: baselinePath, candidate: candidatePath, threshold: threshold, alpha: alpha,
            environmentDifferences: environmentDifferences, onlyInBaseline: onlyInBaseline, onlyInCandidate: onlyInCandidate,
            rows: rows, geomeans: geomeans, exitCode: exitCode))
    }
}

func signed(_ value: Double) -> String { (value >= 0 ? "+" : "") + formatDecimal(value, digits: 1) }
