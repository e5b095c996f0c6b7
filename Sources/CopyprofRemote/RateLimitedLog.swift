import Synchronization
import SystemCalls

/// A log of lines a stranger can make the server write — one per connection — that writes at most ``burst`` lines per
/// ``interval`` and counts the rest, as the kernel's `printk_ratelimit` does (lib/ratelimit.c `___ratelimit`: at most
/// `DEFAULT_RATELIMIT_BURST` 10 messages per `DEFAULT_RATELIMIT_INTERVAL` 5 s, then "N callbacks suppressed").
///
/// Unlike the kernel's, the count of the lines dropped is written as soon as their interval is over, whether or not
/// another line comes (``flush()``, which the server's accepting loop calls on every turn, at least every 200 ms),
/// and when the server stops. A churn of 10,000 connections so writes some 10 lines per 5 s and one count per 5 s,
/// not 10,000 lines (a 460,000-connection churn wrote 39 MB of log before).
final class RateLimitedLog: Sendable {
    /// At most this many lines per interval.
    let burst: Int
    /// Seconds of an interval.
    let interval: Double
    /// What the lines are about, in the count of those dropped: "lines about connections".
    let what: String
    private let write: @Sendable (String) -> Void
    private let clock: @Sendable () -> Double
    private let state = Mutex(State())

    private struct State {
        /// When the interval began (the clock's seconds); nil before the first line.
        var begin: Double?
        var written = 0
        var dropped = 0
        /// Lines dropped since the server started.
        var droppedInAll = 0
    }

    /// - Parameters:
    ///   - clock: seconds, increasing (`CLOCK_MONOTONIC`; a test's own clock).
    init(
        burst: Int = 10, interval: Double = 5, what: String = "lines about connections",
        clock: @escaping @Sendable () -> Double = monotonicSeconds, write: @escaping @Sendable (String) -> Void
    ) {
        self.burst = burst
        self.interval = interval
        self.what = what
        self.clock = clock
        self.write = write
    }

    /// Writes `line` unless ``burst`` lines have been written in this interval; then counts it.
    func callAsFunction(_ line: String) {
        state.withLock { state in
            endIntervalIfOver(&state)
            if state.begin == nil { state.begin = clock() }
            if state.written < burst {
                state.written += 1
                write(line)
            } else {
                state.dropped += 1
                state.droppedInAll += 1
            }
        }
    }

    /// Writes the count of the lines dropped in an interval that is over.
    func flush() {
        state.withLock { endIntervalIfOver(&$0) }
    }

    /// Writes the count of the lines dropped in the interval so far, over or not (the server stops), and the total.
    func finish() {
        state.withLock { state in
            writeDropped(&state, final: true)
            state.begin = nil
            state.written = 0
        }
    }

    /// Lines dropped since the server started.
    var droppedInAll: Int { state.withLock { $0.droppedInAll } }

    private func endIntervalIfOver(_ state: inout State) {
        guard let begin = state.begin, clock() - begin >= interval else { return }
        writeDropped(&state, final: false)
        state.begin = nil
        state.written = 0
    }

    private func writeDropped(_ state: inout State, final: Bool) {
        if state.dropped > 0 {
            let seconds = state.begin.map { min(interval, clock() - $0) } ?? interval
            write("\(state.dropped) more \(what) not written in \(format(seconds)) s "
                + "(at most \(burst) per \(format(interval)) s are)"
                + (final && state.droppedInAll > state.dropped ? "; \(state.droppedInAll) in all" : ""))
        } else if final && state.droppedInAll > 0 {
            write("\(state.droppedInAll) \(what) not written in all (at most \(burst) per \(format(interval)) s are)")
        }
        state.dropped = 0
    }

    private func format(_ seconds: Double) -> String {
        let tenths = (seconds * 10).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? String(Int(tenths / 10)) : String(tenths / 10)
    }
}
