import CLinuxNet
#if canImport(Glibc)
import Glibc
#endif

/// `io-uring-zc`: each message is one `IORING_OP_SENDMSG_ZC` of the 8 fields of a field set (as `zero-copy` gathers
/// them), with `MSG_WAITALL` (io_uring finishes a short send itself) and `IORING_SEND_ZC_REPORT_USAGE`.
///
/// A send completes twice: its result (`IORING_CQE_F_MORE` set when a notification will follow) and, once the kernel
/// no longer holds the field set's pages, its notification (`IORING_CQE_F_NOTIF`), whose result carries
/// `IORING_NOTIF_USAGE_ZC_COPIED` when the kernel copied the data after all (always on loopback). A field set is
/// rewritten only after the notifications of every send that used it: the ledger of `zero-copy` keeps the count, with
/// one id per request (its `user_data`).
///
/// One send is in flight at a time, and the sender waits for its result in the same `io_uring_enter` that submits it:
/// requests on one socket that io_uring parks (a full socket buffer) may otherwise run out of order, and so would the
/// stream. Notifications of earlier sends are reaped on the way.
struct IOUringZeroCopySender: MessageSender, ~Copyable {
    private let io: SocketIO
    private let layout: MessageLayout
    private let poolSize: Int
    private let sets: UnsafeMutablePointer<FieldSet>
    /// 8 iovecs per set.
    private let iovs: UnsafeMutablePointer<iovec>
    /// A sendmsg header per set, of its 8 iovecs.
    private let headers: UnsafeMutablePointer<msghdr>
    /// The header of what is left of a message after a short send, and its iovecs.
    private let restHeader: UnsafeMutablePointer<msghdr>
    private let scratch: UnsafeMutablePointer<iovec>
    private let ring: IOUring
    private var ledger: ZeroCopyLedger
    private var zero = ZeroCopyStats()
    private var tally = SendTally()
    private var nextSet = 0
    /// The result of the send in flight, once its completion has arrived.
    private var result: Int32 = 0
    private var resultArrived = false
    /// A test corruption waiting to be undone in a set once the set is free again: the set, or -1.
    private var restoreSet = -1
    private let corruption: CorruptionPlan

    var stats: SenderStats {
        var result = tally.stats(messageSize: layout.messageSize)
        result.zeroCopy = zero
        return result
    }

    /// Sets up the field sets and a ring with room for every notification of the pool.
    ///
    /// - Throws: `notSupported` when io_uring cannot be set up here (disabled, filtered, too old).
    init(io: SocketIO, layout: MessageLayout, poolSize: Int, corruption: Corruption?) throws(TransportError) {
        let pool = max(1, poolSize)
        var completions: UInt32 = 64
        while completions < UInt32(2 * pool + 8) { completions <<= 1 }
        ring = try IOUring(entries: 4, completions: completions, timeout: io.timeout)
        self.io = io
        self.layout = layout
        self.poolSize = pool
        self.corruption = CorruptionPlan(corruption)
        sets = .allocate(capacity: pool)
        iovs = .allocate(capacity: pool * MessageLayout.fieldCount)
        headers = .allocate(capacity: pool)
        for set in 0..<pool {
            let fields = FieldSet(layout: layout)
            (sets + set).initialize(to: fields)
            let iov = iovs + set * MessageLayout.fieldCount
            fields.writeIovecs(iov, layout: layout)
            var header = msghdr()
            header.msg_iov = iov
            header.msg_iovlen = fields.iovecCount
            (headers + set).initialize(to: header)
        }
        restHeader = .allocate(capacity: 1)
        restHeader.initialize(to: msghdr())
        scratch = .allocate(capacity: MessageLayout.fieldCount)
        ledger = ZeroCopyLedger(sets: pool, capacity: 4096)
    }

    deinit {
        // First the ring: closing it cancels whatever may still read the field sets.
        ring.close()
        for set in 0..<poolSize { sets[set].deallocate() }
        sets.deinitialize(count: poolSize)
        sets.deallocate()
        iovs.deallocate()
        headers.deallocate()
        restHeader.deallocate()
        scratch.deallocate()
    }

    @inline(__always)
    mutating func sendMessage(sequence: UInt64) -> Result<Void, TransportError> {
        let set = nextSet
        nextSet = set + 1 == poolSize ? 0 : set + 1
        if ledger.isBusy(set) || ledger.isFull, let error = waitForSet(set, sequence: sequence) { return .failure(error) }
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
        if let error = send(headers + set, set: set, sequence: sequence) { return .failure(error) }
        if result != Int32(layout.messageSize), let error = sendRest(set: set, sequence: sequence) {
            return .failure(error)
        }
        tally.messages &+= 1
        return .success(())
    }

    /// Submits one SENDMSG_ZC of `header` (pinning `set`) and waits in the same call for its result, reaping
    /// notifications on the way. `result` then holds the bytes sent or a negative errno.
    @inline(__always)
    private mutating func send(_ header: UnsafeMutablePointer<msghdr>, set: Int, sequence: UInt64) -> TransportError? {
        guard let entry = ring.nextEntry() else { return FailurePath.ringFull() }
        let id = ledger.recordSend(set: set)
        entry.pointee.opcode = CLinuxNet_IORING_OP_SENDMSG_ZC
        entry.pointee.fd = io.fd
        entry.pointee.addr = UInt64(UInt(bitPattern: header))
        entry.pointee.len = 1
        entry.pointee.msg_flags = UInt32(MSG_WAITALL) | UInt32(MSG_NOSIGNAL)
        entry.pointee.ioprio = CLinuxNet_IORING_SEND_ZC_REPORT_USAGE
        entry.pointee.user_data = UInt64(id)
        ring.publish()
        resultArrived = false
        let code = ring.enter(submit: 1, wait: 1)
        tally.sendCalls &+= 1
        reapCompletions()
        if resultArrived { return nil }
        return waitForResult(firstCode: code, sequence: sequence)
    }

    /// Consumes every posted completion: the send's result, or notifications that free field sets.
    @inline(__always)
    private mutating func reapCompletions() {
        var head = ring.completionHead
        let tail = ring.completionTail
        if head == tail { return }
        while head != tail {
            let cqe = ring.completion(head)
            let id = UInt32(truncatingIfNeeded: cqe.user_data)
            if cqe.flags & CLinuxNet_IORING_CQE_F_NOTIF != 0 {
                zero.notifications &+= 1
                let completed = UInt64(ledger.complete(from: id, through: id))
                zero.completions &+= completed
                if UInt32(bitPattern: cqe.res) & CLinuxNet_IORING_NOTIF_USAGE_ZC_COPIED != 0 { zero.copiedCompletions &+= completed }
            } else {
                result = cqe.res
                resultArrived = true
                if cqe.flags & CLinuxNet_IORING_CQE_F_MORE != 0 {
                    // A notification will follow: the kernel took the set's pages.
                    zero.sends &+= 1
                } else {
                    // None will: the request never reached the socket, and the set is free again.
                    ledger.complete(from: id, through: id)
                }
            }
            head &+= 1
        }
        ring.consumeCompletions(through: head)
    }

    /// The result did not come with the submission: waits for it (EINTR, or a notification came first).
    @inline(never)
    private mutating func waitForResult(firstCode: Int32, sequence: UInt64) -> TransportError? {
        var code = firstCode
        while !resultArrived {
            // EAGAIN, EBUSY: the kernel could not take the entry yet (no memory, too many completions unreaped).
            if code != 0 && code != EINTR && code != EAGAIN && code != EBUSY {
                return FailurePath.ringWaitFailed(code, timeout: io.timeout, activity: .sending, sequence: sequence)
            }
            code = ring.enter(submit: ring.unsubmitted, wait: 1)
            reapCompletions()
        }
        return nil
    }

    /// Finishes a message whose send returned `result` bytes or an error: the rest after a short send (each
    /// resubmission is a request of its own, with its own notification), ENOBUFS and ENOMEM as back-pressure.
    @inline(never)
    private mutating func sendRest(set: Int, sequence: UInt64) -> TransportError? {
        var message = GatheredMessage(headers[set], total: layout.messageSize, scratch: scratch)
        while true {
            if result > 0 {
                if message.queued(Int(result)) { return nil }
                tally.partialWrites &+= 1
            } else if result == 0 {
                return FailurePath.sendFailed("io_uring SENDMSG_ZC", errno: EPIPE, timeout: io.timeout, sequence: sequence)
            } else {
                let code = -result
                if code == ENOBUFS || code == ENOMEM {
                    // Out of memory for pinning (RLIMIT_MEMLOCK accounting): notifications free it.
                    zero.enobufs &+= 1
                    if let error = waitForNotification(sequence: sequence) { return error }
                } else if code != EINTR && code != EAGAIN {
                    return FailurePath.sendFailed("io_uring SENDMSG_ZC", errno: code, timeout: io.timeout, sequence: sequence)
                }
            }
            restHeader.pointee = message.header
            if let error = send(restHeader, set: set, sequence: sequence) { return error }
        }
    }

    /// Set `set` is still pinned (or the ledger is full): waits for notifications until it is free.
    @inline(never)
    private mutating func waitForSet(_ set: Int, sequence: UInt64) -> TransportError? {
        zero.reuseWaits &+= 1
        reapCompletions()
        while ledger.isBusy(set) || ledger.isFull {
            if let error = waitForNotification(sequence: sequence) { return error }
        }
        return nil
    }

    /// Waits until at least one more completion is posted (or yields when nothing is in flight).
    @inline(never)
    private mutating func waitForNotification(sequence: UInt64) -> TransportError? {
        if ledger.inFlight == 0 {
            sched_yield()
            return nil
        }
        let code = ring.enter(submit: 0, wait: 1)
        reapCompletions()
        if code != 0 && code != EINTR {
            return FailurePath.ringWaitFailed(
                code, timeout: io.timeout, activity: .zeroCopyCompletions, sequence: sequence, inFlight: ledger.inFlight)
        }
        return nil
    }

    /// Waits until every send's notification has arrived, so that the kernel holds none of the field sets.
    mutating func finishSending() -> Result<Void, TransportError> {
        reapCompletions()
        while ledger.inFlight > 0 {
            let code = ring.enter(submit: 0, wait: 1)
            reapCompletions()
            if code != 0 && code != EINTR {
                return .failure(FailurePath.ringWaitFailed(
                    code, timeout: io.timeout, activity: .lastZeroCopyCompletions, sequence: 0, inFlight: ledger.inFlight))
            }
        }
        return .success(())
    }
}
