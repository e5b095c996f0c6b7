#if canImport(Glibc)
import Glibc
#endif

/// A sender of whole messages into one connected TCP socket: a noncopyable value that its worker's timed loop
/// owns and mutates in place (no reference counting, no dynamic exclusivity check). All buffers are prepared at
/// creation; sending allocates nothing.
///
/// The timed loops are generic over the sender's type and specialized for each one (see `TimedLoops.swift`); the
/// specialization inlines `sendMessage` only if Swift can devirtualize the call, and Swift 6.3 does not when the
/// conformance's witness contains a `throw` (it calls the generic runtime function `swift_willThrowTypedImpl`,
/// and the devirtualizer leaves such witnesses behind the witness table). So the per-message requirements and all
/// they inline return their errors as values — built out of line by ``FailurePath`` — and the loops throw them
/// through the extension below. `Benchmarks/hot-loops.sh` checks the result in the disassembly of the release
/// build.
///
/// A new sender: a `~Copyable` struct conforming to this protocol, and a case in `makeTransportLoop`.
protocol MessageSender: ~Copyable {
    /// Writes the stamps of message `sequence` and sends all of it.
    mutating func sendMessage(sequence: UInt64) -> Result<Void, TransportError>
    /// Waits until the kernel no longer holds any of the sender's buffers (zero-copy completions).
    mutating func finishSending() -> Result<Void, TransportError>
    /// What the sender did so far.
    var stats: SenderStats { get }
}

extension MessageSender where Self: ~Copyable {
    /// Writes the stamps of message `sequence` and sends all of it.
    @inline(__always)
    mutating func send(sequence: UInt64) throws(TransportError) { try sendMessage(sequence: sequence).get() }

    /// Waits until the kernel no longer holds any of the sender's buffers.
    @inline(__always)
    mutating func finish() throws(TransportError) { try finishSending().get() }
}

/// How a field set's memory is laid out.
enum FieldSetLayout: Sendable, Hashable {
    /// 8 separately allocated fields, gathered through 8 iovecs: the transports as documented.
    case separate
    /// The 8 fields back to back in one allocation, sent through one iovec — the same bytes on the wire. Only for
    /// `Benchmarks/zerocopy-neper.sh`, to measure what gathering 8 fields costs zero-copy against a sender of one
    /// buffer (neper); selected by ``FieldSetLayout/benchmarkEnvironmentVariable`` (see
    /// `RunConfiguration.zeroCopyFieldSetLayout`).
    case contiguous

    /// `COPYPROF_BENCH_ZEROCOPY_LAYOUT=contiguous` makes the zero-copy sender use ``contiguous`` field sets.
    static let benchmarkEnvironmentVariable = "COPYPROF_BENCH_ZEROCOPY_LAYOUT"

    /// The zero-copy layout the environment asks for: ``contiguous`` only when the variable says so.
    static func zeroCopyFromEnvironment() -> FieldSetLayout {
        guard let value = getenv(benchmarkEnvironmentVariable) else { return .separate }
        return String(cString: value) == "contiguous" ? .contiguous : .separate
    }
}

/// Memory for one message's 8 fields, filled with the pattern: separately allocated, or back to back (see
/// ``FieldSetLayout``). Freed by its owner.
struct FieldSet {
    let pointers: UnsafeMutablePointer<UnsafeMutableRawPointer>
    let layout: FieldSetLayout
    /// `MessageLayout.stamp(sequence: 0, field: f)` for each field: a stamp is `sequence ^ keys[f]`. Read from
    /// memory, the keys take one instruction per field, where the compiler otherwise rematerializes each 64-bit
    /// constant in a register (two).
    private let keys: UnsafeMutablePointer<UInt64>

    /// Bit `f` set: field `f` (or, contiguous, the whole block in bit 0) is its own anonymous mapping.
    private let mapped: UInt8
    /// The bytes each allocation holds (a field, or the whole message when contiguous).
    private let blockSize: Int

    init(layout: MessageLayout, _ fieldSetLayout: FieldSetLayout = .separate) {
        self.layout = fieldSetLayout
        pointers = .allocate(capacity: MessageLayout.fieldCount)
        keys = .allocate(capacity: MessageLayout.fieldCount)
        let contiguous = fieldSetLayout == .contiguous
        blockSize = contiguous ? layout.messageSize : layout.fieldSize
        var mapped: UInt8 = 0
        var block: UnsafeMutableRawPointer?
        if contiguous {
            let (memory, isMapped) = Self.allocateBlock(blockSize)
            block = memory
            if isMapped { mapped = 1 }
        }
        for field in 0..<MessageLayout.fieldCount {
            var memory: UnsafeMutableRawPointer
            if let block {
                memory = block + field * layout.fieldSize
            } else {
                let (fieldMemory, isMapped) = Self.allocateBlock(blockSize)
                memory = fieldMemory
                if isMapped { mapped |= 1 << UInt8(field) }
            }
            MessageLayout.fillPattern(memory, count: layout.fieldSize, messageOffset: field * layout.fieldSize)
            pointers[field] = memory
            keys[field] = MessageLayout.stamp(sequence: 0, field: field)
        }
        self.mapped = mapped
    }

    /// The page size: blocks of a page or more start on one.
    static let pageSize = max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))

    /// Memory for a field (or a contiguous message): below a page, a heap block on a cache line; from a page up, its
    /// own anonymous mapping — on a page, as glibc places large blocks, and as a zero-copy sender wants them, since
    /// the kernel pins and sends whole pages: an 8 KiB field on a cache line spans 3 pages, and a 64 KiB message of 8
    /// such fields 24 page fragments, more than one skb holds (MAX_SKB_FRAGS, 17). A mapping wastes no more than its
    /// rounding to a page, where `aligned_alloc` at page alignment leaves up to a page of the heap unused beside
    /// each block (a third more memory for 8 KiB fields). If mmap fails, a page-aligned heap block. True when mapped.
    static func allocateBlock(_ bytes: Int) -> (UnsafeMutableRawPointer, Bool) {
        if bytes >= pageSize,
            let memory = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            Int(bitPattern: memory) != -1
        {
            return (memory, true)
        }
        return (.allocate(byteCount: bytes, alignment: bytes >= pageSize ? pageSize : 64), false)
    }

    /// Iovec entries ``writeIovecs(_:layout:)`` writes: 8, or 1 for a contiguous set.
    var iovecCount: Int { layout == .contiguous ? 1 : MessageLayout.fieldCount }

    @inline(__always)
    func stamp(sequence: UInt64) {
        for field in 0..<MessageLayout.fieldCount {
            pointers[field].storeBytes(of: (sequence ^ keys[field]).littleEndian, as: UInt64.self)
        }
    }

    /// XORs the byte at message offset `offset` with 0xFF (test-only corruption; applying it twice restores).
    func flip(offset: Int, layout: MessageLayout) {
        let byte = pointers[offset / layout.fieldSize] + offset % layout.fieldSize
        byte.storeBytes(of: byte.load(as: UInt8.self) ^ 0xFF, as: UInt8.self)
    }

    func writeIovecs(_ iov: UnsafeMutablePointer<iovec>, layout: MessageLayout) {
        if self.layout == .contiguous {
            iov[0] = iovec(iov_base: pointers[0], iov_len: layout.messageSize)
            return
        }
        for field in 0..<MessageLayout.fieldCount {
            iov[field] = iovec(iov_base: pointers[field], iov_len: layout.fieldSize)
        }
    }

    func deallocate() {
        let blocks = layout == .contiguous ? 1 : MessageLayout.fieldCount
        for block in 0..<blocks {
            if mapped & (1 << UInt8(block)) != 0 {
                munmap(pointers[block], blockSize)
            } else {
                pointers[block].deallocate()
            }
        }
        pointers.deallocate()
        keys.deallocate()
    }
}

/// The test-only corruption of one message, as the senders check it per message: one comparison.
struct CorruptionPlan {
    /// The message to corrupt, or `UInt64.max` for none.
    let sequence: UInt64
    let offset: Int

    init(_ corruption: Corruption?) {
        sequence = corruption?.sequence ?? .max
        offset = corruption?.offset ?? 0
    }
}

/// `two-copy`: the message is contiguous; `send()` of one buffer.
struct TwoCopySender: MessageSender, ~Copyable {
    private let io: SocketIO
    private let layout: MessageLayout
    private let buffer: UnsafeMutableRawPointer
    private let corruption: CorruptionPlan
    private var tally = SendTally()
    var stats: SenderStats { tally.stats(messageSize: layout.messageSize) }

    init(io: SocketIO, layout: MessageLayout, corruption: Corruption?) {
        self.io = io
        self.layout = layout
        self.corruption = CorruptionPlan(corruption)
        buffer = .allocate(byteCount: layout.messageSize, alignment: 64)
        MessageLayout.fillPattern(buffer, count: layout.messageSize, messageOffset: 0)
    }

    deinit { buffer.deallocate() }

    @inline(__always)
    mutating func sendMessage(sequence: UInt64) -> Result<Void, TransportError> {
        let fieldSize = layout.fieldSize
        for field in 0..<MessageLayout.fieldCount {
            MessageLayout.writeStamp(buffer + field * fieldSize, sequence: sequence, field: field)
        }
        let corrupt = sequence == corruption.sequence
        if corrupt { flip(corruption.offset) }
        if let error = io.sendAll(buffer, count: layout.messageSize, sequence: sequence, tally: &tally) {
            return .failure(error)
        }
        if corrupt { flip(corruption.offset) }
        tally.messages &+= 1
        return .success(())
    }

    private func flip(_ offset: Int) {
        buffer.storeBytes(of: buffer.load(fromByteOffset: offset, as: UInt8.self) ^ 0xFF, toByteOffset: offset, as: UInt8.self)
    }

    func finishSending() -> Result<Void, TransportError> { .success(()) }
}

/// `marshal`: `memcpy` of the 8 fields into a staging buffer, then `send()` — the copy one-copy removes.
struct MarshalSender: MessageSender, ~Copyable {
    private let io: SocketIO
    private let layout: MessageLayout
    private let fields: FieldSet
    private let staging: UnsafeMutableRawPointer
    private let corruption: CorruptionPlan
    private var tally = SendTally()
    var stats: SenderStats { tally.stats(messageSize: layout.messageSize) }

    init(io: SocketIO, layout: MessageLayout, corruption: Corruption?) {
        self.io = io
        self.layout = layout
        self.corruption = CorruptionPlan(corruption)
        fields = FieldSet(layout: layout)
        staging = .allocate(byteCount: layout.messageSize, alignment: 64)
    }

    deinit {
        fields.deallocate()
        staging.deallocate()
    }

    @inline(__always)
    mutating func sendMessage(sequence: UInt64) -> Result<Void, TransportError> {
        fields.stamp(sequence: sequence)
        let corrupt = sequence == corruption.sequence
        if corrupt { fields.flip(offset: corruption.offset, layout: layout) }
        let fieldSize = layout.fieldSize
        for field in 0..<MessageLayout.fieldCount {
            memcpy(staging + field * fieldSize, fields.pointers[field], fieldSize)
        }
        if let error = io.sendAll(staging, count: layout.messageSize, sequence: sequence, tally: &tally) {
            return .failure(error)
        }
        if corrupt { fields.flip(offset: corruption.offset, layout: layout) }
        tally.messages &+= 1
        return .success(())
    }

    func finishSending() -> Result<Void, TransportError> { .success(()) }
}

/// `one-copy`: `sendmsg()` gathering the 8 fields through an 8-entry iovec.
struct OneCopySender: MessageSender, ~Copyable {
    private let io: SocketIO
    private let layout: MessageLayout
    private let fields: FieldSet
    private let iov: UnsafeMutablePointer<iovec>
    /// The sendmsg header of `iov`.
    private let header: UnsafeMutablePointer<msghdr>
    /// Where the remaining entries go after a partial write.
    private let scratch: UnsafeMutablePointer<iovec>
    private let corruption: CorruptionPlan
    private var tally = SendTally()
    var stats: SenderStats { tally.stats(messageSize: layout.messageSize) }

    init(io: SocketIO, layout: MessageLayout, corruption: Corruption?) {
        self.io = io
        self.layout = layout
        self.corruption = CorruptionPlan(corruption)
        fields = FieldSet(layout: layout)
        iov = .allocate(capacity: MessageLayout.fieldCount)
        scratch = .allocate(capacity: MessageLayout.fieldCount)
        fields.writeIovecs(iov, layout: layout)
        header = gatheringHeader(iov, count: MessageLayout.fieldCount)
    }

    deinit {
        fields.deallocate()
        iov.deallocate()
        header.deallocate()
        scratch.deallocate()
    }

    @inline(__always)
    mutating func sendMessage(sequence: UInt64) -> Result<Void, TransportError> {
        fields.stamp(sequence: sequence)
        let corrupt = sequence == corruption.sequence
        if corrupt { fields.flip(offset: corruption.offset, layout: layout) }
        let n = sendmsg(io.fd, header, io.sendFlags)
        tally.sendCalls &+= 1
        if n != layout.messageSize,
            let error = io.sendGatheredRest(
                header.pointee, total: layout.messageSize, first: n, scratch: scratch, sequence: sequence,
                tally: &tally)
        {
            return .failure(error)
        }
        if corrupt { fields.flip(offset: corruption.offset, layout: layout) }
        tally.messages &+= 1
        return .success(())
    }

    func finishSending() -> Result<Void, TransportError> { .success(()) }
}

/// `zero-copy`: `sendmsg(MSG_ZEROCOPY)` from a pool of field sets (``ZeroCopyFieldSets``). A set is rewritten only
/// after every id that pinned it has completed on the error queue; ENOBUFS means "drain completions, then retry".
struct ZeroCopySender: MessageSender, ~Copyable {
    private let io: SocketIO
    private let layout: MessageLayout
    private var pool: ZeroCopyFieldSets
    private let scratch: UnsafeMutablePointer<iovec>
    private let control: UnsafeMutableRawPointer
    private let controlSize: Int
    private var zero = ZeroCopyStats()
    private var tally = SendTally()

    /// Drain the error queue after this many messages, as the kernel selftest does after a number of sends.
    static let drainInterval = 32
    private static let drainMask = UInt64(drainInterval - 1)

    init(
        io: SocketIO, layout: MessageLayout, poolSize: Int, corruption: Corruption?,
        fieldSetLayout: FieldSetLayout = .separate
    ) {
        self.io = io
        self.layout = layout
        pool = ZeroCopyFieldSets(count: poolSize, layout: layout, fieldSetLayout: fieldSetLayout, corruption: corruption)
        scratch = .allocate(capacity: MessageLayout.fieldCount)
        controlSize = ZeroCopyNotification.controlSpace
        control = .allocate(byteCount: controlSize, alignment: 8)
    }

    deinit {
        scratch.deallocate()
        control.deallocate()
    }

    var stats: SenderStats {
        var result = tally.stats(messageSize: layout.messageSize)
        result.zeroCopy = zero
        result.zeroCopy?.sends = pool.ledger.recorded
        return result
    }

    @inline(__always)
    mutating func sendMessage(sequence: UInt64) -> Result<Void, TransportError> {
        var set = pool.ledger.takeFreeSet()
        if set < 0 {
            if let error = waitForFreeSet(sequence: sequence) { return .failure(error) }
            set = pool.ledger.takeFreeSet()
        }
        pool.prepare(set, sequence: sequence)
        let n = sendmsg(io.fd, pool.headers + set, io.sendFlags | Int32(MSG_ZEROCOPY))
        tally.sendCalls &+= 1
        // Every call that queued bytes took the socket's next zerocopy id (the ledger counts them: `sends`).
        if n > 0 { pool.ledger.recordSend(set: set) }
        if n != layout.messageSize, let error = sendRest(set: set, first: n, sequence: sequence) {
            return .failure(error)
        }
        pool.ledger.release(set)
        tally.messages &+= 1
        // Every `drainInterval` messages (a power of two): the sequence says when, with no counter to keep.
        if sequence & Self.drainMask == Self.drainMask, let error = drain() { return .failure(error) }
        return .success(())
    }

    /// Finishes a sendmsg(MSG_ZEROCOPY) of set `set` whose first call returned `first` (errno still set when it is
    /// negative): partial writes (each call that queued bytes took an id), ENOBUFS, EINTR, EAGAIN.
    @inline(never)
    private mutating func sendRest(set: Int, first: Int, sequence: UInt64) -> TransportError? {
        var message = GatheredMessage(pool.headers[set], total: layout.messageSize, scratch: scratch)
        let flags = io.sendFlags | Int32(MSG_ZEROCOPY)
        var n = first
        while true {
            if n > 0 {
                if message.queued(n) { return nil }
                tally.partialWrites &+= 1
            } else if n < 0 {
                let code = errno
                if code == ENOBUFS {
                    // The socket's optmem or the locked-page limit is reached: completions free it.
                    if let error = waitAfterENOBUFS(sequence: sequence) { return error }
                } else if let error = io.sendFailure("sendmsg(MSG_ZEROCOPY)", errno: code, sequence: sequence) {
                    return error
                }
            }
            // Each further call that queues bytes takes an id: never more in flight than the ledger can track.
            while pool.ledger.isFull {
                if let error = waitForCompletions(.zeroCopyCompletions, sequence: sequence) { return error }
            }
            n = sendmsg(io.fd, &message.header, flags)
            tally.sendCalls &+= 1
            if n > 0 { pool.ledger.recordSend(set: set) }
        }
    }

    /// Every set is pinned (or the ledger is full): drains, then waits for completions until a set is free.
    @inline(never)
    private mutating func waitForFreeSet(sequence: UInt64) -> TransportError? {
        zero.reuseWaits &+= 1
        if let error = drain() { return error }
        while !pool.ledger.canTakeSet {
            if let error = waitForCompletions(.zeroCopyCompletions, sequence: sequence) { return error }
        }
        return nil
    }

    /// sendmsg said ENOBUFS: drains, then waits for a completion (or yields when nothing is in flight).
    @inline(never)
    private mutating func waitAfterENOBUFS(sequence: UInt64) -> TransportError? {
        zero.enobufs &+= 1
        if let error = drain() { return error }
        if pool.ledger.inFlight > 0 { return waitForCompletions(.zeroCopyCompletions, sequence: sequence) }
        sched_yield()
        return nil
    }

    /// Reads every notification on the error queue without blocking.
    @inline(never)
    private mutating func drain() -> TransportError? {
        while pool.ledger.inFlight > 0 {
            var message = msghdr()
            message.msg_control = control
            message.msg_controllen = controlSize
            let n = recvmsg(io.fd, &message, Int32(MSG_ERRQUEUE) | Int32(MSG_DONTWAIT))
            if n < 0 {
                let code = errno
                if code == EAGAIN { return nil }
                if code == EINTR { continue }
                return FailurePath.completionsFailed("recvmsg(MSG_ERRQUEUE)", errno: code)
            }
            if message.msg_flags & Int32(MSG_CTRUNC) != 0 {
                return FailurePath.completionsFailed("recvmsg(MSG_ERRQUEUE)", errno: EMSGSIZE, truncated: true)
            }
            var failure: Int32 = 0
            ZeroCopyNotification.forEach(in: &message, otherError: { failure = $0 }) { note in
                zero.notifications &+= 1
                let completed = UInt64(pool.ledger.complete(from: note.lo, through: note.hi))
                zero.completions &+= completed
                if note.copied { zero.copiedCompletions &+= completed }
            }
            if failure != 0 { return FailurePath.completionsFailed("sendmsg(MSG_ZEROCOPY)", errno: failure) }
        }
        return nil
    }

    /// Blocks in poll() until the error queue has something, then drains it.
    private mutating func waitForCompletions(_ activity: FailurePath.Activity, sequence: UInt64) -> TransportError? {
        let result = io.waitUntil(0)
        if result != 0 {
            return FailurePath.waitFailed(
                result, timeout: io.timeout, activity: activity, sequence: sequence, inFlight: pool.ledger.inFlight)
        }
        return drain()
    }

    /// Waits until every send has completed, so that the kernel holds none of the buffers.
    mutating func finishSending() -> Result<Void, TransportError> {
        if let error = drain() { return .failure(error) }
        while pool.ledger.inFlight > 0 {
            if let error = waitForCompletions(.lastZeroCopyCompletions, sequence: 0) { return .failure(error) }
        }
        return .success(())
    }
}
