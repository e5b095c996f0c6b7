import CopyprofSweep
import Foundation

/// Progress on stderr: a live line on a terminal, plain lines (one per round) otherwise.
final class ProgressDisplay {
    private let isTerminal = isatty(2) == 1
    private var lastRound = 0
    private let estimatedSeconds: Double
    private let runCount: Int

    init(estimatedSeconds: Double, runCount: Int) {
        self.estimatedSeconds = estimatedSeconds
        self.runCount = runCount
        note("\(runCount) runs, about \(duration(estimatedSeconds)) of measuring plus set-up")
    }

    func update(_ p: SweepProgress) {
        let what = "\(p.cell.workload.name) \(p.cell.messageSize) B × \(p.cell.connections)"
        let timing = "\(duration(p.elapsedSeconds)) elapsed, ~\(duration(p.remainingSeconds)) left"
        if isTerminal {
            // One line that never wraps: the bar shrinks, then the line is cut, to the terminal's width.
            let done = Double(p.runIndex - 1) / Double(max(1, p.runCount))
            let trial = p.warmup ? "warm-up" : p.kind.rawValue
            let tail = " \(Int(done * 100))% round \(p.round)/\(p.roundCount) ~\(duration(p.remainingSeconds)) left · "
                + "\(what) \(p.cell.transport.rawValue) \(trial)"
            let columns = terminalColumns()
            let barWidth = max(0, min(20, columns - 1 - tail.count - 2))
            let filled = Int(Double(barWidth) * done)
            let bar = barWidth > 0 ? "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled) + "]" : ""
            let line = String((bar + tail).prefix(max(1, columns - 1)))
            writeStandardError("\r\u{1B}[2K\(line)")
        } else if p.round != lastRound {
            lastRound = p.round
            note("round \(p.round)/\(p.roundCount)\(p.warmup ? " (warm-up)" : "") (\(timing))")
        }
    }

    func finish() {
        if isTerminal { writeStandardError("\r\u{1B}[2K") }
    }

    /// The width of the terminal on stderr, or 80 when it cannot be read.
    private func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(2, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    private func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}

