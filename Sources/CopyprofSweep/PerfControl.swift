#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SystemCalls
import Transports

/// `perf stat --control fifo:CTL,ACK -D -1` (or `perf record --control ...`) driven around every timed loop:
/// `enable` just before a trial's workers are released, `disable` once the last one's loop ended, so that perf counts
/// the loops copyprof counts and nothing of the set-up between them (tools/perf/Documentation/perf-stat.txt,
/// `--control`; the commands and the `ack` answer are tools/perf/util/evlist.c `evlist__ctlfd_process`).
///
/// With an ACK FIFO each command waits for perf's `ack`, so the workers start only once perf counts. perf opens both
/// FIFOs itself (read-write, so they never lack a reader or writer); a CTL FIFO nobody reads is refused when opened.
public final class PerfControl: TimedLoopObserver, @unchecked Sendable {
    // @unchecked: the descriptors never change; `failure` is behind a mutex. The sweep's thread calls it alone.
    private let control: Int32
    private let acknowledgement: Int32?
    private let paths: String
    private let firstFailure = Mutex<String?>(nil)
    /// How long an `ack` may take.
    static let ackTimeoutMs: Int32 = 10_000

    /// Opens `CTL[,ACK]`, as `--perf-control` takes them.
    ///
    /// - Throws: ``PerfControlError`` with one line: what is wrong and what to do.
    public init(_ argument: String) throws(PerfControlError) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else {
            throw PerfControlError(
                "--perf-control takes CTL[,ACK]: the FIFOs given to perf stat --control fifo:CTL,ACK")
        }
        paths = argument
        // A perf that goes away mid-sweep must fail the write (EPIPE), not end copyprof with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let fd = open(parts[0], O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            throw PerfControlError(
                "--perf-control: cannot open \(parts[0]) for writing: \(Errno(code).name)"
                    + (code == ENXIO
                        ? " (no perf reads it: start perf stat --control fifo:\(argument) -D -1 ... first)"
                        : code == ENOENT ? " (make it with mkfifo, and give it to perf stat --control fifo:...)" : ""))
        }
        var status = stat()
        if fstat(fd, &status) != 0 || (status.st_mode & S_IFMT) != S_IFIFO {
            close(fd)
            throw PerfControlError("--perf-control: \(parts[0]) is not a FIFO (make it with mkfifo)")
        }
        control = fd
        if parts.count == 2 {
            let ack = open(parts[1], O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            if ack < 0 {
                let code = errno
                close(fd)
                throw PerfControlError("--perf-control: cannot open \(parts[1]) for reading: \(Errno(code).name)")
            }
            acknowledgement = ack
        } else {
            acknowledgement = nil
        }
    }

    deinit {
        close(control)
        if let acknowledgement { close(acknowledgement) }
    }

    /// The first command perf did not take, one line; nil while every one was taken.
    public var failure: String? { firstFailure.withLock { $0 } }

    public func timedLoopsWillStart() { send("enable", Self.enableLine) }
    public func timedLoopsDidEnd() { send("disable", Self.disableLine) }

    // The commands' bytes made once: between `enable` and its `disable` perf counts this thread too (perf stat sums
    // the process), so sending them allocates nothing.
    private static let enableLine = Array("enable\n".utf8)
    private static let disableLine = Array("disable\n".utf8)

    private func send(_ command: String, _ line: [UInt8]) {
        guard failure == nil else { return }
        let written = line.withUnsafeBytes { bytes in
            retryingOnInterrupt { write(control, bytes.baseAddress, bytes.count) }
        }
        if written != line.count {
            let code = errno
            return fail("writing '\(command)' to \(paths): \(written < 0 ? Errno(code).name : "short write") "
                + "(did perf exit?)")
        }
        guard let acknowledgement else { return }
        // perf's answer ("ack\n"), read into a fixed buffer: its first line, or as much of it as fits.
        var answer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        var length = 0
        let deadline = monotonicNanoseconds() + UInt64(Self.ackTimeoutMs) * 1_000_000
        let capacity = MemoryLayout.size(ofValue: answer)
        while withUnsafeBytes(of: &answer, { !$0[..<length].contains(UInt8(ascii: "\n")) }), length < capacity {
            let now = monotonicNanoseconds()
            if now >= deadline { return fail("perf did not acknowledge '\(command)' within \(Self.ackTimeoutMs / 1000) s") }
            var pfd = pollfd(fd: acknowledgement, events: Int16(POLLIN), revents: 0)
            _ = retryingOnInterrupt { poll(&pfd, 1, Int32((deadline - now) / 1_000_000 + 1)) }
            let count = withUnsafeMutableBytes(of: &answer) { read(acknowledgement, $0.baseAddress! + length, capacity - length) }
            if count > 0 { length += count }
        }
        let acknowledged = withUnsafeBytes(of: &answer) { $0.starts(with: "ack".utf8) }
        if !acknowledged {
            let text = withUnsafeBytes(of: &answer) { String(decoding: $0[..<length], as: UTF8.self) }
            fail("perf answered '\(text.split(separator: "\n").first ?? "")' to '\(command)'")
        }
    }

    private func fail(_ text: String) {
        firstFailure.withLock { if $0 == nil { $0 = "--perf-control: " + text } }
    }
}

/// A `--perf-control` argument or FIFO that cannot be used: one line.
public struct PerfControlError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
