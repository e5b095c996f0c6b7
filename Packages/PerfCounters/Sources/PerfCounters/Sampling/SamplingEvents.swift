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
    /// When the kernel refuses kernel samples (EACCES at `perf_event_paranoid` 2 and above, as counting's fallback),
    /// sample user space only, as perf does. An EPERM is not retried: it is a seccomp filter or a rule no exclude bit
    /// lifts. Default true.
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

/// The sampling events of the calling thread and the ring they write to, over any ``PerfSamplingSystem``.
///
/// Opened as `perf record` opens its default event (``SamplingEventChoice/automatic``): on each core PMU a group
/// led by `cycles` with the cache-miss events as members, each event through the open ladder counting climbs
/// (``openSamplingEvent(_:groupFD:state:system:)``); `cpu-clock` where there is no PMU or cycles cannot be opened.
/// The core PMUs are reached as counting reaches them (``HardwarePlacements``): with their type in config bits
/// 32–63 where the kernel takes it, else one group per CPU of the PMU in the legacy encoding. Every event writes
/// into its ring's first event's ring (`PERF_EVENT_IOC_SET_OUTPUT`), with `PERF_SAMPLE_IDENTIFIER` when several
/// may: one ring, or one per CPU where the events are bound to CPUs. The events start disabled; ``enable()`` and
/// ``disable()`` take one ioctl per group: one on most hosts, one per core PMU on hybrid ones (events of two core
/// PMUs cannot share a group), one per CPU through the legacy encoding per CPU. ``drain()`` reads the rings and
/// each event's count and lost samples.
package final class SamplingEvents<System: PerfSamplingSystem> {
    package let system: System
    /// The events opened, in ring order (``Sample/event`` indexes it); the per-CPU events of one core PMU are one.
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
    /// For each file descriptor: its event in ``events``.
    private let eventIndices: [Int]
    /// The group leaders, which ``enable()`` and ``disable()`` switch.
    private let leaders: [Int32]
    private let rings: [SampleRing]
    private let readBuffer: UnsafeMutableRawBufferPointer
    private var lastCounts: [UInt64]
    private var lastLost: [UInt64]
    private var enabled = false

    package init(options: SamplerOptions, system: System) throws(CounterError) {
        var opener = SamplerOpener(options: options, system: system)
        opener.openAll()
        var groups = opener.groups
        var refused = opener.refused
        guard !groups.isEmpty else {
            var reasons: [String: EventAvailability] = [:]
            for refusal in refused {
                reasons[refusal.event.name + (refusal.pmu.map { " (\($0))" } ?? "")] = refusal.availability
            }
            throw .nothingAvailable(reasons)
        }
        let layout = SampleLayout(sampleType: opener.sampleType)!
        let allEvents = groups.flatMap { $0 }

        // One ring per CPU the groups are bound to (-1: following the thread), owned by the first group's leader
        // there: perf_event_set_output refuses an event bound to one CPU writing into another's ring.
        var owners: [OpenedSamplingEvent] = []
        for group in groups where !owners.contains(where: { $0.cpu == group[0].cpu }) { owners.append(group[0]) }

        // The rings, each sized for the region (the thread may spend it all on one CPU); all smaller while mmap
        // refuses one for the locked-memory limit.
        let depth = allEvents.compactMap(\.granted.callchainDepth).max()
        let kinds = Set(allEvents.map(\.granted.event.name)).count
        let pageSize = system.pageSize
        let requested = SampleRingDescription.dataPages(
            forSamples: options.expectedSamples * kinds, bytesPerSample: layout.maxSampleSize(callchainDepth: depth),
            pageSize: pageSize, maxPages: options.maxRingPages)
        var pages = requested
        var firstRefusal: Errno?
        var mappings: [UnsafeMutableRawPointer] = []
        mapping: while true {
            for owner in owners {
                switch system.mapRing(owner.fd, dataPages: pages) {
                case .success(let mapped):
                    mappings.append(mapped)
                case .failure(let errno):
                    for mapped in mappings { system.unmapRing(mapped, dataPages: pages) }
                    mappings = []
                    if (errno.code == EPERM || errno.code == ENOMEM) && pages > 1 {
                        firstRefusal = firstRefusal ?? errno
                        pages /= 2
                        continue mapping
                    }
                    for event in allEvents { system.close(event.fd) }
                    throw .systemCall(SystemCallError("mmap(perf sampling ring, \(pages) data pages)", errno))
                }
            }
            break
        }
        let ringNote = firstRefusal.map { errno in
            "ring lowered from \(requested) to \(pages) data pages: mmap refused the larger rings (\(errno.name)"
                + (errno.code == EPERM
                    ? ": the locked-memory limit of users without CAP_IPC_LOCK, /proc/sys/kernel/perf_event_mlock_kb "
                        + "= \(system.samplingLimits.mlockKB.map(String.init) ?? "?") KiB per CPU, then RLIMIT_MEMLOCK)"
                    : ")")
        }
        let rings = mappings.map { SampleRing(mapping: $0, dataPages: pages, pageSize: pageSize) }

        // Every other event writes into its CPU's ring. One that cannot is closed: a member alone, a leader with
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
            let owner = owners.first { $0.cpu == group[0].cpu }!
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

        // One event per event and core PMU: the per-CPU events of a PMU are one, with their CPUs.
        var events: [SampledEvent] = []
        var eventIndices: [Int] = []
        for event in opened {
            if event.cpu >= 0, let same = events.firstIndex(where: {
                $0.event == event.granted.event && $0.pmu == event.granted.pmu && $0.cpus != nil
            }) {
                events[same].cpus!.append(Int(event.cpu))
                eventIndices.append(same)
                continue
            }
            var granted = event.granted
            if event.cpu >= 0 { granted.cpus = [Int(event.cpu)] }
            eventIndices.append(events.count)
            events.append(granted)
        }

        self.system = system
        self.layout = layout
        self.rings = rings
        self.events = events
        self.eventIndices = eventIndices
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
            sampleCapacity: rings[0].dataSize / layout.maxSampleSize(callchainDepth: depth), note: ringNote,
            ringCount: rings.count)
        clock = opened.allSatisfy(\.monotonicClock) ? .monotonic : .perfClock
        lostSource = readsLost.allSatisfy { $0 } ? .eventCounter : .lostRecords
    }

    deinit {
        for ring in rings { system.unmapRing(ring.mapping, dataPages: ring.dataPages) }
        for fd in fds.reversed() { system.close(fd) }
        readBuffer.deallocate()
    }

    /// Enables every group: one ioctl per group leader.
    @inline(__always)
    package func enable() throws(CounterError) {
        if enabled { throw .misuse("sampler enabled twice without disable()") }
        for leader in leaders {
            let result = system.enableGroup(leader)
            if result != 0 { throw .systemCall(SystemCallError("ioctl(PERF_EVENT_IOC_ENABLE) of a sampling event", Errno(-result))) }
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
            if result != 0 { throw .systemCall(SystemCallError("ioctl(PERF_EVENT_IOC_DISABLE) of a sampling event", Errno(-result))) }
        }
    }

    /// Reads each event's count and lost samples since the last drain, then every record in the rings.
    package func drain() throws(CounterError) -> SampleBatch {
        var counts = [UInt64](repeating: 0, count: events.count)
        var lost: UInt64 = 0
        for index in fds.indices {
            let size = readsLost[index] ? 16 : 8
            let n = system.read(fds[index], into: UnsafeMutableRawBufferPointer(rebasing: readBuffer[0..<size]))
            if n < 0 { throw .systemCall(SystemCallError("read(perf sampling event)", Errno(Int32(-n)))) }
            if n != size { throw .malformedRead("a sampling event's read returned \(n) of \(size) bytes") }
            let value = readBuffer.load(as: UInt64.self)
            counts[eventIndices[index]] &+= value &- lastCounts[index]
            lastCounts[index] = value
            if readsLost[index] {
                let total = readBuffer.load(fromByteOffset: 8, as: UInt64.self)
                lost &+= total &- lastLost[index]
                lastLost[index] = total
            }
        }
        var decoder = SampleDecoder(
            layout: layout, eventIDs: ids, eventIndices: events.count == fds.count ? nil : eventIndices)
        var survey = RingSurvey()
        for ring in rings {
            let part = ring.survey()
            survey.samples += part.samples
            survey.sampleBytes += part.sampleBytes
        }
        decoder.reserve(for: survey)
        var skipped = 0
        for ring in rings { skipped += ring.consume { decoder.decode($0) } }
        // One ring per CPU: each in the order the kernel wrote it; together, in time order.
        if rings.count > 1 { decoder.samples.sort { $0.time < $1.time } }
        return SampleBatch(
            events: events, samples: decoder.samples, frames: decoder.frames,
            lostSamples: lostSource == .eventCounter ? lost : decoder.lostInRecords, lostSamplesSource: lostSource,
            lostInRecords: decoder.lostInRecords, lostByPMU: decoder.lostByPMU, throttles: decoder.throttles,
            unthrottles: decoder.unthrottles, otherRecords: decoder.otherRecords,
            undecodedBytes: decoder.undecodedBytes + skipped, eventCounts: counts, mode: mode, modeReason: modeReason,
            ring: ringDescription, clock: clock)
    }
}

/// Opens a sampler's events: which event on which PMU (and CPU), in which group, before the rings are mapped.
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
            userOnlyAsked: options.userOnly, fallBackToUserOnly: options.fallBackToUserOnly,
            userOnlyReason: options.userOnly
                ? "user space only, as asked: the kernel's part of the thread's time is not sampled" : nil)
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
        let planned: [PerfEvent] = usePMU ? [.cycles] + cacheEvents : [.cpuClock]

        // Refused outright (Debian's and Ubuntu's perf_event_paranoid above 2, a seccomp filter): one probe open
        // says so, and every event gets that one reason, with no retries.
        state.access.beforeFirstOpen(system)
        if refuseAllIfRefusedOutright(planned) { return }

        // Where the core PMUs are reached, as counting reaches them. On a hybrid kernel without extended types
        // (Arm before 6.6) that is one group per CPU, bound to it, in the legacy encoding — for a per-thread sampler
        // too: a legacy event following the thread (cpu -1) is routed by kernel/events/core.c perf_init_event to
        // the first core PMU that takes it (no Arm PMU is PERF_TYPE_RAW; drivers/perf/arm_pmu.c armpmu_event_init
        // takes any event with cpu -1), so one per PMU would all land on that PMU, and it samples only while the
        // thread runs on that PMU's CPUs (armpmu_filter, armpmu_add): the thread's time on the other core type would
        // be missing from the samples, unsaid. Bound to a CPU, armpmu_event_init answers ENOENT for a CPU of another
        // class and perf_init_event tries the next PMU, so each event reaches its CPU's PMU, and with pid 0 it still
        // samples only this thread, while it runs there: together they cover every CPU. The price: one group and
        // one ioctl per CPU, and one ring per CPU, since kernel/events/core.c perf_event_set_output refuses an
        // event bound to one CPU writing into another's ring ("Don't allow cross-cpu buffers").
        let placements =
            usePMU
            ? HardwarePlacements(
                system: system, userOnly: options.userOnly, fallBackToUserOnly: options.fallBackToUserOnly,
                access: &state.access)
            : nil
        if refuseAllIfRefusedOutright(planned) { return }
        let possible = (placements?.placements.count ?? 0) * (1 + cacheEvents.count)
        sampleType = SampleLayout.samplerType(callchain: options.callchainDepth != nil, identifier: possible > 1)

        if let placements {
            for placement in placements.placements where state.access.refusal == nil {
                let legacyNote = placement.pmu.flatMap { placements.legacyNote(on: [$0.name]) }
                openPMUGroup(placement, cacheEvents: cacheEvents, legacyNote: legacyNote)
            }
        }
        if refuseAllIfRefusedOutright(planned) { return }
        if !groups.isEmpty { return }

        var why: String
        if usePMU {
            var reasons: [String] = []
            for refusal in refused where refusal.event == .cycles {
                let reason = "\(refusal.pmu ?? "cpu"): \(refusal.availability.description)"
                if !reasons.contains(reason) { reasons.append(reason) }
            }
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
            event: .cpuClock, placement: nil, rate: options.rate, preciseMax: false,
            callchainDepth: options.callchainDepth, sampleType: sampleType)
        switch openSamplingEvent(request, groupFD: -1, state: &state, system: system) {
        case .opened(var event):
            event.granted.notes.insert(why, at: 0)
            groups.append([event])
        case .refused(_, let availability):
            refused.append(.init(event: .cpuClock, pmu: nil, availability: availability))
        }
    }

    /// When perf_event_open is refused outright: closes what was opened, and refuses `events` with that one reason.
    private mutating func refuseAllIfRefusedOutright(_ events: [PerfEvent]) -> Bool {
        guard let refusal = state.access.refusal else { return false }
        for group in groups { for event in group.reversed() { system.close(event.fd) } }
        groups = []
        refused.removeAll { $0.availability == refusal }
        refused += events.map { .init(event: $0, pmu: nil, availability: refusal) }
        return true
    }

    private mutating func refuseCacheEvent(_ event: PerfEvent, pmu: String? = nil, reason: String) {
        refused.append(.init(event: event, pmu: pmu, availability: .init(state: .notSupported, reason: reason)))
    }

    /// Records a refusal once per event, PMU and reason (a PMU opened per CPU refuses alike on each).
    private mutating func refuse(_ event: PerfEvent, pmu: String?, _ availability: EventAvailability) {
        let refusal = RefusedSamplingEvent(event: event, pmu: pmu, availability: availability)
        if !refused.contains(refusal) { refused.append(refusal) }
    }

    /// cycles at `placement` as a group leader, the cache-miss events as its members; a member the group cannot
    /// take (EINVAL, `validate_group`) is opened as a group of its own, as perf reopens weak groups
    /// (tools/perf/util/evlist.c `evlist__reset_weak_group`).
    private mutating func openPMUGroup(_ placement: HardwarePlacement, cacheEvents: [PerfEvent], legacyNote: String?) {
        let pmuName = placement.pmu?.name
        func noted(_ event: OpenedSamplingEvent) -> OpenedSamplingEvent {
            guard let legacyNote else { return event }
            var event = event
            event.granted.notes.append(
                legacyNote + "; one ring per CPU, as the kernel does not let an event bound to one CPU write into "
                    + "another's ring (perf_event_set_output)")
            return event
        }
        let cycles = SamplingRequest(
            event: .cycles, placement: placement, rate: options.rate, preciseMax: true,
            callchainDepth: options.callchainDepth, sampleType: sampleType)
        let leader: OpenedSamplingEvent
        switch openSamplingEvent(cycles, groupFD: -1, state: &state, system: system) {
        case .opened(let event):
            leader = noted(event)
        case .refused(_, let availability):
            refuse(.cycles, pmu: pmuName, availability)
            for event in cacheEvents {
                refuse(
                    event, pmu: pmuName,
                    .init(state: .notSupported, reason: "not opened: its group's cycles was refused on \(pmuName ?? "cpu")"))
            }
            return
        }
        var group = [leader]
        var alone: [[OpenedSamplingEvent]] = []
        for event in cacheEvents {
            let request = SamplingRequest(
                event: event, placement: placement, rate: options.cacheMissRate ?? options.rate,
                preciseMax: false, callchainDepth: options.callchainDepth, sampleType: sampleType)
            switch openSamplingEvent(request, groupFD: leader.fd, state: &state, system: system) {
            case .opened(let member):
                group.append(noted(member))
            case .refused(let code, let availability):
                guard code == EINVAL else {
                    refuse(event, pmu: pmuName, availability)
                    continue
                }
                switch openSamplingEvent(request, groupFD: -1, state: &state, system: system) {
                case .opened(var single):
                    single.granted.notes.append(
                        "in a group of its own: cycles' group could not take it (EINVAL), as perf reopens weak groups")
                    alone.append([noted(single)])
                case .refused(_, let availability):
                    refuse(event, pmu: pmuName, availability)
                }
            }
        }
        groups.append(group)
        groups += alone
    }
}
