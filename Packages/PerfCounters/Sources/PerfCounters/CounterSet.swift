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
    /// The events in the group, leader first, with perf's `:u` on those counted user-only.
    public var events: [String]
}

/// The counters of the calling thread, opened as perf does, over any ``PerfEventSystem``.
///
/// Hardware events are opened in small groups (``PerfEvent/hardwareGroups(_:)``), once per core PMU on hybrid
/// CPUs with the PMU's type in config bits 32–63; software events and tracepoints form one more group, which
/// always schedules. A group the kernel rejects at open is reopened in halves, then event by event, before an
/// event is refused (perf's weak groups: tools/perf/util/evlist.c `evlist__reset_weak_group`).
///
/// A region's value is the delta of a read before and after it; an event's value is the sum of its core PMUs'
/// parts, scaled by enabled / (summed running) only where the summed running time falls short.
package final class CounterSet<System: PerfEventSystem> {
    package let events: [PerfEvent]
    package let system: System
    /// What became of each event when it was opened.
    package let availability: [EventAvailability]
    /// The privilege levels each opened event covers; nil when not opened.
    package let modes: [CountingMode?]

    /// The open groups. Set once in init: reading them in start/stop needs no exclusivity check.
    private let groups: [CounterGroup]
    /// For each event: where each of its parts is read (one per core PMU for hardware events).
    private let slots: [[CounterSlot]]
    private let watchdogHint: Bool
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
        groups = opener.groups
        slots = opener.slots
        watchdogHint = system.host.nmiWatchdog == true
    }

    deinit {
        for group in groups {
            for fd in group.members { system.close(fd) }
            system.close(group.leader)
            group.startBuffer.deallocate()
            group.endBuffer.deallocate()
        }
    }

    /// The groups as opened.
    package var groupDescriptions: [CounterGroupDescription] {
        groups.map { group in
            CounterGroupDescription(
                pmu: group.pmu,
                events: group.eventIndices.map { events[$0].name + (modes[$0]?.perfSuffix ?? "") })
        }
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
            if result != 0 { throw .systemCall("ioctl(PERF_EVENT_IOC_ENABLE)", errno: -result) }
        }
        running = true
    }

    /// Disables every group, reads the end values and returns each event's reading, in the order of `events`.
    package func stop() throws(CounterError) -> [CounterReading] {
        if !running { throw .misuse("stop() called without start()") }
        running = false
        for group in groups {
            let result = system.disableGroup(group.leader)
            if result != 0 { throw .systemCall("ioctl(PERF_EVENT_IOC_DISABLE)", errno: -result) }
        }
        for group in groups {
            try read(group.leader, into: group.endBuffer)
        }
        var readings: [CounterReading] = []
        readings.reserveCapacity(events.count)
        for index in events.indices { readings.append(try reading(index)) }
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

    private func reading(_ index: Int) throws(CounterError) -> CounterReading {
        let event = events[index]
        let slots = self.slots[index]
        guard let first = slots.first else {
            return CounterReading(
                event: event, availability: availability[index], count: nil, mode: nil,
                reason: availability[index].description)
        }
        let combined: ScaledCount
        var parts: [PMUCount] = []
        if slots.count > 1 || groups[first.group].pmu != nil {
            parts.reserveCapacity(slots.count)
            for slot in slots { parts.append(PMUCount(pmu: groups[slot.group].pmu ?? "cpu", count: try delta(slot))) }
            combined = Self.sum(parts.map(\.count))!
        } else {
            combined = try delta(first)
        }
        return CounterReading(
            event: event, availability: availability[index], count: combined, mode: modes[index],
            source: .perfEvent, parts: parts, reason: combined.wasCounted ? nil : notCountedReason(index))
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

    private func notCountedReason(_ index: Int) -> String {
        guard events[index].isHardware else { return "not counted: the event was not enabled in this region" }
        let partners = slots[index].first.map { groups[$0.group].eventIndices.map { events[$0].name } } ?? []
        var reason =
            "not counted: its group (\(partners.joined(separator: ", "))) never got a hardware counter in this "
            + "region; other groups or programs held the PMU's counters"
        if watchdogHint {
            reason += "; the NMI watchdog holds one (perf's hint: as root, echo 0 > /proc/sys/kernel/nmi_watchdog)"
        }
        return reason
    }

    private func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(CounterError) {
        let n = system.read(fd, into: buffer)
        if n < 0 { throw .systemCall("read(perf group)", errno: Int32(-n)) }
        if n != buffer.count { throw .malformedRead("read returned \(n) of \(buffer.count) bytes") }
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
    var pmu: String?
    var eventIndices: [Int]
    var userOnly: Bool
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
    case opened(fd: Int32, id: UInt64, userOnly: Bool)
    case refused(errno: Int32?, EventAvailability)
}

/// Opens a ``CounterSet``'s events: the groups, fallbacks and per-PMU outcomes, before they are fixed.
private struct CounterOpener<System: PerfEventSystem> {
    let events: [PerfEvent]
    let system: System
    let options: CounterOptions
    var userOnlyRequested: Bool { options.userOnly }
    var availability: [EventAvailability]
    var modes: [CountingMode?]
    var groups: [CounterGroup] = []
    var slots: [[CounterSlot]]
    /// For each event and core PMU: what became of it there.
    var outcomes: [[(pmu: String?, result: OpenResult)]]

    init(events: [PerfEvent], system: System, options: CounterOptions) {
        self.events = events
        self.system = system
        self.options = options
        availability = Array(repeating: .counted, count: events.count)
        modes = Array(repeating: nil, count: events.count)
        slots = Array(repeating: [], count: events.count)
        outcomes = Array(repeating: [], count: events.count)
    }

    mutating func openAll() {
        let hardware = PerfEvent.hardwareGroupIndices(events)
        if !hardware.isEmpty {
            // One core PMU: the legacy encoding (config bits 32-63 zero) reaches it on every kernel. Several:
            // each PMU's type in bits 32-63, or the event opens on one core type only.
            let pmus: [CorePMU?] = system.host.corePMUs.isEmpty ? [nil] : system.host.corePMUs
            for pmu in pmus {
                for group in hardware {
                    openHardwareGroup(group, pmu: pmu, extendedType: system.host.isHybrid, options: options)
                }
            }
        }
        let other = events.indices.filter { !events[$0].isHardware }
        if !other.isEmpty { openSoftwareGroup(other, options: options) }
        for index in events.indices { settle(index) }
    }

    // MARK: Opening

    func attr(_ index: Int, pmu: CorePMU?, extendedType: Bool, userOnly: Bool, leader: Bool)
        -> AttrOutcome
    {
        var attr = perf_event_attr()
        attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
        let pmuBits = extendedType ? UInt64(pmu?.type ?? 0) << 32 : 0
        switch events[index].source {
        case .hardware(let config):
            attr.type = PERF_TYPE_HARDWARE.rawValue
            attr.config = config | pmuBits
        case .hardwareCache(let cache, let op, let result):
            attr.type = PERF_TYPE_HW_CACHE.rawValue
            attr.config = (cache | op << 8 | result << 16) | pmuBits
        case .software(let config):
            attr.type = PERF_TYPE_SOFTWARE.rawValue
            attr.config = config
        case .tracepoint(let subsystem, let name):
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
        attr.exclude_kernel = userOnly ? 1 : 0
        attr.exclude_hv = userOnly ? 1 : 0
        return .built(attr)
    }

    enum AttrOutcome {
        case built(perf_event_attr)
        case refused(EventAvailability)
    }

    /// One perf_event_open, no fallback.
    func openOne(_ index: Int, pmu: CorePMU?, extendedType: Bool, groupFD: Int32, userOnly: Bool) -> OpenResult {
        var attr: perf_event_attr
        switch self.attr(index, pmu: pmu, extendedType: extendedType, userOnly: userOnly, leader: groupFD == -1) {
        case .built(let built): attr = built
        case .refused(let why): return .refused(errno: nil, why)
        }
        let fd = system.open(&attr, groupFD: groupFD)
        if fd < 0 {
            return .refused(
                errno: -fd,
                EventAvailability.classify(
                    errno: -fd, event: events[index], paranoid: system.host.paranoid,
                    attrSize: MemoryLayout<perf_event_attr>.size, host: system.host,
                    pmu: system.host.isHybrid ? pmu?.name : nil))
        }
        switch system.id(fd) {
        case .success(let id):
            return .opened(fd: fd, id: id, userOnly: userOnly)
        case .failure(let error):
            system.close(fd)
            let code: Int32? = if case .systemCall(_, let errno) = error { errno } else { nil }
            return .refused(errno: nil, .init(state: .failed, reason: error.description, errno: code))
        }
    }

    static func refusedForPermission(_ result: OpenResult) -> Bool {
        if case .refused(let code?, _) = result { return code == EACCES || code == EPERM }
        return false
    }

    /// Opens `indices` as one group on `pmu`; when the kernel rejects a member for the group (EINVAL from
    /// `validate_group`, EBADF), closes the group and opens each half the same way, down to single events.
    mutating func openHardwareGroup(_ indices: [Int], pmu: CorePMU?, extendedType: Bool, options: CounterOptions) {
        guard let first = indices.first else { return }
        var userOnly = options.userOnly
        var leader = openOne(first, pmu: pmu, extendedType: extendedType, groupFD: -1, userOnly: userOnly)
        if Self.refusedForPermission(leader), !userOnly, options.fallBackToUserOnly {
            // perf's fallback (tools/perf/util/evsel.c evsel__fallback): exclude_kernel, exclude_hv, marked :u.
            userOnly = true
            leader = openOne(first, pmu: pmu, extendedType: extendedType, groupFD: -1, userOnly: true)
        }
        guard case .opened(let leaderFD, let leaderID, _) = leader else {
            outcomes[first].append((pmu?.name, leader))
            openHardwareGroup(Array(indices.dropFirst()), pmu: pmu, extendedType: extendedType, options: options)
            return
        }
        var opened: [(index: Int, fd: Int32, id: UInt64)] = [(first, leaderFD, leaderID)]
        var refused: [(index: Int, result: OpenResult)] = []
        for index in indices.dropFirst() {
            let member = openOne(index, pmu: pmu, extendedType: extendedType, groupFD: leaderFD, userOnly: userOnly)
            switch member {
            case .opened(let fd, let id, _):
                opened.append((index, fd, id))
            case .refused(let code, _):
                if code == EINVAL || code == EBADF {
                    for part in opened.reversed() { system.close(part.fd) }
                    let half = (indices.count + 1) / 2
                    openHardwareGroup(Array(indices[..<half]), pmu: pmu, extendedType: extendedType, options: options)
                    openHardwareGroup(Array(indices[half...]), pmu: pmu, extendedType: extendedType, options: options)
                    return
                }
                refused.append((index, member))
            }
        }
        for (index, result) in refused { outcomes[index].append((pmu?.name, result)) }
        for part in opened { outcomes[part.index].append((pmu?.name, .opened(fd: part.fd, id: part.id, userOnly: userOnly))) }
        addGroup(opened, pmu: pmu?.name ?? "cpu", userOnly: userOnly)
    }

    /// Opens the software events and tracepoints as one group (software events always schedule).
    ///
    /// When the kernel refuses kernel counting (EACCES/EPERM at `perf_event_paranoid` 2 for a user without
    /// CAP_PERFMON), each event is handled by what `exclude_kernel` does to it (``PerfEvent/userOnlyEffect``):
    /// task-clock is opened with it and still counts everything; page faults are opened user-only and marked
    /// so; context switches, CPU migrations and tracepoints are not permitted, since user-only they read 0.
    mutating func openSoftwareGroup(_ indices: [Int], options: CounterOptions) {
        var leaderFD: Int32 = -1
        var opened: [(index: Int, fd: Int32, id: UInt64)] = []
        for index in indices {
            let effect = events[index].userOnlyEffect
            if options.userOnly, effect == .readsZero {
                outcomes[index].append((nil, .refused(errno: nil, Self.readsZeroUserOnly(events[index], requested: true))))
                continue
            }
            var result = openOne(index, pmu: nil, extendedType: false, groupFD: leaderFD, userOnly: options.userOnly)
            if Self.refusedForPermission(result), !options.userOnly {
                switch effect {
                case .readsZero:
                    if case .refused(let code, _) = result {
                        var why = Self.readsZeroUserOnly(events[index], requested: false)
                        why.errno = code
                        let level = system.host.paranoid.map(String.init) ?? "unknown"
                        why.reason = "\(Errno(code ?? EACCES).name): counting kernel events is not permitted at "
                            + "perf_event_paranoid = \(level), and \(why.reason!)"
                        result = .refused(errno: code, why)
                    }
                case .ignored:
                    result = openOne(index, pmu: nil, extendedType: false, groupFD: leaderFD, userOnly: true)
                case .countsUserPart:
                    if options.fallBackToUserOnly {
                        result = openOne(index, pmu: nil, extendedType: false, groupFD: leaderFD, userOnly: true)
                    }
                }
            }
            if case .opened(let fd, let id, _) = result {
                if leaderFD == -1 { leaderFD = fd }
                opened.append((index, fd, id))
            }
            outcomes[index].append((nil, result))
        }
        if !opened.isEmpty { addGroup(opened, pmu: nil, userOnly: options.userOnly) }
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

    mutating func addGroup(_ opened: [(index: Int, fd: Int32, id: UInt64)], pmu: String?, userOnly: Bool) {
        guard let leader = opened.first else { return }
        let size = GroupRead.byteCount(members: opened.count)
        let group = CounterGroup(
            leader: leader.fd, members: opened.dropFirst().map(\.fd), pmu: pmu, eventIndices: opened.map(\.index),
            userOnly: userOnly,
            startBuffer: .allocate(byteCount: size, alignment: 8), endBuffer: .allocate(byteCount: size, alignment: 8))
        for (position, part) in opened.enumerated() {
            slots[part.index].append(CounterSlot(group: groups.count, id: part.id, position: position))
        }
        groups.append(group)
    }

    /// Sets the availability and mode of an event from what became of it on each core PMU.
    mutating func settle(_ index: Int) {
        let event = events[index]
        var openedUserOnly: [Bool] = []
        var refusals: [(pmu: String?, why: EventAvailability)] = []
        for outcome in outcomes[index] {
            switch outcome.result {
            case .opened(_, _, let userOnly): openedUserOnly.append(userOnly)
            case .refused(_, let why): refusals.append((outcome.pmu, why))
            }
        }
        guard !openedUserOnly.isEmpty else {
            modes[index] = nil
            if refusals.count > 1, Set(refusals.map { $0.why.reason ?? "" }).count > 1 {
                var first = refusals[0].why
                first.reason = refusals.map { "\($0.pmu ?? "?"): \($0.why.description)" }.joined(separator: "; ")
                availability[index] = first
            } else {
                availability[index] = refusals.first?.why ?? .init(state: .failed, reason: "not opened")
            }
            return
        }
        let excluded = openedUserOnly.contains(true)
        var status: EventAvailability
        if excluded && event.userOnlyEffect == .ignored {
            modes[index] = .userAndKernel
            status = .init(
                state: .counted,
                reason: "opened with exclude_kernel (perf_event_paranoid = \(system.host.paranoid.map(String.init) ?? "unknown")); "
                    + "\(event.name) counts kernel time all the same")
        } else if excluded {
            modes[index] = .userOnly
            status = CounterGroup.userOnlyAvailability(system.host.paranoid, event: event, requested: userOnlyRequested)
        } else {
            modes[index] = .userAndKernel
            status = .counted
        }
        if !refusals.isEmpty {
            let missing = refusals.map { "not on \($0.pmu ?? "?"): \($0.why.description)" }.joined(separator: "; ")
            status.reason = status.reason.map { $0 + "; " + missing } ?? missing
        }
        availability[index] = status
    }


}
