import Glibc
import Synchronization
import SystemCalls
import Testing

@testable import Transports

/// A network namespace private to one thread, for tests that change per-namespace settings (`net.core.optmem_max`
/// and the other `/proc/sys/net` files a namespace has its own copy of) without touching the host's.
enum PrivateNetworkNamespace {
    /// Why a namespace could not be made (not root, or no network namespaces): the test skips with this reason.
    struct Unavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// Why a namespace cannot be made here, or nil when it can: found by making one, which the kernel frees at once.
    static let unavailable: String? = {
        do {
            try run {}
            return nil
        } catch {
            return "\(error)"
        }
    }()

    /// Runs `body` on a new thread that first moves into a new network namespace with its loopback up, and returns
    /// what it returned or rethrows what it threw.
    ///
    /// `unshare(CLONE_NEWNET)` moves only the calling thread, so the test's own thread (one of Swift Testing's shared
    /// threads) stays in the host's namespace. Sockets opened and threads started in `body` live in the new
    /// namespace, and `/proc/sys/net` opened there shows its settings. The namespace has no name and no mount: the
    /// kernel frees it when the thread has ended and the last socket opened in it is closed, so nothing is left to
    /// remove, whether `body` succeeds, throws or the process dies.
    ///
    /// With `loopbackMTU`, the namespace's loopback gets that MTU (`ip link set lo mtu N`): the host's is untouched.
    static func run<T: Sendable>(loopbackMTU: Int32? = nil, _ body: @escaping @Sendable () throws -> T) throws -> T {
        let outcome = Mutex<Result<T, any Error>?>(nil)
        let thread = try JoinableThread(name: "test-netns") {
            let result: Result<T, any Error>
            do {
                try enter()
                if let loopbackMTU { try setLoopbackMTU(loopbackMTU) }
                result = .success(try body())
            } catch {
                result = .failure(error)
            }
            outcome.withLock { $0 = result }
        }
        thread.join()
        return try outcome.withLock { $0! }.get()
    }

    /// `unshare(CLONE_NEWNET)` on this thread, then loopback up.
    private static func enter() throws {
        // Glibc's Swift module leaves out unshare(2) (declared only under _GNU_SOURCE); look the C function up by
        // name rather than add a C target for one test-only call.
        guard let symbol = dlsym(nil, "unshare") else { throw Unavailable(description: "unshare(2) not found in libc") }
        let unshare = unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
        let cloneNewNet: Int32 = 0x4000_0000  // CLONE_NEWNET, <linux/sched.h>
        if unshare(cloneNewNet) != 0 {
            let code = errno
            throw Unavailable(
                description: "needs root (CAP_SYS_ADMIN) to make a network namespace; "
                    + "unshare(CLONE_NEWNET): \(String(cString: strerror(code))) (errno \(code))")
        }
        try setLoopbackUp()
    }

    /// `ip link set lo mtu N`, done with SIOCSIFMTU.
    private static func setLoopbackMTU(_ mtu: Int32) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TransportError.system("socket", errno) }
        defer { close(fd) }
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { $0.copyBytes(from: Array("lo".utf8)) }
        request.ifr_ifru.ifru_mtu = mtu
        guard ioctl(fd, UInt(SIOCSIFMTU), &request) == 0 else { throw TransportError.system("ioctl(SIOCSIFMTU, lo)", errno) }
    }

    /// A new namespace's loopback is down: `ip link set lo up`, done with SIOCGIFFLAGS and SIOCSIFFLAGS.
    private static func setLoopbackUp() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TransportError.system("socket", errno) }
        defer { close(fd) }
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { $0.copyBytes(from: Array("lo".utf8)) }
        guard ioctl(fd, UInt(SIOCGIFFLAGS), &request) == 0 else { throw TransportError.system("ioctl(SIOCGIFFLAGS, lo)", errno) }
        request.ifr_ifru.ifru_flags |= Int16(IFF_UP)
        guard ioctl(fd, UInt(SIOCSIFFLAGS), &request) == 0 else { throw TransportError.system("ioctl(SIOCSIFFLAGS, lo)", errno) }
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only where ``PrivateNetworkNamespace`` can make a namespace (as root, with CAP_SYS_ADMIN).
    static var privateNetworkNamespace: Self {
        .enabled(if: PrivateNetworkNamespace.unavailable == nil, Comment(rawValue: PrivateNetworkNamespace.unavailable ?? ""))
    }
}
