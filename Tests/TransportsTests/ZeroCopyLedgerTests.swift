import CopyprofModel
import Glibc
import Testing

@testable import Transports

/// The ledger is noncopyable, so `#expect` (which captures its operands) sees copies of its values, taken first.
@Suite struct ZeroCopyLedgerTests {
    @Test func setIsBusyUntilAllItsIdsComplete() {
        var ledger = ZeroCopyLedger(sets: 2)
        let ids = [ledger.recordSend(set: 0), ledger.recordSend(set: 0), ledger.recordSend(set: 1)]
        #expect(ids == [0, 1, 2])  // the second id for set 0: a partial write
        var busy = (ledger.isBusy(0), ledger.isBusy(1), ledger.inFlight)
        #expect(busy == (true, true, 3))
        let first = ledger.complete(from: 0, through: 0)
        #expect(first == 1)
        let stillBusy = ledger.isBusy(0)
        #expect(stillBusy)
        let merged = ledger.complete(from: 1, through: 2)  // a merged range
        #expect(merged == 2)
        busy = (ledger.isBusy(0), ledger.isBusy(1), ledger.inFlight)
        #expect(busy == (false, false, 0))
        let unexpected = ledger.unexpected
        #expect(unexpected == 0)
    }

    @Test func outOfOrderCompletions() {
        var ledger = ZeroCopyLedger(sets: 4)
        for set in 0..<4 { ledger.recordSend(set: set) }
        let later = ledger.complete(from: 2, through: 3)
        #expect(later == 2)
        let busy = (0..<4).map { ledger.isBusy($0) }
        #expect(busy == [true, true, false, false])
        let earlier = ledger.complete(from: 0, through: 1)
        #expect(earlier == 2)
        let inFlight = ledger.inFlight
        #expect(inFlight == 0)
    }

    @Test func idsWrapAroundAt32Bits() {
        var ledger = ZeroCopyLedger(sets: 3, firstID: UInt32.max - 1)
        let ids = [ledger.recordSend(set: 0), ledger.recordSend(set: 1), ledger.recordSend(set: 2)]
        #expect(ids == [UInt32.max - 1, UInt32.max, 0])
        let nextID = ledger.nextID
        #expect(nextID == 1)
        // One range across the wrap: [2^32 - 2, 0].
        let completed = ledger.complete(from: UInt32.max - 1, through: 0)
        #expect(completed == 3)
        let left = (ledger.inFlight, ledger.unexpected)
        #expect(left == (0, 0))
    }

    @Test func idsThatWereNeverSentAreCountedAsUnexpected() {
        var ledger = ZeroCopyLedger(sets: 1)
        ledger.recordSend(set: 0)
        let completed = ledger.complete(from: 0, through: 2)
        var unexpected = ledger.unexpected
        #expect(completed == 1 && unexpected == 2)
        let twice = ledger.complete(from: 0, through: 0)
        unexpected = ledger.unexpected
        #expect(twice == 0 && unexpected == 3)
    }

    @Test func freeSetsAreTakenLastFreedFirst() {
        var ledger = ZeroCopyLedger(sets: 3)
        // A fresh ledger hands out 0, 1, 2.
        let first = (ledger.takeFreeSet(), ledger.takeFreeSet(), ledger.takeFreeSet())
        #expect(first == (0, 1, 2))
        for set in 0..<3 {
            ledger.recordSend(set: set)  // ids 0, 1, 2
            ledger.release(set)
        }
        var none = ledger.takeFreeSet()
        #expect(none == -1)  // every set pinned
        let completed = (ledger.complete(from: 1, through: 1), ledger.complete(from: 0, through: 0))
        #expect(completed == (1, 1))
        // Set 0 was freed last: it is taken first, then 1; set 2 is still pinned.
        let next = (ledger.takeFreeSet(), ledger.takeFreeSet())
        #expect(next == (0, 1))
        none = ledger.takeFreeSet()
        #expect(none == -1)
    }

    @Test func heldSetIsNotFreedByItsCompletionsUntilReleased() {
        var ledger = ZeroCopyLedger(sets: 2)
        let set = ledger.takeFreeSet()
        ledger.recordSend(set: set)  // a partial write: the message is not finished
        var completed = ledger.complete(from: 0, through: 0)
        #expect(completed == 1)
        // Its completion came before the rest of the message was sent: the set stays with the sender.
        var free = ledger.freeSets
        #expect(free == 1)
        ledger.recordSend(set: set)
        ledger.release(set)
        free = ledger.freeSets
        #expect(free == 1)  // pinned by the second send
        completed = ledger.complete(from: 1, through: 1)
        free = ledger.freeSets
        #expect(completed == 1 && free == 2)
        // A completion of an id that was never in flight frees nothing twice.
        completed = ledger.complete(from: 1, through: 1)
        #expect(completed == 0)
        free = ledger.freeSets
        #expect(free == 2)
    }

    @Test func setWithNoSendInFlightIsFreeAtRelease() {
        var ledger = ZeroCopyLedger(sets: 1)
        let set = ledger.takeFreeSet()
        ledger.release(set)  // the send failed before it queued anything
        let again = ledger.takeFreeSet()
        #expect(again == set)
    }

    @Test func fullLedgerAsksForCompletions() {
        var ledger = ZeroCopyLedger(sets: 1, capacity: 4)
        for _ in 0..<4 { ledger.recordSend(set: 0) }
        var full = ledger.isFull
        #expect(full)
        let completed = ledger.complete(from: 0, through: 0)
        #expect(completed == 1)
        full = ledger.isFull
        #expect(!full)
    }
}

/// Control messages as the kernel writes them for recvmsg(MSG_ERRQUEUE), built byte by byte for x86-64/arm64:
/// struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } then struct sock_extended_err
/// { u32 ee_errno; u8 ee_origin, ee_type, ee_code, ee_pad; u32 ee_info; u32 ee_data; }, padded to 8 bytes.
@Suite struct ZeroCopyNotificationTests {
    func cmsg(level: Int32, type: Int32, errno: UInt32 = 0, origin: UInt8 = 5, code: UInt8, lo: UInt32, hi: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(32).littleEndian) { bytes += $0 }  // CMSG_LEN(16)
        withUnsafeBytes(of: level.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: type.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: errno.littleEndian) { bytes += $0 }
        bytes += [origin, 0, code, 0]
        withUnsafeBytes(of: lo.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: hi.littleEndian) { bytes += $0 }
        return bytes
    }

    @Test func ipv4CopiedRange() {
        let notes = ZeroCopyNotification.parse(control: cmsg(level: SOL_IP, type: IP_RECVERR, code: 1, lo: 7, hi: 12))
        #expect(notes == [ZeroCopyNotification(lo: 7, hi: 12, copied: true)])
        #expect(notes[0].count == 6)
    }

    @Test func ipv6RangeNotCopied() {
        let notes = ZeroCopyNotification.parse(
            control: cmsg(level: SOL_IPV6, type: IPV6_RECVERR, code: 0, lo: UInt32.max, hi: 1))
        #expect(notes == [ZeroCopyNotification(lo: UInt32.max, hi: 1, copied: false)])
        #expect(notes[0].count == 3)  // across the wrap
    }

    @Test func otherOriginsAndLevelsAreSkipped() {
        let local = cmsg(level: SOL_IP, type: IP_RECVERR, origin: 1, code: 0, lo: 1, hi: 1)  // SO_EE_ORIGIN_LOCAL
        let timestamp = cmsg(level: SOL_SOCKET, type: 29, code: 0, lo: 1, hi: 1)
        let zero = cmsg(level: SOL_IP, type: IP_RECVERR, code: 0, lo: 3, hi: 4)
        #expect(ZeroCopyNotification.parse(control: local + timestamp + zero) == [ZeroCopyNotification(lo: 3, hi: 4, copied: false)])
    }

    @Test func truncatedControlBufferYieldsNothing() {
        let bytes = Array(cmsg(level: SOL_IP, type: IP_RECVERR, code: 0, lo: 3, hi: 4).prefix(20))
        #expect(ZeroCopyNotification.parse(control: bytes).isEmpty)
    }

    /// A control length shorter than the header's cmsg_len: what lies past it is not read, even when it holds a
    /// valid notification (CMSG_FIRSTHDR checks only that the header fits).
    @Test func nothingPastTheControlLengthIsRead() {
        var bytes = cmsg(level: SOL_IP, type: IP_RECVERR, code: 0, lo: 3, hi: 4)
        var found: [ZeroCopyNotification] = []
        bytes.withUnsafeMutableBytes { raw in
            var message = msghdr()
            message.msg_control = raw.baseAddress
            message.msg_controllen = 20
            ZeroCopyNotification.forEach(in: &message, otherError: { _ in }) { found.append($0) }
        }
        #expect(found.isEmpty)
    }
}

@Suite struct LayoutTests {
    @Test func sizesMustHoldEightStampedFields() {
        #expect(throws: TransportError.self) { try MessageLayout(messageSize: 32) }
        #expect(throws: TransportError.self) { try MessageLayout(messageSize: 100) }
        #expect(throws: TransportError.self) { try MessageLayout(messageSize: 72) }
        #expect((try? MessageLayout(messageSize: 64))?.fieldSize == 8)
        #expect((try? MessageLayout(messageSize: 65536))?.fieldSize == 8192)
    }

    @Test func firstFieldCarriesTheSequenceNumber() throws {
        let layout = try MessageLayout(messageSize: 512)
        let bytes = layout.message(sequence: 0x0102_0304_0506_0708)
        #expect(Array(bytes[0..<8]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(bytes != layout.message(sequence: 0x0102_0304_0506_0709))
    }

    @Test func verificationFindsTheFirstBadByte() throws {
        let layout = try MessageLayout(messageSize: 512)
        let template = layout.message(sequence: 0)
        var bytes = layout.message(sequence: 9)
        func check(_ verification: Verification) -> Int? {
            bytes.withUnsafeBytes { b in
                template.withUnsafeBytes { t in
                    layout.firstMismatch(in: b.baseAddress!, sequence: 9, verification: verification, template: t.baseAddress!)
                }
            }
        }
        #expect(check(.full) == nil)
        bytes[64 + 3] ^= 1  // the stamp of field 1
        #expect(check(.full) == 67)
        #expect(check(.header) == nil)
        bytes[64 + 3] ^= 1
        bytes[500] ^= 0x80
        #expect(check(.full) == 500)
        bytes[500] ^= 0x80
        bytes[1] ^= 1
        #expect(check(.header) == 1)
    }

    @Test func iovecsAdvancePastPartialWrites() {
        var storage = [UInt8](repeating: 0, count: 40)
        storage.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            let iov = UnsafeMutablePointer<iovec>.allocate(capacity: 4)
            let scratch = UnsafeMutablePointer<iovec>.allocate(capacity: 4)
            defer { iov.deallocate(); scratch.deallocate() }
            for i in 0..<4 { iov[i] = iovec(iov_base: base + i * 10, iov_len: 10) }
            #expect(advanceIovecs(iov, count: 4, by: 15, into: scratch) == 3)
            #expect(scratch[0].iov_base == base + 15 && scratch[0].iov_len == 5)
            #expect(scratch[1].iov_base == base + 20 && scratch[2].iov_len == 10)
            #expect(advanceIovecs(iov, count: 4, by: 20, into: scratch) == 2)
            #expect(scratch[0].iov_base == base + 20 && scratch[0].iov_len == 10)
            // In place, as the senders do after a second partial write.
            #expect(advanceIovecs(scratch, count: 2, by: 12, into: scratch) == 1)
            #expect(scratch[0].iov_base == base + 32 && scratch[0].iov_len == 8)
        }
    }
}
