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
        let what = "\(p.cell.mode.rawValue) \(p.cell.messageSize) B × \(p.cell.threads)"
        let timing = "\(duration(p.elapsedSeconds)) elapsed, ~\(duration(p.remainingSeconds)) left"
        if isTerminal {
            let width = 24
            let filled = Int(Double(width) * Double(p.runIndex - 1) / Double(max(1, p.runCount)))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let trial = p.warmup ? "warm-up" : p.kind.rawValue
            let line = "[\(bar)] round \(p.round)/\(p.roundCount) \(what) \(p.cell.transport.rawValue) \(trial) — \(timing)"
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
        } else if p.round != lastRound {
            lastRound = p.round
            note("round \(p.round)/\(p.roundCount)\(p.warmup ? " (warm-up)" : "") (\(timing))")
        }
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }

    private func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}

