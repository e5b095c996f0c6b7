#if canImport(Glibc)
import Glibc
#endif

/// The send and receive primitives every transport shares: EINTR retried, short writes finished,
/// EAGAIN turned into a wait (poll mode) or a timeout (blocking sockets with SO_SNDTIMEO/SO_RCVTIMEO).
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

    /// Handles a failed send or sendmsg: returns normally when the caller should retry.
    @inline(__always)
    func sendFailed(_ call: String, errno code: Int32, sequence: UInt64) throws(TransportError) {
        switch code {
        case EINTR:
            return
        case EAGAIN where wait == .poll:
            try waitUntil(POLLOUT, activity: "sending message \(sequence)")
        case EAGAIN:
            throw TransportError(.timedOut(seconds: timeout), activity: "sending message \(sequence)")
        default:
            throw .system(call, code, activity: "sending message \(sequence)")
        }
    }

    /// poll() for `events` (0 waits for POLLERR: the error queue) until the timeout. `activity` is built only for an
    /// error, so waiting allocates nothing.
    func waitUntil(_ events: Int32, activity: @autoclosure () -> String) throws(TransportError) {
        var pfd = pollfd(fd: fd, events: Int16(events), revents: 0)
        while true {
            let n = poll(&pfd, 1, timeoutMs)
            if n > 0 { return }
            if n == 0 { throw TransportError(.timedOut(seconds: timeout), activity: activity()) }
            if errno != EINTR { throw .system("poll", errno, activity: activity()) }
        }
    }

    /// send() of `count` bytes until all are queued.
    @inline(__always)
    func sendAll(_ pointer: UnsafeRawPointer, count: Int, sequence: UInt64, stats: inout SenderStats) throws(TransportError) {
        var offset = 0
        while true {
            let n = Glibc.send(fd, pointer + offset, count - offset, sendFlags)
            stats.sendCalls &+= 1
            if n > 0 {
                offset += n
                if offset == count { return }
                stats.partialWrites &+= 1
            } else if n < 0 {
                try sendFailed("send", errno: errno, sequence: sequence)
            }
        }
    }
}

extension SocketIO {
    /// `sendmsg()` of a whole message gathered from `iov`, finishing partial writes by advancing the iovec into
    /// `scratch`. `sent` runs after every call that queued bytes (zero-copy records an id there); `failed` decides what
    /// a failure means and returns normally when the call should be retried.
    @inline(__always)
    func sendGathered(
        _ iov: UnsafeMutablePointer<iovec>, count: Int, total: Int, scratch: UnsafeMutablePointer<iovec>, flags: Int32,
        stats: inout SenderStats, sent: () -> Void, failed: (Int32) throws(TransportError) -> Void
    ) throws(TransportError) {
        var message = msghdr()
        message.msg_iov = iov
        message.msg_iovlen = count
        var remaining = total
        while true {
            let n = sendmsg(fd, &message, flags)
            stats.sendCalls &+= 1
            if n > 0 {
                sent()
                if n == remaining { return }
                stats.partialWrites &+= 1
                remaining -= n
                message.msg_iovlen = advanceIovecs(message.msg_iov, count: message.msg_iovlen, by: n, into: scratch)
                message.msg_iov = scratch
            } else if n < 0 {
                try failed(errno)
            }
        }
    }
}

/// Drops the first `sent` bytes of an iovec array: writes what remains into `scratch` and returns how many
/// entries it has. `scratch` may be `iov` itself.
@inline(__always)
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

    public init() {}
}
