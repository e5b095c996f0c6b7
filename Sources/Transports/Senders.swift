#if canImport(Glibc)
import Glibc
#endif

/// A sender of whole messages into one connected TCP socket. All buffers are prepared at creation;
/// `send(sequence:)` allocates nothing.
protocol MessageSender: AnyObject {
    /// Writes the stamps of message `sequence` and sends all of it.
    func send(sequence: UInt64) throws(TransportError)
    /// Waits until the kernel no longer holds any of the sender's buffers (zero-copy completions).
    func finish() throws(TransportError)
    /// What the sender did so far.
    var stats: SenderStats { get }
}

/// One value behind an unsafe pointer, for statistics the timed loops update: a stored property of a class pays
/// a dynamic exclusivity check (swift_beginAccess) on every mutation, a pointer does not. Used by one thread at a time.
struct UncheckedStorage<Value> {
    let pointer: UnsafeMutablePointer<Value>

    init(_ value: Value) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: value)
    }

    func free() {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }
}

/// Memory for one message's 8 separately allocated fields, filled with the pattern.
struct FieldSet {
    let pointers: UnsafeMutablePointer<UnsafeMutableRawPointer>

    init(layout: MessageLayout) {
        pointers = .allocate(capacity: MessageLayout.fieldCount)
        for field in 0..<MessageLayout.fieldCount {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: layout.fieldSize, alignment: 64)
            MessageLayout.fillPattern(memory, count: layout.fieldSize, messageOffset: field * layout.fieldSize)
            pointers[field] = memory
        }
    }

    @inline(__always)
    func stamp(sequence: UInt64) {
        for field in 0..<MessageLayout.fieldCount {
            MessageLayout.writeStamp(pointers[field], sequence: sequence, field: field)
        }
    }

    /// XORs the byte at message offset `offset` with 0xFF (test-only corruption; applying it twice restores).
    func flip(offset: Int, layout: MessageLayout) {
        let byte = pointers[offset / layout.fieldSize] + offset % layout.fieldSize
        byte.storeBytes(of: byte.load(as: UInt8.self) ^ 0xFF, as: UInt8.self)
    }

    func writeIovecs(_ iov: UnsafeMutablePointer<iovec>, layout: MessageLayout) {
        for field in 0..<MessageLayout.fieldCount {
            iov[field] = iovec(iov_base: pointers[field], iov_len: layout.fieldSize)
        }
    }

    func deallocate() {
        for field in 0..<MessageLayout.fieldCount { pointers[field].deallocate() }
        pointers.deallocate()
    }
}

/// `two-copy`: the message is contiguous; `send()` of one buffer.
final class TwoCopySender: MessageSender {
    private let io: SocketIO
    private let layout: MessageLayout
    private let buffer: UnsafeMutableRawPointer
    private let corruption: Corruption?
    /// Updated through a pointer: no dynamic exclusivity check per message.
    private let tally = UncheckedStorage(SenderStats())
    var stats: SenderStats { tally.pointer.pointee }

    init(io: SocketIO, layout: MessageLayout, corruption: Corruption?) {
        self.io = io
        self.layout = layout
        self.corruption = corruption
        buffer = .allocate(byteCount: layout.messageSize, alignment: 64)
        MessageLayout.fillPattern(buffer, count: layout.messageSize, messageOffset: 0)
    }

    deinit {
        buffer.deallocate()
        tally.free()
    }

    @inline(__always)
    func send(sequence: UInt64) throws(TransportError) {
        let fieldSize = layout.fieldSize
        for field in 0..<MessageLayout.fieldCount {
            MessageLayout.writeStamp(buffer + field * fieldSize, sequence: sequence, field: field)
        }
        if let corruption, corruption.sequence == sequence { flip(corruption.offset) }
        try io.sendAll(buffer, count: layout.messageSize, sequence: sequence, stats: &tally.pointer.pointee)
        if let corruption, corruption.sequence == sequence { flip(corruption.offset) }
        tally.pointer.pointee.messages &+= 1
        tally.pointer.pointee.bytes &+= UInt64(layout.messageSize)
    }

    private func flip(_ offset: Int) {
        buffer.storeBytes(of: buffer.load(fromByteOffset: offset, as: UInt8.self) ^ 0xFF, toByteOffset: offset, as: UInt8.self)
    }

    func finish() {}
}

/// `marshal`: `memcpy` of the 8 fields into a staging buffer, then `send()` — the copy one-copy removes.
final class MarshalSender: MessageSender {
    private let io: SocketIO
    private let layout: MessageLayout
    private let fields: FieldSet
    private let staging: UnsafeMutableRawPointer
    private let corruption: Corruption?
    /// Updated through a pointer: no dynamic exclusivity check per message.
    private let tally = UncheckedStorage(SenderStats())
    var stats: SenderStats { tally.pointer.pointee }

    init(io: SocketIO, layout: MessageLayout, corruption: Corruption?) {
        self.io = io
        self.layout = layout
        self.corruption = corruption
        fields = FieldSet(layout: layout)
        staging = .allocate(byteCount: layout.messageSize, alignment: 64)
    }

    deinit {
        fields.deallocate()
        staging.deallocate()
        tally.free()
    }

    @inline(__always)
    func send(sequence: UInt64) throws(TransportError) {
        fields.stamp(sequence: sequence)
        if let corruption, corruption.sequence == sequence { fields.flip(offset: corruption.offset, layout: layout) }
        let fieldSize = layout.fieldSize
        for field in 0..<MessageLayout.fieldCount {
            memcpy(staging + field * fieldSize, fields.pointers[field], fieldSize)
        }
        try io.sendAll(staging, count: layout.messageSize, sequence: sequence, stats: &tally.pointer.pointee)
        if let corruption, corruption.sequence == sequence { fields.flip(offset: corruption.offset, layout: layout) }
        tally.pointer.pointee.messages &+= 1
        tally.pointer.pointee.bytes &+= UInt64(layout.messageSize)
    }

    func finish() {}
}

/// `one-copy`: `sendmsg()` gathering the 8 fields through an 8-entry iovec.
final class OneCopySender: MessageSender {
    private let io: SocketIO
    private let layout: MessageLayout
    private let fields: FieldSet
    private let iov: UnsafeMutablePointer<iovec>
    /// Where the remaining entries go after a partial write.
    private let scratch: UnsafeMutablePointer<iovec>
    private let corruption: Corruption?
    /// Updated through a pointer: no dynamic exclusivity check per message.
    private let tally = UncheckedStorage(SenderStats())
    var stats: SenderStats { tally.pointer.pointee }

    init(io: SocketIO, layout: MessageLayout, corruption: Corruption?) {
        self.io = io
        self.layout = layout
        self.corruption = corruption
        fields = FieldSet(layout: layout)
        iov = .allocate(capacity: MessageLayout.fieldCount)
        scratch = .allocate(capacity: MessageLayout.fieldCount)
        fields.writeIovecs(iov, layout: layout)
    }

    deinit {
        fields.deallocate()
        iov.deallocate()
        scratch.deallocate()
        tally.free()
    }

    @inline(__always)
    func send(sequence: UInt64) throws(TransportError) {
        fields.stamp(sequence: sequence)
        if let corruption, corruption.sequence == sequence { fields.flip(offset: corruption.offset, layout: layout) }
        let io = self.io
        try io.sendGathered(
            iov, count: MessageLayout.fieldCount, total: layout.messageSize, scratch: scratch, flags: io.sendFlags,
            stats: &tally.pointer.pointee, sent: {},
            failed: { code throws(TransportError) in try io.sendFailed("sendmsg", errno: code, sequence: sequence) })
        if let corruption, corruption.sequence == sequence { fields.flip(offset: corruption.offset, layout: layout) }
        tally.pointer.pointee.messages &+= 1
        tally.pointer.pointee.bytes &+= UInt64(layout.messageSize)
    }

    func finish() {}
}

/// `zero-copy`: `sendmsg(MSG_ZEROCOPY)` from a pool of field sets. A set is rewritten only after every id that
/// pinned it has completed on the error queue; ENOBUFS means "drain completions, then retry".
final class ZeroCopySender: MessageSender {
    private let io: SocketIO
    private let layout: MessageLayout
    private let poolSize: Int
    private let sets: UnsafeMutablePointer<FieldSet>
    /// 8 iovecs per set.
    private let iovs: UnsafeMutablePointer<iovec>
    private let scratch: UnsafeMutablePointer<iovec>
    private let ledger: ZeroCopyLedger
    private let control: UnsafeMutableRawPointer
    private let controlSize: Int
    private var nextSet = 0
    private var sendsSinceDrain = 0
    private var zero = ZeroCopyStats()
    private var base = SenderStats()
    /// A test corruption waiting to be undone in a set, once the set is free again.
    private var pendingRestore: (set: Int, offset: Int)?
    private let corruption: Corruption?

    /// Drain the error queue after this many sends, as the kernel selftest does.
    static let drainInterval = 32

    init(io: SocketIO, layout: MessageLayout, poolSize: Int, corruption: Corruption?) {
        self.io = io
        self.layout = layout
        self.poolSize = max(1, poolSize)
        self.corruption = corruption
        sets = .allocate(capacity: self.poolSize)
        iovs = .allocate(capacity: self.poolSize * MessageLayout.fieldCount)
        for set in 0..<self.poolSize {
            let fields = FieldSet(layout: layout)
            (sets + set).initialize(to: fields)
            fields.writeIovecs(iovs + set * MessageLayout.fieldCount, layout: layout)
        }
        scratch = .allocate(capacity: MessageLayout.fieldCount)
        ledger = ZeroCopyLedger(sets: self.poolSize, capacity: 4096)
        controlSize = ZeroCopyNotification.controlSpace
        control = .allocate(byteCount: controlSize, alignment: 8)
    }

    deinit {
        for set in 0..<poolSize { sets[set].deallocate() }
        sets.deinitialize(count: poolSize)
        sets.deallocate()
        iovs.deallocate()
        scratch.deallocate()
        control.deallocate()
    }

    var stats: SenderStats {
        var result = base
        result.zeroCopy = zero
        return result
    }

    @inline(__always)
    func send(sequence: UInt64) throws(TransportError) {
        let set = nextSet
        nextSet = set + 1 == poolSize ? 0 : set + 1
        if ledger.isBusy(set) || ledger.isFull {
            zero.reuseWaits &+= 1
            try drain()
            while ledger.isBusy(set) || ledger.isFull { try waitForCompletions(sequence: sequence) }
        }
        let fields = sets[set]
        if let restore = pendingRestore, restore.set == set {
            fields.flip(offset: restore.offset, layout: layout)
            pendingRestore = nil
        }
        fields.stamp(sequence: sequence)
        if let corruption, corruption.sequence == sequence {
            fields.flip(offset: corruption.offset, layout: layout)
            pendingRestore = (set, corruption.offset)
        }

        let ledger = self.ledger
        try io.sendGathered(
            iovs + set * MessageLayout.fieldCount, count: MessageLayout.fieldCount, total: layout.messageSize,
            scratch: scratch, flags: io.sendFlags | Int32(MSG_ZEROCOPY), stats: &base,
            sent: {
                // Every call that queued bytes took the socket's next zerocopy id.
                ledger.recordSend(set: set)
                zero.sends &+= 1
            },
            failed: { code throws(TransportError) in
                if code == ENOBUFS {
                    // The socket's optmem or the locked-page limit is reached: completions free it.
                    zero.enobufs &+= 1
                    try drain()
                    if ledger.inFlight > 0 { try waitForCompletions(sequence: sequence) } else { sched_yield() }
                } else {
                    try io.sendFailed("sendmsg(MSG_ZEROCOPY)", errno: code, sequence: sequence)
                }
            })
        base.messages &+= 1
        base.bytes &+= UInt64(layout.messageSize)
        sendsSinceDrain += 1
        if sendsSinceDrain >= Self.drainInterval { try drain() }
    }

    /// Reads every notification on the error queue without blocking.
    private func drain() throws(TransportError) {
        sendsSinceDrain = 0
        while ledger.inFlight > 0 {
            var message = msghdr()
            message.msg_control = control
            message.msg_controllen = controlSize
            let n = recvmsg(io.fd, &message, Int32(MSG_ERRQUEUE) | Int32(MSG_DONTWAIT))
            if n < 0 {
                let code = errno
                if code == EAGAIN { return }
                if code == EINTR { continue }
                throw .system("recvmsg(MSG_ERRQUEUE)", code, activity: "reading zero-copy completions")
            }
            if message.msg_flags & Int32(MSG_CTRUNC) != 0 {
                throw TransportError(
                    .systemCall("recvmsg(MSG_ERRQUEUE)", errno: EMSGSIZE),
                    activity: "reading zero-copy completions (control message truncated)")
            }
            var failure: Int32 = 0
            ZeroCopyNotification.forEach(in: &message, otherError: { failure = $0 }) { note in
                zero.notifications &+= 1
                let completed = UInt64(ledger.complete(from: note.lo, through: note.hi))
                zero.completions &+= completed
                if note.copied { zero.copiedCompletions &+= completed }
            }
            if failure != 0 {
                throw .system("sendmsg(MSG_ZEROCOPY)", failure, activity: "reading zero-copy completions")
            }
        }
    }

    /// Blocks in poll() until the error queue has something, then drains it.
    private func waitForCompletions(sequence: UInt64) throws(TransportError) {
        try io.waitUntil(0, activity: "waiting for zero-copy completions of \(ledger.inFlight) sends before message \(sequence)")
        try drain()
    }

    /// Waits until every send has completed, so that the kernel holds none of the buffers.
    func finish() throws(TransportError) {
        try drain()
        while ledger.inFlight > 0 {
            try io.waitUntil(0, activity: "waiting for the last \(ledger.inFlight) zero-copy completions")
            try drain()
        }
    }
}
