internal import CPerfEvent

/// Where each field of a `PERF_RECORD_SAMPLE` sits for one `sample_type`, in bytes from the record's start
/// (its 8-byte header included).
///
/// The fields come in the ABI's fixed order (include/uapi/linux/perf_event.h, `PERF_RECORD_SAMPLE`):
/// IDENTIFIER, IP, TID, TIME, ADDR, ID, STREAM_ID, CPU, PERIOD, READ, CALLCHAIN, then the rest. The sampler asks
/// for IP, TID, TIME and PERIOD, optionally CALLCHAIN, and IDENTIFIER when several events share the ring; ADDR,
/// ID, STREAM_ID and CPU are stepped over. READ (variable size) and the fields after CALLCHAIN are not read.
package struct SampleLayout: Hashable, Sendable {
    /// The `sample_type` bits.
    package let sampleType: UInt64
    /// The event's id (`PERF_SAMPLE_IDENTIFIER`), nil when absent.
    package let identifierOffset: Int?
    package let ipOffset: Int
    package let tidOffset: Int
    package let timeOffset: Int
    package let periodOffset: Int
    /// `nr`, then `nr` entries (`PERF_SAMPLE_CALLCHAIN`), nil when absent.
    package let callchainOffset: Int?
    /// The bytes a sample has before its call chain (all of it without one), header included.
    package let fixedSize: Int

    static let ip = UInt64(PERF_SAMPLE_IP.rawValue)
    static let tid = UInt64(PERF_SAMPLE_TID.rawValue)
    static let time = UInt64(PERF_SAMPLE_TIME.rawValue)
    static let period = UInt64(PERF_SAMPLE_PERIOD.rawValue)
    static let callchain = UInt64(PERF_SAMPLE_CALLCHAIN.rawValue)
    static let identifier = UInt64(PERF_SAMPLE_IDENTIFIER.rawValue)
    static let read = UInt64(PERF_SAMPLE_READ.rawValue)

    /// The layout of `sampleType`; nil when it lacks IP, TID, TIME or PERIOD, or has READ.
    package init?(sampleType: UInt64) {
        let required = Self.ip | Self.tid | Self.time | Self.period
        guard sampleType & required == required, sampleType & Self.read == 0 else { return nil }
        self.sampleType = sampleType
        var offset = 8
        func field(_ bit: UInt64) -> Int? {
            guard sampleType & bit != 0 else { return nil }
            defer { offset += 8 }
            return offset
        }
        identifierOffset = field(Self.identifier)
        ipOffset = field(Self.ip)!
        tidOffset = field(Self.tid)!
        timeOffset = field(Self.time)!
        _ = field(UInt64(PERF_SAMPLE_ADDR.rawValue))
        _ = field(UInt64(PERF_SAMPLE_ID.rawValue))
        _ = field(UInt64(PERF_SAMPLE_STREAM_ID.rawValue))
        _ = field(UInt64(PERF_SAMPLE_CPU.rawValue))
        periodOffset = field(Self.period)!
        fixedSize = offset
        callchainOffset = sampleType & Self.callchain != 0 ? offset : nil
    }

    /// The sampler's `sample_type`: IP, TID, TIME and PERIOD; CALLCHAIN when asked; IDENTIFIER when several events
    /// share one ring (its place right after the header is fixed whatever else is sampled).
    package static func samplerType(callchain: Bool, identifier: Bool) -> UInt64 {
        Self.ip | Self.tid | Self.time | Self.period | (callchain ? Self.callchain : 0) | (identifier ? Self.identifier : 0)
    }

    /// The largest sample of this layout with call chains of at most `depth` frames: the fixed part, then `nr`,
    /// the frames and a kernel and a user context marker.
    package func maxSampleSize(callchainDepth depth: Int?) -> Int {
        guard callchainOffset != nil else { return fixedSize }
        return fixedSize + 8 + 8 * ((depth ?? 127) + 2)
    }
}

/// The kernel's record types and markers the decoder reads (include/uapi/linux/perf_event.h).
enum PerfRecord {
    static let sample = PERF_RECORD_SAMPLE.rawValue
    static let lost = PERF_RECORD_LOST.rawValue
    static let throttle = PERF_RECORD_THROTTLE.rawValue
    static let unthrottle = PERF_RECORD_UNTHROTTLE.rawValue
    static let lostSamples = PERF_RECORD_LOST_SAMPLES.rawValue
    static let exactIP = UInt16(PERF_RECORD_MISC_EXACT_IP)

    /// Call-chain entries at or above this are context markers, not addresses (`PERF_CONTEXT_MAX`, -4095).
    static let contextMax = UInt64(PERF_CONTEXT_MAX.rawValue)
    /// The entries after this marker are kernel frames (`PERF_CONTEXT_KERNEL`, -128).
    static let contextKernel = UInt64(PERF_CONTEXT_KERNEL.rawValue)
    /// The entries after this marker are user frames (`PERF_CONTEXT_USER`, -512).
    static let contextUser = UInt64(PERF_CONTEXT_USER.rawValue)
}

/// Decodes whole records, one at a time, into a batch's samples, flat frame buffer and counts.
///
/// `PERF_RECORD_SAMPLE` by the ``SampleLayout``; `PERF_RECORD_LOST` (`{id, lost}`) adds its lost count;
/// `PERF_RECORD_LOST_SAMPLES` (`{lost}`) adds the PMU's; `PERF_RECORD_THROTTLE` and `UNTHROTTLE` are counted;
/// any other record is skipped and counted. A record shorter than its type's fields is skipped and its bytes
/// counted as undecoded.
package struct SampleDecoder {
    package let layout: SampleLayout
    /// The kernel id of each event, in the batch's event order; samples name theirs by IDENTIFIER. Empty when the
    /// layout has no IDENTIFIER: every sample is then event 0.
    package let eventIDs: [UInt64]
    /// The batch's event each id stands for, where several kernel events are one (the per-CPU events of one core
    /// PMU); nil: the id's position.
    package let eventIndices: [Int]?

    package var samples: [Sample] = []
    package var frames: [UInt64] = []
    package var lostInRecords: UInt64 = 0
    package var lostByPMU: UInt64 = 0
    package var throttles = 0
    package var unthrottles = 0
    package var otherRecords = 0
    package var undecodedBytes = 0

    package init(layout: SampleLayout, eventIDs: [UInt64], eventIndices: [Int]? = nil) {
        self.layout = layout
        self.eventIDs = layout.identifierOffset == nil ? [] : eventIDs
        self.eventIndices = eventIndices
    }

    /// Room for what a ring holds (``SampleRing/survey()``): its samples, and at most as many frames as their
    /// call chains have entries.
    package mutating func reserve(for survey: RingSurvey) {
        samples.reserveCapacity(survey.samples)
        if layout.callchainOffset != nil {
            frames.reserveCapacity(max(0, survey.sampleBytes - survey.samples * (layout.fixedSize + 8)) / 8)
        }
    }

    /// Decodes one whole record, header included (`record.count` is the header's size).
    package mutating func decode(_ record: UnsafeRawBufferPointer) {
        let type = record.loadUnaligned(as: UInt32.self)
        switch type {
        case PerfRecord.sample:
            decodeSample(record)
        case PerfRecord.lost:
            // struct { header; u64 id; u64 lost; sample_id }
            guard record.count >= 24 else { return undecodable(record) }
            lostInRecords &+= record.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        case PerfRecord.lostSamples:
            // struct { header; u64 lost; sample_id }
            guard record.count >= 16 else { return undecodable(record) }
            lostByPMU &+= record.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        case PerfRecord.throttle:
            throttles += 1
        case PerfRecord.unthrottle:
            unthrottles += 1
        default:
            otherRecords += 1
        }
    }

    private mutating func undecodable(_ record: UnsafeRawBufferPointer) {
        undecodedBytes += record.count
    }

    private mutating func decodeSample(_ record: UnsafeRawBufferPointer) {
        guard record.count >= layout.fixedSize else { return undecodable(record) }
        let misc = record.loadUnaligned(fromByteOffset: 4, as: UInt16.self)
        var event: UInt16 = 0
        if let offset = layout.identifierOffset {
            let id = record.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            guard let index = eventIDs.firstIndex(of: id) else {
                otherRecords += 1
                return
            }
            event = UInt16(eventIndices?[index] ?? index)
        }
        let cpuMode = SampleCPUMode(misc: misc)
        var sample = Sample(
            ip: record.loadUnaligned(fromByteOffset: layout.ipOffset, as: UInt64.self),
            pid: record.loadUnaligned(fromByteOffset: layout.tidOffset, as: Int32.self),
            tid: record.loadUnaligned(fromByteOffset: layout.tidOffset + 4, as: Int32.self),
            time: record.loadUnaligned(fromByteOffset: layout.timeOffset, as: UInt64.self),
            period: record.loadUnaligned(fromByteOffset: layout.periodOffset, as: UInt64.self),
            event: event, cpuMode: cpuMode, exactIP: misc & PerfRecord.exactIP != 0,
            frameStart: UInt32(truncatingIfNeeded: frames.count))
        if let offset = layout.callchainOffset {
            guard record.count >= offset + 8 else { return undecodable(record) }
            let count = record.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            guard count <= UInt64((record.count - offset - 8) / 8) else { return undecodable(record) }
            let entries = UnsafeRawBufferPointer(rebasing: record[(offset + 8)..<(offset + 8 + Int(count) * 8)])
            sample.kernelFrameCount = appendFrames(entries, of: .kernel, sampleMode: cpuMode)
            sample.userFrameCount = appendFrames(entries, of: .user, sampleMode: cpuMode)
        }
        samples.append(sample)
    }

    /// Appends the entries of one context, leaf first, and returns how many. Entries follow the marker of their
    /// context (`PERF_CONTEXT_KERNEL`, `PERF_CONTEXT_USER`); entries before any marker belong to the sample's own
    /// mode; entries under other markers (hypervisor, guest) are not kept. Each run of entries between markers is
    /// copied at once.
    private mutating func appendFrames(
        _ entries: UnsafeRawBufferPointer, of wanted: SampleCPUMode, sampleMode: SampleCPUMode
    ) -> UInt16 {
        var context = sampleMode
        var appended = 0
        var runStart = 0
        let count = entries.count / 8
        func flush(upTo end: Int) {
            let length = min(end - runStart, Int(UInt16.max) - appended)
            guard context == wanted, length > 0 else { return }
            let run = (entries.baseAddress! + runStart * 8).bindMemory(to: UInt64.self, capacity: length)
            frames.append(contentsOf: UnsafeBufferPointer(start: run, count: length))
            appended += length
        }
        for index in 0..<count {
            let entry = entries.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
            guard entry >= PerfRecord.contextMax else { continue }
            flush(upTo: index)
            context = entry == PerfRecord.contextKernel ? .kernel : entry == PerfRecord.contextUser ? .user : .unknown
            runStart = index + 1
        }
        flush(upTo: count)
        return UInt16(appended)
    }
}
