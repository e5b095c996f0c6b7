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
    private let loopsEnded = Atomic<Int>(0)
    private let countedFromOutsideFlag = Atomic<Bool>(false)
    /// The start barrier's pipe, where workers sleep with ``countFromOutside()``; set before the workers start.
    private nonisolated(unsafe) var releaseRead: Int32 = -1
    private nonisolated(unsafe) var releaseWrite: Int32 = -1
    private let firstError = Mutex<TransportError?>(nil)

    init() {
        // Without the pipe (no descriptor left), `sleep(until:)` polls the stop flag every 10 ms instead.
        let wake = try? makePipe(nonBlocking: true)
        wakeRead = wake?.read ?? -1
        wakeWrite = wake?.write ?? -1
    }

    deinit {
        for fd in [wakeRead, wakeWrite, releaseRead, releaseWrite] where fd >= 0 { close(fd) }
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
            } else if poll(&pfd, 1, remainingMs) > 0 {
                // Drain what woke it (a failure, or with countFromOutside() a loop that ended early): a byte left
                // in the pipe would wake every later poll at once, a spin until the deadline.
                var bytes = (UInt64(0), UInt64(0))
                _ = withUnsafeMutableBytes(of: &bytes) { read(wakeRead, $0.baseAddress, $0.count) }
            }
        }
    }

    /// True once the timed loops should end.
    @inline(__always)
    var stopRequested: Bool { stop.load(ordering: .relaxed) }

    func requestStop() { stop.store(true, ordering: .relaxed) }

    /// A worker is ready: counts it in, then spins (yielding the CPU) until every worker is in and the
    /// coordinator releases them all at once. Spinning keeps the release free of futex wake-ups. With
    /// ``countFromOutside()`` (an outside profiler counts the workers' threads) it sleeps instead, so that it is not
    /// counted spinning once the profiler is enabled.
    func arriveAndWait() {
        arrived.add(1, ordering: .acquiringAndReleasing)
        if countedFromOutsideFlag.load(ordering: .relaxed), releaseRead >= 0 {
            var pfd = pollfd(fd: releaseRead, events: Int16(POLLIN), revents: 0)
            while !released.load(ordering: .acquiring) { _ = poll(&pfd, 1, 1000) }
            return
        }
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
        var byte: UInt8 = 1
        if releaseWrite >= 0 { _ = retryingOnInterrupt { write(releaseWrite, &byte, 1) } }
    }

    /// For an outside profiler that counts the workers' threads from the coordinator's `enable` to each thread's
    /// end: they sleep at the start barrier rather than spin (``arriveAndWait()``), each says when its loop ended
    /// (``loopEnded()``, ``waitForLoopEnds(_:timeout:)``), and each thread ends with its region, its wrap-up handed
    /// to a thread of its own (TransportRun.swift's `WrapUpHandOff`). Call before the workers start.
    func countFromOutside() {
        // Without the pipe (no descriptor left), the workers spin at the barrier as they otherwise do.
        if let release = try? makePipe() {
            releaseRead = release.read
            releaseWrite = release.write
        }
        countedFromOutsideFlag.store(true, ordering: .relaxed)
    }

    /// Waits until every worker that arrived sleeps at the start barrier, as far as this can tell: a worker counted in
    /// is a few instructions from its poll, so a short pause lets them all get there.
    func letArrivalsSleep() {
        var pause = timespec(tv_sec: 0, tv_nsec: 5_000_000)
        nanosleep(&pause, nil)
    }

    /// True after ``countFromOutside()``: a profiler outside the process counts the workers' threads.
    var isCountedFromOutside: Bool { countedFromOutsideFlag.load(ordering: .relaxed) }

    /// A worker's loop ended and its region was read: counted, and with ``countFromOutside()`` the coordinator woken.
    func loopEnded() {
        loopsEnded.add(1, ordering: .releasing)
        var byte: UInt8 = 2
        if countedFromOutsideFlag.load(ordering: .relaxed), wakeWrite >= 0 {
            _ = retryingOnInterrupt { write(wakeWrite, &byte, 1) }
        }
    }

    /// The coordinator: sleeps until `workers` loops have ended, the run failed, or `timeout` seconds passed.
    func waitForLoopEnds(_ workers: Int, timeout: Double) {
        let deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
        var bytes = (UInt64(0), UInt64(0))
        while loopsEnded.load(ordering: .acquiring) < workers && error == nil {
            let now = monotonicNanoseconds()
            if now >= deadline || wakeRead < 0 { return }
            var pfd = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, Int32(min((deadline - now) / 1_000_000 + 1, 60_000)))
            _ = withUnsafeMutableBytes(of: &bytes) { read(wakeRead, $0.baseAddress, $0.count) }
        }
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
