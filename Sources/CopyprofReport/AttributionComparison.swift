import CopyprofModel
import CopyprofProfile

/// How where each role's time went shifted between two sampled profiles: per cell, role and category, the shares of
/// both, judged like compare's other metrics.
///
/// A shift counts when both sides have at least 4 sampled trials, the two-sided Mann-Whitney U test of the per-trial
/// shares gives p < α, the pooled shares differ by at least ``threshold`` percentage points, and the change's 95%
/// interval lies wholly beyond half the threshold. The change's interval is Newcombe's square-and-add of the two
/// shares' intervals (Newcombe, "Interval estimation for the difference between independent proportions", Statistics
/// in Medicine 17, 1998, method 10): from the candidate's share minus the baseline's,
/// d − √((p₂ − l₂)² + (u₁ − p₁)²) to d + √((u₂ − p₂)² + (p₁ − l₁)²), so it carries both the samples and the trials as
/// each share's interval does (``ShareEstimator``).
package struct AttributionComparison: Sendable, Codable {
    /// What a row's shift amounts to.
    package enum Verdict: String, Sendable, Codable {
        /// The category takes significantly more of the role's time in the candidate.
        case increased
        /// Significantly less.
        case decreased
        /// No shift that counts.
        case unchanged
        /// Fewer than 4 sampled trials on a side: no test possible.
        case untestable
    }

    /// One cell, role and category in both profiles.
    package struct Row: Sendable, Codable {
        package var cell: CellKey
        package var role: WorkerRole
        package var category: AttributionCategory
        /// The pooled share with its interval and per-trial shares, in each profile.
        package var baseline: CategoryShare
        package var candidate: CategoryShare
        /// Candidate minus baseline, in percentage points, with its 95% interval.
        package var change: Double
        package var changeLow: Double
        package var changeHigh: Double
        /// Mann-Whitney U of the per-trial shares.
        package var p: Double?
        package var verdict: Verdict
    }

    /// The smallest shift that counts, in percentage points.
    package var threshold: Double
    /// The significance level of the tests.
    package var alpha: Double
    /// Every cell, role and category sampled in both profiles with time in either.
    package var rows: [Row]
    /// Why the shares were not compared (a side not sampled, or sampled differently); nil when they were.
    package var notCompared: String?
    /// True when both profiles sampled user space only: every share is of user-space time, kernel categories are not
    /// permitted.
    package var userOnly = false
    /// Runs a side where each side pooled two or more: each run's pooled share is then one value, and the test is
    /// Welch's t of those (``RunLevelTest``, on the shares themselves); nil where the trial is the unit.
    package var runs: Comparison.RunCounts?

    /// The default threshold: 3 percentage points.
    package static let defaultThreshold = 3.0

    /// Nil when neither profile was sampled (nothing to say). `baselineRuns` and `candidateRuns` are the runs a pooled
    /// side was made of (``Profile/pooling(_:names:)``): with two or more on each side, the run is the unit.
    package init?(
        baseline: Profile, candidate: Profile, alpha: Double = 0.05, threshold: Double = defaultThreshold,
        baselineRuns: [Profile] = [], candidateRuns: [Profile] = []
    ) {
        let base = AttributionAnalysis(profile: baseline), cand = AttributionAnalysis(profile: candidate)
        let runMode = baselineRuns.count >= 2 && candidateRuns.count >= 2
        runs = runMode ? Comparison.RunCounts(baseline: baselineRuns.count, candidate: candidateRuns.count) : nil
        self.threshold = threshold
        self.alpha = alpha
        rows = []
        switch (base.sampling, cand.sampling) {
        case (nil, nil): return nil
        case (nil, _): notCompared = "the baseline has no attribution (\(base.unavailableReason ?? "not sampled"))"
        case (_, nil): notCompared = "the candidate has no attribution (\(cand.unavailableReason ?? "not sampled"))"
        case (let b?, let c?):
            if b.mode != c.mode || b.event != c.event {
                notCompared = "sampled differently: `\(b.event)` (\(b.mode.rawValue)) in the baseline, `\(c.event)` "
                    + "(\(c.mode.rawValue)) in the candidate; shares of different things"
            }
        }
        guard notCompared == nil else { return }
        userOnly = base.userOnly
        let baseRuns = runMode ? baselineRuns.map { AttributionAnalysis(profile: $0) } : []
        let candRuns = runMode ? candidateRuns.map { AttributionAnalysis(profile: $0) } : []
        let candidateCells = Set(cand.cells)
        for cell in base.cells where candidateCells.contains(cell) {
            for role in WorkerRole.allCases {
                guard let rb = base.role(role, in: cell), let rc = cand.role(role, in: cell) else { continue }
                for category in base.visibleCategories {
                    guard let sb = rb.share(category), let sc = rc.share(category), sb.samples > 0 || sc.samples > 0 else { continue }
                    if runMode {
                        let shares = { (runs: [AttributionAnalysis]) in
                            runs.compactMap { $0.role(role, in: cell)?.share(category)?.share }
                        }
                        rows.append(Self.runRow(cell, role, sb, sc, shares(baseRuns), shares(candRuns), alpha: alpha, threshold: threshold))
                    } else {
                        rows.append(Self.row(cell, role, sb, sc, alpha: alpha, threshold: threshold))
                    }
                }
            }
        }
    }

    /// A row where the run is the unit: each run's pooled share one value, Welch's t of the shares, its interval for
    /// the difference of the mean shares (the change shown).
    static func runRow(
        _ cell: CellKey, _ role: WorkerRole, _ b: CategoryShare, _ c: CategoryShare, _ runsB: [Double], _ runsC: [Double],
        alpha: Double, threshold: Double
    ) -> Row {
        guard let test = RunLevelTest(baseline: runsB, candidate: runsC, alpha: alpha, scale: .difference) else {
            let d = (c.share - b.share) * 100
            return Row(cell: cell, role: role, category: b.category, baseline: b, candidate: c, change: d, changeLow: d,
                       changeHigh: d, p: nil, verdict: .untestable)
        }
        let d = test.estimate * 100, low = test.low * 100, high = test.high * 100
        return Row(
            cell: cell, role: role, category: b.category, baseline: b, candidate: c, change: d, changeLow: low, changeHigh: high,
            p: test.p, verdict: verdict(change: d, low: low, high: high, p: test.p, alpha: alpha, threshold: threshold))
    }

    static func row(
        _ cell: CellKey, _ role: WorkerRole, _ b: CategoryShare, _ c: CategoryShare, alpha: Double, threshold: Double
    ) -> Row {
        let d = c.share - b.share
        let low = d - ((c.share - c.low) * (c.share - c.low) + (b.high - b.share) * (b.high - b.share)).squareRoot()
        let high = d + ((c.high - c.share) * (c.high - c.share) + (b.share - b.low) * (b.share - b.low)).squareRoot()
        let p = Statistics.mannWhitneyU(c.perTrial, b.perTrial)?.p
        return Row(
            cell: cell, role: role, category: b.category, baseline: b, candidate: c, change: d * 100, changeLow: low * 100,
            changeHigh: high * 100, p: p,
            verdict: b.perTrial.count < 4 || c.perTrial.count < 4
                ? .untestable : verdict(change: d * 100, low: low * 100, high: high * 100, p: p, alpha: alpha, threshold: threshold))
    }

    /// A shift of `change` points with its interval counts when p < α, it is at least the threshold, and its interval
    /// lies wholly beyond half the threshold (the trial or the run as the unit alike).
    static func verdict(change: Double, low: Double, high: Double, p: Double?, alpha: Double, threshold: Double) -> Verdict {
        guard let p, p < alpha, abs(change) >= threshold, low >= threshold / 2 || high <= -threshold / 2 else { return .unchanged }
        return change > 0 ? .increased : .decreased
    }

    /// The rows whose shift counts.
    package var shifts: [Row] { rows.filter { $0.verdict == .increased || $0.verdict == .decreased } }

    /// The section of compare's Markdown: the shifts, the rest folded.
    package var markdown: String {
        var md = "## Where the time goes\n\n"
        if let notCompared { return md + "Not compared: \(notCompared).\n\n" }
        if userOnly {
            md += "**User space only** in both profiles: each share is of the threads' user-space time; kernel categories are "
                + "not permitted (n/a), so they are not compared.\n\n"
        }
        md += "Each category's share of a role's sampled time (pooled, with its 95% interval), baseline → candidate. "
        if let runs {
            md += "The run is the unit (\(runs.baseline) and \(runs.candidate) runs): a shift counts when Welch's t-test of the "
                + "runs' shares gives p < \(formatDecimal(alpha, digits: 3)), their means differ by at least "
                + "\(formatDecimal(threshold, digits: 1)) percentage points (the change shown) and its 95% interval lies wholly "
                + "beyond \(formatDecimal(threshold / 2, digits: 2)) points; fewer than 2 sampled runs on a side is untestable.\n\n"
        } else {
            md += "A shift counts when the Mann-Whitney U test of the per-trial shares gives p < \(formatDecimal(alpha, digits: 3)), the "
                + "shares differ by at least \(formatDecimal(threshold, digits: 1)) percentage points and the change's 95% interval "
                + "(Newcombe's, from both shares' intervals) lies wholly beyond \(formatDecimal(threshold / 2, digits: 2)) points; "
                + "fewer than 4 sampled trials on a side is untestable.\n\n"
        }
        let shifts = self.shifts
        let untestable = rows.filter { $0.verdict == .untestable }.count
        md += "**\(shifts.count) shift\(shifts.count == 1 ? "" : "s")** of \(rows.count) comparisons (\(untestable) untestable).\n\n"
        if !shifts.isEmpty { md += table(shifts) }
        let rest = rows.filter { $0.verdict != .increased && $0.verdict != .decreased }
        if !rest.isEmpty {
            md += "<details><summary>Shares unchanged or untestable (\(rest.count))</summary>\n\n" + table(rest) + "</details>\n\n"
        }
        return md
    }

    func table(_ rows: [Row]) -> String {
        var md = "| cell | role | category | baseline | candidate | change, points | p | n |\n|---|---|---|---:|---:|---:|---:|---:|\n"
        for row in rows {
            let change: String
            switch row.verdict {
            case .untestable: change = runs == nil ? "untestable (n < 4)" : "untestable (< 2 runs)"
            case .unchanged: change = "~"
            case .increased, .decreased:
                change = "\(signed(row.change)) [\(signed(row.changeLow)), \(signed(row.changeHigh))]"
            }
            md += "| \(row.cell) | \(row.role.rawValue) | \(row.category.rawValue) | \(WhereFindingsMarkdown.shareText(row.baseline)) "
                + "| \(WhereFindingsMarkdown.shareText(row.candidate)) | \(change) | \(pValue(row.p)) "
                + "| \(runs.map { "\($0.baseline)+\($0.candidate) runs, " } ?? "")\(row.baseline.perTrial.count)+\(row.candidate.perTrial.count)"
                + "\(runs == nil ? "" : " trials") |\n"
        }
        return md + "\n"
    }
}
