#if canImport(Glibc)
import Glibc
#endif

/// The field sets a zero-copy sender (`zero-copy`, `io-uring-zc`) sends from, each with its 8 iovecs and its
/// `sendmsg` header, and the ledger that says which sets the kernel still pins and which are free.
///
/// A message takes the set freed last (``ZeroCopyLedger/takeFreeSet()``), has it stamped (``prepare(_:sequence:)``),
/// is sent from ``headers`` `+ set`, and gives the set back with ``ZeroCopyLedger/release(_:)``; the set is rewritten
/// only after every id of its sends has completed. A test corruption of one message is undone when its set is
/// next taken, that is once the kernel no longer holds it.
struct ZeroCopyFieldSets: ~Copyable {
    let count: Int
    private let sets: UnsafeMutablePointer<FieldSet>
    /// 8 iovecs per set (1 for a contiguous set).
    private let iovs: UnsafeMutablePointer<iovec>
    /// A sendmsg header per set, of its iovecs.
    let headers: UnsafeMutablePointer<msghdr>
    var ledger: ZeroCopyLedger
    private let layout: MessageLayout
    private let corruption: CorruptionPlan
    /// A test corruption waiting to be undone in a set once the set is free again: the set, or -1.
    private var restoreSet = -1

    init(count: Int, layout: MessageLayout, fieldSetLayout: FieldSetLayout = .separate, corruption: Corruption?) {
        self.count = max(1, count)
        self.layout = layout
        self.corruption = CorruptionPlan(corruption)
        sets = .allocate(capacity: self.count)
        iovs = .allocate(capacity: self.count * MessageLayout.fieldCount)
        headers = .allocate(capacity: self.count)
        for set in 0..<self.count {
            let fields = FieldSet(layout: layout, fieldSetLayout)
            (sets + set).initialize(to: fields)
            let iov = iovs + set * MessageLayout.fieldCount
            fields.writeIovecs(iov, layout: layout)
            var header = msghdr()
            header.msg_iov = iov
            header.msg_iovlen = fields.iovecCount
            (headers + set).initialize(to: header)
        }
        ledger = ZeroCopyLedger(sets: self.count, capacity: 4096)
    }

    deinit {
        for set in 0..<count { sets[set].deallocate() }
        sets.deinitialize(count: count)
        sets.deallocate()
        iovs.deallocate()
        headers.deallocate()
    }

    /// Writes message `sequence`'s stamps into `set` (taken and free of the kernel), undoing an earlier test
    /// corruption of the set first and applying the planned one when this is its message.
    @inline(__always)
    mutating func prepare(_ set: Int, sequence: UInt64) {
        let fields = sets[set]
        if set == restoreSet {
            fields.flip(offset: corruption.offset, layout: layout)
            restoreSet = -1
        }
        fields.stamp(sequence: sequence)
        if sequence == corruption.sequence {
            fields.flip(offset: corruption.offset, layout: layout)
            restoreSet = set
        }
    }
}
