import CLinuxNet
#if canImport(Glibc)
import Glibc
#endif

/// A host without a kernel feature, simulated for tests: the probe sees the system call fail with `errno` instead of
/// calling it, and explains it with the same words as a real failure. (This machine has io_uring and
/// TCP_ZEROCOPY_RECEIVE, and a test may not disable them host-wide: `kernel.io_uring_disabled` is one setting for
/// every process.)
public enum SimulatedAbsence: Sendable, Hashable {
    /// `io_uring_setup` fails with this errno (EPERM: disabled by `kernel.io_uring_disabled` or denied by seccomp;
    /// ENOSYS: an old kernel or a seccomp filter).
    case ioUring(errno: Int32)
    /// `getsockopt(TCP_ZEROCOPY_RECEIVE)` fails with this errno (ENOPROTOOPT: a kernel before 4.18).
    case zeroCopyReceive(errno: Int32)
}

/// Whether this host can run a configuration's sender and receiver at all, asked before any worker starts, so that a
/// cell the host cannot run says why at once ("not supported: ...") instead of failing somewhere in a worker.
enum KernelSupport {
    /// Why the sender (when `sends`) or the receiver (when `receives`) of `configuration` cannot run here, or nil.
    static func unsupportedReason(_ configuration: RunConfiguration, sends: Bool, receives: Bool) -> String? {
        let simulated = configuration.faults.absence
        if sends && configuration.transport == .ioUringZeroCopy, let why = ioUringZeroCopyProblem(simulated: simulated) {
            return why
        }
        if receives && configuration.receiver == .mmap, let why = zeroCopyReceiveProblem(simulated: simulated) {
            return why
        }
        return nil
    }

    /// Creates and probes a ring: nil when `IORING_OP_SENDMSG_ZC` with `IORING_SEND_ZC_REPORT_USAGE` can run.
    static func ioUringZeroCopyProblem(simulated: SimulatedAbsence? = nil) -> String? {
        var params = CLinuxNet_io_uring_params()
        let ring: Int32
        if case .ioUring(let code)? = simulated {
            ring = -1
            errno = code
        } else {
            ring = CLinuxNet_io_uring_setup(4, &params)
        }
        if ring < 0 { return ioUringSetupProblem(errno) }
        defer { close(ring) }
        // IORING_REGISTER_PROBE: which operations this kernel's io_uring has (Linux 5.6).
        let opsCount = 256
        let size = MemoryLayout<CLinuxNet_io_uring_probe>.size + opsCount * MemoryLayout<CLinuxNet_io_uring_probe_op>.stride
        let probe = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { probe.deallocate() }
        probe.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        if CLinuxNet_io_uring_register(ring, CLinuxNet_IORING_REGISTER_PROBE, probe, UInt32(opsCount)) < 0 {
            return "io_uring_register(IORING_REGISTER_PROBE) failed: \(errnoText(errno)); this kernel's io_uring is "
                + "older than Linux 5.6, and io-uring-zc needs IORING_OP_SENDMSG_ZC (Linux 6.1)"
        }
        let header = probe.load(as: CLinuxNet_io_uring_probe.self)
        let op = Int(CLinuxNet_IORING_OP_SENDMSG_ZC)
        let ops = (probe + MemoryLayout<CLinuxNet_io_uring_probe>.size).assumingMemoryBound(to: CLinuxNet_io_uring_probe_op.self)
        if op > Int(header.last_op) || ops[op].flags & CLinuxNet_IO_URING_OP_SUPPORTED == 0 {
            return "this kernel's io_uring has no IORING_OP_SENDMSG_ZC (Linux 6.1 and later have it; this is "
                + "\(kernelRelease()))"
        }
        // IORING_SEND_ZC_REPORT_USAGE came a release later and has no probe bit: the kernel version says.
        if let (major, minor) = kernelVersion(), (major, minor) < (6, 2) {
            return "this kernel (\(kernelRelease())) has IORING_OP_SENDMSG_ZC but not IORING_SEND_ZC_REPORT_USAGE (Linux "
                + "6.2), without which a notification cannot say whether the kernel copied"
        }
        return nil
    }

    /// Why io_uring_setup failed with `code`, in the words a user can act on.
    static func ioUringSetupProblem(_ code: Int32) -> String {
        let call = "io_uring_setup failed: \(errnoText(code))"
        switch code {
        case EPERM, EACCES:
            var text = call + ": io_uring is not allowed for this process"
            if let disabled = readFirstLine("/proc/sys/kernel/io_uring_disabled") {
                text += " (kernel.io_uring_disabled is \(disabled): 0 allows it, 1 only for members of "
                    + "kernel.io_uring_group and root, 2 for nobody"
                if let group = readFirstLine("/proc/sys/kernel/io_uring_group") { text += "; io_uring_group is \(group)" }
                text += ")"
            }
            return text + ", or a seccomp filter or security module denies it"
        case ENOSYS:
            return call + ": this kernel has no io_uring (Linux 5.1 and later, unless built without CONFIG_IO_URING), "
                + "or a seccomp filter (a container's default profile) blocks io_uring_setup"
        case ENOMEM:
            return call + ": the ring's memory could not be allocated or locked (RLIMIT_MEMLOCK, `ulimit -l`)"
        default:
            return call
        }
    }

    /// Maps a page of an unconnected TCP socket and asks for a zero-copy receive: nil when both work.
    static func zeroCopyReceiveProblem(simulated: SimulatedAbsence? = nil) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { return "socket() failed: \(errnoText(errno))" }
        defer { close(fd) }
        let page = sysconf(Int32(_SC_PAGESIZE))
        guard let mapping = mmap(nil, page, PROT_READ, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            let code = errno
            return "mmap() of a TCP socket failed: \(errnoText(code))"
                + (code == ENODEV ? ": this kernel cannot map TCP receive queues (TCP_ZEROCOPY_RECEIVE, Linux 4.18)" : "")
        }
        defer { munmap(mapping, page) }
        var request = CLinuxNet_ZeroCopyReceive()
        request.address = UInt64(UInt(bitPattern: mapping))
        request.length = UInt32(page)
        let result: Int32
        if case .zeroCopyReceive(let code)? = simulated {
            result = -1
            errno = code
        } else {
            result = CLinuxNet_zerocopy_receive(fd, &request)
        }
        if result == 0 { return nil }
        return zeroCopyReceiveProblem(errno)
    }

    /// Why getsockopt(TCP_ZEROCOPY_RECEIVE) failed with `code` where it should work.
    static func zeroCopyReceiveProblem(_ code: Int32) -> String {
        let call = "getsockopt(TCP_ZEROCOPY_RECEIVE) failed: \(errnoText(code))"
        switch code {
        case ENOPROTOOPT: return call + ": this kernel has no zero-copy TCP receive (Linux 4.18 and later)"
        case EPERM, EACCES: return call + ": a seccomp filter or security module denies it"
        default: return call
        }
    }

    /// The maximum (third) value of `/proc/sys/net/ipv4/<name>` (`tcp_wmem`, `tcp_rmem`).
    ///
    /// Kept here, away from the senders: the closures of its parsing compile to functions without a symbol, which
    /// a disassembly would attribute to whatever function precedes them (`Benchmarks/hot-loops.sh` reads it).
    static func socketBufferMaximum(_ name: String) -> Int? {
        readFirstLine("/proc/sys/net/ipv4/\(name)")?.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { Int($0) }
    }

    /// "EPERM (Operation not permitted)".
    static func errnoText(_ code: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", EACCES: "EACCES", ENOSYS: "ENOSYS", ENOMEM: "ENOMEM", EINVAL: "EINVAL", ENODEV: "ENODEV",
            ENOPROTOOPT: "ENOPROTOOPT", EOPNOTSUPP: "EOPNOTSUPP",
        ]
        return "\(names[code] ?? "errno \(code)") (\(String(cString: strerror(code))))"
    }

    /// `uname -r`.
    static func kernelRelease() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// The kernel's major and minor version, from `uname -r`.
    static func kernelVersion() -> (Int, Int)? {
        let parts = kernelRelease().split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }
}

/// The first line of a small file (a sysctl), trimmed; nil when it cannot be read.
func readFirstLine(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 256)
    guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
    var line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    while let last = line.last, last == "\n" || last == " " { line.removeLast() }
    return line
}
