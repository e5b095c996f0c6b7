import Synchronization
#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// The shared state of one run: the start barrier, the stop flag and the first error.
final class RunControl: Sendable {
    /// A pipe the coordinator sleeps on for the run's duration; a failing worker writes to it to end the run at once.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let arrived = Atomic<Int>(0)
    private let released = Atomic<Bool>(false)
    private let stop = Atomic<Bool>(false)
    private let firstError = Mutex<TransportError?>(nil)

    init() {
        // Without the pipe (no descriptor left), `sleep(until:)` polls the stop flag every 10 ms instead.
        let wake = try? makePipe(nonBlocking: true)
        wakeRead = wake?.read ?? -1
        wakeWrite = wake?.write ?? -1
    }

    deinit {
        if wakeRead >= 0 { close(wakeRead) }
        if wakeWrite >= 0 { close(wakeWrite) }
    }

    /// Sleeps until `deadlineNs` (`CLOCK_MONOTONIC`) or until a worker fails, whichever comes first: one wake-up
    /// per run instead of a periodic check that would preempt the workers.
    func sleep(until deadlineNs: UInt64) {
        while !stopRequested {
            let now = monotonicNanoseconds()
            if now >= deadlineNs { return }
            let remainingMs = Int32(min((deadlineNs - now + 999_999) / 1_000_000, UInt64(Int32.max)))
            var pfd = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
            if wakeRead < 0 {
                var step = timespec(tv_sec: 0, tv_nsec: Int(min(deadlineNs - now, 10_000_000)))
                nanosleep(&step, nil)
            } else {
                _ = poll(&pfd, 1, remainingMs)
            }
        }
    }

    /// True once the timed loops should end.
    @inline(__always)
    var stopRequested: Bool { stop.load(ordering: .relaxed) }

    func requestStop() { stop.store(true, ordering: .relaxed) }

    /// A worker is ready: counts it in, then spins (yielding the CPU) until every worker is in and the
    /// coordinator releases them all at once. Spinning keeps the release free of futex wake-ups.
    func arriveAndWait() {
        arrived.add(1, ordering: .acquiringAndReleasing)
        while !released.load(ordering: .acquiring) { sched_yield() }
    }

    /// The coordinator: waits until `workers` have arrived, a worker has failed (it never arrives), or `timeout`
    /// seconds. Returns false on timeout.
    func waitForArrivals(_ workers: Int, timeout: Double) -> Bool {
        let deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
        while arrived.load(ordering: .acquiring) < workers && !stopRequested {
            if monotonicNanoseconds() > deadline { return false }
            sched_yield()
        }
        return true
    }

    /// Releases every worker waiting at the barrier.
    func go() {
        released.store(true, ordering: .releasing)
    }

    /// Records the first error of the run and asks every worker to stop.
    func fail(_ error: TransportError) {
        firstError.withLock { if $0 == nil { $0 = error } }
        requestStop()
        var byte: UInt8 = 1
        if wakeWrite >= 0 { _ = retryingOnInterrupt { write(wakeWrite, &byte, 1) } }
    }

    var error: TransportError? { firstError.withLock { $0 } }
}
