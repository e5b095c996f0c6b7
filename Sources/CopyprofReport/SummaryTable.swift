import CopyprofProfile
import Foundation

/// The short table `copyprof run` prints at the end: one row per cell, medians over its trials.
public enum SummaryTable {
    public static func render(_ profile: Profile) -> String {
        var rows: [[String]] = [["mode", "transport", "size", "threads", "trials", "Gbit/s", "RTT p50 µs", "CPU ns/B",
                                 "ctx sw/MB", "copied", "errors"]]
        for cell in profile.cells {
            let trials = cell.trials
            // The same definitions as reports and comparisons use.
            func med(_ metric: Metric) -> Double? { metric.summary(of: cell)?.median }
            let gbps = med(.throughput), rtt = med(.rttP50), cpu = med(.cpuNsPerByte)
            let switches = med(.contextSwitchesPerMB), copied = med(.zeroCopyCopiedShare)
            let integrity = trials.reduce(UInt128(0)) { $0 + UInt128($1.integrityErrors) }
            rows.append([
                cell.key.mode.rawValue, cell.key.transport.rawValue, "\(cell.key.messageSize)", "\(cell.key.threads)",
                "\(trials.count)", fixed(gbps, 2), fixed(rtt, 1), fixed(cpu, 3), fixed(switches, 1),
                copied.map { "\(fixed($0, 0))%" } ?? "",
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

/// `value` with exactly `digits` decimals, or "n/a"; values too large for that (beyond 10^15) in exponent notation.
public func fixed(_ value: Double?, _ digits: Int) -> String {
    guard let value, value.isFinite else { return "n/a" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    // Whole numbers up to 10^15 are exact in a Double and fit Int64 with room to spare.
    guard rounded < 1e15 else { return String(format: "%.\(max(0, min(digits, 6)))e", value) }
    let whole = rounded / scale
    var text = String(Int64(whole.rounded(.down)))
    if digits > 0 {
        let fraction = Int64(rounded) % Int64(scale)
        let digitsText = String(fraction)
        text += "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
    }
    return (value < 0 && rounded != 0 ? "-" : "") + text
}
