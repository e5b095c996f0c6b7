import CopyprofProfile

/// A comparison as Markdown: headline, warnings, regressions and improvements first, the rest folded away.
extension Comparison {
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
        if !methodDifferences.isEmpty {
            md += "> ⚠ **Measured differently** (counting mode or source), so not compared: "
                + methodDifferences.joined(separator: "; ") + ".\n\n"
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
            let change: String, p: String
            switch row.verdict {
            case .regression, .improvement: (change, p) = ("\(signed(row.change))%", pValue(row.p))
            case .unchanged: (change, p) = ("~", pValue(row.p))
            case .untestable: (change, p) = ("untestable (n < 4)", "")
            case .incomparable: (change, p) = ("measured differently", "")
            }
            md += "| \(row.cell) | \(row.metric.title) (\(row.unit)) | \(cell(row.baseline, row.metric)) | \(cell(row.candidate, row.metric)) "
                + "| \(change) | \(p) | \(row.baseline.values.count)+\(row.candidate.values.count) |\n"
        }
        return md + "\n"
    }

    func cell(_ s: Summary, _ metric: Metric) -> String {
        var text = metric.format(s.median)
        if let low = s.low, let high = s.high { text += " [\(metric.format(low)), \(metric.format(high))]" }
        if s.userOnly { text += " :u" }
        return text
    }
}
