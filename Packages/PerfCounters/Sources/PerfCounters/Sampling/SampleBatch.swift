/// How often a sampling event takes a sample.
public enum SamplingRate: Sendable, Hashable, Codable, CustomStringConvertible {
    /// About this many samples per second of the thread's running time (`freq = 1`, `sample_freq`). The kernel
    /// adjusts a hardware event's period to reach it; for the hrtimer events (cpu-clock) the period is fixed at
    /// 10^9 / hertz ns (kernel/events/core.c `perf_swevent_init_hrtimer`).
    case frequency(hertz: UInt64)
    /// One sample every `events` occurrences of the event (`sample_period`); for cpu-clock, every `events` ns.
    case period(events: UInt64)

    /// `4000 Hz` or `every 100000 events`.
    public var description: String {
        switch self {
        case .frequency(let hertz): return "\(hertz) Hz"
        case .period(let events): return "every \(events) events"
        }
    }
}

/// Where the thread was when a sample was taken: the CPU mode bits of the record's `header.misc`
/// (`PERF_RECORD_MISC_CPUMODE_MASK`).
public enum SampleCPUMode: UInt8, Sendable, Hashable, Codable, CaseIterable {
    /// Not said (`PERF_RECORD_MISC_CPUMODE_UNKNOWN`).
    case unknown = 0
    /// In the kernel (`PERF_RECORD_MISC_KERNEL`).
    case kernel = 1
    /// In user space (`PERF_RECORD_MISC_USER`).
    case user = 2
    /// In the hypervisor (`PERF_RECORD_MISC_HYPERVISOR`).
    case hypervisor = 3
    /// In a guest's kernel (`PERF_RECORD_MISC_GUEST_KERNEL`).
    case guestKernel = 4
    /// In a guest's user space (`PERF_RECORD_MISC_GUEST_USER`).
    case guestUser = 5

    /// The mode of a record's `misc` bits; the two values the ABI leaves unused read as ``unknown``.
    public init(misc: UInt16) {
        self = SampleCPUMode(rawValue: UInt8(misc & 7)) ?? .unknown
    }
}

/// One sample: where the thread was (`ip`), which thread, when, the period it stands for, and where its call
/// chain's frames are in the batch's flat ``SampleBatch/frames``.
///
/// Read the frames with ``SampleBatch/kernelFrames(of:)`` and ``SampleBatch/userFrames(of:)``. A sample is 48
/// bytes; a batch of 100,000 samples holds two arrays, not 100,000.
public struct Sample: Sendable, Hashable {
    /// The instruction pointer when the sample was taken (`PERF_SAMPLE_IP`).
    public var ip: UInt64
    /// The process id (`PERF_SAMPLE_TID`).
    public var pid: Int32
    /// The kernel thread id (`PERF_SAMPLE_TID`).
    public var tid: Int32
    /// When, in ns of ``SampleBatch/clock`` (`PERF_SAMPLE_TIME`).
    public var time: UInt64
    /// How many events the sample stands for (`PERF_SAMPLE_PERIOD`): ns for cpu-clock, cycles for cycles.
    public var period: UInt64
    /// The sampled event: an index into ``SampleBatch/events``.
    public var event: UInt16
    /// Where the thread was: user, kernel, ... (`header.misc`).
    public var cpuMode: SampleCPUMode
    /// True when the PMU says `ip` is the exact instruction (`PERF_RECORD_MISC_EXACT_IP`, precise events).
    public var exactIP: Bool
    /// Where this sample's frames start in ``SampleBatch/frames``: its kernel frames, then its user frames.
    public var frameStart: UInt32
    /// How many kernel frames the call chain has (0 without `PERF_SAMPLE_CALLCHAIN`).
    public var kernelFrameCount: UInt16
    /// How many user frames the call chain has.
    public var userFrameCount: UInt16

    /// A sample given by hand; the sampler makes them from the ring.
    public init(
        ip: UInt64, pid: Int32, tid: Int32, time: UInt64, period: UInt64, event: UInt16, cpuMode: SampleCPUMode,
        exactIP: Bool = false, frameStart: UInt32 = 0, kernelFrameCount: UInt16 = 0, userFrameCount: UInt16 = 0
    ) {
        self.ip = ip
        self.pid = pid
        self.tid = tid
        self.time = time
        self.period = period
        self.event = event
        self.cpuMode = cpuMode
        self.exactIP = exactIP
        self.frameStart = frameStart
        self.kernelFrameCount = kernelFrameCount
        self.userFrameCount = userFrameCount
    }

    /// True when the sample was taken in the kernel (``cpuMode`` is ``SampleCPUMode/kernel``).
    public var isKernel: Bool { cpuMode == .kernel }
}

/// An event a sampler samples, as it was granted: its name, core PMU, precise level, rate, call-chain depth
/// and mode, and what was changed from the request and why.
public struct SampledEvent: Sendable, Hashable, Codable {
    /// The event: `cycles`, `cpu-clock`, `L1-dcache-load-misses`, `LLC-load-misses`.
    public var event: PerfEvent
    /// The core PMU it samples on (`cpu`, `cpu_core`, `cpu_atom`); nil for software events (cpu-clock).
    public var pmu: String?
    /// The `precise_ip` the PMU accepted, 0 to 3 (perf's `:p` levels): how close `ip` is to the instruction that
    /// caused the sample (0: skid allowed; 3: exact). Always 0 for cpu-clock.
    public var preciseIP: Int
    /// The rate asked for.
    public var requestedRate: SamplingRate
    /// The rate opened: lower than asked when the frequency was above the kernel's maximum.
    public var rate: SamplingRate
    /// The call-chain depth opened (`sample_max_stack`), nil without call chains.
    public var callchainDepth: Int?
    /// User and kernel, or user only (`exclude_kernel`, `exclude_hv`).
    public var mode: CountingMode
    /// What was changed from the request and why, one line each: the fallback to cpu-clock, the precise level
    /// stepped down, the frequency lowered, the call-chain depth capped, user-only, exclude_guest, the legacy
    /// encoding per CPU.
    public var notes: [String]
    /// The fallbacks the kernel needed before it took the event, as counting records them
    /// (``EventAvailability/fallbacks``): `exclude_guest`, `exclude_kernel`, `exclude_hv`; nil when none.
    public var fallbacks: [AttrFallback]?
    /// The CPUs it was opened on, one event each, where the kernel reaches its core PMU only through a CPU
    /// (``HardwareEncoding/legacyPerCPU``); nil when one event follows the thread on every CPU.
    public var cpus: [Int]?

    /// An event as it was granted.
    public init(
        event: PerfEvent, pmu: String?, preciseIP: Int, requestedRate: SamplingRate, rate: SamplingRate,
        callchainDepth: Int?, mode: CountingMode, notes: [String] = [], fallbacks: [AttrFallback]? = nil,
        cpus: [Int]? = nil
    ) {
        self.event = event
        self.pmu = pmu
        self.preciseIP = preciseIP
        self.requestedRate = requestedRate
        self.rate = rate
        self.callchainDepth = callchainDepth
        self.mode = mode
        self.notes = notes
        self.fallbacks = fallbacks
        self.cpus = cpus
    }

    /// perf's name for it: `cycles:ppp` (precise 3), `cpu_core/cycles/`, `cpu-clock:u`, `H` when opened with
    /// `exclude_guest` (as counting's groups name theirs).
    public var perfName: String {
        var name = event.name
        if let pmu, pmu != "cpu" { name = "\(pmu)/\(name)/" }
        let suffix = String(repeating: "p", count: preciseIP) + (mode == .userOnly ? "u" : "")
            + (fallbacks?.contains(.excludeGuest) == true ? "H" : "")
        return suffix.isEmpty ? name : "\(name):\(suffix)"
    }
}

/// A requested sampling event that could not be opened, and why.
public struct RefusedSamplingEvent: Sendable, Hashable, Codable {
    /// The event asked for.
    public var event: PerfEvent
    /// The core PMU it was tried on; nil for software events or when no PMU was named.
    public var pmu: String?
    /// Why it was not opened (state and one line).
    public var availability: EventAvailability

    /// A refused event with its reason.
    public init(event: PerfEvent, pmu: String?, availability: EventAvailability) {
        self.event = event
        self.pmu = pmu
        self.availability = availability
    }
}

/// The clock of ``Sample/time``.
public enum SampleClock: String, Sendable, Hashable, Codable {
    /// `CLOCK_MONOTONIC` (`use_clockid`): comparable with `monotonicNanoseconds()` and a region's start and end.
    case monotonic
    /// The kernel's perf clock (`local_clock()`), used where the kernel refused `use_clockid` (before 4.1): not
    /// comparable with `CLOCK_MONOTONIC`.
    case perfClock = "perf-clock"
}

/// Where ``SampleBatch/lostSamples`` comes from.
public enum LostSampleSource: String, Sendable, Hashable, Codable {
    /// Each event's own count of samples the ring could not take (`PERF_FORMAT_LOST`, Linux 6.0 and later), read
    /// after the region: exactly the region's losses.
    case eventCounter = "event-counter"
    /// The `PERF_RECORD_LOST` records drained (kernels before 6.0). The kernel writes one only when a later record
    /// fits, so losses at the end of a region are reported with the next drain.
    case lostRecords = "lost-records"
}

/// The ring a sampler's events write to — or the rings, one per CPU, where its events are bound to CPUs
/// (``HardwareEncoding/legacyPerCPU``) — its size, and why it is smaller than asked when it is.
public struct SampleRingDescription: Sendable, Hashable, Codable {
    /// How many rings of this size: 1, or one per CPU an event is bound to (the kernel does not let an event bound
    /// to one CPU write into another's ring: kernel/events/core.c `perf_event_set_output`).
    public var ringCount: Int
    /// Data pages (a power of two), after the control page.
    public var dataPages: Int
    /// The page size, bytes.
    public var pageSize: Int
    /// The data pages asked for (from the expected sample count).
    public var requestedDataPages: Int
    /// How many samples of the largest size one ring holds: more in a region are lost, and counted.
    public var sampleCapacity: Int
    /// Why the ring is smaller than asked (mmap refused for the locked-memory limit), nil when it is not.
    public var note: String?

    /// A ring's description (`ringCount` rings of this size).
    public init(
        dataPages: Int, pageSize: Int, requestedDataPages: Int, sampleCapacity: Int, note: String? = nil,
        ringCount: Int = 1
    ) {
        self.ringCount = ringCount
        self.dataPages = dataPages
        self.pageSize = pageSize
        self.requestedDataPages = requestedDataPages
        self.sampleCapacity = sampleCapacity
        self.note = note
    }

    /// The data area's size of one ring in bytes.
    public var dataBytes: Int { dataPages * pageSize }
}

/// Everything one drain of a sampler's ring gave: the samples with their call chains in one flat frame buffer,
/// the samples lost, the kernel's throttling, the records skipped, and how the events were sampled.
///
/// Nothing is dropped silently: samples the ring could not hold are ``lostSamples``, records of other types are
/// ``otherRecords``, bytes that did not decode are ``undecodedBytes`` (0 unless the ring is corrupt).
public struct SampleBatch: Sendable {
    /// The events sampled; ``Sample/event`` indexes it.
    public var events: [SampledEvent]
    /// The samples, in the order the kernel wrote them (in time order when the sampler has one ring per CPU).
    public var samples: [Sample]
    /// Every sample's call-chain frames, leaf first, kernel frames then user frames, without the kernel's
    /// context markers (`PERF_CONTEXT_KERNEL`, `PERF_CONTEXT_USER`).
    public var frames: [UInt64]
    /// Samples the ring had no room for (see ``lostSamplesSource``).
    public var lostSamples: UInt64
    /// Where ``lostSamples`` comes from.
    public var lostSamplesSource: LostSampleSource
    /// The sum of the `PERF_RECORD_LOST` records drained (with ``LostSampleSource/eventCounter`` they may
    /// belong to an earlier region, and are already in its ``lostSamples``).
    public var lostInRecords: UInt64
    /// Samples the PMU itself dropped (`PERF_RECORD_LOST_SAMPLES`, PEBS).
    public var lostByPMU: UInt64
    /// `PERF_RECORD_THROTTLE` records: the kernel stopped an event that sampled more than
    /// perf_event_max_sample_rate allows per tick.
    public var throttles: Int
    /// `PERF_RECORD_UNTHROTTLE` records: the kernel restarted a throttled event at the next tick.
    public var unthrottles: Int
    /// Records of any other type, skipped.
    public var otherRecords: Int
    /// Bytes skipped because a record did not decode (a size below 8, past the head, or a sample shorter than its
    /// layout): 0 unless the ring is corrupt.
    public var undecodedBytes: Int
    /// Each event's count over the region (the sum of the periods it sampled, ns for cpu-clock), in the order of
    /// ``events``.
    public var eventCounts: [UInt64]
    /// User and kernel, or user only (then the kernel's part of the thread's time is not in the samples).
    public var mode: CountingMode
    /// Why the mode is user-only, nil when it is not.
    public var modeReason: String?
    /// The ring as mapped (or the rings, one per CPU: ``SampleRingDescription/ringCount``).
    public var ring: SampleRingDescription
    /// The clock of ``Sample/time``.
    public var clock: SampleClock

    /// A batch given by hand; ``ThreadSampler/drain()`` makes them.
    public init(
        events: [SampledEvent], samples: [Sample], frames: [UInt64], lostSamples: UInt64,
        lostSamplesSource: LostSampleSource, lostInRecords: UInt64 = 0, lostByPMU: UInt64 = 0, throttles: Int = 0,
        unthrottles: Int = 0, otherRecords: Int = 0, undecodedBytes: Int = 0, eventCounts: [UInt64] = [],
        mode: CountingMode, modeReason: String? = nil, ring: SampleRingDescription, clock: SampleClock
    ) {
        self.events = events
        self.samples = samples
        self.frames = frames
        self.lostSamples = lostSamples
        self.lostSamplesSource = lostSamplesSource
        self.lostInRecords = lostInRecords
        self.lostByPMU = lostByPMU
        self.throttles = throttles
        self.unthrottles = unthrottles
        self.otherRecords = otherRecords
        self.undecodedBytes = undecodedBytes
        self.eventCounts = eventCounts
        self.mode = mode
        self.modeReason = modeReason
        self.ring = ring
        self.clock = clock
    }

    /// The sample's kernel frames, leaf first (the first is the sampled `ip` when the sample is in the kernel).
    public func kernelFrames(of sample: Sample) -> ArraySlice<UInt64> {
        let start = Int(sample.frameStart)
        return frames[start..<start + Int(sample.kernelFrameCount)]
    }

    /// The sample's user frames, leaf first: where user space was, then its callers.
    public func userFrames(of sample: Sample) -> ArraySlice<UInt64> {
        let start = Int(sample.frameStart) + Int(sample.kernelFrameCount)
        return frames[start..<start + Int(sample.userFrameCount)]
    }

    /// Samples the kernel was asked for and did not deliver: lost, plus lost by the PMU.
    public var missingSamples: UInt64 { lostSamples + lostByPMU }
}
