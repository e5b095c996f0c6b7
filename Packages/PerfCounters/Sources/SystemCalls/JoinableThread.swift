internal import CSystemCalls
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A thread of its own — not one of Dispatch's pool — that carries a name and is joined once: a transport's timed
/// loop, a server's session, the pipe ping-pong's partner.
///
/// The thread names itself before `body` runs, so that from its first instruction `ps -L`, `top -H`,
/// /proc/self/task/TID/comm, `perf report --sort comm` and a debugger show it as, say, `cp-send-0`, and `perf stat
/// -t TID` can be pointed at it. A thread dropped without ``join()`` is detached, so that it leaves nothing behind
/// when it ends.
public final class JoinableThread: Sendable {
    /// The longest name the kernel keeps, in bytes: a task's `comm` is 16 bytes with its NUL (TASK_COMM_LEN).
    public static let maximumNameBytes = 15

    /// The name the thread gave itself: the one asked for, cut to ``maximumNameBytes`` on a character boundary.
    public let name: String
    private let handle: pthread_t
    private let joined = Atomic<Bool>(false)

    private final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts `body` on a new thread named `name`.
    ///
    /// - Throws: what `pthread_create` returned (EAGAIN: the process or the system has no thread to spare).
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemCallError) {
        let name = Self.kernelName(name)
        let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            // Fails only with ERANGE, for a name of more than 15 bytes, which kernelName has cut.
            _ = CSystemCalls_pthread_setname_np(pthread_self(), start.name)
            start.body()
            return nil
        }, start)
        if rc != 0 {
            Unmanaged<Start>.fromOpaque(start).release()
            throw SystemCallError("pthread_create", Errno(rc))
        }
        self.name = name
        self.handle = handle
    }

    /// Waits for the thread to end. Only the first call waits; later ones return at once.
    public func join() {
        if joined.exchange(true, ordering: .acquiringAndReleasing) { return }
        _ = pthread_join(handle, nil)
    }

    deinit {
        if !joined.load(ordering: .acquiring) { _ = pthread_detach(handle) }
    }

    /// `name` cut to ``maximumNameBytes`` bytes of UTF-8 without splitting a character (NULs dropped).
    static func kernelName(_ name: String) -> String {
        var kept = ""
        var bytes = 0
        for character in name where character != "\0" {
            bytes += character.utf8.count
            if bytes > maximumNameBytes { break }
            kept.append(character)
        }
        return kept
    }
}
