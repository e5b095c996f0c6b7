import CopyprofProfile
import Foundation

/// The short table `copyprof run` prints at the end: one row per cell, medians over its trials, in at most 79
/// columns so that it fits an 80-column terminal; failed cells' errors follow the table, one line each.
///
/// The receiver is folded into the transport's name (`zero-copy+mmap`; the default `copy` receiver is not named). A
/// profile with `mmap` cells shows, in place of `copied`, `cp/map`: the share of zero-copy sends the kernel copied and
/// the share of received bytes it mapped; one with receivers other than `copy` calls the errors column `err`, which
/// says `n/a` for `discard` (nothing was read) and `n/s` for cells the host cannot run.
public enum SummaryTable {
    public static func render(_ profile: Profile) -> String {
        let mapping = profile.cells.contains { $0.key.receiver == .mmap }
        let receivers = profile.cells.contains { $0.key.receiver != .copy } || profile.cells.contains { $0.notSupported != nil }
        var rows: [[String]] = [["mode", "transport", "size", "conn", "n", "Gbit/s", "p50 µs", "CPU ns/B", "sw/MB",
                                 mapping ? "cp/map" : "copied", receivers ? "err" : "errors"]]
        var failures: [String] = []
        var unsupported: [(reason: String, cells: [String])] = []
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
            let shares: String
            if mapping {
                let mapped = med(.mappedShare)
                shares = copied == nil && mapped == nil
                    ? "" : "\(copied.map { fixed($0, 0) } ?? "-")/\(mapped.map { fixed($0, 0) } ?? "-")"
            } else {
                shares = copied.map { "\(fixed($0, 0))%" } ?? ""
            }
            let errors: String
            if cell.notSupported != nil {
                errors = "n/s"
            } else if cell.error != nil {
                errors = "failed"
            } else if !cell.key.receiver.verifiesPayload {
                errors = "n/a"
            } else {
                errors = integrity == 0 ? "0" : "\(integrity) bad"
            }
            rows.append([
                cell.key.mode.rawValue, cell.key.path, "\(cell.key.messageSize)", "\(cell.key.threads)",
                "\(trials.count)", fixed(gbps, 2), fixed(rtt, 1), fixed(cpu, 3), fixed(switches, 1) + switchesMark,
                shares, errors,
            ])
            if let error = cell.error { failures.append("failed: \(cell.key): \(error)") }
            if let why = cell.notSupported {
                if let index = unsupported.firstIndex(where: { $0.reason == why }) {
                    unsupported[index].cells.append(cell.key.description)
                } else {
                    unsupported.append((why, [cell.key.description]))
                }
            }
        }
        var note = fromRusage ? "* context switches from getrusage (voluntary + involuntary): perf cannot count them here\n" : ""
        if mapping { note += "cp/map: % of zero-copy sends the kernel copied / % of received bytes mapped (mmap)\n" }
        if profile.cells.contains(where: { !$0.key.receiver.verifiesPayload }) {
            note += "n/a: discard drops the bytes unread, so its messages are counted, not verified\n"
        }
        // Each reason once, with the cells it holds for.
        failures += unsupported.map { "not supported: \($0.cells.joined(separator: "; ")): \($0.reason)" }
        return renderTable(rows) + note + failures.map { $0 + "\n" }.joined()
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
