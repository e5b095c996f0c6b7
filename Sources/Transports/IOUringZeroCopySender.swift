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
    private var pool: ZeroCopyFieldSets
    /// The header of what is left of a message after a short send, and its iovecs.
    private let restHeader: UnsafeMutablePointer<msghdr>
    private let scratch: UnsafeMutablePointer<iovec>
    private let ring: IOUring
    private var zero = ZeroCopyStats()
    private var tally = SendTally()
    /// The result of the send in flight, once its completion has arrived.
    private var result: Int32 = 0
    private var resultArrived = false

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
        self.pool = ZeroCopyFieldSets(count: pool, layout: layout, corruption: corruption)
        restHeader = .allocate(capacity: 1)
        restHeader.initialize(to: msghdr())
        scratch = .allocate(capacity: MessageLayout.fieldCount)
    }

    deinit {
        // First the ring: closing it cancels whatever may still read the field sets.
        // (`pool` is destroyed after this body.)
        ring.close()
        restHeader.deallocate()
        scratch.deallocate()
    }

    @inline(__always)
    mutating func sendMessage(sequence: UInt64) -> Result<Void, TransportError> {
        var set = pool.ledger.takeFreeSet()
        if set < 0 {
            if let error = waitForFreeSet(sequence: sequence) { return .failure(error) }
            set = pool.ledger.takeFreeSet()
        }
        pool.prepare(set, sequence: sequence)
        if let error = send(pool.headers + set, set: set, sequence: sequence) { return .failure(error) }
        if result != Int32(layout.messageSize), let error = sendRest(set: set, sequence: sequence) {
            return .failure(error)
        }
        pool.ledger.release(set)
        tally.messages &+= 1
        return .success(())
    }

    /// Submits one SENDMSG_ZC of `header` (pinning `set`) and waits in the same call for its result, reaping
    /// notifications on the way. `result` then holds the bytes sent or a negative errno.
    @inline(__always)
    private mutating func send(_ header: UnsafeMutablePointer<msghdr>, set: Int, sequence: UInt64) -> TransportError? {
        guard let entry = ring.nextEntry() else { return FailurePath.ringFull() }
        let id = pool.ledger.recordSend(set: set)
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
                let completed = UInt64(pool.ledger.complete(from: id, through: id))
                zero.completions &+= completed
                if UInt32(bitPattern: cqe.res) & CLinuxNet_IORING_NOTIF_USAGE_ZC_COPIED != 0 { zero.copiedCompletions &+= completed }
            } else {
                result = cqe.res
                resultArrived = true
                if cqe.flags & CLinuxNet_IORING_CQE_F_MORE != 0 {
                    // A notification will follow: the kernel took the set's pages.
                    zero.sends &+= 1
                } else {
                    // None will: the request never reached the socket, and the set is free again. Not a completion
                    // of a send: not counted.
                    _ = pool.ledger.complete(from: id, through: id)
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
        var message = GatheredMessage(pool.headers[set], total: layout.messageSize, scratch: scratch)
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
            // Each resubmission is a request with its own id: never more in flight than the ledger can track.
            while pool.ledger.isFull {
                if let error = waitForNotification(sequence: sequence) { return error }
            }
            restHeader.pointee = message.header
            if let error = send(restHeader, set: set, sequence: sequence) { return error }
        }
    }

    /// Every set is pinned (or the ledger is full): waits for notifications until a set is free.
    @inline(never)
    private mutating func waitForFreeSet(sequence: UInt64) -> TransportError? {
        zero.reuseWaits &+= 1
        reapCompletions()
        while !pool.ledger.canTakeSet {
            if let error = waitForNotification(sequence: sequence) { return error }
        }
        return nil
    }

    /// Waits until at least one more completion is posted (or yields when nothing is in flight).
    @inline(never)
    private mutating func waitForNotification(sequence: UInt64) -> TransportError? {
        if pool.ledger.inFlight == 0 {
            sched_yield()
            return nil
        }
        let code = ring.enter(submit: 0, wait: 1)
        reapCompletions()
        if code != 0 && code != EINTR {
            return FailurePath.ringWaitFailed(
                code, timeout: io.timeout, activity: .zeroCopyCompletions, sequence: sequence, inFlight: pool.ledger.inFlight)
        }
        return nil
    }

    /// Waits until every send's notification has arrived, so that the kernel holds none of the field sets.
    mutating func finishSending() -> Result<Void, TransportError> {
        reapCompletions()
        while pool.ledger.inFlight > 0 {
            let code = ring.enter(submit: 0, wait: 1)
            reapCompletions()
            if code != 0 && code != EINTR {
                return .failure(FailurePath.ringWaitFailed(
                    code, timeout: io.timeout, activity: .lastZeroCopyCompletions, sequence: 0, inFlight: pool.ledger.inFlight))
            }
        }
        return .success(())
    }
}
