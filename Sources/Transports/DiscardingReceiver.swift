#if canImport(Glibc)
import Glibc
#endif

/// `discard`: `recv(MSG_TRUNC)` of each message. For TCP the kernel then advances the stream without copying the
/// bytes out (`tcp_recvmsg_locked` skips `skb_copy_datagram_msg`), so no buffer is given: a kernel that copied anyway
/// would fail with EFAULT rather than measure a copy unseen. The cost of the receive copy is what `copy` pays more.
///
/// Nothing of a message reaches the process, so nothing is verified: the messages are counted whole, in sequence,
/// and the stats say `verified: false`.
struct DiscardingReceiver: MessageReceiver, ~Copyable {
    private let fd: Int32
    private let layout: MessageLayout
    private let timeout: Double
    private(set) var expected: UInt64 = 0
    private var tally = ReceiverStats()
    private var measuredMessages: UInt64?
    private(set) var sawEndOfStream = false

    var stats: ReceiverStats {
        var stats = tally
        stats.messages = measuredMessages ?? expected
        stats.bytes = stats.messages &* UInt64(layout.messageSize)
        stats.verified = false
        return stats
    }

    init(fd: Int32, layout: MessageLayout, timeout: Double) {
        self.fd = fd
        self.layout = layout
        self.timeout = timeout
    }

    @inline(__always)
    mutating func receiveMessage() -> Result<Bool, TransportError> {
        let size = layout.messageSize
        let n = recv(fd, nil, size, Int32(MSG_TRUNC))
        tally.recvCalls &+= 1
        if n != size {
            switch receiveRest(first: n) {
            case .success(true): break
            case let other: return other
            }
        }
        expected &+= 1
        return .success(true)
    }

    @inline(__always)
    private mutating func receiveRest(first: Int) -> Result<Bool, TransportError> {
        finishReceiving(
            fd: fd, into: nil, size: layout.messageSize, first: first, sequence: expected, timeout: timeout,
            tally: &tally, sawEndOfStream: &sawEndOfStream)
    }

    /// Discards what is left, in large reads, counting whole messages.
    mutating func drainToEnd() throws(TransportError) {
        measuredMessages = expected
        tally.drainedMessages = try discardToEnd(fd: fd, messageSize: layout.messageSize, timeout: timeout)
        sawEndOfStream = true
    }
}
