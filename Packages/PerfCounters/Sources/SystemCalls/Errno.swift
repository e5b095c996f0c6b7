// SystemCalls — the one system-call layer shared by the counters, the transports and copyprof's own modules: one
// errno type with its C name and text, one error that names the call, one helper that retries a call interrupted by
// a signal (this file); the clocks; one joinable thread type; close-on-exec descriptors; the pipe ping-pong. It
// depends on nothing but the C library (and a C shim for what Glibc's module leaves out).

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
        EPROTONOSUPPORT: "EPROTONOSUPPORT", EAFNOSUPPORT: "EAFNOSUPPORT", ERANGE: "ERANGE", ENOPROTOOPT: "ENOPROTOOPT",
        EMSGSIZE: "EMSGSIZE", ETIME: "ETIME", EINPROGRESS: "EINPROGRESS", EALREADY: "EALREADY", EISCONN: "EISCONN",
    ]
}

/// A system call that failed: which one, and its errno. `connect to 127.0.0.1:9 failed: Connection refused
/// (ECONNREFUSED)`. The counters' and the transports' errors carry it for every failed call.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call, as a person would look it up: `perf_event_open`, `setsockopt(SO_ZEROCOPY)`.
    public var call: String
    /// What the call left in errno (or returned, for the calls that return an error number: pthread's).
    public var errno: Errno

    /// `call` failed with `errno` (the calling thread's errno now when not given: read it right after the call).
    public init(_ call: String, _ errno: Errno = .current) {
        self.call = call
        self.errno = errno
    }

    /// `call failed: text (NAME)`.
    public var description: String { "\(call) failed: \(errno)" }
}

/// Calls `body` again while it returns -1 with errno EINTR (a signal arrived before the call did anything), and
/// returns its result; errno is left as the last call set it. As swift-system's `valueOrErrno(retryOnInterrupt:)`
/// (Sources/System/Util.swift), for every call outside the transports' timed loops, which handle EINTR in their own
/// out-of-line paths. Not for close(2), which must never be retried: Linux releases the descriptor before it can
/// fail with EINTR, and a second close could close a descriptor another thread has just been given.
@inlinable
public func retryingOnInterrupt<Result: FixedWidthInteger & SignedInteger>(_ body: () -> Result) -> Result {
    while true {
        let result = body()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}
