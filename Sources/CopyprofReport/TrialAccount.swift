import CopyprofModel
import CopyprofProfile

/// Where a cell's trials went: how many of each kind were recorded, how many moved no byte, and the trial at which
/// the cell failed. No trial is dropped silently: the summary, the report and compare count them alike.
package struct TrialAccount: Sendable, Hashable {
    package var cell: CellKey
    /// Recorded trials of each kind (a trial from before the split counts as timing).
    package var timing: Int
    package var counted: Int
    /// Recorded trials that moved 0 bytes, of each kind: they are in `n`, with a throughput of 0 and no cost per byte.
    package var emptyTiming: Int
    package var emptyCounted: Int
    /// Why the cell stopped early (the trial that failed is not recorded; the rounds after it did not run).
    package var failure: String?
    /// The kind of the trial that failed, when the error says.
    package var failedKind: TrialKind?

    package init(_ cell: CellRecord) {
        self.cell = cell.key
        timing = cell.trials.filter { $0.kind != .counted }.count
        counted = cell.trials.filter { $0.kind == .counted }.count
        emptyTiming = cell.trials.filter { $0.kind != .counted && $0.bytes == 0 }.count
        emptyCounted = cell.trials.filter { $0.kind == .counted && $0.bytes == 0 }.count
        failure = cell.error
        failedKind = cell.failedTrialKind
    }

    /// True when a trial moved 0 bytes or the cell failed.
    package var hasMissingTrials: Bool { emptyTiming + emptyCounted > 0 || failure != nil }

    /// `6+6` (timing+counted), or `6` in a profile without the split or without counters.
    package var n: String { counted == 0 ? "\(timing)" : "\(timing)+\(counted)" }

    /// What went missing, in one phrase: `1 timing trial moved 0 bytes; failed in round 3 …`; nil when nothing did.
    package var note: String? {
        var parts: [String] = []
        for (count, kind) in [(emptyTiming, "timing"), (emptyCounted, "counted")] where count > 0 {
            parts.append("\(count) \(counted == 0 ? "" : kind + " ")trial\(count == 1 ? "" : "s") moved 0 bytes "
                + "(in n: throughput 0, costs per byte n/a)")
        }
        if let failure {
            parts.append("failed (\(failure)): the failed trial and the rounds after it are not in n \(n)")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}

extension CellRecord {
    /// The kind of the trial at which the cell failed, from its error (`round 3 timing trial: …`, as the sweep writes
    /// it); nil when it did not fail, or failed in a warm-up or a profile that does not say.
    package var failedTrialKind: TrialKind? {
        guard let error else { return nil }
        let head = error.prefix { $0 != ":" }
        return TrialKind.allCases.first { head.hasSuffix(" \($0.rawValue) trial") }
    }
}

extension Analysis {
    /// Every cell whose trials did not all move bytes, or that failed, in the profile's order.
    package var missingTrials: [TrialAccount] { profile.cells.map(TrialAccount.init).filter(\.hasMissingTrials) }
}
