import CopyprofModel
import CopyprofProfile

/// A comparison as Markdown: headline, the machine's drift, warnings, regressions and improvements first (cells, then
/// ratios to two-copy), the rest folded away.
extension Comparison {
    /// The Markdown text.
    public var markdown: String {
        var md = "# copyprof compare\n\nbaseline `\(baselinePath)` → candidate `\(candidatePath)`. A change counts when the two-sided "
            + "Mann-Whitney U test gives p < \(formatDecimal(alpha, digits: 3)), the medians differ by at least \(formatDecimal(threshold, digits: 1))% "
            + "and the change's \(formatDecimal((1 - alpha) * 100, digits: 1))% interval (in brackets) lies wholly beyond \(formatDecimal(threshold / 2, digits: 2))%; "
            + "`~` marks a difference that does not count.\n\n"
        md += driftParagraph()
        md += sharedParagraph()
        if !environmentDifferences.isEmpty {
            md += "> ⚠ **The environments differ**; changes may come from the machine, not the code: "
                + environmentDifferences.joined(separator: "; ") + ".\n\n"
        }
        if !onlyInBaseline.isEmpty || !onlyInCandidate.isEmpty {
            md += "> ⚠ Cells in only one profile, not compared: "
                + [("baseline", onlyInBaseline), ("candidate", onlyInCandidate)].filter { !$0.1.isEmpty }
                    .map { "\(Self.compact($0.1)) only in the \($0.0)" }.joined(separator: "; ") + ".\n\n"
        }
        if !methodDifferences.isEmpty {
            md += "> ⚠ **Measured differently** (counting mode or source), so not compared: "
                + methodDifferences.joined(separator: "; ") + ".\n\n"
        }
        let untestable = untestableCount
        if mostlyUntestable {
            md += "> ⚠ **This comparison cannot tell whether anything changed**: \(untestable) of \(rows.count + relativeRows.count) "
                + "comparisons have fewer than 4 trials on a side, too few for any test (exit status 3). Run both sides with "
                + "`--trials 6` or more (6 also gives every median a confidence interval).\n\n"
        } else if untestable > 0 {
            md += "> ⚠ \(untestable) comparisons have fewer than 4 trials on a side: no test possible.\n\n"
        }
        let noise = self.noise
        if !noise.isEmpty {
            md += "Noise within these runs (the median half-width of the cells' 95% intervals, against the \(formatDecimal(threshold, digits: 1))% "
                + "threshold): " + noise.map { "\($0.metric.title) ±\(formatDecimal($0.percent, digits: 1))%" }.joined(separator: ", ")
                + ". A change smaller than that cannot be told from noise.\n\n"
        }
        let regressionCount = regressions.count + relativeRegressions.count
        let improvementCount = improvements.count + relativeImprovements.count
        let unchanged = rows.filter { $0.verdict == .unchanged }.count + relativeRows.filter { $0.verdict == .unchanged }.count
        md += "**\(regressionCount) regression\(regressionCount == 1 ? "" : "s"), \(improvementCount) improvement\(improvementCount == 1 ? "" : "s")**, "
            + "\(unchanged) unchanged, \(untestable) untestable, of \(rows.count + relativeRows.count) comparisons "
            + "(\(rows.count) of cells, \(relativeRows.count) of ratios to two-copy).\n\n"
        let showCorrection = !corrected.isEmpty
        if !regressions.isEmpty { md += "## Regressions\n\n" + table(regressions, correction: showCorrection) }
        if !improvements.isEmpty { md += "## Improvements\n\n" + table(improvements, correction: showCorrection) }
        let changedRelative = relativeRows.filter { $0.verdict == .regression || $0.verdict == .improvement }
        if !changedRelative.isEmpty {
            md += "## Changed against two-copy\n\nEach transport's ratio to two-copy in the same cell, median of per-round ratios: "
                + "drift the transports share cancels in it.\n\n" + relativeTable(changedRelative)
        }
        let rest = rows.filter { $0.verdict != .regression && $0.verdict != .improvement }
        if !rest.isEmpty {
            md += "<details><summary>Unchanged or untestable (\(rest.count))</summary>\n\n" + table(rest, correction: showCorrection) + "</details>\n\n"
        }
        let restRelative = relativeRows.filter { $0.verdict != .regression && $0.verdict != .improvement }
        if !restRelative.isEmpty {
            md += "<details><summary>Ratios to two-copy, unchanged or untestable (\(restRelative.count))</summary>\n\n"
                + relativeTable(restRelative) + "</details>\n\n"
        }
        if !geomeans.isEmpty {
            md += "## Geomean\n\n| metric | change | cells |\n|---|---:|---:|\n"
            for g in geomeans { md += "| \(g.metric.title) | \(signed(g.change))% | \(g.cells) |\n" }
            md += "\n"
        }
        return md
    }

    /// What the control says about the machine, at the top.
    func driftParagraph() -> String {
        guard let drift else {
            if withoutControl.isEmpty {
                return "> ⚠ The two profiles ran different control workloads: the machine's own drift cannot be measured.\n\n"
            }
            return "> ⚠ No control workload in the \(withoutControl.joined(separator: " and ")) (a profile from before copyprof ran one): "
                + "the machine's own drift cannot be told from changes of the software. Compare two or more runs on each side, "
                + "and trust the ratios to two-copy more than absolute figures.\n\n"
        }
        let w = drift.wall
        let compute = "its copies and system calls took \(fixed(drift.baselineMs.median, 2)) ms in the baseline and "
            + "\(fixed(drift.candidateMs.median, 2)) ms in the candidate (\(shiftText(w)))"
        var wake: String?
        if let b = drift.baselineWakeUs, let c = drift.candidateWakeUs, let ww = drift.wakeWall {
            wake = "a round trip of its two threads over pipes took \(fixed(b.median, 1)) µs and \(fixed(c.median, 1)) µs (\(shiftText(ww)))"
        }
        let parts = "The control: " + compute + (wake.map { "; " + $0 } ?? "") + "."
        guard drift.moved else {
            return "**The machine did not move significantly.** " + parts + "\n\n"
        }
        var text: String
        if w.significant {
            let speed = drift.speedup
            // "14% faster", "20% slower"; past 1.5 times, "3.5× slower".
            let how = speed >= 1.5 ? "\(formatDecimal(speed, digits: 1))× faster"
                : speed <= 1 / 1.5 ? "\(formatDecimal(1 / speed, digits: 1))× slower"
                : speed >= 1 ? "\(formatDecimal((speed - 1) * 100, digits: 0))% faster" : "\(formatDecimal((1 - speed) * 100, digits: 0))% slower"
            text = "**The machine itself was \(how) in the candidate.** "
        } else if drift.wakeWall?.significant == true, let ww = drift.wakeWall {
            text = "**The machine's wake-ups were \(ww.ratio < 1 ? "faster" : "slower") in the candidate.** "
        } else {
            text = "**The machine's CPU time moved.** "
        }
        text += parts
        var others: [String] = []
        if drift.cpu.significant { others.append("the copies' and system calls' CPU time moved by \(shiftText(drift.cpu))") }
        if let wc = drift.wakeCPU, wc.significant { others.append("the wake-ups' CPU time moved by \(shiftText(wc))") }
        if !others.isEmpty { text += " " + others.joined(separator: "; ").prefix(1).uppercased() + others.joined(separator: "; ").dropFirst() + "." }
        var clocks: [String] = []
        if w.significant { clocks.append("stream throughput") }
        if drift.cpu.significant { clocks.append("stream CPU ns/B") }
        if drift.wakeWall?.significant == true { clocks += ["ping-pong RTT", "ping-pong throughput"] }
        if drift.wakeCPU?.significant == true { clocks.append("ping-pong CPU ns/B") }
        let named = clocks.count > 1 ? clocks.dropLast().joined(separator: ", ") + " and " + clocks.last! : clocks[0]
        let counted = corrected.filter { $0.verdict == .regression || $0.verdict == .improvement }.count
        text += " Changes of \(named) are also shown relative to the control and count only where they count both ways: "
            + "\(explainedByDrift.count) change\(explainedByDrift.count == 1 ? " is" : "s are") within the machine's drift, "
            + "\(counted) exceed\(counted == 1 ? "s" : "") it."
        return text + "\n\n"
    }

    /// Changes that the transports of a cell group share alike, if any.
    func sharedParagraph() -> String {
        let shared = sharedByGroup
        guard !shared.isEmpty else { return "" }
        let strongest = shared.max { abs($0.sharedChange ?? 0) < abs($1.sharedChange ?? 0) }!
        let c = strongest.cell
        return "**\(shared.count) change\(shared.count == 1 ? " is" : "s are") shared alike by the transports of \(shared.count == 1 ? "its" : "their") "
            + "cell group** (same workload, size and connections; the largest: \(strongest.metric.title) of \(c.workload.name) "
            + "\(c.messageSize) B × \(c.connections), \(signed(strongest.sharedChange ?? 0))% for the median transport): a drift the control does "
            + "not see — ping-pong moves with how idle the CPUs are — or a change common to every transport. They are marked "
            + "`(shared)` below and do not count; the ratios to two-copy say whether the transports' standing moved.\n\n"
    }

    /// `-12.3% [-15.1, -9.0], p = 0.002`.
    func shiftText(_ s: Shift) -> String {
        var text = "\(signed(s.percent))%"
        if let low = s.low, let high = s.high { text += " [\(signed((low - 1) * 100)), \(signed((high - 1) * 100))]" }
        return text + ", p = \(pValue(s.p))"
    }

    /// Cells as a short phrase: `12 cells (stream, pingpong × two-copy, marshal × 64, 512 B × 1, 2 connections)`.
    static func compact(_ cells: [CellKey]) -> String {
        func distinct<T: Hashable>(_ values: [T]) -> [T] {
            var seen: Set<T> = []
            return values.filter { seen.insert($0).inserted }
        }
        let modes = distinct(cells.map(\.workload.name)).joined(separator: ", ")
        let transports = distinct(cells.map(\.transport.rawValue)).joined(separator: ", ")
        let sizes = distinct(cells.map(\.messageSize)).sorted().map(String.init).joined(separator: ", ")
        let connections = distinct(cells.map(\.connections)).sorted().map(String.init).joined(separator: ", ")
        return "\(cells.count) cell\(cells.count == 1 ? "" : "s") (\(modes) × \(transports) × \(sizes) B × \(connections) connections)"
    }

    func table(_ rows: [Row], correction: Bool) -> String {
        var md = "| cell | metric | baseline | candidate | change |" + (correction ? " vs control |" : "") + " p | n |\n"
            + "|---|---|---:|---:|---:|" + (correction ? "---:|" : "") + "---:|---:|\n"
        for row in rows {
            let counted = row.verdict == .regression || row.verdict == .improvement
                || row.uncorrectedVerdict == .regression || row.uncorrectedVerdict == .improvement
            let change: String, p: String
            switch row.verdict {
            case .untestable: (change, p) = ("untestable (n < 4)", "")
            case .incomparable: (change, p) = ("measured differently", "")
            default:
                var text = counted ? changeText(row.change, row.changeLow, row.changeHigh) : "~"
                if row.explainedByGroup { text += " (shared)" } else if counted && row.verdict == .unchanged { text += " (drift)" }
                (change, p) = (text, pValue(row.p))
            }
            md += "| \(row.cell) | \(row.metric.title) (\(row.unit)) | \(cell(row.baseline, row.metric)) | \(cell(row.candidate, row.metric)) "
                + "| \(change) |"
            if correction {
                if let c = row.correctedChange {
                    md += " \((row.correctedP ?? 1) < alpha && abs(c) >= threshold ? "\(signed(c))%" : "~") |"
                } else {
                    md += " |"
                }
            }
            md += " \(p) | \(row.baseline.values.count)+\(row.candidate.values.count) |\n"
        }
        return md + "\n"
    }

    func relativeTable(_ rows: [RelativeRow]) -> String {
        var md = "| cell | ratio | metric | baseline | candidate | change | p | n |\n|---|---|---|---:|---:|---:|---:|---:|\n"
        for row in rows {
            let c = row.cell
            let change = row.verdict == .regression || row.verdict == .improvement
                ? changeText(row.change, row.changeLow, row.changeHigh) : "~"
            md += "| \(c.workload.name) \(c.messageSize) B × \(c.connections) | \(c.transport.rawValue) vs two-copy | \(row.metric.title) "
                + "| \(ratioText(row.baseline)) | \(ratioText(row.candidate)) | \(change) | \(pValue(row.p)) "
                + "| \(row.baseline.values.count)+\(row.candidate.values.count) |\n"
        }
        return md + "\n"
    }

    /// `-10.2% [-14.1, -7.3]`: the change and its 95% interval.
    func changeText(_ change: Double, _ low: Double?, _ high: Double?) -> String {
        var text = "\(signed(change))%"
        if let low, let high { text += " [\(signed(low)), \(signed(high))]" }
        return text
    }

    func cell(_ s: Summary, _ metric: Metric) -> String {
        var text = metric.format(s.median)
        if let low = s.low, let high = s.high { text += " [\(metric.format(low)), \(metric.format(high))]" }
        if s.userOnly { text += " :u" }
        return text
    }
}
