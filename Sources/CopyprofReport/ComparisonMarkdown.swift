import CopyprofModel
import CopyprofProfile

/// A comparison as Markdown: headline, the machine's drift, warnings, regressions and improvements first (cells, then
/// ratios to two-copy), the rest folded away.
extension Comparison {
    /// The Markdown text.
    package var markdown: String {
        if let nothingInCommon {
            return "# copyprof compare\n\nbaseline `\(baselinePath)` → candidate `\(candidatePath)`: \(nothingInCommon) "
                + "(exit status 3).\n"
        }
        var md = "# copyprof compare\n\nbaseline `\(baselinePath)` → candidate `\(candidatePath)`"
        if let pairing {
            md += ", **\(pairing.description)**: the profiles share no cell and differ in \(pairing.dimension.rawValue) alone, "
                + "so each baseline cell is compared with the candidate's cell that differs from it in \(pairing.dimension.rawValue) "
                + "only. A change common to every transport is here the answer, not a drift"
        }
        let level = "\(formatDecimal((1 - alpha) * 100, digits: 1))% interval (in brackets) lies wholly beyond \(formatDecimal(threshold / 2, digits: 2))%; "
            + "`~` marks a difference that does not count.\n\n"
        if let runs {
            md += ". **The run is the unit**: \(runs.baseline) baseline and \(runs.candidate) candidate runs, each one value per "
                + "metric (the median of its trials; of a ratio to two-copy, the median of its rounds' ratios), so the spread "
                + "between runs is measured rather than assumed away; the baseline and candidate columns give the geometric mean "
                + "of those values and their range. A change counts when Welch's t-test on the logarithms "
                + "of those values gives p < \(formatDecimal(alpha, digits: 3)), their geometric means differ by at least "
                + "\(formatDecimal(threshold, digits: 1))% (the change shown) and its " + level
        } else {
            md += ". A change counts when the two-sided Mann-Whitney U test, allowing for the spread between the runs, gives "
                + "p < \(formatDecimal(alpha, digits: 3)), the medians differ by at least \(formatDecimal(threshold, digits: 1))% "
                + "and the change's " + level
        }
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
        let untestable = untestableCount, unstable = unstableCount
        if let runs, untestable > 0 {
            md += "> ⚠ \(untestable) comparisons have fewer than 2 runs on a side with a value that can be tested (a positive "
                + "one, for a ratio), or no spread at all between the runs of either side: no test possible"
                + (mostlyUntestable ? ", so this comparison cannot tell whether anything changed (exit status 3)" : "")
                + ". Each side pooled \(runs.baseline) and \(runs.candidate) runs.\n\n"
        } else if mostlyUntestable {
            md += "> ⚠ **This comparison cannot tell whether anything changed**: of \(rows.count + relativeRows.count) comparisons, "
                + "\(untestable) have fewer than 4 trials on a side, too few for any test, and \(unstable) are of cells whose trials "
                + "disagree (exit status 3). Run both sides with `--trials 6` or more (6 also gives every median a confidence "
                + "interval); an unstable cell needs a quieter machine or longer trials.\n\n"
        } else if untestable > 0 {
            md += "> ⚠ \(untestable) comparisons have fewer than 4 trials on a side: no test possible.\n\n"
        }
        if unstable > 0 {
            let cells = Set(rows.filter { $0.verdict == .unstable }.map(\.cell)).count
            md += "> ⚠ **Unstable**: \(unstable) comparisons, of \(cells) cell\(cells == 1 ? "" : "s") (and ratios that involve them), "
                + "have trials that disagree in either run — some below half or above twice the median: stalls, or a cell that "
                + "runs in two modes. Their medians move by much when one trial falls the other way, so they count neither as "
                + "a regression nor as an improvement; the tables say which run and how.\n\n"
        }
        let noise = self.noise
        if !noise.isEmpty {
            md += "Noise within these runs (the median half-width of the cells' 95% intervals, against the \(formatDecimal(threshold, digits: 1))% "
                + "threshold): " + noise.map { "\($0.metric.title) ±\(formatDecimal($0.percent, digits: 1))%" }.joined(separator: ", ")
                + ". A change smaller than that cannot be told from noise.\n\n"
        }
        md += betweenRunsParagraph()
        let regressionCount = regressions.count + relativeRegressions.count
        let improvementCount = improvements.count + relativeImprovements.count
        let unchanged = rows.filter { $0.verdict == .unchanged }.count + relativeRows.filter { $0.verdict == .unchanged }.count
        md += "**\(regressionCount) regression\(regressionCount == 1 ? "" : "s"), \(improvementCount) improvement\(improvementCount == 1 ? "" : "s")**, "
            + "\(unchanged) unchanged, \(unstable) unstable, \(untestable) untestable, of \(rows.count + relativeRows.count) comparisons "
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
            md += "<details><summary>Unchanged, unstable or untestable (\(rest.count))</summary>\n\n" + table(rest, correction: showCorrection) + "</details>\n\n"
        }
        let restRelative = relativeRows.filter { $0.verdict != .regression && $0.verdict != .improvement }
        if !restRelative.isEmpty {
            md += "<details><summary>Ratios to two-copy, unchanged, unstable or untestable (\(restRelative.count))</summary>\n\n"
                + relativeTable(restRelative) + "</details>\n\n"
        }
        if !geomeans.isEmpty {
            md += "## Geomean\n\n| metric | change | cells |\n|---|---:|---:|\n"
            for g in geomeans { md += "| \(g.metric.title) | \(signed(g.change))% | \(g.cells) |\n" }
            md += "\n"
        }
        return md + (attributionShifts?.markdown ?? "")
    }

    /// How much more the runs differ than their trials, and what that does to every test.
    func betweenRunsParagraph() -> String {
        guard runs == nil else { return "" }
        var text = ""
        if let uneven = unevenRuns {
            text = "> ⚠ The baseline pooled \(uneven.baseline) run\(uneven.baseline == 1 ? "" : "s") and the candidate "
                + "\(uneven.candidate): the run can be the unit of the test only with 2 or more on each side, so the trials are.\n\n"
        }
        return text + betweenRunsBody()
    }

    func betweenRunsBody() -> String {
        if pairing != nil {
            return "Along a dimension most comparisons are meant to change, so the spread between the two runs cannot be "
                + "estimated from them: each test takes the trials as independent. Several runs a side take the run as the unit.\n\n"
        }
        guard let b = betweenRuns else {
            let testable = rows.filter { $0.verdict != .untestable && $0.verdict != .incomparable }.count
                + relativeRows.filter { $0.verdict != .untestable }.count
            guard testable > 0 else { return "" }
            return "Too few comparisons (\(testable), fewer than \(BetweenRuns.minimumComparisons)) to tell whether the runs differ by more "
                + "than their trials: each test takes the trials as independent, and identical runs made at different times "
                + "may differ by more than that allows.\n\n"
        }
        let how = "λ = \(formatDecimal(b.measured, digits: 2)), the median z² of \(b.comparisons) comparisons over its median when "
            + "nothing changes (\(formatDecimal(b.nullMedian, digits: 3)): χ²₁'s 0.455, lower for the exact tests of few trials)"
        guard b.lambda > 1 else {
            return "The runs differ no more than their trials say (\(how)).\n\n"
        }
        let within = withinBetweenRuns
        return "**The runs differ by more than their trials say**: \(how). The trials of one run share its moment — the "
            + "machine's load, where the threads ran, zero-copy's mode on loopback — so runs made at different times differ "
            + "beyond them. Every p and interval below allows for it (z divided, interval widened, by "
            + "√λ = \(formatDecimal(b.lambda.squareRoot(), digits: 2)), as genomic control does): "
            + "\(within) change\(within == 1 ? " that the trials alone would count is" : "s that the trials alone would count are") "
            + "within that spread, marked `(between runs)`\(within > 0 && exitCode == 3 ? " (exit status 3: compare cannot tell them from it)" : ""). "
            + (b.nothingCanCount(alpha: alpha)
                ? "**No change of any size can count here**: the largest z these tests of few trials can reach "
                    + "(\(formatDecimal(b.largestZ ?? 0, digits: 2))) over √λ falls short of \(formatDecimal(BetweenRuns.z(p: alpha), digits: 2)). "
                : "")
            + "More trials do not narrow it; more runs, alternated, do: `compare A1,A2,A3 B1,B2,B3` takes the run as the unit.\n\n"
    }

    /// What the control says about the machine, at the top.
    func driftParagraph() -> String {
        guard let drift else {
            if withoutControl.isEmpty {
                return "> ⚠ The two profiles ran different control workloads: the machine's own drift cannot be measured.\n\n"
            }
            if !controlInSomeRuns.isEmpty {
                return "> ⚠ Only some runs of the \(controlInSomeRuns.joined(separator: " and ")) have a control workload (runs "
                    + "from before copyprof ran one pooled with newer ones): the machine's own drift cannot be measured. Pool runs "
                    + "of one copyprof version.\n\n"
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
        if drift.wakeWall?.significant == true { clocks += ["ping-pong RTT", "ping-pong round trips/s"] }
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
            let counts = { (v: Verdict) in v == .regression || v == .improvement }
            let counted = counts(row.verdict) || counts(row.uncorrectedVerdict) || counts(row.trialsVerdict)
            let change: String, p: String
            switch row.verdict {
            case .untestable: (change, p) = (runs == nil ? "untestable (n < 4)" : "untestable (runs)", "")
            case .incomparable: (change, p) = ("measured differently", "")
            case .unstable: (change, p) = ("unstable: \(row.instability ?? "trials disagree")", "")
            default:
                var text = counted ? changeText(row.change, row.changeLow, row.changeHigh) : "~"
                if row.explainedByGroup {
                    text += " (shared)"
                } else if counted && row.verdict == .unchanged {
                    text += counts(row.uncorrectedVerdict) ? " (drift)" : " (between runs)"
                }
                (change, p) = (text, pValue(row.p))
            }
            let values = row.runValues.map { (runsText($0.baseline, row.metric.format), runsText($0.candidate, row.metric.format)) }
                ?? (cell(row.baseline, row.metric), cell(row.candidate, row.metric))
            md += "| \(name(row.cell, row.candidateCell)) | \(row.metric.title) (\(row.unit)) | \(values.0) | \(values.1) "
                + "| \(change) |"
            if correction {
                if let c = row.correctedChange {
                    md += " \((row.correctedP ?? 1) < alpha && abs(c) >= threshold ? "\(signed(c))%" : "~") |"
                } else {
                    md += " |"
                }
            }
            md += " \(p) | \(n(row.baseline, row.candidate, row.runValues)) |\n"
        }
        return md + "\n"
    }

    /// The n column: ``n(_:_:)`` of the trials, and where runs are the unit, the runs that gave the row a value first
    /// (`3+3 runs, 18+18 trials`).
    func n(_ baseline: Summary, _ candidate: Summary, _ runValues: RunValues?) -> String {
        guard let runValues else { return Self.n(baseline, candidate) }
        return "\(runValues.baseline.count)+\(runValues.candidate.count) runs, " + Self.n(baseline, candidate) + " trials"
    }

    /// Where the run is the unit, a side's value: the geometric mean of its runs' values, and their range
    /// (`15.210 (14.102–16.020)`); the arithmetic mean where a value is not positive.
    func runsText(_ values: [Double], _ format: (Double) -> String) -> String {
        guard let low = values.min(), let high = values.max() else { return "n/a (no run)" }
        let mean = values.reduce(0, +) / Double(values.count)
        let center = low > 0 ? (Statistics.geometricMean(values) ?? mean) : mean
        return "\(format(center)) (\(format(low))–\(format(high)))"
    }

    /// `6+6`: the trials of the metric's kind on each side, as the summary and the report count them; with the trials
    /// that gave no value, and why, when there are any: `5+6 of 6+6 (baseline: 1 moved 0 bytes)`.
    static func n(_ baseline: Summary, _ candidate: Summary) -> String {
        let valued = "\(baseline.values.count)+\(candidate.values.count)"
        guard baseline.omissionNote != nil || candidate.omissionNote != nil else { return valued }
        let why = [("baseline", baseline), ("candidate", candidate)].filter { !$0.1.omitted.isEmpty }
            .map { run, s in "\(run): " + s.omitted.map { "\($0.count) \($0.reason)" }.joined(separator: ", ") }
        return "\(valued) of \(baseline.trialCount)+\(candidate.trialCount) (\(why.joined(separator: "; ")))"
    }

    /// A row's cell: the baseline's, with the candidate's value of the paired dimension after an arrow when the cells
    /// differ (`stream two-copy 4096 B × 1 → 4 connections`).
    func name(_ cell: CellKey, _ candidate: CellKey?) -> String {
        guard let candidate, let pairing else { return cell.description }
        let d = pairing.dimension
        switch d {
        case .connections:
            return "\(cell.workload.name) \(cell.path) \(cell.messageSize) B × \(cell.connections) → \(candidate.connections) connections"
        case .messageSize:
            return "\(cell.workload.name) \(cell.path) \(cell.messageSize) → \(candidate.messageSize) B × \(connectionsLabel(cell.connections))"
        default:
            return "\(cell) → \(candidate.path)"
        }
    }

    func relativeTable(_ rows: [RelativeRow]) -> String {
        var md = "| cell | ratio | metric | baseline | candidate | change | p | n |\n|---|---|---|---:|---:|---:|---:|---:|\n"
        for row in rows {
            let c = row.cell
            // The same rules and words as the cells' table: no p where no test was made.
            let change: String, p: String
            switch row.verdict {
            case .regression, .improvement: (change, p) = (changeText(row.change, row.changeLow, row.changeHigh), pValue(row.p))
            case .untestable: (change, p) = (runs == nil ? "untestable (n < 4)" : "untestable (runs)", "")
            case .unstable: (change, p) = ("unstable: \(row.instability ?? "trials disagree")", "")
            case .incomparable: (change, p) = ("measured differently", "")
            case .unchanged where row.trialsVerdict == .regression || row.trialsVerdict == .improvement:
                (change, p) = (changeText(row.change, row.changeLow, row.changeHigh) + " (between runs)", pValue(row.p))
            case .unchanged: (change, p) = ("~", pValue(row.p))
            }
            let at = row.candidateCell.map { name(row.cell, $0) } ?? "\(c.workload.name) \(c.messageSize) B × \(c.connections)"
            md += "| \(at) | \(c.path) vs two-copy | \(row.metric.title) "
                + "| \(row.runValues.map { runsText($0.baseline) { "\(fixed($0, 2))×" } } ?? ratioText(row.baseline)) "
                + "| \(row.runValues.map { runsText($0.candidate) { "\(fixed($0, 2))×" } } ?? ratioText(row.candidate)) | \(change) | \(p) "
                + "| \(n(row.baseline, row.candidate, row.runValues)) |\n"
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
        if s.scaled { text += " (scaled)" }
        return text
    }
}
