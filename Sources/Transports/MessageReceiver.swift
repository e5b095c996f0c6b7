#if canImport(Glibc)
import CopyprofModel
import Glibc
import SystemCalls
#endif

/// A receiver of whole messages from one connected TCP socket: a noncopyable value that its worker's timed loop
/// owns and mutates in place. Messages must arrive in sequence from 0.
///
/// As for ``MessageSender``, the per-message requirement and all it inlines return errors as values (no `throw`),
/// so that the specialized loops inline it; the loops call ``receive()`` from the extension.
///
/// A new receiver: a `~Copyable` struct conforming to this protocol, and a case in `makeTransportLoop`.
protocol MessageReceiver: ~Copyable {
    /// Receives (and verifies, as configured) the next message: true, or false when the peer ended the stream
    /// cleanly, between two messages.
    mutating func receiveMessage() -> Result<Bool, TransportError>
    /// The sequence number of the next message: the messages received so far (a ping-pong echo answers with
    /// the one before).
    var expected: UInt64 { get }
    /// What the receiver got so far.
    var stats: ReceiverStats { get }
    /// True once the peer ended the stream.
    var sawEndOfStream: Bool { get }
    /// Reads what is left until the peer ends the stream: the messages a sender queued before it saw the stop.
    /// They are not in `messages` and `bytes` (the measured loop is over) but in `drainedMessages`.
    mutating func drainToEnd() throws(TransportError)
}

extension MessageReceiver where Self: ~Copyable {
    /// Receives the next message: true, or false when the peer ended the stream cleanly between two messages.
    @inline(__always)
    mutating func receive() throws(TransportError) -> Bool { try receiveMessage().get() }
}

/// Reads whole messages with `recv()` into its own buffer — the second copy — and verifies them.
///
/// A message that differs from what was sent is counted, and the first such message is kept with its first bad
/// offset; the run goes on.
struct VerifyingReceiver: MessageReceiver, ~Copyable {
    private let fd: Int32
    private let layout: MessageLayout
    private let verification: Verification
    private let timeout: Double
    /// Where messages land.
    let buffer: UnsafeMutableRawPointer
    /// A message of any sequence: the pattern that full verification compares with.
    private let template: UnsafeMutableRawPointer
    /// The sequence number of the next message: the messages received so far.
    private(set) var expected: UInt64 = 0
    /// What the receiver counts besides `expected`; messages and bytes follow from it (see ``stats``).
    private var tally = ReceiverStats()
    /// `expected` when the timed loop ended and the drain began, if it did.
    private var measuredMessages: UInt64?
    private(set) var sawEndOfStream = false

    var stats: ReceiverStats {
        var stats = tally
        stats.messages = measuredMessages ?? expected
        stats.bytes = stats.messages &* UInt64(layout.messageSize)
        return stats
    }

    init(fd: Int32, layout: MessageLayout, verification: Verification, timeout: Double) {
        self.fd = fd
        self.layout = layout
        self.verification = verification
        self.timeout = timeout
        buffer = .allocate(byteCount: layout.messageSize, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: layout.messageSize)
        template = .allocate(byteCount: layout.messageSize, alignment: 64)
        MessageLayout.fillPattern(template, count: layout.messageSize, messageOffset: 0)
    }

    deinit {
        buffer.deallocate()
        template.deallocate()
    }

    @inline(__always)
    mutating func receiveMessage() -> Result<Bool, TransportError> {
        // The common case — one recv() returns the whole message — inline; the rest out of line, so that the loop
        // keeps few values live across the call.
        let size = layout.messageSize
        let n = recv(fd, buffer, size, 0)
        tally.recvCalls &+= 1
        if n != size {
            switch receiveRest(first: n) {
            case .success(true): break
            case let other: return other
            }
        }
        if let offset = layout.firstMismatch(
            in: buffer, sequence: expected, verification: verification, template: template)
        {
            tally.integrityErrors &+= 1
            if tally.firstMismatch == nil {
                tally.firstMismatch = IntegrityMismatch(sequence: expected, offset: offset)
            }
        }
        expected &+= 1
        return .success(true)
    }

    @inline(__always)
    private mutating func receiveRest(first: Int) -> Result<Bool, TransportError> {
        finishReceiving(
            fd: fd, into: buffer, size: layout.messageSize, first: first, sequence: expected, timeout: timeout,
            tally: &tally, sawEndOfStream: &sawEndOfStream)
    }

    /// With `full` verification the rest is verified like the measured messages; with `header` it is discarded in
    /// large reads (``discardToEnd(fd:messageSize:timeout:)``), which is much faster for small messages.
    mutating func drainToEnd() throws(TransportError) {
        let measured = expected
        measuredMessages = measured
        if verification == .full {
            do { while try receive() {} } catch {
                // A reset after the measured loop ended costs nothing that was measured.
                if error.kind != .peerReset { throw error }
            }
            tally.drainedMessages = expected - measured
            return
        }
        tally.drainedMessages = try discardToEnd(fd: fd, messageSize: layout.messageSize, timeout: timeout)
        sawEndOfStream = true
    }
}

/// Reads and discards what is left on the connection until the peer ends the stream, in large `recv(MSG_TRUNC)`
/// reads (TCP advances without copying); returns the whole messages that were left. A reset ends it quietly —
/// it comes after the measured loop, so it costs nothing that was measured. Both the copy receiver (with `header`
/// verification) and the discard receiver drain this way.
func discardToEnd(fd: Int32, messageSize: Int, timeout: Double) throws(TransportError) -> UInt64 {
    var drained = 0
    while true {
        let n = retryingOnInterrupt { recv(fd, nil, 1 << 20, Int32(MSG_TRUNC)) }
        if n > 0 {
            drained += n
            continue
        }
        if n == 0 { break }
        let code = errno
        if code == EAGAIN { throw TransportError(.timedOut(seconds: timeout), activity: "draining after the run") }
        if code == ECONNRESET { break }
        throw .system("recv(MSG_TRUNC)", code, activity: "draining after the run")
    }
    return UInt64(drained / messageSize)
}

/// Finishes a message of `size` bytes whose first `recv()` returned `first` (errno still set when it is negative):
/// reads the rest into `buffer`, or discards it with `MSG_TRUNC` when `buffer` is nil. Returns true when the message
/// is complete, false when the peer ended the stream before it began (`sawEndOfStream` is then set), or the error.
/// Shared by the receivers that read whole messages with `recv()`; out of line, as every receiver's rare path is.
@inline(never)
func finishReceiving(
    fd: Int32, into buffer: UnsafeMutableRawPointer?, size: Int, first: Int, sequence: UInt64, timeout: Double,
    tally: inout ReceiverStats, sawEndOfStream: inout Bool
) -> Result<Bool, TransportError> {
    let flags = buffer == nil ? Int32(MSG_TRUNC) : 0
    var got = 0
    var n = first
    while true {
        if n > 0 {
            got &+= n
            if got == size { return .success(true) }
        } else if n == 0 {
            sawEndOfStream = true
            if got == 0 { return .success(false) }
            return .failure(FailurePath.receiveFailed(0, timeout: timeout, sequence: sequence, got: got, size: size))
        } else {
            let code = errno
            if code != EINTR {
                return .failure(
                    FailurePath.receiveFailed(
                        code, timeout: timeout, sequence: sequence, got: got, size: size,
                        call: buffer == nil ? "recv(MSG_TRUNC)" : "recv"))
            }
        }
        n = recv(fd, buffer.map { $0 + got }, size &- got, flags)
        tally.recvCalls &+= 1
    }
}
