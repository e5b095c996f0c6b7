import CopyprofProfile

/// The short table `copyprof run` prints at the end: one row per cell, medians over its trials. `trials` counts
/// timing+counted trials; `overhead %` is the counters' measured overhead in the cell (counted against timing trials
/// of the same round, median over rounds with its 95% interval).
public enum SummaryTable {
    public static func render(_ profile: Profile) -> String {
        let analysis = Analysis(profile: profile)
        var rows: [[String]] = [["mode", "transport", "size", "threads", "trials", "Gbit/s", "RTT p50 µs", "CPU ns/B",
                                 "ctx sw/MB", "copied", "overhead %", "errors"]]
        for cell in profile.cells {
            let trials = cell.trials
            // The same definitions as reports and comparisons use.
            func med(_ metric: Metric) -> Double? { metric.summary(of: cell)?.median }
            let gbps = med(.throughput), rtt = med(.rttP50), cpu = med(.cpuNsPerByte)
            let switches = med(.contextSwitchesPerMB), copied = med(.zeroCopyCopiedShare)
            let integrity = trials.reduce(0) { $0 + $1.integrityErrors }
            let split = trials.contains { $0.kind != nil }
            let count = split
                ? "\(trials.filter { $0.kind == .timing }.count)+\(trials.filter { $0.kind == .counted }.count)" : "\(trials.count)"
            var overhead = "n/a"
            if let o = analysis.overhead(cell) {
                overhead = fixed(o.percent, 1)
                if let low = o.slowdown.lowPercent, let high = o.slowdown.highPercent { overhead += " [\(fixed(low, 1)), \(fixed(high, 1))]" }
            }
            rows.append([
                cell.key.mode.rawValue, cell.key.transport.rawValue, "\(cell.key.messageSize)", "\(cell.key.threads)",
                count, fixed(gbps, 2), fixed(rtt, 1), fixed(cpu, 3), fixed(switches, 1),
                copied.map { "\(fixed($0, 0))%" } ?? "", overhead,
                cell.error.map { "failed: \($0)" } ?? (integrity == 0 ? "0" : "\(integrity) integrity"),
            ])
        }
        return renderTable(rows)
    }

    /// Left-aligned text columns, numbers right-aligned.
    static func renderTable(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for (r, row) in rows.enumerated() {
            var line = ""
            for (i, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                let numeric = r > 0 && cell.first.map { $0.isNumber || $0 == "-" } == true && i >= 2
                line += (i == 0 ? "" : "  ") + (numeric ? pad + cell : (i == row.count - 1 ? cell : cell + pad))
            }
            out += line + "\n"
        }
        return out
    }
}
