internal import CPerfEvent

/// One thing the kernel can count for a thread: a hardware event, a generic cache event,
/// a software event or a tracepoint.
///
/// Events have stable names, perf's where perf has one (`cycles`, `L1-dcache-load-misses`,
/// `context-switches`, `skb:skb_copy_datagram_iovec`). Profiles and the command line use these names.
public struct PerfEvent: Hashable, Sendable, CustomStringConvertible {
    /// Where the event comes from, as `perf_event_attr.type` and `.config` encode it.
    public enum Source: Hashable, Sendable {
        /// `PERF_TYPE_HARDWARE` with a `PERF_COUNT_HW_*` config.
        case hardware(config: UInt64)
        /// `PERF_TYPE_HW_CACHE`: config is `cache | operation << 8 | result << 16`.
        case hardwareCache(cache: UInt64, operation: UInt64, result: UInt64)
        /// `PERF_TYPE_SOFTWARE` with a `PERF_COUNT_SW_*` config.
        case software(config: UInt64)
        /// `PERF_TYPE_TRACEPOINT`; the config is the id tracefs gives `subsystem:name`.
        case tracepoint(subsystem: String, name: String)
    }

    /// The stable name, as in profiles and on the command line.
    public let name: String
    /// The kernel encoding.
    public let source: Source
    /// One line on what it counts.
    public let summary: String
    /// What its count counts: `cycles`, `instructions`, `ns` of CPU time, or occurrences (`events`).
    public let unit: EventUnit

    /// Creates an event. Prefer ``PerfEvent/named(_:)`` or the catalog's static members.
    ///
    /// - Parameters:
    ///   - name: the stable name, perf's where perf has one.
    ///   - source: the kernel encoding.
    ///   - summary: one line on what it counts.
    ///   - unit: what its count counts; nil takes the unit the kernel counts this source in
    ///     (``EventUnit/init(counting:)``).
    public init(name: String, source: Source, summary: String, unit: EventUnit? = nil) {
        self.name = name
        self.source = source
        self.summary = summary
        self.unit = unit ?? EventUnit(counting: source)
    }

    /// True for events counted by the CPU's PMU (hardware and cache events); they share scarce counters
    /// and are opened as one group.
    public var isHardware: Bool {
        switch source {
        case .hardware, .hardwareCache: return true
        case .software, .tracepoint: return false
        }
    }

    /// `perf_event_attr.type` and `.config`: a hardware or cache event's with `pmuType` in config bits 32–63 when
    /// given (``HardwareEncoding/extendedType``; include/uapi/linux/perf_event.h `PERF_PMU_TYPE_SHIFT`). Nil for a
    /// tracepoint, whose config is the id tracefs gives it. Counting and sampling both build their attrs with it.
    func typeAndConfig(extendedType pmuType: UInt32? = nil) -> (type: UInt32, config: UInt64)? {
        let pmuBits = UInt64(pmuType ?? 0) << 32
        switch source {
        case .hardware(let config):
            return (PERF_TYPE_HARDWARE.rawValue, config | pmuBits)
        case .hardwareCache(let cache, let operation, let result):
            return (PERF_TYPE_HW_CACHE.rawValue, (cache | operation << 8 | result << 16) | pmuBits)
        case .software(let config):
            return (PERF_TYPE_SOFTWARE.rawValue, config)
        case .tracepoint:
            return nil
        }
    }

    /// What counting user space only (`exclude_kernel`) does to this event's count.
    ///
    /// The kernel drops a software or tracepoint event whose registers at the moment it fires are kernel mode
    /// (kernel/events/core.c `perf_exclude_event`, `perf_tp_event_match`). Context switches, CPU migrations
    /// and tracepoints always fire in kernel context, so user-only they read 0. task-clock and cpu-clock are
    /// time, not fired events, and ignore `exclude_kernel`. Hardware events and page faults keep their
    /// user-mode part (a page fault taken inside `copy_to_user` is a kernel-mode fault and is lost).
    public var userOnlyEffect: UserOnlyEffect {
        switch source {
        case .hardware, .hardwareCache:
            return .countsUserPart
        case .tracepoint:
            return .readsZero
        case .software(let config):
            switch config {
            case UInt64(PERF_COUNT_SW_TASK_CLOCK.rawValue), UInt64(PERF_COUNT_SW_CPU_CLOCK.rawValue):
                return .ignored
            case UInt64(PERF_COUNT_SW_CONTEXT_SWITCHES.rawValue), UInt64(PERF_COUNT_SW_CPU_MIGRATIONS.rawValue):
                return .readsZero
            default:
                return .countsUserPart
            }
        }
    }

    /// The kind of event in one word: `hardware`, `cache`, `software` or `tracepoint`.
    public var kind: String {
        switch source {
        case .hardware: return "hardware"
        case .hardwareCache: return "cache"
        case .software: return "software"
        case .tracepoint: return "tracepoint"
        }
    }

    /// The stable name: an event prints as perf names it.
    public var description: String { name }

    /// Two events are the same when they have the same name and kernel encoding.
    public static func == (lhs: PerfEvent, rhs: PerfEvent) -> Bool { lhs.name == rhs.name && lhs.source == rhs.source }

    /// Hashes the name (equal events have equal names).
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}

/// What an event's count counts, so that a number is never printed without its unit.
public enum EventUnit: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// CPU cycles (`cycles`, and the kernel's other cycle counters).
    case cycles
    /// Retired instructions.
    case instructions
    /// Nanoseconds of CPU time (`task-clock`, `cpu-clock`).
    case nanoseconds = "ns"
    /// Occurrences of the event: cache accesses or misses, mispredicted branches, context switches, CPU
    /// migrations, page faults, tracepoint hits.
    case events

    /// The unit the kernel counts an event of this encoding in: the hardware cycle counters in cycles,
    /// `PERF_COUNT_HW_INSTRUCTIONS` in instructions, the software clocks in nanoseconds, everything else in
    /// occurrences.
    public init(counting source: PerfEvent.Source) {
        switch source {
        case .hardware(let config):
            switch config {
            case UInt64(PERF_COUNT_HW_CPU_CYCLES.rawValue), UInt64(PERF_COUNT_HW_BUS_CYCLES.rawValue),
                UInt64(PERF_COUNT_HW_REF_CPU_CYCLES.rawValue), UInt64(PERF_COUNT_HW_STALLED_CYCLES_FRONTEND.rawValue),
                UInt64(PERF_COUNT_HW_STALLED_CYCLES_BACKEND.rawValue):
                self = .cycles
            case UInt64(PERF_COUNT_HW_INSTRUCTIONS.rawValue):
                self = .instructions
            default:
                self = .events
            }
        case .software(let config):
            switch config {
            case UInt64(PERF_COUNT_SW_TASK_CLOCK.rawValue), UInt64(PERF_COUNT_SW_CPU_CLOCK.rawValue):
                self = .nanoseconds
            default:
                self = .events
            }
        case .hardwareCache, .tracepoint:
            self = .events
        }
    }

    /// The unit as it follows a number: `cycles`, `instructions`, `ns`, `events`.
    public var description: String { rawValue }
}

extension PerfEvent.Source: Codable {}

extension PerfEvent: Codable {
    private enum CodingKeys: String, CodingKey {
        case name, source, summary, unit
    }

    /// Encodes a catalog event or a tracepoint as its name (`"cycles"`, `"skb:skb_copy_datagram_iovec"`), which
    /// ``PerfEvent/named(_:)`` turns back into the event; any other event as its name, encoding, summary and unit.
    public func encode(to encoder: any Encoder) throws {
        if let known = try? PerfEvent.named(name), known == self, known.unit == unit {
            var container = encoder.singleValueContainer()
            try container.encode(name)
            return
        }
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(source, forKey: .source)
        try container.encode(summary, forKey: .summary)
        try container.encode(unit, forKey: .unit)
    }

    /// Decodes what ``encode(to:)`` writes: a name that ``PerfEvent/named(_:)`` knows, or an event in full.
    public init(from decoder: any Decoder) throws {
        if let container = try? decoder.singleValueContainer(), let name = try? container.decode(String.self) {
            do {
                self = try PerfEvent.named(name)
            } catch {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
            }
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try container.decode(String.self, forKey: .name),
            source: try container.decode(Source.self, forKey: .source),
            summary: try container.decode(String.self, forKey: .summary),
            unit: try container.decodeIfPresent(EventUnit.self, forKey: .unit))
    }
}

/// What `exclude_kernel` does to an event's count (see ``PerfEvent/userOnlyEffect``).
public enum UserOnlyEffect: String, Sendable, Codable {
    /// Only the user-mode part is counted (hardware events, page faults): a smaller, user-only value (perf's `:u`).
    case countsUserPart = "counts-user-part"
    /// The count is the same either way (task-clock, cpu-clock).
    case ignored
    /// The event only fires in kernel context, so user-only it always reads 0 (context switches, CPU migrations,
    /// tracepoints): such a count is not a measurement.
    case readsZero = "reads-zero"
}

extension PerfEvent {
    private static func cache(_ cache: perf_hw_cache_id, _ op: perf_hw_cache_op_id, _ result: perf_hw_cache_op_result_id) -> Source {
        .hardwareCache(cache: UInt64(cache.rawValue), operation: UInt64(op.rawValue), result: UInt64(result.rawValue))
    }

    /// CPU cycles (`PERF_COUNT_HW_CPU_CYCLES`).
    public static let cycles = PerfEvent(
        name: "cycles", source: .hardware(config: UInt64(PERF_COUNT_HW_CPU_CYCLES.rawValue)), summary: "CPU cycles")
    /// Retired instructions (`PERF_COUNT_HW_INSTRUCTIONS`).
    public static let instructions = PerfEvent(
        name: "instructions", source: .hardware(config: UInt64(PERF_COUNT_HW_INSTRUCTIONS.rawValue)),
        summary: "retired instructions")
    /// Mispredicted branches (`PERF_COUNT_HW_BRANCH_MISSES`).
    public static let branchMisses = PerfEvent(
        name: "branch-misses", source: .hardware(config: UInt64(PERF_COUNT_HW_BRANCH_MISSES.rawValue)),
        summary: "mispredicted branches")
    /// L1 data cache read accesses.
    public static let l1dLoads = PerfEvent(
        name: "L1-dcache-loads",
        source: cache(PERF_COUNT_HW_CACHE_L1D, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_ACCESS),
        summary: "L1 data cache read accesses")
    /// L1 data cache read misses.
    public static let l1dLoadMisses = PerfEvent(
        name: "L1-dcache-load-misses",
        source: cache(PERF_COUNT_HW_CACHE_L1D, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_MISS),
        summary: "L1 data cache read misses")
    /// Last-level cache read accesses.
    public static let llcLoads = PerfEvent(
        name: "LLC-loads",
        source: cache(PERF_COUNT_HW_CACHE_LL, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_ACCESS),
        summary: "last-level cache read accesses")
    /// Last-level cache read misses.
    public static let llcLoadMisses = PerfEvent(
        name: "LLC-load-misses",
        source: cache(PERF_COUNT_HW_CACHE_LL, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_MISS),
        summary: "last-level cache read misses")
    /// CPU time of the thread in nanoseconds (`PERF_COUNT_SW_TASK_CLOCK`).
    public static let taskClock = PerfEvent(
        name: "task-clock", source: .software(config: UInt64(PERF_COUNT_SW_TASK_CLOCK.rawValue)),
        summary: "CPU time of the thread, ns")
    /// Context switches (`PERF_COUNT_SW_CONTEXT_SWITCHES`).
    public static let contextSwitches = PerfEvent(
        name: "context-switches", source: .software(config: UInt64(PERF_COUNT_SW_CONTEXT_SWITCHES.rawValue)),
        summary: "context switches, voluntary and involuntary")
    /// Migrations to another CPU (`PERF_COUNT_SW_CPU_MIGRATIONS`).
    public static let cpuMigrations = PerfEvent(
        name: "cpu-migrations", source: .software(config: UInt64(PERF_COUNT_SW_CPU_MIGRATIONS.rawValue)),
        summary: "moves of the thread to another CPU")
    /// Page faults (`PERF_COUNT_SW_PAGE_FAULTS`).
    public static let pageFaults = PerfEvent(
        name: "page-faults", source: .software(config: UInt64(PERF_COUNT_SW_PAGE_FAULTS.rawValue)),
        summary: "page faults, minor and major")
    /// The kernel's copies of received data into user memory (`skb:skb_copy_datagram_iovec`).
    public static let skbCopyDatagramIovec = PerfEvent(
        name: "skb:skb_copy_datagram_iovec", source: .tracepoint(subsystem: "skb", name: "skb_copy_datagram_iovec"),
        summary: "kernel copies of received socket data to user memory (tracepoint)")

    /// Every event copyprof knows by name, in the order it reports them.
    public static let catalog: [PerfEvent] = [
        .cycles, .instructions, .l1dLoads, .l1dLoadMisses, .llcLoads, .llcLoadMisses, .branchMisses,
        .taskClock, .contextSwitches, .cpuMigrations, .pageFaults, .skbCopyDatagramIovec,
    ]

    /// Looks an event up by its catalog name, or takes `subsystem:name` as a tracepoint.
    ///
    /// - Throws: ``CounterError/unknownEvent(_:)`` when the name is neither.
    public static func named(_ name: String) throws(CounterError) -> PerfEvent {
        if let event = catalog.first(where: { $0.name == name }) { return event }
        let parts = name.split(separator: ":", omittingEmptySubsequences: false)
        let isWord = { (s: Substring) in
            !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        }
        if parts.count == 2, isWord(parts[0]), isWord(parts[1]) {
            return PerfEvent(
                name: name, source: .tracepoint(subsystem: String(parts[0]), name: String(parts[1])),
                summary: "tracepoint \(name)")
        }
        throw .unknownEvent(name)
    }

    /// Parses a comma-separated list of event names (`cycles,task-clock,skb:skb_copy_datagram_iovec`).
    public static func list(_ names: String) throws(CounterError) -> [PerfEvent] {
        var events: [PerfEvent] = []
        for part in names.split(separator: ",") {
            let name = part.trimmingWhitespace()
            if name.isEmpty { continue }
            let event = try named(name)
            if !events.contains(event) { events.append(event) }
        }
        if events.isEmpty { throw .unknownEvent(names) }
        return events
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        var s = self
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
