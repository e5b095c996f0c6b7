import CopyprofSweep
import Foundation

/// Progress on stderr: a live line on a terminal, plain lines (one per group of cells) otherwise.
final class ProgressDisplay {
    private let isTerminal = isatty(2) == 1
    private var lastGroupLine = ""
    private let estimatedSeconds: Double
    private let runCount: Int

    init(estimatedSeconds: Double, runCount: Int) {
        self.estimatedSeconds = estimatedSeconds
        self.runCount = runCount
        note("\(runCount) runs, about \(duration(estimatedSeconds)) of measuring plus set-up")
    }

    func update(_ p: SweepProgress) {
        let what = "\(p.cell.mode.rawValue) \(p.cell.messageSize) B × \(p.cell.threads)"
        let timing = "\(duration(p.elapsedSeconds)) elapsed, ~\(duration(p.remainingSeconds)) left"
        if isTerminal {
            let width = 24
            let filled = Int(Double(width) * Double(p.runIndex - 1) / Double(max(1, p.runCount)))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let trial = p.trial.map { "trial \($0)" } ?? "warm-up"
            let line = "[\(bar)] cell \(p.cellIndex)/\(p.cellCount) \(what) \(p.cell.transport.rawValue) \(trial) — \(timing)"
            writeStandardError("\r\u{1B}[2K\(line)")
        } else {
            let line = "cell \(p.cellIndex)/\(p.cellCount): \(what)"
            let group = "\(p.cell.mode)\(p.cell.messageSize)\(p.cell.threads)"
            if group != lastGroupLine {
                lastGroupLine = group
                note("\(line) (\(timing))")
            }
        }
    }

    func finish() {
        if isTerminal { writeStandardError("\r\u{1B}[2K") }
    }

    private func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}

