#if canImport(Glibc)
import Glibc
#endif

/// Reads whole messages with `recv()` into its own buffer — the second copy — and verifies them.
///
/// Messages must arrive in sequence from 0. A message that differs from what was sent is counted, and the first
/// such message is kept with its first bad offset; the run goes on.
final class MessageReceiver {
    private let fd: Int32
    private let layout: MessageLayout
    private let verification: Verification
    private let timeout: Double
    /// Where messages land.
    let buffer: UnsafeMutableRawPointer
    /// A message of any sequence: the pattern that full verification compares with.
    private let template: UnsafeMutableRawPointer
    /// The sequence number of the next message.
    private(set) var expected: UInt64 = 0
    /// Updated through a pointer: no dynamic exclusivity check per message.
    private let tally = UncheckedStorage(ReceiverStats())
    var stats: ReceiverStats { tally.pointer.pointee }
    /// True once recv returned 0.
    private(set) var sawEndOfStream = false

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
        tally.free()
    }

    /// Receives and verifies the next message. Returns false when the peer ended the stream cleanly,
    /// between two messages.
    @inline(__always)
    func receive() throws(TransportError) -> Bool {
        let size = layout.messageSize
        var got = 0
        while got < size {
            let n = recv(fd, buffer + got, size - got, 0)
            tally.pointer.pointee.recvCalls &+= 1
            if n > 0 {
                got += n
            } else if n == 0 {
                sawEndOfStream = true
                if got == 0 { return false }
                throw TransportError(.peerClosed, activity: "receiving message \(expected) (byte \(got) of \(size))")
            } else {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN {
                    throw TransportError(
                        .timedOut(seconds: timeout), activity: "receiving message \(expected) (byte \(got) of \(size))")
                }
                throw .system("recv", code, activity: "receiving message \(expected) (byte \(got) of \(size))")
            }
        }
        if let offset = layout.firstMismatch(
            in: buffer, sequence: expected, verification: verification, template: template)
        {
            tally.pointer.pointee.integrityErrors &+= 1
            if tally.pointer.pointee.firstMismatch == nil {
                tally.pointer.pointee.firstMismatch = IntegrityMismatch(sequence: expected, offset: offset)
            }
        }
        tally.pointer.pointee.messages &+= 1
        tally.pointer.pointee.bytes &+= UInt64(size)
        expected &+= 1
        return true
    }

    /// Reads what is left until the peer ends the stream: the messages a sender queued before it saw the stop.
    /// They are not in `messages` and `bytes` (the measured loop is over) but in `drainedMessages`. With `full`
    /// verification they are verified like the rest; with `header` they are read in large discarding reads,
    /// which is much faster for small messages.
    func drainToEnd() throws(TransportError) {
        let (messages, bytes) = (tally.pointer.pointee.messages, tally.pointer.pointee.bytes)
        if verification == .full {
            do { while try receive() {} } catch {
                // A reset after the measured loop ended costs nothing that was measured.
                if error.kind != .peerReset { throw error }
            }
            tally.pointer.pointee.drainedMessages = tally.pointer.pointee.messages - messages
            (tally.pointer.pointee.messages, tally.pointer.pointee.bytes) = (messages, bytes)
            return
        }
        let size = 1 << 18
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer { scratch.deallocate() }
        var drained = 0
        while true {
            let n = recv(fd, scratch, size, 0)
            if n > 0 {
                drained += n
                continue
            }
            if n == 0 {
                sawEndOfStream = true
                tally.pointer.pointee.drainedMessages = UInt64(drained / layout.messageSize)
                return
            }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN { throw TransportError(.timedOut(seconds: timeout), activity: "draining after the run") }
            // A reset after the measured loop ended costs nothing that was measured.
            if code == ECONNRESET { return }
            throw .system("recv", code, activity: "draining after the run")
        }
    }
}
