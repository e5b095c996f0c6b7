import CopyprofProfile
import Foundation

/// The short table `copyprof run` prints at the end: one row per cell, medians over its trials, in at most 79
/// columns so that it fits an 80-column terminal; failed cells' errors follow the table, one line each. `n` counts
/// timing+counted trials. Below it, the counters' measured overhead per cell (``overheadGrid(_:)``).
public enum SummaryTable {
    public static func render(_ profile: Profile) -> String {
        table(profile) + overheadGrid(Analysis(profile: profile))
    }

    /// The counters' overhead per cell, one row per workload, size and connection count, one column per transport:
    /// how much slower counted trials ran than timing trials of the same round, in whole percents, median over rounds
    /// and its 95% interval (bounds above 999% shown as 999+), `*` where it exceeds 2% with an interval above zero.
    /// Empty without overheads; at most 79 columns.
    static func overheadGrid(_ analysis: Analysis) -> String {
        guard !analysis.overheads.isEmpty else { return "" }
        func whole(_ x: Double) -> String { x > 999 ? "999+" : fixed(x.rounded(), 0) }
        var rows: [[String]] = [["ovh %", "B×conn"] + analysis.transports.map(\.rawValue)]
        for mode in analysis.modes {
            for size in analysis.sizes {
                for threads in analysis.threadCounts {
                    var row = [mode.rawValue, "\(size)×\(threads)"]
                    for t in analysis.transports {
                        guard let cell = analysis.cell(t, mode, size, threads), let o = analysis.overhead(cell) else {
                            row.append("n/a ")
                            continue
                        }
                        var text = whole(o.percent)
                        if let low = o.slowdown.lowPercent, let high = o.slowdown.highPercent { text += "[\(whole(low)),\(whole(high))]" }
                        row.append(text + (o.exceeds(Analysis.overheadLimit) ? "*" : " "))
                    }
                    rows.append(row)
                }
            }
        }
        return "\ncounters' overhead: % slower with counters than without, median[95% interval],\n"
            + "* above \(formatDecimal(Analysis.overheadLimit, digits: 1))% (see the report)\n" + renderTable(rows)
    }

    static func table(_ profile: Profile) -> String {
        var rows: [[String]] = [["mode", "transport", "size", "conn", "n", "Gbit/s", "p50 µs", "CPU ns/B", "sw/MB", "copied",
                                 "errors"]]
        var failures: [String] = []
        var fromRusage = false
        for cell in profile.cells {
            let trials = cell.trials
            // The same definitions as reports and comparisons use.
            func med(_ metric: Metric) -> Double? { metric.summary(of: cell)?.median }
            let gbps = med(.throughput), rtt = med(.rttP50), cpu = med(.cpuNsPerByte)
            let switchSummary = Metric.contextSwitchesPerMB.summary(of: cell)
            let switches = switchSummary?.median, copied = med(.zeroCopyCopiedShare)
            let switchesMark = switchSummary?.sources.contains(.getrusage) == true ? "*" : ""
            if !switchesMark.isEmpty { fromRusage = true }
            let integrity = trials.reduce(UInt128(0)) { $0 + UInt128($1.integrityErrors) }
            rows.append([
                cell.key.mode.rawValue, cell.key.transport.rawValue, "\(cell.key.messageSize)", "\(cell.key.threads)",
                trialCount(trials), fixed(gbps, 2), fixed(rtt, 1), fixed(cpu, 3), fixed(switches, 1) + switchesMark,
                copied.map { "\(fixed($0, 0))%" } ?? "",
                cell.error == nil ? (integrity == 0 ? "0" : "\(integrity) bad") : "failed",
            ])
            if let error = cell.error { failures.append("failed: \(cell.key): \(error)") }
        }
        let note = fromRusage ? "* sw/MB from getrusage (voluntary + involuntary): perf cannot count them here\n" : ""
        return renderTable(rows) + note + failures.map { $0 + "\n" }.joined()
    }

    /// `6+6` (timing+counted) for trials of the split, the count otherwise.
    static func trialCount(_ trials: [TrialRecord]) -> String {
        guard trials.contains(where: { $0.kind != nil }) else { return "\(trials.count)" }
        return "\(trials.filter { $0.kind == .timing }.count)+\(trials.filter { $0.kind == .counted }.count)"
    }

    /// Left-aligned text columns, numbers right-aligned.
    static func renderTable(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        var out = ""
        for (r, row) in rows.enumerated() {
            var line = ""
            for (i, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                let numeric = r > 0 && cell.first.map { $0.isNumber || $0 == "-" } == true && i >= 2
                line += (i == 0 ? "" : " ") + (numeric ? pad + cell : (i == row.count - 1 ? cell : cell + pad))
            }
            out += line + "\n"
        }
        return out
    }
}
