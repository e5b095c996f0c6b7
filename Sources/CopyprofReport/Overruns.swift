import CopyprofModel
import CopyprofProfile

/// A recorded trial that ran longer than the plan's duration by more than `Analysis.overrunTolerance`: its values
/// are in the medians, but it measured a longer and usually disturbed interval.
package struct Overrun: Sendable, Hashable {
    package var cell: CellKey
    package var trial: Int
    package var elapsedSeconds: Double
    package var plannedSeconds: Double
    /// The verified bytes the trial moved.
    package var bytes: UInt64
    /// The trial's bytes per second against the median of its cell's trials that kept to time: near 1 when the
    /// workers went on moving bytes until the late stop, far below when they were blocked; nil when the cell has no
    /// trial on time to compare with.
    package var rateShare: Double?

    /// Elapsed over planned time: 2.2 for a trial of 0.22 s planned for 0.1 s.
    package var ratio: Double { elapsedSeconds / plannedSeconds }

    /// Why it overran, as far as its bytes tell.
    package enum Cause: String, Sendable, Hashable, CaseIterable {
        /// It moved bytes at its cell's usual rate the whole time: the stop came late (the thread that stops the
        /// workers was scheduled late).
        case lateStop = "stopped late"
        /// It moved far fewer bytes per second than its cell's trials on time: a worker was blocked in a send or
        /// receive (or waited for zero-copy completions) when the stop came.
        case stalled = "stalled"
        /// No trial of its cell kept to time.
        case unknown = "no trial on time to compare"
    }

    /// The rate below which (a share of the cell's usual bytes per second) an overrun counts as a stall.
    package static let stallShare = 0.5

    package var cause: Cause {
        guard let rateShare else { return .unknown }
        return rateShare < Self.stallShare ? .stalled : .lateStop
    }
}

/// The overruns of one cell, for the report's table.
package struct CellOverruns: Sendable, Hashable {
    package var cell: CellKey
    /// Its overruns, worst first.
    package var trials: [Overrun]
    /// Its recorded trials.
    package var recorded: Int

    package var worst: Overrun { trials[0] }
}

extension Analysis {
    /// How far past its planned duration a trial may run before the report flags it: 20%.
    package static let overrunTolerance = 0.2

    /// Every recorded trial whose elapsed time exceeds the plan's duration by more than `overrunTolerance`, the
    /// longest overrun first (cells in sweep order when equal).
    package var overruns: [Overrun] {
        let planned = profile.plan.duration
        guard planned > 0 else { return [] }
        let limit = planned * (1 + Self.overrunTolerance)
        var out: [Overrun] = []
        for cell in profile.cells {
            let late = cell.trials.filter { $0.durationSeconds > limit }
            guard !late.isEmpty else { continue }
            // The usual rate: the median bytes per second of the cell's trials that kept to time.
            let usual = Statistics.median(cell.trials.filter { $0.durationSeconds <= limit && $0.elapsedNs > 0 }
                .map { Double($0.bytes) / $0.durationSeconds })
            for trial in late {
                let rate = Double(trial.bytes) / trial.durationSeconds
                out.append(Overrun(
                    cell: cell.key, trial: trial.trial, elapsedSeconds: trial.durationSeconds, plannedSeconds: planned,
                    bytes: trial.bytes, rateShare: usual.flatMap { $0 > 0 ? rate / $0 : nil }))
            }
        }
        return out.enumerated().sorted { ($0.element.ratio, -$0.offset) > ($1.element.ratio, -$1.offset) }.map(\.element)
    }

    /// The overruns by cell, the cell of the worst first.
    package var overrunsByCell: [CellOverruns] {
        var byCell: [CellOverruns] = []
        var position: [CellKey: Int] = [:]
        let recorded = Dictionary(profile.cells.map { ($0.key, $0.trials.count) }, uniquingKeysWith: { a, _ in a })
        for o in overruns {
            if let i = position[o.cell] {
                byCell[i].trials.append(o)
            } else {
                position[o.cell] = byCell.count
                byCell.append(CellOverruns(cell: o.cell, trials: [o], recorded: recorded[o.cell] ?? 0))
            }
        }
        return byCell
    }
}

extension Report {
    /// The cells shown in the overrun table before the rest are folded into a collapsible block.
    static let overrunCellsShown = 8

    /// The trials that overran their duration, as a table of cells (count, worst, why) under the method; empty when
    /// none did.
    func overrunSection() -> String {
        let byCell = analysis.overrunsByCell
        guard let first = byCell.first?.worst else { return "" }
        let count = byCell.reduce(0) { $0 + $1.trials.count }
        let total = profile.cells.reduce(0) { $0 + $1.trials.count }
        let percent = formatDecimal(Analysis.overrunTolerance * 100, digits: 0)
        var md = "### Trials that overran\n\n⚠ \(count) of \(total) trials ran more than \(percent)% past their planned "
            + "\(formatDecimal(first.plannedSeconds, digits: 3)) s, in \(byCell.count) cell\(byCell.count == 1 ? "" : "s"). "
            + "Their values are in the medians, each over the time the trial took. Why, from the bytes each moved against "
            + "its cell's trials on time: **stopped late** — it kept moving bytes at the usual rate, so the thread that stops "
            + "the workers ran late; **stalled** — it moved under \(formatDecimal(Overrun.stallShare * 100, digits: 0))% of the "
            + "usual bytes per second: a worker was blocked in a send or receive (or waited for zero-copy completions) when "
            + "the stop came.\n\n"
        func rows(_ cells: ArraySlice<CellOverruns>) -> String {
            var text = "| cell | overran | worst | why |\n|---|---:|---|---|\n"
            for group in cells {
                let w = group.worst
                let causes = Overrun.Cause.allCases.compactMap { cause -> String? in
                    let n = group.trials.filter { $0.cause == cause }.count
                    return n == 0 ? nil : "\(cause.rawValue)\(group.trials.count > 1 ? " ×\(n)" : "")"
                }
                let share = w.rateShare.map { ", \(formatDecimal($0 * 100, digits: 0))% of the usual rate" } ?? ""
                text += "| \(group.cell) | \(group.trials.count) of \(group.recorded) | trial \(w.trial): "
                    + "\(formatDecimal(w.ratio, digits: 2))× (\(formatDecimal(w.elapsedSeconds, digits: 3)) s, "
                    + "\(formatBytes(w.bytes))\(share)) | \(causes.joined(separator: ", ")) |\n"
            }
            return text + "\n"
        }
        md += rows(byCell.prefix(Self.overrunCellsShown))
        if byCell.count > Self.overrunCellsShown {
            md += "<details><summary>\(byCell.count - Self.overrunCellsShown) more cells</summary>\n\n"
                + rows(byCell.dropFirst(Self.overrunCellsShown)) + "</details>\n\n"
        }
        return md
    }
}
