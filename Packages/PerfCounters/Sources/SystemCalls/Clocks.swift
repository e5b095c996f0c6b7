#if canImport(Glibc)
import Glibc
#endif

/// `CLOCK_MONOTONIC` in nanoseconds: the one clock copyprof times with. The corresponding C function is
/// `clock_gettime`.
@inlinable
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

/// `CLOCK_MONOTONIC` in seconds.
@inlinable
public func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) / 1e9 }

/// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) in nanoseconds: user and kernel time of this thread
/// alone, which does not advance while the thread waits or sleeps. The corresponding C function is `clock_gettime`.
public func threadCPUClockNs() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}
