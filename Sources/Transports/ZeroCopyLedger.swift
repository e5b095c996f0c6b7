import CLinuxNet
#if canImport(Glibc)
import Glibc
#endif

/// MSG_ZEROCOPY bookkeeping of a run.
public struct ZeroCopyStats: Sendable, Hashable, Codable {
    /// Successful `sendmsg(MSG_ZEROCOPY)` calls; each gets the socket's next 32-bit id.
    public var sends: UInt64 = 0
    /// Ids the kernel reported complete on the error queue.
    public var completions: UInt64 = 0
    /// Completions flagged `SO_EE_CODE_ZEROCOPY_COPIED`: the kernel copied the data after all
    /// (always on loopback and veth).
    public var copiedCompletions: UInt64 = 0
    /// Error-queue notifications read (ranges of ids, merged by the kernel).
    public var notifications: UInt64 = 0
    /// Times `sendmsg` returned ENOBUFS (optmem or locked-page limit): back-pressure, not failure.
    public var enobufs: UInt64 = 0
    /// Times the sender had to wait for completions before it could rewrite a field set.
    public var reuseWaits: UInt64 = 0

    public init() {}

    /// copiedCompletions / completions, or nil with no completions.
    public var copiedShare: Double? { completions == 0 ? nil : Double(copiedCompletions) / Double(completions) }
}

/// Which field set each in-flight MSG_ZEROCOPY id pins, so a set is rewritten only after all its ids completed,
/// and which sets are free.
///
/// Ids are per socket, start at 0, grow by one per successful zerocopy `sendmsg` and wrap at 2^32.
/// Completions arrive as inclusive ranges `[lo, hi]` that may merge many sends and may come out of order.
///
/// Free sets are handed out last freed, first taken (``takeFreeSet()``): the set whose completion came last is the
/// one most likely still in the caches, and a sender touches only as many sets as it has in flight — as an
/// application's buffer free list would — where a fixed rotation would walk the whole pool (64 sets of 64 KiB are
/// 4 MiB) and make every send's data cold, which on loopback, where the kernel copies it, costs the copy.
///
/// A noncopyable value that its sender holds inline and mutates in place: no reference counting and no dynamic
/// exclusivity check per send, as a class's stored properties would need.
public struct ZeroCopyLedger: ~Copyable {
    /// The most ids that may be in flight; a power of two.
    public let capacity: Int
    private let mask: UInt32
    /// For each id slot (id & mask): the set it pins, or -1.
    private let setOfID: UnsafeMutablePointer<Int32>
    /// For each set: how many of its ids are in flight.
    private let pending: UnsafeMutablePointer<Int32>
    /// The free sets, a stack: `free[0..<freeCount]`, the last freed on top.
    private let free: UnsafeMutablePointer<Int32>
    private var freeCount: Int
    /// For each set: ``SetState``.
    private let state: UnsafeMutablePointer<UInt8>

    /// Where a set is: taken by the sender for a message (``held``), pinned by sends in flight (``pinned``), or on the
    /// free stack (``free``). A set goes back on the stack once it is neither held nor pinned — and only once.
    private enum SetState {
        static let pinned: UInt8 = 0
        static let free: UInt8 = 1
        static let held: UInt8 = 2
    }

    /// The id of the first send.
    private let firstID: UInt32
    /// Sends recorded so far: each took the next id.
    public private(set) var recorded: UInt64 = 0
    /// The id the next send gets.
    public var nextID: UInt32 {
        @inline(__always) get { firstID &+ UInt32(truncatingIfNeeded: recorded) }
    }
    /// Ids sent and not yet completed.
    public private(set) var inFlight: Int = 0
    /// Completed ids that were not in flight (a kernel or bookkeeping surprise).
    public private(set) var unexpected: UInt64 = 0

    /// - Parameters:
    ///   - sets: how many field sets the sender rotates through.
    ///   - capacity: the most ids in flight; rounded up to a power of two.
    ///   - firstID: the id of the first send (the kernel starts at 0; tests start near 2^32 to cover the wrap).
    public init(sets: Int, capacity: Int = 4096, firstID: UInt32 = 0) {
        var size = 1
        while size < capacity { size <<= 1 }
        self.capacity = size
        self.mask = UInt32(size - 1)
        self.firstID = firstID
        setOfID = .allocate(capacity: size)
        setOfID.initialize(repeating: -1, count: size)
        pending = .allocate(capacity: sets)
        pending.initialize(repeating: 0, count: sets)
        // Set 0 on top, so that a fresh sender takes 0, 1, 2, ...
        free = .allocate(capacity: max(sets, 1))
        for index in 0..<sets { free[index] = Int32(sets - 1 - index) }
        freeCount = sets
        state = .allocate(capacity: max(sets, 1))
        state.initialize(repeating: SetState.free, count: max(sets, 1))
    }

    deinit {
        setOfID.deallocate()
        pending.deallocate()
        free.deallocate()
        state.deallocate()
    }

    /// Takes a free set for the next message: the one freed last; -1 when every set is pinned or the ledger is full
    /// (then read completions and ask again). The set is held until ``release(_:)``, and after that pinned until
    /// the ids of its sends complete.
    @inline(__always)
    public mutating func takeFreeSet() -> Int {
        if !canTakeSet { return -1 }
        freeCount &-= 1
        let set = Int(free[freeCount])
        state[set] = SetState.held
        return set
    }

    /// The message of a set taken with ``takeFreeSet()`` is sent (or failed): the set is free again once its ids
    /// complete — at once when they all have (or none was sent).
    @inline(__always)
    public mutating func release(_ set: Int) {
        if pending[set] == 0 {
            push(set)
        } else {
            state[set] = SetState.pinned
        }
    }

    @inline(__always)
    private mutating func push(_ set: Int) {
        state[set] = SetState.free
        free[freeCount] = Int32(truncatingIfNeeded: set)
        freeCount &+= 1
    }

    /// How many sets are free.
    public var freeSets: Int { freeCount }

    /// True when ``takeFreeSet()`` would give a set: one is free and the ledger has room for its ids.
    @inline(__always)
    public var canTakeSet: Bool { freeCount > 0 && inFlight < capacity }

    /// True when `set` has sends in flight and must not be rewritten.
    @inline(__always)
    public func isBusy(_ set: Int) -> Bool { pending[set] != 0 }

    /// True when no more ids can be tracked until some complete.
    @inline(__always)
    public var isFull: Bool { inFlight >= capacity }

    /// Records a successful zerocopy send that pins `set`; returns its id.
    @inline(__always)
    @discardableResult
    public mutating func recordSend(set: Int) -> UInt32 {
        let id = nextID
        setOfID[Int(id & mask)] = Int32(truncatingIfNeeded: set)
        pending[set] &+= 1
        inFlight &+= 1
        recorded &+= 1
        return id
    }

    /// Marks the ids `lo...hi` (inclusive, wrapping) complete; returns how many were in flight.
    ///
    /// Runs once per id of every notification, so it works on local copies of the ledger's pointers and counters
    /// (stores through the pointers could otherwise alias them, and each would be reloaded per id) with wrapping
    /// arithmetic: about a dozen instructions per id.
    public mutating func complete(from lo: UInt32, through hi: UInt32) -> Int {
        let setOfID = self.setOfID, pending = self.pending, state = self.state, free = self.free
        let mask = self.mask
        let newest = nextID &- 1
        var freeCount = self.freeCount
        var completed = 0
        var surprises: UInt64 = 0
        var id = lo
        while true {
            let slot = Int(truncatingIfNeeded: id & mask)
            let owner = setOfID[slot]
            // An id is in flight when its slot is taken and it lies in the window behind nextID.
            if owner >= 0 && (newest &- id) <= mask {
                setOfID[slot] = -1
                let set = Int(truncatingIfNeeded: owner)
                let left = pending[set] &- 1
                pending[set] = left
                if left == 0 && state[set] == SetState.pinned {
                    state[set] = SetState.free
                    free[freeCount] = owner
                    freeCount &+= 1
                }
                completed &+= 1
            } else {
                surprises &+= 1
            }
            if id == hi { break }
            id &+= 1
        }
        self.freeCount = freeCount
        inFlight &-= completed
        unexpected &+= surprises
        return completed
    }
}

/// One MSG_ZEROCOPY notification from the error queue: the ids `[lo, hi]` completed, copied or not.
public struct ZeroCopyNotification: Sendable, Hashable {
    public var lo: UInt32
    public var hi: UInt32
    /// `ee_code & SO_EE_CODE_ZEROCOPY_COPIED`: the kernel fell back to copying.
    public var copied: Bool

    /// How many ids the range covers.
    public var count: UInt64 { UInt64(hi &- lo) + 1 }

    /// Reads the zerocopy notifications in the control messages of a `recvmsg(MSG_ERRQUEUE)`.
    ///
    /// Accepts `SOL_IP/IP_RECVERR` and `SOL_IPV6/IPV6_RECVERR` carrying a `sock_extended_err` with
    /// `ee_origin == SO_EE_ORIGIN_ZEROCOPY` and `ee_errno == 0` (kernel Documentation/networking/msg_zerocopy.rst).
    /// Other control messages are skipped; an error of another origin is returned through `otherError`.
    @inline(__always)
    static func forEach(
        in message: UnsafeMutablePointer<msghdr>, otherError: (Int32) -> Void, _ body: (ZeroCopyNotification) -> Void
    ) {
        var cmsg = CLinuxNet_CMSG_FIRSTHDR(message)
        let controlEnd = UnsafeRawPointer(message.pointee.msg_control).map { $0 + message.pointee.msg_controllen }
        while let header = cmsg {
            // CMSG_FIRSTHDR checks only that a header fits, not that its cmsg_len does: never read past the buffer.
            guard let controlEnd, UnsafeRawPointer(header) + Int(header.pointee.cmsg_len) <= controlEnd else { return }
            let level = header.pointee.cmsg_level
            let type = header.pointee.cmsg_type
            let isRecvErr = (level == SOL_IP && type == IP_RECVERR) || (level == SOL_IPV6 && type == IPV6_RECVERR)
            if isRecvErr, header.pointee.cmsg_len >= CLinuxNet_CMSG_LEN(MemoryLayout<CLinuxNet_sock_extended_err>.size) {
                let err = UnsafeRawPointer(CLinuxNet_CMSG_DATA(header)!).loadUnaligned(as: CLinuxNet_sock_extended_err.self)
                if UInt32(err.ee_origin) == CLinuxNet_SO_EE_ORIGIN_ZEROCOPY && err.ee_errno == 0 {
                    body(ZeroCopyNotification(
                        lo: err.ee_info, hi: err.ee_data,
                        copied: (UInt32(err.ee_code) & CLinuxNet_SO_EE_CODE_ZEROCOPY_COPIED) != 0))
                } else if err.ee_errno != 0 {
                    otherError(Int32(bitPattern: err.ee_errno))
                }
            }
            cmsg = CLinuxNet_CMSG_NXTHDR(message, header)
        }
    }

    /// Parses a captured control buffer (tests; the hot path uses ``forEach(in:otherError:_:)``).
    public static func parse(control: [UInt8]) -> [ZeroCopyNotification] {
        var bytes = control
        var found: [ZeroCopyNotification] = []
        bytes.withUnsafeMutableBytes { raw in
            var message = msghdr()
            message.msg_control = raw.baseAddress
            message.msg_controllen = raw.count
            forEach(in: &message, otherError: { _ in }) { found.append($0) }
        }
        return found
    }

    /// Bytes of a control buffer large enough for one notification, with room to spare.
    static var controlSpace: Int { CLinuxNet_CMSG_SPACE(MemoryLayout<CLinuxNet_sock_extended_err>.size) + 64 }
}
