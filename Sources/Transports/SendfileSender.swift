import CLinuxNet
#if canImport(Glibc)
import Glibc
#endif

/// `sendfile`: the messages live in a file in the page cache — a memfd, so that nothing is written to a disk or left
/// behind — and each is sent with `sendfile()` from its place in the file, as iperf3's `-Z` sends its file: the kernel
/// puts the page cache's pages into the socket's buffers by reference, with no user-space source buffer and no copy on
/// the send side. The 8 stamps of a message are written into the page cache through a shared mapping of the file.
///
/// sendfile has no completion: a page stays referenced by the socket — and on loopback by the receiver's queue — until
/// the receiver has read it, and a stamp written into it before then would change what the receiver reads. So the
/// file is a ring of messages larger than everything that can still be in flight when a message's place comes round
/// again: the sender's socket buffer at its largest (`tcp_wmem`'s maximum, or twice SO_SNDBUF), the receiver's unread
/// bytes at their largest (`tcp_rmem`'s maximum), and what a receiver holds while it verifies (a mapped window), plus
/// a message (``ringBytes(_:)``). In ping-pong a message is sent only after the previous echo was read whole, so a
/// few messages suffice. Verification would catch a ring too small: a message rewritten under the receiver shows as a
/// wrong stamp.
struct SendfileSender: MessageSender, ~Copyable {
    private let io: SocketIO
    private let layout: MessageLayout
    /// The memfd.
    private let file: Int32
    /// Its shared mapping: `slots` messages, back to back.
    private let ring: UnsafeMutableRawPointer
    private let slots: Int
    private var nextSlot = 0
    /// A test corruption waiting to be undone once its slot comes round again: the slot, or -1.
    private var restoreSlot = -1
    private let corruption: CorruptionPlan
    private var tally = SendTally()

    var stats: SenderStats { tally.stats(messageSize: layout.messageSize) }

    /// Bytes of the ring for a run (see the type's documentation), a whole number of messages.
    static func ringBytes(_ configuration: RunConfiguration) -> Int {
        let size = configuration.messageSize
        if configuration.workload == .pingpong { return 4 * size }
        let sendMaximum = configuration.sendBufferSize.map { 2 * $0 } ?? KernelSupport.socketBufferMaximum("tcp_wmem") ?? (4 << 20)
        let receiveMaximum = configuration.peerReceiveBufferLimit ?? KernelSupport.socketBufferMaximum("tcp_rmem") ?? (6 << 20)
        let inHand = 2 * max(size, MappingReceiver.windowSize + MappingReceiver.copyCapacity)
        let bytes = sendMaximum + receiveMaximum + inHand + size
        return max(2, (bytes + size - 1) / size) * size
    }

    /// Creates the memfd of `ringBytes`, maps it and fills every message's pattern.
    ///
    /// - Parameter nonblocking: sets O_NONBLOCK on the socket (poll mode; sendfile takes no MSG_DONTWAIT).
    init(io: SocketIO, layout: MessageLayout, ringBytes: Int, corruption: Corruption?, nonblocking: Bool) throws(TransportError) {
        let file = CLinuxNet_memfd_create("copyprof-sendfile")
        if file < 0 {
            let code = errno
            if code == ENOSYS { throw TransportError(.notSupported("memfd_create: ENOSYS (Linux 3.17 and later have it, unless a seccomp filter blocks it)")) }
            throw .system("memfd_create", code, activity: "preparing the sendfile sender")
        }
        if ftruncate(file, off_t(ringBytes)) != 0 {
            let code = errno
            close(file)
            throw .system("ftruncate of the sendfile ring (\(ringBytes) bytes)", code, activity: "preparing the sendfile sender")
        }
        guard let mapping = mmap(nil, ringBytes, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0), mapping != MAP_FAILED else {
            let code = errno
            close(file)
            throw .system("mmap of the sendfile ring", code, activity: "preparing the sendfile sender")
        }
        if nonblocking { _ = fcntl(io.fd, F_SETFL, fcntl(io.fd, F_GETFL) | O_NONBLOCK) }
        self.io = io
        self.layout = layout
        self.file = file
        ring = mapping
        slots = ringBytes / layout.messageSize
        self.corruption = CorruptionPlan(corruption)
        // Every message's pattern, written once into the page cache: the first by hand, the others copied from it.
        MessageLayout.fillPattern(mapping, count: layout.messageSize, messageOffset: 0)
        for slot in 1..<max(slots, 1) {
            memcpy(mapping + slot * layout.messageSize, mapping, layout.messageSize)
        }
    }

    deinit {
        munmap(ring, slots * layout.messageSize)
        close(file)
    }

    @inline(__always)
    mutating func sendMessage(sequence: UInt64) -> Result<Void, TransportError> {
        let slot = nextSlot
        nextSlot = slot + 1 == slots ? 0 : slot + 1
        let size = layout.messageSize
        let message = ring + slot * size
        if slot == restoreSlot {
            flip(message)
            restoreSlot = -1
        }
        let fieldSize = layout.fieldSize
        for field in 0..<MessageLayout.fieldCount {
            MessageLayout.writeStamp(message + field * fieldSize, sequence: sequence, field: field)
        }
        if sequence == corruption.sequence {
            flip(message)
            restoreSlot = slot
        }
        var offset = off_t(slot &* size)
        let n = Glibc.sendfile(io.fd, file, &offset, size)
        tally.sendCalls &+= 1
        if n != size, let error = sendRest(slot: slot, first: n, sequence: sequence) { return .failure(error) }
        tally.messages &+= 1
        return .success(())
    }

    private func flip(_ message: UnsafeMutableRawPointer) {
        let byte = message + corruption.offset
        byte.storeBytes(of: byte.load(as: UInt8.self) ^ 0xFF, as: UInt8.self)
    }

    /// Finishes a sendfile of slot `slot` whose first call returned `first` (errno still set when it is negative).
    @inline(never)
    private mutating func sendRest(slot: Int, first: Int, sequence: UInt64) -> TransportError? {
        let size = layout.messageSize
        var sent = 0
        var n = first
        while true {
            if n > 0 {
                sent &+= n
                if sent == size { return nil }
                tally.partialWrites &+= 1
            } else if n == 0 {
                return FailurePath.sendFailed("sendfile", errno: EPIPE, timeout: io.timeout, sequence: sequence)
            } else if let error = io.sendFailure("sendfile", errno: errno, sequence: sequence) {
                return error
            }
            var offset = off_t(slot &* size &+ sent)
            n = Glibc.sendfile(io.fd, file, &offset, size &- sent)
            tally.sendCalls &+= 1
        }
    }

    func finishSending() -> Result<Void, TransportError> { .success(()) }
}
