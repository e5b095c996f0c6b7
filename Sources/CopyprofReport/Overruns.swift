import CopyprofProfile

/// A recorded trial that ran longer than the plan's duration by more than `Analysis.overrunTolerance`: its values
/// are in the medians, but it measured a longer and usually disturbed interval.
public struct Overrun: Sendable, Hashable {
    public var cell: CellKey
    public var trial: Int
    public var elapsedSeconds: Double
    public var plannedSeconds: Double
    /// The verified bytes the trial moved.
    public var bytes: UInt64

    /// Elapsed over planned time: 2.2 for a trial of 0.22 s planned for 0.1 s.
    public var ratio: Double { elapsedSeconds / plannedSeconds }
}

extension Analysis {
    /// How far past its planned duration a trial may run before the report flags it: 20%.
    public static let overrunTolerance = 0.2

    /// Every recorded trial whose elapsed time exceeds the plan's duration by more than `overrunTolerance`, the
    /// longest overrun first (cells in sweep order when equal).
    public var overruns: [Overrun] {
        let planned = profile.plan.duration
        guard planned > 0 else { return [] }
        var out: [Overrun] = []
        for cell in profile.cells {
            for trial in cell.trials where trial.durationSeconds > planned * (1 + Self.overrunTolerance) {
                out.append(Overrun(
                    cell: cell.key, trial: trial.trial, elapsedSeconds: trial.durationSeconds, plannedSeconds: planned,
                    bytes: trial.bytes))
            }
        }
        return out.enumerated().sorted { ($0.element.ratio, -$0.offset) > ($1.element.ratio, -$1.offset) }.map(\.element)
    }
}

extension Report {
    /// The cells shown by name in the overrun note; the rest are counted.
    static let overrunCellsShown = 8

    /// A Method bullet naming the trials that overran their duration, by cell, worst first; empty when none did.
    func overrunNote() -> String {
        let overruns = analysis.overruns
        guard let first = overruns.first else { return "" }
        let total = profile.cells.reduce(0) { $0 + $1.trials.count }
        var byCell: [(cell: CellKey, trials: [Overrun])] = []
        var position: [CellKey: Int] = [:]
        for o in overruns {
            if let i = position[o.cell] {
                byCell[i].trials.append(o)
            } else {
                position[o.cell] = byCell.count
                byCell.append((o.cell, [o]))
            }
        }
        let percent = formatDecimal(Analysis.overrunTolerance * 100, digits: 0)
        var text = "\n- ⚠ **Overran**: \(overruns.count) of \(total) trials ran more than \(percent)% past their planned "
            + "\(formatDecimal(first.plannedSeconds, digits: 3)) s: the run ended late — the thread that stops it was "
            + "scheduled late, or a worker was blocked in a send or receive (or waited for zero-copy completions) when the "
            + "stop came. Their values are in the medians, each over the time the trial took. By cell, worst first: "
        text += byCell.prefix(Self.overrunCellsShown).map { group in
            let c = group.cell
            return "\(c.mode.rawValue) \(c.transport.rawValue) \(c.messageSize) B × \(connectionsLabel(c.threads)): "
                + group.trials.map { o in
                    "trial \(o.trial) \(formatDecimal(o.ratio, digits: 2))× (\(formatDecimal(o.elapsedSeconds, digits: 3)) s, "
                        + "\(formatBytes(o.bytes)))"
                }.joined(separator: ", ")
        }.joined(separator: "; ")
        let hidden = byCell.count - Self.overrunCellsShown
        text += hidden > 0 ? "; and \(hidden) more cell\(hidden == 1 ? "" : "s")." : "."
        return text
    }
}
