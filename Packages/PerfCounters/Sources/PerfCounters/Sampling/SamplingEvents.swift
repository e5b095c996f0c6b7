internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Which event a sampler samples.
public enum SamplingEventChoice: String, Sendable, Hashable, Codable, CaseIterable {
    /// As `perf record` chooses: `cycles` at the highest `precise_ip` the PMU accepts where a core PMU exists
    /// (one per core PMU on hybrid CPUs), `cpu-clock` otherwise or when cycles cannot be opened.
    case automatic
    /// `cpu-clock` (an hrtimer) on every host.
    case cpuClock = "cpu-clock"
}

/// How a ``ThreadSampler`` samples: the rate, call chains, optional cache-miss events, the ring's size and the
/// privilege fallbacks.
public struct SamplerOptions: Sendable, Hashable {
    /// How often the main event (cycles or cpu-clock) samples. Default 4000 Hz, `perf record`'s.
    public var rate: SamplingRate
    /// Call chains of at most this many frames (`PERF_SAMPLE_CALLCHAIN`, `sample_max_stack`, capped by
    /// /proc/sys/kernel/perf_event_max_stack; at least 1); nil for none.
    public var callchainDepth: Int?
    /// Hardware events sampled beside cycles on hosts with a PMU, in cycles' group: `L1-dcache-load-misses`,
    /// `LLC-load-misses`. Refused, with the reason, where there is no PMU.
    public var cacheMissEvents: [PerfEvent]
    /// How often the cache-miss events sample; nil: as ``rate``.
    public var cacheMissRate: SamplingRate?
    /// The samples a region is expected to give (frequency × seconds of the thread's CPU time): the ring is sized
    /// to hold them all, as nothing is drained during the region. More are lost, and counted.
    public var expectedSamples: Int
    /// The most data pages the ring may have (default 2048: 8 MiB of 4 KiB pages).
    public var maxRingPages: Int
    /// cycles where there is a PMU, or cpu-clock always.
    public var event: SamplingEventChoice
    /// Sample user space only from the start (`exclude_kernel`, `exclude_hv`).
    public var userOnly: Bool
    /// When the kernel refuses kernel samples (EACCES/EPERM), sample user space only, as perf does. Default true.
    public var fallBackToUserOnly: Bool

    /// Options; the defaults sample cycles or cpu-clock at 4000 Hz without call chains, user and kernel, with a
    /// ring for 4096 samples.
    public init(
        rate: SamplingRate = .frequency(hertz: 4000), callchainDepth: Int? = nil, cacheMissEvents: [PerfEvent] = [],
        cacheMissRate: SamplingRate? = nil, expectedSamples: Int = 4096, maxRingPages: Int = 2048,
        event: SamplingEventChoice = .automatic, userOnly: Bool = false, fallBackToUserOnly: Bool = true
    ) {
        self.rate = rate
        self.callchainDepth = callchainDepth
        self.cacheMissEvents = cacheMissEvents
        self.cacheMissRate = cacheMissRate
        self.expectedSamples = expectedSamples
        self.maxRingPages = maxRingPages
        self.event = event
        self.userOnly = userOnly
        self.fallBackToUserOnly = fallBackToUserOnly
    }

    /// The samples a region of `seconds` of CPU time gives at `hertz`, rounded up.
    public static func expectedSamples(hertz: UInt64, seconds: Double) -> Int {
        Int((Double(hertz) * max(0, seconds)).rounded(.up))
    }
}

extension SampleRingDescription {
    /// The data pages a ring needs for `samples` samples of at most `bytesPerSample` bytes each: an eighth more for
    /// the kernel's other records (LOST, THROTTLE), rounded up to a power of two (kernel/events/core.c `perf_mmap`
    /// refuses other counts), at least 1 and at most `maxPages` rounded down to a power of two.
    public static func dataPages(forSamples samples: Int, bytesPerSample: Int, pageSize: Int, maxPages: Int) -> Int {
        let bytes = max(0, samples) * max(8, bytesPerSample)
        let needed = max(1, (bytes + bytes / 8 + pageSize - 1) / pageSize)
        var ceiling = 1
        while ceiling * 2 <= max(1, maxPages) { ceiling *= 2 }
        var pages = 1
        while pages < needed && pages < ceiling { pages *= 2 }
        return pages
    }
}

/// The sampling events of the calling thread and the one ring they write to, over any ``PerfSamplingSystem``.
///
/// Opened as `perf record` opens its default event (``SamplingEventChoice/automatic``): on each core PMU a group
/// led by `cycles` with the cache-miss events as members, each event through the open ladder of
/// ``openSamplingEvent(_:groupFD:state:system:)``; `cpu-clock` where there is no PMU or cycles cannot be opened.
/// Every event writes into the first event's ring (`PERF_EVENT_IOC_SET_OUTPUT`), with `PERF_SAMPLE_IDENTIFIER`
/// when several may. The events start disabled; ``enable()`` and ``disable()`` take one ioctl per group: one on
/// most hosts, one per core PMU on hybrid ones (events of two core PMUs cannot share a group). ``drain()`` reads
/// the ring and each event's count and lost samples.
package final class SamplingEvents<System: PerfSamplingSystem> {
    package let system: System
    /// The events opened, in ring order (``Sample/event`` indexes it).
    package let events: [SampledEvent]
    /// The events asked for that could not be opened.
    package let refused: [RefusedSamplingEvent]
    package let mode: CountingMode
    package let modeReason: String?
    package let ringDescription: SampleRingDescription
    package let clock: SampleClock
    package let lostSource: LostSampleSource
    package let layout: SampleLayout

    private let fds: [Int32]
    private let ids: [UInt64]
    private let readsLost: [Bool]
    /// The group leaders, which ``enable()`` and ``disable()`` switch.
    private let leaders: [Int32]
    private let ring: SampleRing
    private let readBuffer: UnsafeMutableRawBufferPointer
    private var lastCounts: [UInt64]
    private var lastLost: [UInt64]
    private var enabled = false

    package init(options: SamplerOptions, system: System) throws(CounterError) {
        var opener = SamplerOpener(options: options, system: system)
        opener.openAll()
        var groups = opener.groups
        var refused = opener.refused
        guard let owner = groups.first?.first else {
            var reasons: [String: EventAvailability] = [:]
            for refusal in refused {
                reasons[refusal.event.name + (refusal.pmu.map { " (\($0))" } ?? "")] = refusal.availability
            }
            throw .nothingAvailable(reasons)
        }
        let layout = SampleLayout(sampleType: opener.sampleType)!
        let allEvents = groups.flatMap { $0 }

        // The ring, sized for the region; smaller while mmap refuses it for the locked-memory limit.
        let depth = allEvents.compactMap(\.granted.callchainDepth).max()
        let kinds = Set(allEvents.map(\.granted.event.name)).count
        let pageSize = system.pageSize
        let requested = SampleRingDescription.dataPages(
            forSamples: options.expectedSamples * kinds, bytesPerSample: layout.maxSampleSize(callchainDepth: depth),
            pageSize: pageSize, maxPages: options.maxRingPages)
        var pages = requested
        var firstRefusal: Errno?
        var mapping: UnsafeMutableRawPointer?
        while mapping == nil {
            switch system.mapRing(owner.fd, dataPages: pages) {
            case .success(let mapped):
                mapping = mapped
            case .failure(let errno) where (errno.code == EPERM || errno.code == ENOMEM) && pages > 1:
                firstRefusal = firstRefusal ?? errno
                pages /= 2
            case .failure(let errno):
                for event in allEvents { system.close(event.fd) }
                throw .systemCall("mmap(perf sampling ring, \(pages) data pages)", errno: errno.code)
            }
        }
        let ringNote = firstRefusal.map { errno in
            "ring lowered from \(requested) to \(pages) data pages: mmap refused the larger rings (\(errno.name)"
                + (errno.code == EPERM
                    ? ": the locked-memory limit of users without CAP_IPC_LOCK, /proc/sys/kernel/perf_event_mlock_kb "
                        + "= \(system.samplingLimits.mlockKB.map(String.init) ?? "?") KiB per CPU, then RLIMIT_MEMLOCK)"
                    : ")")
        }
        let ring = SampleRing(mapping: mapping!, dataPages: pages, pageSize: pageSize)

        // Every other event writes into the owner's ring. One that cannot is closed: a member alone, a leader with
        // its group.
        func refuse(_ event: OpenedSamplingEvent, _ code: Int32) {
            system.close(event.fd)
            refused.append(
                RefusedSamplingEvent(
                    event: event.granted.event, pmu: event.granted.pmu,
                    availability: .init(
                        state: .failed,
                        reason: "\(Errno(code).name): its records cannot go to the sampler's ring "
                            + "(PERF_EVENT_IOC_SET_OUTPUT)",
                        errno: code)))
        }
        groups = groups.compactMap { group -> [OpenedSamplingEvent]? in
            var kept: [OpenedSamplingEvent] = []
            for (position, event) in group.enumerated() {
                let result = event.fd == owner.fd ? 0 : system.redirectOutput(event.fd, to: owner.fd)
                if result == 0 {
                    kept.append(event)
                } else if position == 0 {
                    for member in group { refuse(member, -result) }
                    return nil
                } else {
                    refuse(event, -result)
                }
            }
            return kept
        }
        let opened = groups.flatMap { $0 }

        self.system = system
        self.layout = layout
        self.ring = ring
        events = opened.map(\.granted)
        self.refused = refused
        fds = opened.map(\.fd)
        ids = opened.map(\.id)
        readsLost = opened.map(\.readsLost)
        leaders = groups.map { $0[0].fd }
        lastCounts = Array(repeating: 0, count: opened.count)
        lastLost = Array(repeating: 0, count: opened.count)
        readBuffer = .allocate(byteCount: 16, alignment: 8)
        let userOnly = events.contains { $0.mode == .userOnly }
        mode = userOnly ? .userOnly : .userAndKernel
        modeReason = userOnly ? opener.state.userOnlyReason : nil
        ringDescription = SampleRingDescription(
            dataPages: pages, pageSize: pageSize, requestedDataPages: requested,
            sampleCapacity: ring.dataSize / layout.maxSampleSize(callchainDepth: depth), note: ringNote)
        clock = opened.allSatisfy(\.monotonicClock) ? .monotonic : .perfClock
        lostSource = readsLost.allSatisfy { $0 } ? .eventCounter : .lostRecords
    }

    deinit {
        system.unmapRing(ring.mapping, dataPages: ring.dataPages)
        for fd in fds.reversed() { system.close(fd) }
        readBuffer.deallocate()
    }

    /// Enables every group: one ioctl per group leader.
    @inline(__always)
    package func enable() throws(CounterError) {
        if enabled { throw .misuse("sampler enabled twice without disable()") }
        for leader in leaders {
            let result = system.enableGroup(leader)
            if result != 0 { throw .systemCall("ioctl(PERF_EVENT_IOC_ENABLE) of a sampling event", errno: -result) }
        }
        enabled = true
    }

    /// Disables every group: one ioctl per group leader.
    @inline(__always)
    package func disable() throws(CounterError) {
        if !enabled { throw .misuse("sampler disabled without enable()") }
        enabled = false
        for leader in leaders {
            let result = system.disableGroup(leader)
            if result != 0 { throw .systemCall("ioctl(PERF_EVENT_IOC_DISABLE) of a sampling event", errno: -result) }
        }
    }

    /// Reads each event's count and lost samples since the last drain, then every record in the ring.
    package func drain() throws(CounterError) -> SampleBatch {
        var counts: [UInt64] = []
        counts.reserveCapacity(fds.count)
        var lost: UInt64 = 0
        for index in fds.indices {
            let size = readsLost[index] ? 16 : 8
            let n = system.read(fds[index], into: UnsafeMutableRawBufferPointer(rebasing: readBuffer[0..<size]))
            if n < 0 { throw .systemCall("read(perf sampling event)", errno: Int32(-n)) }
            if n != size { throw .malformedRead("a sampling event's read returned \(n) of \(size) bytes") }
            let value = readBuffer.load(as: UInt64.self)
            counts.append(value &- lastCounts[index])
            lastCounts[index] = value
            if readsLost[index] {
                let total = readBuffer.load(fromByteOffset: 8, as: UInt64.self)
                lost &+= total &- lastLost[index]
                lastLost[index] = total
            }
        }
        var decoder = SampleDecoder(layout: layout, eventIDs: ids)
        decoder.reserve(for: ring.survey())
        let skipped = ring.consume { decoder.decode($0) }
        return SampleBatch(
            events: events, samples: decoder.samples, frames: decoder.frames,
            lostSamples: lostSource == .eventCounter ? lost : decoder.lostInRecords, lostSamplesSource: lostSource,
            lostInRecords: decoder.lostInRecords, lostByPMU: decoder.lostByPMU, throttles: decoder.throttles,
            unthrottles: decoder.unthrottles, otherRecords: decoder.otherRecords,
            undecodedBytes: decoder.undecodedBytes + skipped, eventCounts: counts, mode: mode, modeReason: modeReason,
            ring: ringDescription, clock: clock)
    }
}

/// Opens a sampler's events: which event on which PMU, in which group, before the ring is mapped.
struct SamplerOpener<System: PerfSamplingSystem> {
    let options: SamplerOptions
    let system: System
    var state: SamplingOpenState
    var groups: [[OpenedSamplingEvent]] = []
    var refused: [RefusedSamplingEvent] = []
    var sampleType: UInt64 = 0

    init(options: SamplerOptions, system: System) {
        self.options = options
        self.system = system
        state = SamplingOpenState(
            userOnly: options.userOnly,
            userOnlyReason: options.userOnly
                ? "user space only, as asked: the kernel's part of the thread's time is not sampled" : nil,
            fallBackToUserOnly: options.fallBackToUserOnly)
    }

    mutating func openAll() {
        let host = system.host
        var cacheEvents: [PerfEvent] = []
        for event in options.cacheMissEvents where !cacheEvents.contains(event) {
            if event.isHardware {
                cacheEvents.append(event)
            } else {
                refused.append(
                    .init(
                        event: event, pmu: nil,
                        availability: .init(
                            state: .notSupported,
                            reason: "not a hardware event: only PMU events are sampled beside cycles")))
            }
        }
        let usePMU = options.event == .automatic && !host.corePMUs.isEmpty
        let pmus: [CorePMU] = usePMU ? (host.isHybrid ? host.corePMUs : [host.corePMUs[0]]) : []
        let possible = usePMU ? pmus.count * (1 + cacheEvents.count) : 1
        sampleType = SampleLayout.samplerType(callchain: options.callchainDepth != nil, identifier: possible > 1)

        for pmu in pmus { openPMUGroup(pmu, extendedType: host.isHybrid, cacheEvents: cacheEvents) }
        if !groups.isEmpty { return }

        var why: String
        if usePMU {
            let reasons = refused.filter { $0.event == .cycles }.map { "\($0.pmu ?? "cpu"): \($0.availability.description)" }
            why = "cycles could not be opened (\(reasons.joined(separator: "; "))): cpu-clock instead, as perf record "
                + "falls back (tools/perf/util/evsel.c evsel__fallback)"
        } else if options.event == .cpuClock {
            why = "cpu-clock, as asked"
            for event in cacheEvents { refuseCacheEvent(event, reason: "cache-miss sampling needs a hardware PMU; cpu-clock was asked for") }
        } else {
            why = "cpu-clock, not cycles: " + EventAvailability.missingHardwareEvent(.cycles, host: host, pmu: nil)
            for event in cacheEvents {
                refuseCacheEvent(event, reason: EventAvailability.missingHardwareEvent(event, host: host, pmu: nil))
            }
        }
        why += "; an hrtimer, not an NMI: a sample is taken only where interrupts are enabled, so time with interrupts "
            + "off is charged to where they are re-enabled (_raw_spin_unlock_irqrestore, handle_softirqs ...); "
            + "NMI-based cycles sampling does not have this skew"
        let request = SamplingRequest(
            event: .cpuClock, pmu: nil, extendedType: false, rate: options.rate, preciseMax: false,
            callchainDepth: options.callchainDepth, sampleType: sampleType)
        switch openSamplingEvent(request, groupFD: -1, state: &state, system: system) {
        case .opened(var event):
            event.granted.notes.insert(why, at: 0)
            groups.append([event])
        case .refused(_, let availability):
            refused.append(.init(event: .cpuClock, pmu: nil, availability: availability))
        }
    }

    private mutating func refuseCacheEvent(_ event: PerfEvent, pmu: String? = nil, reason: String) {
        refused.append(.init(event: event, pmu: pmu, availability: .init(state: .notSupported, reason: reason)))
    }

    /// cycles on `pmu` as a group leader, the cache-miss events as its members; a member the group cannot take
    /// (EINVAL, `validate_group`) is opened as a group of its own, as perf reopens weak groups
    /// (tools/perf/util/evlist.c `evlist__reset_weak_group`).
    private mutating func openPMUGroup(_ pmu: CorePMU, extendedType: Bool, cacheEvents: [PerfEvent]) {
        let cycles = SamplingRequest(
            event: .cycles, pmu: pmu, extendedType: extendedType, rate: options.rate, preciseMax: true,
            callchainDepth: options.callchainDepth, sampleType: sampleType)
        let leader: OpenedSamplingEvent
        switch openSamplingEvent(cycles, groupFD: -1, state: &state, system: system) {
        case .opened(let event):
            leader = event
        case .refused(_, let availability):
            refused.append(.init(event: .cycles, pmu: pmu.name, availability: availability))
            for event in cacheEvents {
                refuseCacheEvent(event, pmu: pmu.name, reason: "not opened: its group's cycles was refused on \(pmu.name)")
            }
            return
        }
        var group = [leader]
        var alone: [[OpenedSamplingEvent]] = []
        for event in cacheEvents {
            let request = SamplingRequest(
                event: event, pmu: pmu, extendedType: extendedType, rate: options.cacheMissRate ?? options.rate,
                preciseMax: false, callchainDepth: options.callchainDepth, sampleType: sampleType)
            switch openSamplingEvent(request, groupFD: leader.fd, state: &state, system: system) {
            case .opened(let member):
                group.append(member)
            case .refused(let code, let availability):
                guard code == EINVAL else {
                    refused.append(.init(event: event, pmu: pmu.name, availability: availability))
                    continue
                }
                switch openSamplingEvent(request, groupFD: -1, state: &state, system: system) {
                case .opened(var single):
                    single.granted.notes.append(
                        "in a group of its own: cycles' group could not take it (EINVAL), as perf reopens weak groups")
                    alone.append([single])
                case .refused(_, let availability):
                    refused.append(.init(event: event, pmu: pmu.name, availability: availability))
                }
            }
        }
        groups.append(group)
        groups += alone
    }
}
