#if canImport(Glibc)
import CopyprofModel
import Glibc
import SystemCalls
#endif

/// The send and receive primitives every transport shares: EINTR retried, short writes finished,
/// EAGAIN turned into a wait (poll mode) or a timeout (blocking sockets with SO_SNDTIMEO/SO_RCVTIMEO).
///
/// Everything here is used inside the timed loops: errors are built out of line (``FailurePath``), so that the
/// loops hold no string building, allocation or reference counting.
struct SocketIO {
    let fd: Int32
    /// MSG_NOSIGNAL, plus MSG_DONTWAIT in poll mode.
    let sendFlags: Int32
    let wait: SendWait
    /// The I/O timeout in seconds, for messages and for poll().
    let timeout: Double

    init(fd: Int32, wait: SendWait, timeout: Double) {
        self.fd = fd
        self.wait = wait
        self.timeout = timeout
        self.sendFlags = Int32(MSG_NOSIGNAL) | (wait == .poll ? Int32(MSG_DONTWAIT) : 0)
    }

    var timeoutMs: Int32 { Int32(min(timeout * 1000, Double(Int32.max))) }

    /// Handles a failed send or sendmsg of message `sequence`: nil when the caller should retry (EINTR, or
    /// EAGAIN in poll mode once the socket is writable again), otherwise the error.
    ///
    /// Errors are returned, not thrown, here and in everything a sender or receiver inlines per message: a `throw`
    /// there puts a call to the generic `swift_willThrowTypedImpl` into the conformance's witness, and Swift 6.3
    /// then keeps the call to the witness (through the witness table) instead of inlining it into the loop.
    @inline(__always)
    func sendFailure(_ call: StaticString, errno code: Int32, sequence: UInt64) -> TransportError? {
        if code == EINTR { return nil }
        if code == EAGAIN && wait == .poll {
            let result = waitUntil(POLLOUT)
            if result == 0 { return nil }
            return FailurePath.waitFailed(result, timeout: timeout, activity: .sending, sequence: sequence)
        }
        return FailurePath.sendFailed(call, errno: code, timeout: timeout, sequence: sequence)
    }

    /// poll() for `events` (0 waits for POLLERR: the error queue) until the timeout. Returns 0 when the socket is
    /// ready, ETIMEDOUT after the timeout, or poll's errno.
    @inline(never)
    func waitUntil(_ events: Int32) -> Int32 {
        var pfd = pollfd(fd: fd, events: Int16(events), revents: 0)
        while true {
            let n = poll(&pfd, 1, timeoutMs)
            if n > 0 { return 0 }
            if n == 0 { return ETIMEDOUT }
            let code = errno
            if code != EINTR { return code }
        }
    }

    /// send() of `count` bytes until all are queued; nil, or the error. The common case — one call that queues
    /// everything — is inline; the rest (a partial write, EINTR, EAGAIN) is out of line, so that the loop keeps
    /// few values live across the call.
    @inline(__always)
    func sendAll(_ pointer: UnsafeRawPointer, count: Int, sequence: UInt64, tally: inout SendTally) -> TransportError? {
        let n = Glibc.send(fd, pointer, count, sendFlags)
        tally.sendCalls &+= 1
        if n == count { return nil }
        return sendRest(pointer, count: count, first: n, sequence: sequence, tally: &tally)
    }

    /// Finishes a send() whose first call returned `first` (errno still set when it is negative).
    @inline(never)
    func sendRest(
        _ pointer: UnsafeRawPointer, count: Int, first: Int, sequence: UInt64, tally: inout SendTally
    ) -> TransportError? {
        var n = first
        var offset = 0
        while true {
            if n > 0 {
                offset &+= n
                if offset == count { return nil }
                tally.partialWrites &+= 1
            } else if n < 0, let error = sendFailure("send", errno: errno, sequence: sequence) {
                return error
            }
            n = Glibc.send(fd, pointer + offset, count &- offset, sendFlags)
            tally.sendCalls &+= 1
        }
    }

    /// Finishes a sendmsg() of `total` bytes described by `header` whose first call returned `first` (errno still
    /// set when it is negative): advances the iovec into `scratch` after partial writes.
    @inline(never)
    func sendGatheredRest(
        _ header: msghdr, total: Int, first: Int, scratch: UnsafeMutablePointer<iovec>, sequence: UInt64,
        tally: inout SendTally
    ) -> TransportError? {
        var message = GatheredMessage(header, total: total, scratch: scratch)
        var n = first
        while true {
            if n > 0 {
                if message.queued(n) { return nil }
                tally.partialWrites &+= 1
            } else if n < 0, let error = sendFailure("sendmsg", errno: errno, sequence: sequence) {
                return error
            }
            n = sendmsg(fd, &message.header, sendFlags)
            tally.sendCalls &+= 1
        }
    }
}

/// A message header for `sendmsg()` of an iovec array, prepared once (the hot path passes it as it is).
func gatheringHeader(_ iov: UnsafeMutablePointer<iovec>, count: Int) -> UnsafeMutablePointer<msghdr> {
    let header = UnsafeMutablePointer<msghdr>.allocate(capacity: 1)
    header.initialize(to: msghdr())
    header.pointee.msg_iov = iov
    header.pointee.msg_iovlen = count
    return header
}

/// What a sender counts per message; its bytes follow from the message size (see ``stats(messageSize:)``).
struct SendTally {
    /// Whole messages sent.
    var messages: UInt64 = 0
    /// send/sendmsg calls made.
    var sendCalls: UInt64 = 0
    /// Calls that queued only part of what they were given.
    var partialWrites: UInt64 = 0

    func stats(messageSize: Int) -> SenderStats {
        var stats = SenderStats()
        stats.messages = messages
        stats.bytes = messages &* UInt64(messageSize)
        stats.sendCalls = sendCalls
        stats.partialWrites = partialWrites
        return stats
    }
}

/// One message gathered from an iovec array for `sendmsg()`, with what is left of it after partial writes.
struct GatheredMessage {
    var header = msghdr()
    /// Bytes not yet queued.
    var remaining: Int
    /// Where the remaining entries go after a partial write.
    let scratch: UnsafeMutablePointer<iovec>

    init(_ header: msghdr, total: Int, scratch: UnsafeMutablePointer<iovec>) {
        self.header = header
        remaining = total
        self.scratch = scratch
    }

    /// Accounts for `sent` bytes queued by one call: true when the whole message is queued; otherwise the iovec
    /// now describes the rest (a partial write).
    mutating func queued(_ sent: Int) -> Bool {
        if sent == remaining { return true }
        remaining &-= sent
        header.msg_iovlen = advanceIovecs(header.msg_iov, count: header.msg_iovlen, by: sent, into: scratch)
        header.msg_iov = scratch
        return false
    }
}

/// Drops the first `sent` bytes of an iovec array: writes what remains into `scratch` and returns how many
/// entries it has. `scratch` may be `iov` itself.
@inline(never)
func advanceIovecs(
    _ iov: UnsafeMutablePointer<iovec>, count: Int, by sent: Int, into scratch: UnsafeMutablePointer<iovec>
) -> Int {
    var skip = sent
    var index = 0
    while index < count && skip >= iov[index].iov_len {
        skip -= iov[index].iov_len
        index += 1
    }
    var out = 0
    while index < count {
        var entry = iov[index]
        if out == 0 && skip > 0 {
            entry.iov_base = entry.iov_base! + skip
            entry.iov_len -= skip
        }
        scratch[out] = entry
        out += 1
        index += 1
    }
    return out
}

/// The errors of the timed loops, built out of line: string building allocates, and a loop that inlined it would
/// carry that code (and its calls into the runtime) between its clock reads. Every function here is
/// `@inline(never)`; `Benchmarks/hot-loops.sh` skips them when it checks what the loops call.
enum FailurePath {
    /// What a worker was doing when a socket operation failed.
    enum Activity {
        case sending, receiving, zeroCopyCompletions, lastZeroCopyCompletions

        func describe(sequence: UInt64, inFlight: Int = 0) -> String {
            switch self {
            case .sending: "sending message \(sequence)"
            case .receiving: "receiving message \(sequence)"
            case .zeroCopyCompletions:
                "waiting for zero-copy completions of \(inFlight) sends before message \(sequence)"
            case .lastZeroCopyCompletions: "waiting for the last \(inFlight) zero-copy completions"
            }
        }
    }

    /// send or sendmsg failed with `code` (EAGAIN on a blocking socket: SO_SNDTIMEO expired).
    @inline(never)
    static func sendFailed(_ call: StaticString, errno code: Int32, timeout: Double, sequence: UInt64) -> TransportError {
        let activity = Activity.sending.describe(sequence: sequence)
        if code == EAGAIN { return TransportError(.timedOut(seconds: timeout), activity: activity) }
        return .system(call.description, code, activity: activity)
    }

    /// poll() returned `code` (ETIMEDOUT: no readiness within the timeout).
    @inline(never)
    static func waitFailed(
        _ code: Int32, timeout: Double, activity: Activity, sequence: UInt64, inFlight: Int = 0
    ) -> TransportError {
        let text = activity.describe(sequence: sequence, inFlight: inFlight)
        if code == ETIMEDOUT { return TransportError(.timedOut(seconds: timeout), activity: text) }
        return .system("poll", code, activity: text)
    }

    /// recv failed with `code`, or returned 0 (`code` 0) in the middle of message `sequence`.
    @inline(never)
    static func receiveFailed(
        _ code: Int32, timeout: Double, sequence: UInt64, got: Int, size: Int, call: StaticString = "recv"
    ) -> TransportError {
        let activity = "receiving message \(sequence) (byte \(got) of \(size))"
        if code == 0 { return TransportError(.peerClosed, activity: activity) }
        if code == EAGAIN || code == ETIMEDOUT { return TransportError(.timedOut(seconds: timeout), activity: activity) }
        return .system(call.description, code, activity: activity)
    }

    /// io_uring_enter failed with `code` while waiting for completions (ETIME: none within the timeout).
    @inline(never)
    static func ringWaitFailed(
        _ code: Int32, timeout: Double, activity: Activity, sequence: UInt64, inFlight: Int = 0
    ) -> TransportError {
        let text = activity.describe(sequence: sequence, inFlight: inFlight)
        if code == ETIME || code == ETIMEDOUT { return TransportError(.timedOut(seconds: timeout), activity: text) }
        return .system("io_uring_enter", code, activity: text)
    }

    /// The submission ring had no free entry (a bug: one request at a time is in flight).
    @inline(never)
    static func ringFull() -> TransportError {
        TransportError(
            .systemCall(SystemCallError("io_uring submission ring full", Errno(EBUSY))), activity: "submitting a send")
    }

    /// A ping-pong client's request got no echo: the echoer ended the stream.
    @inline(never)
    static func noEcho(sequence: UInt64) -> TransportError {
        TransportError(.peerClosed, activity: "waiting for the echo of message \(sequence)")
    }

    /// recvmsg(MSG_ERRQUEUE) failed, its control message was truncated (`code` EMSGSIZE), or a completion carried
    /// an error of another origin (`call` sendmsg).
    @inline(never)
    static func completionsFailed(_ call: StaticString, errno code: Int32, truncated: Bool = false) -> TransportError {
        if truncated {
            return TransportError(
                .systemCall(SystemCallError(call.description, Errno(code))),
                activity: "reading zero-copy completions (control message truncated)")
        }
        return .system(call.description, code, activity: "reading zero-copy completions")
    }
}

/// What a sender did in a run.
public struct SenderStats: Sendable, Hashable, Codable {
    /// Whole messages sent.
    public var messages: UInt64 = 0
    /// Bytes of those messages.
    public var bytes: UInt64 = 0
    /// send/sendmsg calls made (more than messages when writes were partial).
    public var sendCalls: UInt64 = 0
    /// Calls that queued only part of what they were given.
    public var partialWrites: UInt64 = 0
    /// MSG_ZEROCOPY bookkeeping; nil for the copying transports.
    public var zeroCopy: ZeroCopyStats?

    public init() {}
}

/// What a receiver got in a run.
public struct ReceiverStats: Sendable, Hashable, Codable {
    /// Whole messages received and verified.
    public var messages: UInt64 = 0
    /// Bytes of those messages.
    public var bytes: UInt64 = 0
    /// recv calls made.
    public var recvCalls: UInt64 = 0
    /// Messages that differed from what was sent.
    public var integrityErrors: UInt64 = 0
    /// The first of them.
    public var firstMismatch: IntegrityMismatch?
    /// Messages read after the timed loop ended (stream: what the sender queued before it saw the stop).
    public var drainedMessages: UInt64 = 0
    /// False when the receiver discarded the bytes without reading them (`discard`): its messages were counted, not
    /// verified, and `integrityErrors` means nothing.
    public var verified = true
    /// What a `mmap` receiver got mapped and what it had to copy; nil for the other receivers.
    public var zeroCopyReceive: ZeroCopyReceiveStats?

    public init() {}
}

/// What a `TCP_ZEROCOPY_RECEIVE` receiver got: bytes the kernel mapped into the process and bytes it had to copy with
/// `recv()` (neper's `percent_mmaped` is mapped / (mapped + copied)). Counted up to the end of the timed loop.
public struct ZeroCopyReceiveStats: Sendable, Hashable, Codable {
    /// Bytes mapped: whole pages of the receive queue, inserted into the receiver's mapping of the socket.
    public var mappedBytes: UInt64 = 0
    /// Bytes the kernel could not map (not whole, page-aligned pages), read with `recv()` into a buffer.
    public var copiedBytes: UInt64 = 0
    /// `getsockopt(TCP_ZEROCOPY_RECEIVE)` calls.
    public var mapCalls: UInt64 = 0
    /// `recv()` calls for the bytes that could not be mapped.
    public var copyCalls: UInt64 = 0
    /// The MTU of the socket's path (`IP_MTU`, `IPV6_MTU`: the route's, else its interface's), read once before
    /// the timed loop; nil when the socket would not say. Whether a segment can hold a whole page depends on it.
    public var pathMTU: Int?

    public init() {}

    /// mapped / (mapped + copied), or nil before any byte.
    public var mappedShare: Double? {
        let total = mappedBytes &+ copiedBytes
        return total == 0 ? nil : Double(mappedBytes) / Double(total)
    }
}
