internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

extension PerfEvent {
    /// Hardware events read as ratios of each other, opened in one group so that both count over the same
    /// time: instructions per cycle, the L1d miss rate, the LLC miss rate; branch-misses alone.
    public static let ratioPartners: [[PerfEvent]] = [
        [.cycles, .instructions], [.l1dLoads, .l1dLoadMisses], [.llcLoads, .llcLoadMisses], [.branchMisses],
    ]

    /// The groups these events' hardware events are opened in: ratio partners together, any other hardware
    /// event alone, in the order first requested.
    ///
    /// A group of all seven hardware events needs more general counters than an Intel core with SMT has
    /// (four), and the kernel rejects it at open (arch/x86/events/core.c `validate_group`, EINVAL); when it
    /// fits on paper but the NMI watchdog holds a counter, it never runs (`time_running` 0). Groups of at most
    /// two general-counter events schedule on any PMU with two general counters; the kernel multiplexes them
    /// when together they need more, and each is scaled by its own enabled/running times.
    public static func hardwareGroups(_ events: [PerfEvent]) -> [[PerfEvent]] {
        hardwareGroupIndices(events).map { $0.map { events[$0] } }
    }

    static func hardwareGroupIndices(_ events: [PerfEvent]) -> [[Int]] {
        var groups: [[Int]] = []
        var placed = Set<Int>()
        for (index, event) in events.enumerated() where event.isHardware && !placed.contains(index) {
            var group = [index]
            placed.insert(index)
            if let partners = ratioPartners.first(where: { $0.contains(event) }) {
                for partner in partners where partner != event {
                    if let other = events.firstIndex(of: partner), !placed.contains(other) {
                        group.append(other)
                        placed.insert(other)
                    }
                }
                group.sort { partners.firstIndex(of: events[$0])! < partners.firstIndex(of: events[$1])! }
            }
            groups.append(group)
        }
        return groups
    }
}

/// One perf group as it was opened: its core PMU (nil for the software group) and its events.
public struct CounterGroupDescription: Sendable, Hashable, Codable {
    /// The core PMU the group counts on; nil for software events and tracepoints.
    public var pmu: String?
    /// The events in the group, leader first, with perf's modifiers: `:u` on those counted user-only, `H` on
    /// those opened with `exclude_guest`.
    public var events: [String]
    /// How its hardware events reach the core PMU; nil for software events and tracepoints.
    public var encoding: HardwareEncoding?
    /// The CPUs the group was opened on, one group each (``HardwareEncoding/legacyPerCPU``); nil when it follows
    /// the thread on every CPU.
    public var cpus: [Int]?
}

extension CounterGroupDescription {
    /// The group as perf's `-e` takes it, so that `perf stat` or `perf record` can count what the counters count:
    /// `{task-clock,context-switches,page-faults}`, `{cycles,instructions}:u` (a modifier every member shares is the
    /// group's), `{cpu_core/cycles/,cpu_core/instructions/}` on a hybrid CPU's core PMU, `{task-clock,page-faults:u}`.
    /// A group opened per CPU in the legacy encoding (``cpus``) has no such syntax: perf opens `cycles` on every core
    /// PMU by itself.
    public var perfSyntax: String {
        let parts = events.map(Self.splitModifier)
        let shared = parts.first?.modifier
        let hoisted = shared.map { modifier in !modifier.isEmpty && parts.allSatisfy { $0.modifier == modifier } } ?? false
        let members = parts.map { part in
            let modifier = hoisted ? "" : part.modifier
            if let pmu, pmu != "cpu" { return "\(pmu)/\(part.name)/\(modifier)" }
            return modifier.isEmpty ? part.name : "\(part.name):\(modifier)"
        }
        return "{\(members.joined(separator: ","))}" + (hoisted ? ":\(shared!)" : "")
    }

    /// `page-faults:u` → (`page-faults`, `u`); a tracepoint's `subsystem:name` keeps its colon.
    private static func splitModifier(_ event: String) -> (name: String, modifier: String) {
        guard let colon = event.lastIndex(of: ":") else { return (event, "") }
        let modifier = event[event.index(after: colon)...]
        guard !modifier.isEmpty, modifier.allSatisfy({ $0 == "u" || $0 == "H" }) else { return (event, "") }
        return (String(event[..<colon]), String(modifier))
    }
}

/// The counters of the calling thread, opened as perf does, over any ``PerfEventSystem``.
///
/// Before anything else, where the host says perf_event_open may be refused outright (``PerfAccess``: a seccomp
/// filter, Debian's and Ubuntu's `perf_event_paranoid` above 2), one probe event says whether it is; then every
/// event gets that one reason and nothing more is opened. Hardware events are opened in small groups
/// (``PerfEvent/hardwareGroups(_:)``), once per core PMU on hybrid CPUs — with the PMU's type in config bits 32–63
/// where the kernel takes it, else through the legacy encoding once per CPU of the PMU (``HardwareEncoding``);
/// software events and tracepoints form one more group, which always schedules. Every open climbs perf's fallbacks
/// (``FallbackLadder``). A group the kernel rejects at open is reopened in halves, then event by event, before an
/// event is refused (perf's weak groups: tools/perf/util/evlist.c `evlist__reset_weak_group`).
///
/// A region's value is the delta of a read before and after it; an event's value is the sum of its core PMUs'
/// parts, scaled by enabled / (summed running) only where the summed running time falls short. Where a core type
/// refused an event, its value is the other types' count with a ``PMUCoverage``, never scaled to the refusing
/// type's time.
package final class CounterSet<System: PerfEventSystem> {
    package let events: [PerfEvent]
    package let system: System
    /// What became of each event when it was opened.
    package let availability: [EventAvailability]
    /// The privilege levels each opened event covers; nil when not opened.
    package let modes: [CountingMode?]
    /// How hardware events reached each core PMU, by PMU name.
    package let encodings: [String: HardwareEncoding]

    /// The open groups. Set once in init: reading them in start/stop needs no exclusivity check.
    private let groups: [CounterGroup]
    /// For each event: where each of its parts is read (one per core PMU for hardware events, one per CPU with the
    /// legacy encoding per CPU).
    private let slots: [[CounterSlot]]
    /// For each event: the core PMUs that refused it while others counted it.
    private let refusedOn: [[String]]
    private let watchdogHint: Bool
    private let offcoreHint: Bool
    private var running = false

    package init(events: [PerfEvent], options: CounterOptions, system: System) throws(CounterError) {
        var opener = CounterOpener(events: events, system: system, options: options)
        opener.openAll()
        if opener.groups.isEmpty {
            var reasons: [String: EventAvailability] = [:]
            for (event, status) in zip(events, opener.availability) { reasons[event.name] = status }
            throw .nothingAvailable(reasons)
        }
        self.events = events
        self.system = system
        availability = opener.availability
        modes = opener.modes
        encodings = opener.encodings
        groups = opener.groups
        slots = opener.slots
        refusedOn = opener.refusedOn
        watchdogHint = opener.host.nmiWatchdog == true
        offcoreHint = opener.host.cpuModel?.contains("Intel") == true
    }

    deinit {
        for group in groups {
            for fd in group.members { system.close(fd) }
            system.close(group.leader)
            group.startBuffer.deallocate()
            group.endBuffer.deallocate()
        }
    }

    /// The groups as opened; the groups of one PMU opened once per CPU are one description with their CPUs.
    package var groupDescriptions: [CounterGroupDescription] {
        var descriptions: [CounterGroupDescription] = []
        for group in groups {
            let names = group.eventIndices.map { events[$0].name + Self.modifiers(modes[$0], availability[$0]) }
            if group.cpu >= 0, let same = descriptions.lastIndex(where: {
                $0.pmu == group.pmu && $0.events == names && $0.cpus != nil
            }) {
                descriptions[same].cpus!.append(Int(group.cpu))
                continue
            }
            descriptions.append(
                CounterGroupDescription(
                    pmu: group.pmu, events: names, encoding: group.encoding,
                    cpus: group.cpu >= 0 ? [Int(group.cpu)] : nil))
        }
        return descriptions
    }

    /// perf's modifiers for an event: `:u` counted user-only, `H` opened with `exclude_guest` (`:uH` both).
    static func modifiers(_ mode: CountingMode?, _ availability: EventAvailability) -> String {
        var letters = mode == .userOnly ? "u" : ""
        if availability.fallbacks?.contains(.excludeGuest) == true { letters += "H" }
        return letters.isEmpty ? "" : ":" + letters
    }

    // MARK: Regions

    /// Reads the start values, then enables every group.
    package func start() throws(CounterError) {
        if running { throw .misuse("start() called twice without stop()") }
        for group in groups {
            try read(group.leader, into: group.startBuffer)
        }
        for group in groups {
            let result = system.enableGroup(group.leader)
            if result != 0 { throw .systemCall(SystemCallError("ioctl(PERF_EVENT_IOC_ENABLE)", Errno(-result))) }
        }
        running = true
    }

    /// Disables every group, reads the end values and returns each event's reading, in the order of `events`.
    package func stop() throws(CounterError) -> [CounterReading] {
        if !running { throw .misuse("stop() called without start()") }
        running = false
        for group in groups {
            let result = system.disableGroup(group.leader)
            if result != 0 { throw .systemCall(SystemCallError("ioctl(PERF_EVENT_IOC_DISABLE)", Errno(-result))) }
        }
        for group in groups {
            try read(group.leader, into: group.endBuffer)
        }
        let time = refusedOn.contains { !$0.isEmpty } ? threadTimeOnPMUs() : nil
        var readings: [CounterReading] = []
        readings.reserveCapacity(events.count)
        for index in events.indices { readings.append(try reading(index, time: time)) }
        return readings
    }

    /// The delta of one member between the start and end reads of its group, read in place from the buffers
    /// (layout: nr, time_enabled, time_running, then {value, id} per member; GroupRead documents it).
    private func delta(_ slot: CounterSlot) throws(CounterError) -> ScaledCount {
        let start = groups[slot.group].startBuffer
        let end = groups[slot.group].endBuffer
        let members = UInt64(start.count / 16 - 1)
        func word(_ buffer: UnsafeMutableRawBufferPointer, _ index: Int) -> UInt64 {
            buffer.load(fromByteOffset: index * 8, as: UInt64.self)
        }
        let value = 3 + 2 * slot.position
        guard word(start, 0) == members, word(end, 0) == members, word(start, value + 1) == slot.id,
            word(end, value + 1) == slot.id
        else {
            // Not the layout the group was opened with: decode in full and look the id up.
            let a = try GroupRead.decode(UnsafeRawBufferPointer(start))
            let b = try GroupRead.decode(UnsafeRawBufferPointer(end))
            guard let count = ScaledCount.delta(from: a, to: b, id: slot.id) else {
                throw .malformedRead("no member with id \(slot.id) in the group read")
            }
            return count
        }
        return ScaledCount(
            raw: word(end, value) &- word(start, value), timeEnabled: word(end, 1) &- word(start, 1),
            timeRunning: word(end, 2) &- word(start, 2))
    }

    private func reading(_ index: Int, time: ThreadTimeOnPMUs?) throws(CounterError) -> CounterReading {
        let event = events[index]
        let slots = self.slots[index]
        guard let first = slots.first else {
            return CounterReading(
                event: event, availability: availability[index], count: nil, mode: nil,
                reason: availability[index].description)
        }
        var combined: ScaledCount
        var parts: [PMUCount] = []
        var coverage: PMUCoverage?
        if slots.count > 1 || groups[first.group].pmu != nil {
            // One part per core PMU: the parts of one PMU opened once per CPU add up as the PMUs' parts do.
            parts.reserveCapacity(slots.count)
            for slot in slots {
                let pmu = groups[slot.group].pmu ?? "cpu"
                let count = try delta(slot)
                if let same = parts.firstIndex(where: { $0.pmu == pmu }) {
                    parts[same].count = Self.sum([parts[same].count, count])!
                } else {
                    parts.append(PMUCount(pmu: pmu, count: count))
                }
            }
            combined = Self.sum(parts.map(\.count))!
            if !refusedOn[index].isEmpty, let time {
                (combined, coverage) = time.covered(parts, refusedOn: refusedOn[index])
            }
        } else {
            combined = try delta(first)
        }
        var reason: String?
        if !combined.wasCounted {
            reason = coverage.map { "not counted: the thread never ran on \($0.countedOn.joined(separator: " or ")) in this region, "
                + "and \($0.refusedOn.joined(separator: " and ")) refused the event" } ?? notCountedReason(index)
        }
        return CounterReading(
            event: event, availability: availability[index], count: combined, mode: modes[index],
            source: .perfEvent, parts: parts, reason: reason, coverage: coverage)
    }

    /// The sum of core PMUs' parts: raw values add up; the enabled time is the region's (the longest part's,
    /// as each group is enabled whenever the thread runs); the running times add up, since a thread runs on one
    /// core type at a time, capped at the enabled time.
    static func sum(_ parts: [ScaledCount]) -> ScaledCount? {
        guard let first = parts.first else { return nil }
        if parts.count == 1 { return first }
        let enabled = parts.map(\.timeEnabled).max()!
        let running = parts.reduce(UInt64(0)) { $0 &+ $1.timeRunning }
        return ScaledCount(
            raw: parts.reduce(UInt64(0)) { $0 &+ $1.raw }, timeEnabled: enabled, timeRunning: min(running, enabled))
    }

    /// How long the thread ran on each core PMU in the region: on each CPU placement (a PMU, or a PMU's CPU with the
    /// legacy encoding per CPU), the longest running time of its hardware groups — a lower bound, exact when one
    /// of them was not multiplexed — summed per PMU; and the region's time, the longest enabled time.
    private func threadTimeOnPMUs() -> ThreadTimeOnPMUs {
        var longest: [String: [Int32: UInt64]] = [:]
        var region: UInt64 = 0
        for (position, group) in groups.enumerated() where group.encoding != nil {
            guard let pmu = group.pmu, let first = group.eventIndices.first,
                let slot = slots[first].first(where: { $0.group == position }), let count = try? delta(slot)
            else { continue }
            longest[pmu, default: [:]][group.cpu] = max(longest[pmu]?[group.cpu] ?? 0, count.timeRunning)
            region = max(region, count.timeEnabled)
        }
        return ThreadTimeOnPMUs(onPMU: longest.mapValues { $0.values.reduce(0, +) }, region: region)
    }

    private func notCountedReason(_ index: Int) -> String {
        guard events[index].isHardware else { return "not counted: the event was not enabled in this region" }
        let partners = slots[index].first.map { groups[$0.group].eventIndices.map { events[$0].name } } ?? []
        var reason =
            "not counted: its group (\(partners.joined(separator: ", "))) never got a hardware counter in this "
            + "region; other groups or programs held the PMU's counters"
        if offcoreHint, events[index] == .llcLoads || events[index] == .llcLoadMisses {
            // arch/x86/events/intel/core.c: the generic LLC events are OFFCORE_RESPONSE events, each needing one of
            // the core's two offcore-response MSRs, which both hyperthreads of a core share
            // (__intel_shared_reg_get_constraints: an MSR holding another value for the sibling is unavailable).
            reason += "; on Intel the LLC events also need the core's offcore-response registers, shared with the "
                + "sibling hyperthread: a program there counting other offcore events holds them"
        }
        if watchdogHint {
            reason += "; the NMI watchdog holds one (perf's hint: as root, echo 0 > /proc/sys/kernel/nmi_watchdog)"
        }
        return reason
    }

    private func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(CounterError) {
        let n = system.read(fd, into: buffer)
        if n < 0 { throw .systemCall(SystemCallError("read(perf group)", Errno(Int32(-n)))) }
        if n != buffer.count { throw .malformedRead("read returned \(n) of \(buffer.count) bytes") }
    }
}

/// How long the thread ran on each core PMU in a region, from the hardware groups' running times.
private struct ThreadTimeOnPMUs {
    var onPMU: [String: UInt64]
    var region: UInt64

    /// The count of an event that `refusedOn` refused: the parts' raw values; enabled, the thread's time on the
    /// counting PMUs (so that it is scaled only for multiplexing there); and what share of the region the thread
    /// spent on the refusing ones.
    func covered(_ parts: [PMUCount], refusedOn: [String]) -> (ScaledCount, PMUCoverage) {
        let counting = parts.map(\.pmu)
        let raw = parts.reduce(UInt64(0)) { $0 &+ $1.count.raw }
        let running = parts.reduce(UInt64(0)) { $0 &+ $1.count.timeRunning }
        let onCounting = counting.reduce(UInt64(0)) { $0 &+ (onPMU[$1] ?? 0) }
        var share: Double?
        if region > 0 {
            if refusedOn.allSatisfy({ onPMU[$0] != nil }) {
                // Other hardware groups opened on the refusing PMUs: their running time is the thread's time there.
                share = min(1, Double(refusedOn.reduce(UInt64(0)) { $0 &+ onPMU[$1]! }) / Double(region))
            } else {
                share = max(0, 1 - Double(onCounting) / Double(region))
            }
        }
        let count = ScaledCount(raw: raw, timeEnabled: max(onCounting, running), timeRunning: running)
        return (count, PMUCoverage(countedOn: counting, refusedOn: refusedOn, refusedShare: share))
    }
}

/// Where an event's part is read: its group, its id, and its place in the group's read (leader 0).
private struct CounterSlot {
    var group: Int
    var id: UInt64
    var position: Int
}

/// One open perf group: a leader file descriptor, its members, and the buffers its reads land in.
private struct CounterGroup {
    var leader: Int32
    var members: [Int32]
    /// The core PMU (`cpu` on a host with one or none); nil for the software group.
    var pmu: String?
    /// How the hardware events reach the PMU; nil for the software group.
    var encoding: HardwareEncoding?
    /// The CPU the group is bound to; -1 when it follows the thread.
    var cpu: Int32
    var eventIndices: [Int]
    var startBuffer: UnsafeMutableRawBufferPointer
    var endBuffer: UnsafeMutableRawBufferPointer

    static func userOnlyAvailability(_ paranoid: Int?, event: PerfEvent? = nil, requested: Bool = false) -> EventAvailability {
        let level = paranoid.map { String($0) } ?? "unknown"
        let lost =
            event == .pageFaults
            ? "page faults taken inside system calls (copy_to_user) are not counted"
            : "the kernel side of send/recv, where the copies happen, is not counted"
        let why = requested ? "as asked" : "perf_event_paranoid = \(level)"
        return .init(state: .userOnly, reason: "user space only (\(why)): \(lost)")
    }
}

private enum OpenResult {
    case opened(fd: Int32, id: UInt64, userOnly: Bool, fallbacks: [AttrFallback])
    case refused(errno: Int32?, EventAvailability)
}

/// Opens a ``CounterSet``'s events: the groups, fallbacks and per-PMU outcomes, before they are fixed.
private struct CounterOpener<System: PerfEventSystem> {
    let events: [PerfEvent]
    let system: System
    let options: CounterOptions
    /// The host as the system describes it, read once.
    let host: HostFacts
    var userOnlyRequested: Bool { options.userOnly }
    var availability: [EventAvailability]
    var modes: [CountingMode?]
    var groups: [CounterGroup] = []
    var slots: [[CounterSlot]]
    /// For each event and core PMU: what became of it there (once per CPU with the legacy encoding per CPU).
    var outcomes: [[(pmu: String?, result: OpenResult)]]
    /// For each event: the core PMUs that refused it while others counted it.
    var refusedOn: [[String]]
    /// Whether perf_event_open is refused to this process outright: once it is, nothing more is opened.
    var access = PerfAccessCheck()
    var refusal: EventAvailability? { access.refusal }
    /// Where hardware groups are opened, and how events reach each core PMU.
    var placements: HardwarePlacements?
    var encodings: [String: HardwareEncoding] { placements?.encodings ?? [:] }

    init(events: [PerfEvent], system: System, options: CounterOptions) {
        self.events = events
        self.system = system
        self.options = options
        host = system.host
        availability = Array(repeating: .counted, count: events.count)
        modes = Array(repeating: nil, count: events.count)
        slots = Array(repeating: [], count: events.count)
        outcomes = Array(repeating: [], count: events.count)
        refusedOn = Array(repeating: [], count: events.count)
    }

    mutating func openAll() {
        access.beforeFirstOpen(system)
        let hardware = PerfEvent.hardwareGroupIndices(events)
        if refusal == nil, !hardware.isEmpty {
            let placements = HardwarePlacements(
                system: system, userOnly: options.userOnly, fallBackToUserOnly: options.fallBackToUserOnly,
                access: &access)
            self.placements = placements
            for placement in placements.placements {
                for group in hardware where refusal == nil {
                    openHardwareGroup(group, placement: placement)
                }
            }
        }
        let other = events.indices.filter { !events[$0].isHardware }
        if refusal == nil, !other.isEmpty { openSoftwareGroup(other) }
        if let refusal {
            // Refused outright: one reason for every event, and nothing left open.
            closeAll()
            for index in events.indices {
                availability[index] = refusal
                modes[index] = nil
            }
            return
        }
        for index in events.indices { settle(index) }
    }

    mutating func closeAll() {
        for group in groups {
            for fd in group.members { system.close(fd) }
            system.close(group.leader)
            group.startBuffer.deallocate()
            group.endBuffer.deallocate()
        }
        groups = []
        slots = Array(repeating: [], count: events.count)
    }

    // MARK: Opening

    func attr(_ index: Int, placement: HardwarePlacement?, leader: Bool) -> AttrOutcome {
        var attr = perf_event_attr()
        attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
        let extendedType = placement?.encoding == .extendedType ? placement?.pmu?.type : nil
        if let (type, config) = events[index].typeAndConfig(extendedType: extendedType) {
            attr.type = type
            attr.config = config
        } else if case .tracepoint(let subsystem, let name) = events[index].source {
            switch system.tracepointID(subsystem: subsystem, name: name) {
            case .success(let id):
                attr.type = PERF_TYPE_TRACEPOINT.rawValue
                attr.config = id
            case .failure(let lookup):
                return .refused(EventAvailability(state: lookup.availability, reason: lookup.reason))
            }
        }
        attr.read_format = UInt64(
            PERF_FORMAT_GROUP.rawValue | PERF_FORMAT_TOTAL_TIME_ENABLED.rawValue
                | PERF_FORMAT_TOTAL_TIME_RUNNING.rawValue | PERF_FORMAT_ID.rawValue)
        attr.disabled = leader ? 1 : 0
        if options.userOnly {
            // perf's :u, asked for: exclude_kernel and exclude_hv together.
            attr.exclude_kernel = 1
            attr.exclude_hv = 1
        }
        return .built(attr)
    }

    enum AttrOutcome {
        case built(perf_event_attr)
        case refused(EventAvailability)
    }

    /// One perf_event_open through `ladder`: starting from the fallbacks `inherited` (a group member takes its
    /// leader's, so that a group shares its exclude bits), then climbing on refusals.
    mutating func openOne(
        _ index: Int, placement: HardwarePlacement?, groupFD: Int32, inherited: [AttrFallback] = [],
        ladder: FallbackLadder
    ) -> OpenResult {
        var attr: perf_event_attr
        switch self.attr(index, placement: placement, leader: groupFD == -1) {
        case .built(let built): attr = built
        case .refused(let why): return .refused(errno: nil, why)
        }
        let outcome: FallbackOutcome
        switch ladder.openEvent(
            &attr, event: events[index], pmu: placement?.pmu, cpu: placement?.cpu ?? -1, groupFD: groupFD,
            inherited: inherited, system: system, access: &access)
        {
        case .success(let opened): outcome = opened
        case .failure(let refused): return .refused(errno: refused.errno, refused.availability)
        }
        let fd = outcome.result
        switch system.id(fd) {
        case .success(let id):
            return .opened(fd: fd, id: id, userOnly: attr.exclude_kernel == 1, fallbacks: inherited + outcome.applied)
        case .failure(let error):
            system.close(fd)
            let code: Int32? = if case .systemCall(let failure) = error { failure.errno.code } else { nil }
            return .refused(errno: nil, .init(state: .failed, reason: error.description, errno: code))
        }
    }

    /// Opens `indices` as one group at `placement`; when the kernel rejects a member for the group (EINVAL from
    /// `validate_group`, EBADF), closes the group and opens each half the same way, down to single events.
    mutating func openHardwareGroup(_ indices: [Int], placement: HardwarePlacement) {
        guard let first = indices.first, refusal == nil else { return }
        let pmuName = placement.pmu?.name
        let ladder = FallbackLadder.counting(excludeKernel: options.fallBackToUserOnly, host: host)
        let leader = openOne(first, placement: placement, groupFD: -1, ladder: ladder)
        guard case .opened(let leaderFD, let leaderID, _, let fallbacks) = leader else {
            outcomes[first].append((pmuName, leader))
            openHardwareGroup(Array(indices.dropFirst()), placement: placement)
            return
        }
        var opened: [(index: Int, fd: Int32, id: UInt64, result: OpenResult)] = [(first, leaderFD, leaderID, leader)]
        var refused: [(index: Int, result: OpenResult)] = []
        for index in indices.dropFirst() {
            let member = openOne(index, placement: placement, groupFD: leaderFD, inherited: fallbacks, ladder: ladder)
            switch member {
            case .opened(let fd, let id, _, _):
                opened.append((index, fd, id, member))
            case .refused(let code, _):
                if refusal != nil || code == EINVAL || code == EBADF {
                    for part in opened.reversed() { system.close(part.fd) }
                    if refusal != nil { return }
                    let half = (indices.count + 1) / 2
                    openHardwareGroup(Array(indices[..<half]), placement: placement)
                    openHardwareGroup(Array(indices[half...]), placement: placement)
                    return
                }
                refused.append((index, member))
            }
        }
        for (index, result) in refused { outcomes[index].append((pmuName, result)) }
        for part in opened { outcomes[part.index].append((pmuName, part.result)) }
        addGroup(
            opened.map { ($0.index, $0.fd, $0.id) }, pmu: pmuName ?? "cpu", encoding: placement.encoding,
            cpu: placement.cpu)
    }

    /// Opens the software events and tracepoints as one group (software events always schedule).
    ///
    /// When the kernel refuses kernel counting (EACCES at `perf_event_paranoid` 2 for a user without
    /// CAP_PERFMON), each event is handled by what `exclude_kernel` does to it (``PerfEvent/userOnlyEffect``):
    /// task-clock is opened with it and still counts everything; page faults are opened user-only and marked
    /// so; context switches, CPU migrations and tracepoints are not permitted, since user-only they read 0.
    mutating func openSoftwareGroup(_ indices: [Int]) {
        var leaderFD: Int32 = -1
        var opened: [(index: Int, fd: Int32, id: UInt64)] = []
        for index in indices where refusal == nil {
            let effect = events[index].userOnlyEffect
            if options.userOnly, effect == .readsZero {
                outcomes[index].append((nil, .refused(errno: nil, Self.readsZeroUserOnly(events[index], requested: true))))
                continue
            }
            let excludeKernel = effect == .ignored || (effect == .countsUserPart && options.fallBackToUserOnly)
            let ladder = FallbackLadder.counting(excludeKernel: excludeKernel, host: host)
            var result = openOne(index, placement: nil, groupFD: leaderFD, ladder: ladder)
            if case .refused(let code?, _) = result, code == EACCES, effect == .readsZero, !options.userOnly,
                refusal == nil
            {
                var why = Self.readsZeroUserOnly(events[index], requested: false)
                why.errno = code
                let level = host.paranoid.map(String.init) ?? "unknown"
                why.reason = "\(Errno(code).name): counting kernel events is not permitted at "
                    + "perf_event_paranoid = \(level), and \(why.reason!)"
                result = .refused(errno: code, why)
            }
            if case .opened(let fd, let id, _, _) = result {
                if leaderFD == -1 { leaderFD = fd }
                opened.append((index, fd, id))
            }
            outcomes[index].append((nil, result))
        }
        if !opened.isEmpty { addGroup(opened, pmu: nil, encoding: nil, cpu: -1) }
    }

    /// Why an event that fires only in kernel context is not counted user-only.
    static func readsZeroUserOnly(_ event: PerfEvent, requested: Bool) -> EventAvailability {
        let fallback =
            event == .contextSwitches
            ? "; context switches come from getrusage (voluntary + involuntary) instead" : ""
        let why =
            "user-only it would always read 0: \(event.name) fires in kernel context "
            + "(kernel/events/core.c perf_exclude_event)\(fallback)"
        if requested {
            return .init(state: .notSupported, reason: "cannot be counted user space only (as asked): \(why)")
        }
        return .init(state: .notPermitted, reason: why)
    }

    mutating func addGroup(
        _ opened: [(index: Int, fd: Int32, id: UInt64)], pmu: String?, encoding: HardwareEncoding?, cpu: Int32
    ) {
        guard let leader = opened.first else { return }
        let size = GroupRead.byteCount(members: opened.count)
        let group = CounterGroup(
            leader: leader.fd, members: opened.dropFirst().map(\.fd), pmu: pmu, encoding: encoding, cpu: cpu,
            eventIndices: opened.map(\.index),
            startBuffer: .allocate(byteCount: size, alignment: 8), endBuffer: .allocate(byteCount: size, alignment: 8))
        for (position, part) in opened.enumerated() {
            slots[part.index].append(CounterSlot(group: groups.count, id: part.id, position: position))
        }
        groups.append(group)
    }

    // MARK: Outcomes

    /// Sets the availability and mode of an event from what became of it on each core PMU (on each of its CPUs
    /// with the legacy encoding per CPU: a PMU counts the event when any of its CPUs does).
    mutating func settle(_ index: Int) {
        let event = events[index]
        var pmuOrder: [String?] = []
        var opened: [String?: [(userOnly: Bool, fallbacks: [AttrFallback])]] = [:]
        var refusals: [String?: EventAvailability] = [:]
        for outcome in outcomes[index] {
            if !pmuOrder.contains(outcome.pmu) { pmuOrder.append(outcome.pmu) }
            switch outcome.result {
            case .opened(_, _, let userOnly, let fallbacks): opened[outcome.pmu, default: []].append((userOnly, fallbacks))
            case .refused(_, let why): if refusals[outcome.pmu] == nil { refusals[outcome.pmu] = why }
            }
        }
        let countedOn = pmuOrder.filter { opened[$0] != nil }
        let refused = pmuOrder.filter { opened[$0] == nil }.map { (pmu: $0, why: refusals[$0]!) }
        guard !countedOn.isEmpty else {
            modes[index] = nil
            if refused.count > 1, Set(refused.map { $0.why.reason ?? "" }).count > 1 {
                var first = refused[0].why
                first.reason = refused.map { "\($0.pmu ?? "?"): \($0.why.description)" }.joined(separator: "; ")
                availability[index] = first
            } else {
                availability[index] = refused.first?.why ?? .init(state: .failed, reason: "not opened")
            }
            return
        }
        let parts = countedOn.flatMap { opened[$0]! }
        let excluded = parts.contains { $0.userOnly }
        var fallbacks: [AttrFallback] = []
        for fallback in parts.flatMap(\.fallbacks) where !fallbacks.contains(fallback) { fallbacks.append(fallback) }
        var status: EventAvailability
        if excluded && event.userOnlyEffect == .ignored {
            modes[index] = .userAndKernel
            status = .init(
                state: .counted,
                reason: "opened with exclude_kernel (perf_event_paranoid = \(host.paranoid.map(String.init) ?? "unknown")); "
                    + "\(event.name) counts kernel time all the same")
        } else if excluded {
            modes[index] = .userOnly
            status = CounterGroup.userOnlyAvailability(host.paranoid, event: event, requested: userOnlyRequested)
        } else {
            modes[index] = .userAndKernel
            status = .counted
        }
        var notes: [String] = []
        if fallbacks.contains(.excludeGuest) { notes.append(AttrFallback.excludeGuestNote("the count is")) }
        if event.isHardware, let legacy = placements?.legacyNote(on: countedOn.compactMap { $0 }) {
            notes.append(legacy)
        }
        if !refused.isEmpty {
            let counting = countedOn.map { $0 ?? "?" }.joined(separator: " and ")
            notes.append(
                "counted on \(counting) only; "
                    + refused.map { "\($0.pmu ?? "?") refused it: \($0.why.description)" }.joined(separator: "; "))
            refusedOn[index] = refused.compactMap(\.pmu)
        }
        if !notes.isEmpty {
            let joined = notes.joined(separator: "; ")
            status.reason = status.reason.map { $0 + "; " + joined } ?? joined
        }
        status.fallbacks = fallbacks.isEmpty ? nil : fallbacks
        availability[index] = status
    }
}
