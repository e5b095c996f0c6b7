import CopyprofModel
import CopyprofProfile
import Foundation

/// The short table `copyprof run` prints at the end: one row per cell, medians over its trials, in at most 79
/// columns so that it fits an 80-column terminal; failed cells' errors follow the table, one line each. `n` counts
/// timing+counted trials recorded, those that moved 0 bytes included (each such cell is named below the table, with
/// the failed ones: ``TrialAccount``). Below it, the counters' measured overhead per cell (``overheadGrid(_:)``).
///
/// Stream rows show throughput in Gbit/s; ping-pong rows show thousands of round trips per second (`22.8k`), not
/// Gbit/s: a ping-pong's bytes cross twice per round trip, one message at a time, and its Gbit/s beside stream's
/// would read as the same thing (``Metric/roundTripRate``). The column is then called `rate`, and a line says so.
///
/// With receivers other than the default `copy`, the rows come in one section per receiver, each under a line that
/// names it (`receiver mmap: ...`), so that the transport column keeps the senders' names and the table its width. A
/// profile with `mmap` cells shows, in place of `copied`, `cp/map`: the share of zero-copy sends the kernel copied and
/// the share of received bytes it mapped. The errors column says `n/a` for `discard` (nothing was read) and `n/s` for
/// cells the host cannot run, and is called `err` when `errors` would take the table past 79 columns.
package enum SummaryTable {
    package static func render(_ profile: Profile) -> String {
        table(profile) + overheadGrid(Analysis(profile: profile))
    }

    /// The counters' overhead per cell, one row per workload, size and connection count, one column per transport:
    /// how much slower counted trials ran than timing trials of the same round, in whole percents, median over rounds
    /// and its 95% interval (bounds above 999% shown as 999+), `*` where it exceeds 2% with an interval above zero.
    /// Empty without overheads; at most 79 columns.
    static func overheadGrid(_ analysis: Analysis) -> String {
        guard !analysis.overheads.isEmpty else { return "" }
        func whole(_ x: Double) -> String { x > 999 ? "999+" : fixed(x.rounded(), 0) }
        // With many transports the intervals do not fit 79 columns: then medians only (the report has the intervals).
        func grid(intervals: Bool) -> String {
            var rows: [[String]] = [["ovh %", "B×conn"] + analysis.transports.map(\.rawValue)]
            for mode in analysis.workloads {
                for size in analysis.sizes {
                    for connections in analysis.connectionCounts {
                        var row = [mode.name, "\(size)×\(connections)"]
                        for t in analysis.transports {
                            guard let cell = analysis.cell(t, mode, size, connections), let o = analysis.overhead(cell) else {
                                row.append("n/a ")
                                continue
                            }
                            var text = whole(o.percent)
                            if intervals, let low = o.slowdown.lowPercent, let high = o.slowdown.highPercent {
                                text += "[\(whole(low)),\(whole(high))]"
                            }
                            row.append(text + (o.exceeds(Analysis.overheadLimit) ? "*" : " "))
                        }
                        rows.append(row)
                    }
                }
            }
            return renderTable(rows)
        }
        var table = grid(intervals: true)
        var shape = "median[95% interval]"
        if table.split(separator: "\n").contains(where: { $0.count > 79 }) {
            table = grid(intervals: false)
            shape = "median (intervals in the report)"
        }
        let above = "* above \(formatDecimal(Analysis.overheadLimit, digits: 1))% (see the report)"
        if analysis.countedTrialsSample {
            // Two lines within 80 columns.
            return "\n\(analysis.overheadName): % slower with counters and the sampler than\nwithout, \(shape), "
                + "\(above)\n" + table
        }
        return "\n\(analysis.overheadName): % slower with counters than without, \(shape),\n\(above)\n" + table
    }

    static func table(_ profile: Profile) -> String {
        let mapping = profile.cells.contains { $0.key.receiver == .mmap }
        let receivers = profile.cells.contains { $0.key.receiver != .copy } || profile.cells.contains { $0.notSupported != nil }
        var rows: [[String]] = []
        var failures: [String] = []
        var unsupported: [(name: String, reason: String)] = []
        var fromRusage = false, fromPerf = false
        // Sections per receiver, in the order the receivers are listed; within one, the plan's order.
        let cells = ReceiverKind.allCases.flatMap { receiver in profile.cells.filter { $0.key.receiver == receiver } }
        var sections: [(row: Int, receiver: ReceiverKind)] = []
        for cell in cells {
            if receivers && sections.last?.receiver != cell.key.receiver { sections.append((rows.count, cell.key.receiver)) }
            let trials = cell.trials
            // The same definitions as reports and comparisons use.
            func med(_ metric: Metric) -> Double? { metric.summary(of: cell)?.median }
            let rate = cell.key.workload == .stream
                ? fixed(med(.throughput), 2) : med(.roundTripRate).map { "\(fixed($0 / 1000, 1))k" } ?? "n/a"
            let rtt = med(.rttP50), cpu = med(.cpuNsPerByte)
            let switchSummary = Metric.contextSwitchesPerMB.summary(of: cell)
            let switches = switchSummary?.median, copied = med(.zeroCopyCopiedShare)
            // getrusage's count in the timing trials, as in every profile since switches left the counted trials;
            // an older profile's perf count is marked.
            let switchesMark = switchSummary?.sources.contains(.perfEvent) == true ? "*" : ""
            if switchSummary?.sources.contains(.getrusage) == true { fromRusage = true }
            if !switchesMark.isEmpty { fromPerf = true }
            let integrity = trials.reduce(UInt128(0)) { $0 + UInt128($1.integrityErrors) }
            let shares: String
            if mapping {
                let mapped = med(.mappedShare)
                shares = copied == nil && mapped == nil
                    ? "" : "\(copied.map { fixed($0, 0) } ?? "-")/\(mapped.map { fixed($0, 0) } ?? "-")"
            } else {
                // A transport that reports completions but got none: its share was not measured, not blank.
                shares = copied.map { "\(fixed($0, 0))%" }
                    ?? (cell.key.transport.reportsCompletions && !trials.isEmpty ? "n/a" : "")
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
                cell.key.workload.name, cell.key.transport.rawValue, "\(cell.key.messageSize)", "\(cell.key.connections)",
                trialCount(trials), rate, fixed(rtt, 1), fixed(cpu, 3), fixed(switches, 1) + switchesMark,
                shares, errors,
            ])
            let account = TrialAccount(cell)
            if let error = cell.error {
                failures.append("failed: \(cell.key): \(error) (n \(account.n): the failed trial and the rounds after it did not run)")
            }
            if account.emptyTiming + account.emptyCounted > 0 {
                let empty = account.emptyTiming + account.emptyCounted
                failures.append("n: \(cell.key): \(empty) of \(trials.count) trials moved 0 bytes: in n, with throughput 0 "
                    + "and no cost per byte")
            }
            if let why = cell.notSupported { unsupported.append((cell.key.description, why)) }
        }
        let pingpong = profile.cells.contains { $0.key.workload == .pingpong }
        var note = fromRusage ? "sw/MB from getrusage (voluntary + involuntary), in the timing trials\n" : ""
        if fromPerf { note += "* sw/MB from perf in the counted trials (a profile from before they came from getrusage)\n" }
        if pingpong {
            note += "rate: stream Gbit/s (one direction); ping-pong thousands of round trips/s (k)\n"
        }
        if mapping { note += "cp/map: % of zero-copy sends the kernel copied / % of received bytes mapped (mmap)\n" }
        if profile.cells.contains(where: { !$0.key.receiver.verifiesPayload }) {
            note += "n/a: discard drops the bytes unread, so its messages are counted, not verified\n"
        }
        // Each reason once, with the cells it holds for.
        failures += groupedByReason(unsupported).map { "not supported: \($0.names.joined(separator: "; ")): \($0.reason)" }
        func header(_ errors: String) -> [String] {
            ["mode", "transport", "size", "conn", "n", pingpong ? "rate" : "Gbit/s", "p50 µs", "CPU ns/B", "sw/MB", mapping ? "cp/map" : "copied", errors]
        }
        var lines = renderTable([header("errors")] + rows).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.contains(where: { $0.count > 79 }) {
            lines = renderTable([header("err")] + rows).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
        // Each section's line before its first row (row i is line i + 1, after the header).
        for (row, receiver) in sections.reversed() {
            lines.insert("receiver \(receiver.rawValue): \(Self.describe(receiver))", at: row + 1)
        }
        return lines.joined(separator: "\n") + note + failures.map { $0 + "\n" }.joined()
    }

    /// `6+6` (timing+counted) for trials of the split, the count otherwise.
    static func trialCount(_ trials: [TrialRecord]) -> String {
        guard trials.contains(where: { $0.kind != nil }) else { return "\(trials.count)" }
        return "\(trials.filter { $0.kind == .timing }.count)+\(trials.filter { $0.kind == .counted }.count)"
    }

    /// What a receiver does, for its section's line.
    static func describe(_ receiver: ReceiverKind) -> String {
        switch receiver {
        case .copy: return "recv() into a buffer, verified"
        case .discard: return "recv(MSG_TRUNC), nothing read: counted, not verified"
        case .mmap: return "TCP_ZEROCOPY_RECEIVE: whole pages mapped, the rest copied"
        }
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
