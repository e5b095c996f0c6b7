internal import CSystemCalls
#if canImport(Glibc)
import Glibc
#endif

// Descriptors born close-on-exec: with accept then fcntl(FD_CLOEXEC), or pipe then fcntl, a thread that forks and
// execs between the two calls hands the new descriptor to the child (man 2 open, "O_CLOEXEC": "avoid race
// conditions in multithreaded programs"). copyprof's tests spawn copyprof serve while other tests' threads open
// sockets.

/// Accepts one connection on the listening socket `listener`; the new descriptor is close-on-exec from the start.
/// EINTR is retried; otherwise -1 with errno as accept left it (EAGAIN after SO_RCVTIMEO, ECONNABORTED when the
/// client reset the connection before it was accepted). The corresponding C function is `accept4` with
/// `SOCK_CLOEXEC`.
public func acceptCloseOnExec(_ listener: Int32) -> Int32 {
    retryingOnInterrupt { CSystemCalls_accept4(listener, nil, nil, Int32(SOCK_CLOEXEC.rawValue)) }
}

/// A new pipe, both ends close-on-exec (and non-blocking when asked). The corresponding C function is `pipe2`.
public func makePipe(nonBlocking: Bool = false) throws(SystemCallError) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    if CSystemCalls_pipe2(&fds, O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)) != 0 {
        throw SystemCallError(nonBlocking ? "pipe2(O_CLOEXEC | O_NONBLOCK)" : "pipe2(O_CLOEXEC)")
    }
    return (fds[0], fds[1])
}

/// The calling thread's kernel thread id: the TID of /proc/self/task/TID, `ps -L`, `top -H` and `perf stat -t`.
/// The corresponding C function is `gettid`.
public func currentThreadID() -> Int32 { CSystemCalls_gettid() }
