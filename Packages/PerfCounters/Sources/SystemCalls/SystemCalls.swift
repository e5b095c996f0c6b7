// SystemCalls — the one layer that turns what a failed system call left behind into a Swift error, shared by the
// counters, the transports and copyprof's own modules: one errno type with its C name and text, one helper that
// retries a call interrupted by a signal, and one monotonic clock. It depends on nothing but the C library.

#if canImport(Glibc)
import Glibc
#endif

/// An errno value: its number, its C name (`ENOENT`) and the C library's text for it (`No such file or directory`).
///
/// Modelled on swift-system's `Errno`. Read it right after the failing call: ``Errno/current``.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    /// The number, as `errno` holds it.
    public let code: Int32

    public init(_ code: Int32) { self.code = code }

    /// The calling thread's errno now.
    public static var current: Errno { Errno(errno) }

    /// The C name (`EACCES`), or `errno N` for a number this table does not know.
    public var name: String { Self.names[code] ?? "errno \(code)" }

    /// The C library's text for it. The corresponding C function is `strerror`.
    public var text: String { String(cString: strerror(code)) }

    /// `Permission denied (EACCES)`.
    public var description: String { "\(text) (\(name))" }

    static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO", E2BIG: "E2BIG",
        EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY",
        EEXIST: "EEXIST", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE",
        EMFILE: "EMFILE", EFBIG: "EFBIG", ENOSPC: "ENOSPC", EROFS: "EROFS", EPIPE: "EPIPE", ENOSYS: "ENOSYS",
        EOPNOTSUPP: "EOPNOTSUPP", EADDRINUSE: "EADDRINUSE", EADDRNOTAVAIL: "EADDRNOTAVAIL", ENETUNREACH: "ENETUNREACH",
        ECONNABORTED: "ECONNABORTED", ECONNRESET: "ECONNRESET", ENOBUFS: "ENOBUFS", ENOTCONN: "ENOTCONN",
        ETIMEDOUT: "ETIMEDOUT", ECONNREFUSED: "ECONNREFUSED", EHOSTUNREACH: "EHOSTUNREACH", ENOTSOCK: "ENOTSOCK",
        EPROTONOSUPPORT: "EPROTONOSUPPORT", EAFNOSUPPORT: "EAFNOSUPPORT",
    ]
}

/// A system call that failed: which one, and its errno. `perf_event_open: Permission denied (EACCES)`.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call, as a person would look it up: `perf_event_open`, `setsockopt(SO_ZEROCOPY)`.
    public var call: String
    public var errno: Errno

    public init(_ call: String, _ errno: Errno = .current) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(errno)" }
}

/// Calls `body` again while it returns -1 with errno EINTR (a signal arrived before the call did anything), and
/// returns its result; errno is left as the last call set it. Not for close(2), which must never be retried.
@inlinable
public func retryingOnInterrupt<Result: FixedWidthInteger & SignedInteger>(_ body: () -> Result) -> Result {
    while true {
        let result = body()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}

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
