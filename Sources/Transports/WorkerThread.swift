import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A dedicated OS thread (not Dispatch's pool) for a timed transport loop or a server session.
public struct WorkerThread: Sendable {
    private let handle: pthread_t

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts `body` on a new thread.
    public init(_ body: @escaping @Sendable () -> Void) throws(TransportError) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { argument in
            Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue().run()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<Body>.fromOpaque(box).release()
            throw .system("pthread_create", rc)
        }
        self.handle = handle
    }

    /// Waits for the thread to end.
    public func join() {
        _ = pthread_join(handle, nil)
    }
}

/// The shared state of one run: the start barrier, the stop flag and the first error.
final class RunControl: Sendable {
    private let arrived = Atomic<Int>(0)
    private let released = Atomic<Bool>(false)
    private let stop = Atomic<Bool>(false)
    private let firstError = Mutex<TransportError?>(nil)

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

    /// The coordinator: waits until `workers` have arrived, or `timeout` seconds. Returns false on timeout.
    func waitForArrivals(_ workers: Int, timeout: Double) -> Bool {
        let deadline = nowNs() + UInt64(timeout * 1e9)
        while arrived.load(ordering: .acquiring) < workers {
            if nowNs() > deadline { return false }
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
    }

    var error: TransportError? { firstError.withLock { $0 } }
}

/// `CLOCK_MONOTONIC` in nanoseconds.
@inline(__always)
func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
