import CPerfEvent
import Glibc

@testable import PerfCounters

/// Records as the kernel lays them out (include/uapi/linux/perf_event.h), in 64-bit words: the header word is
/// `type | misc << 32 | size << 48` (little-endian `struct perf_event_header { u32 type; u16 misc; u16 size; }`).
enum RecordWords {
    static func header(type: UInt32, misc: UInt16 = 0, words: Int) -> UInt64 {
        UInt64(type) | UInt64(misc) << 32 | UInt64(words * 8) << 48
    }

    /// `u32 pid, tid` in one word.
    static func pidTid(_ pid: Int32, _ tid: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: pid)) | UInt64(UInt32(bitPattern: tid)) << 32
    }

    /// A `PERF_RECORD_SAMPLE` of the sampler's layouts: [IDENTIFIER], IP, TID, TIME, PERIOD, [CALLCHAIN].
    static func sample(
        misc: UInt16, identifier: UInt64? = nil, ip: UInt64, pid: Int32, tid: Int32, time: UInt64, period: UInt64,
        callchain: [UInt64]? = nil
    ) -> [UInt64] {
        var body: [UInt64] = []
        if let identifier { body.append(identifier) }
        body += [ip, pidTid(pid, tid), time, period]
        if let callchain { body += [UInt64(callchain.count)] + callchain }
        return [header(type: PERF_RECORD_SAMPLE.rawValue, misc: misc, words: body.count + 1)] + body
    }

    /// `PERF_RECORD_LOST`: `{ u64 id; u64 lost; }`.
    static func lost(id: UInt64, lost: UInt64) -> [UInt64] {
        [header(type: PERF_RECORD_LOST.rawValue, words: 3), id, lost]
    }

    /// `PERF_RECORD_THROTTLE` or `UNTHROTTLE`: `{ u64 time; u64 id; u64 stream_id; }`.
    static func throttle(_ on: Bool, time: UInt64, id: UInt64) -> [UInt64] {
        let type = on ? PERF_RECORD_THROTTLE.rawValue : PERF_RECORD_UNTHROTTLE.rawValue
        return [header(type: type, words: 4), time, id, id]
    }

    static let user = UInt16(PERF_RECORD_MISC_USER)
    static let kernel = UInt16(PERF_RECORD_MISC_KERNEL)
    static let exactIP = UInt16(PERF_RECORD_MISC_EXACT_IP)
    static let contextKernel = UInt64(PERF_CONTEXT_KERNEL.rawValue)
    static let contextUser = UInt64(PERF_CONTEXT_USER.rawValue)
}

/// A ring as a sampling mmap gives it: the control page, then `dataPages` pages, in memory the test owns, written
/// as kernel/events/ring_buffer.c writes: `data_head` and `data_tail` in the control page (offsets 1024 and
/// 1032), `data_offset` one page, `data_size` the data pages.
final class SimulatedRing {
    let memory: UnsafeMutableRawPointer
    let dataPages: Int
    let pageSize: Int
    var dataSize: Int { dataPages * pageSize }
    /// `rb->lost`: records dropped since the last PERF_RECORD_LOST was written.
    var lost: UInt64 = 0

    init(dataPages: Int, pageSize: Int = 4096) {
        self.dataPages = dataPages
        self.pageSize = pageSize
        let bytes = (1 + dataPages) * pageSize
        memory = .allocate(byteCount: bytes, alignment: pageSize)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        memory.storeBytes(of: UInt64(pageSize), toByteOffset: 1040, as: UInt64.self)
        memory.storeBytes(of: UInt64(dataPages * pageSize), toByteOffset: 1048, as: UInt64.self)
    }

    deinit { memory.deallocate() }

    /// `data_head`: where the kernel writes next (it only grows).
    var head: UInt64 {
        get { memory.load(fromByteOffset: 1024, as: UInt64.self) }
        set { memory.storeBytes(of: newValue, toByteOffset: 1024, as: UInt64.self) }
    }

    /// `data_tail`: what the reader has consumed.
    var tail: UInt64 {
        get { memory.load(fromByteOffset: 1032, as: UInt64.self) }
        set { memory.storeBytes(of: newValue, toByteOffset: 1032, as: UInt64.self) }
    }

    /// Stores `words` at data offset `position` modulo the data size: a record that passes the end continues at
    /// the start, as perf_output_copy does page by page.
    func put(_ words: [UInt64], at position: UInt64) {
        var offset = Int(position % UInt64(dataSize))
        for word in words {
            memory.storeBytes(of: word, toByteOffset: pageSize + offset, as: UInt64.self)
            offset = (offset + 8) % dataSize
        }
    }

    /// Appends records at the head and moves it, without a space check (hand-built rings).
    func append(_ words: [UInt64]) {
        put(words, at: head)
        head += UInt64(words.count * 8)
    }

    /// Writes one record as `__perf_output_begin` does: a ring without room drops it and counts it in `rb->lost`
    /// (and the event's `lost_samples`, which the caller keeps); the first record that fits after a loss is
    /// preceded by a PERF_RECORD_LOST of the count. Room is `CIRC_SPACE(head, tail, size)`, one byte less than
    /// what is free. Returns whether it was written.
    func output(_ record: [UInt64], eventID: UInt64) -> Bool {
        let lostRecord = lost > 0 ? RecordWords.lost(id: eventID, lost: lost) : []
        let size = UInt64((record.count + lostRecord.count) * 8)
        let space = (tail &- (head &+ 1)) & UInt64(dataSize - 1)
        guard space >= size else {
            lost += 1
            return false
        }
        if !lostRecord.isEmpty {
            lost = 0
            append(lostRecord)
        }
        append(record)
        return true
    }
}

/// What the simulated kernel keeps of a sampling event: its attr's sampling fields, its ring, its lost count.
final class SimulatedSamplingState {
    let sampleType: UInt64
    /// Events per sample: `sample_period`, or for a frequency the period that gives it (kernel/events/core.c
    /// `perf_swevent_init_hrtimer`: 10^9 / freq ns for the hrtimer events; the adjusted period for hardware).
    let period: UInt64
    let maxStack: Int
    let readsLost: Bool
    let precise: Int
    /// Its own ring (mmap), or the ring it writes to after PERF_EVENT_IOC_SET_OUTPUT.
    var ring: SimulatedRing?
    var ownsRing = false
    /// `event->lost_samples` (PERF_FORMAT_LOST).
    var lostSamples: UInt64 = 0
    /// The event's count when it last sampled.
    var sampledUpTo: UInt64 = 0
    /// Throttled until the next tick (kernel/events/core.c `__perf_event_account_interrupt`).
    var throttled = false
    /// Spreads kernel-mode samples by the thread's kernel share.
    var kernelShareCarry = 0.0

    init(sampleType: UInt64, period: UInt64, maxStack: Int, readsLost: Bool, precise: Int) {
        self.sampleType = sampleType
        self.period = period
        self.maxStack = maxStack
        self.readsLost = readsLost
        self.precise = precise
    }

    var hasIdentifier: Bool { sampleType & UInt64(PERF_SAMPLE_IDENTIFIER.rawValue) != 0 }
    var hasCallchain: Bool { sampleType & UInt64(PERF_SAMPLE_CALLCHAIN.rawValue) != 0 }

    /// The call chain the kernel would write (kernel/events/callchain.c `get_perf_callchain`): the kernel's
    /// frames after PERF_CONTEXT_KERNEL when the sample is in the kernel, then the user frames after
    /// PERF_CONTEXT_USER; at most `sample_max_stack` frames, markers not counted.
    func callchain(kernelMode: Bool, ip: UInt64, userIP: UInt64) -> [UInt64] {
        var chain: [UInt64] = []
        var frames = 0
        func store(_ frame: UInt64) {
            if frames < maxStack {
                chain.append(frame)
                frames += 1
            }
        }
        if kernelMode {
            chain.append(RecordWords.contextKernel)
            store(ip)
            store(0xffff_ffff_8100_0100)
        }
        chain.append(RecordWords.contextUser)
        store(kernelMode ? userIP : ip)
        store(0x40_1100)
        return chain
    }
}
