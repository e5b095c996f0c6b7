/// Which privilege levels a value covers.
public enum CountingMode: String, Sendable, Hashable, Codable {
    /// User and kernel space: the kernel side of send/recv, where the copies are, is in the count.
    case userAndKernel = "user+kernel"
    /// User space only (`exclude_kernel`, `exclude_hv`): perf's `:u`. The kernel's copies are not in the count.
    case userOnly = "user-only"

    /// perf's suffix for the mode: `:u` for user-only, empty otherwise.
    public var perfSuffix: String { self == .userOnly ? ":u" : "" }
}

/// Where a value comes from.
public enum ReadingSource: String, Sendable, Hashable, Codable {
    /// A perf_event_open counter of the thread.
    case perfEvent = "perf_event"
    /// getrusage(RUSAGE_THREAD) of the thread.
    case rusage = "getrusage"
}

/// One core PMU's part of a hardware event's value (hybrid CPUs have one part per core type).
public struct PMUCount: Sendable, Hashable, Codable {
    /// The core PMU's name (`cpu`, `cpu_core`, `cpu_atom`, ...).
    public var pmu: String
    /// The raw delta and the times of this PMU's group.
    public var count: ScaledCount

    /// Creates one core PMU's part of a value.
    public init(pmu: String, count: ScaledCount) {
        self.pmu = pmu
        self.count = count
    }
}

/// How much of a hardware event's region a hybrid CPU's core types covered, when one of them refused the event.
///
/// A core type that refuses an event is not multiplexing: while the thread runs there, nothing counts it, and
/// scaling the other types' count by enabled/running would invent that time's count from theirs. A reading with a
/// coverage holds the count on ``countedOn`` only, and says how long the thread ran on ``refusedOn``.
public struct PMUCoverage: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The core PMUs that counted the event (`cpu_core`).
    public var countedOn: [String]
    /// The core PMUs that refused it (`cpu_atom`).
    public var refusedOn: [String]
    /// The share of the region (0…1) the thread ran on the refusing PMUs, from the running times of the hardware
    /// groups that did open there or, lacking those, from what the counting PMUs' groups left; an upper bound when
    /// those groups were multiplexed. Nil when unknown.
    public var refusedShare: Double?

    /// A coverage; the fields are as their properties say.
    public init(countedOn: [String], refusedOn: [String], refusedShare: Double?) {
        self.countedOn = countedOn
        self.refusedOn = refusedOn
        self.refusedShare = refusedShare
    }

    /// `counted on cpu_core only (the thread ran 37% of its time on cpu_atom)`.
    public var description: String {
        let counted = countedOn.joined(separator: " and ")
        let refused = refusedOn.joined(separator: " and ")
        guard let share = refusedShare else {
            return "counted on \(counted) only (\(refused) refused it; the thread's time there is unknown)"
        }
        let percent = share > 0 && share < 0.005 ? "<1" : String(Int((share * 100).rounded()))
        return "counted on \(counted) only (the thread ran \(percent)% of its time on \(refused))"
    }
}

/// The value of one event over a region: the exact raw delta, the times to scale it by, its mode and source,
/// each core PMU's part, and why there is no value when there is none.
///
/// ``raw`` is the exact count of the region while the counter ran, a `UInt64`; ``value`` is the estimate of the
/// whole region's count, `raw × enabled / running` (equal to `raw` unless the kernel multiplexed the counter);
/// ``runningFraction`` says how much of the region was counted. A reading prints with its unit, for example:
///
/// ```
/// task-clock: 10208471 ns
/// cycles: ≈ 85413456 cycles (scaled: counted 52% of the region, raw 44414997)
/// instructions: not counted (not-supported: ENOENT: no hardware PMU offers this event ...)
/// ```
public struct CounterReading: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The event read. Its ``PerfEvent/name`` is the stable name; its ``PerfEvent/unit`` the unit of the count.
    public var event: PerfEvent
    /// Counted, user-only, or why not (as it was opened).
    public var availability: EventAvailability
    /// The raw delta and the group's times, summed over core PMUs; nil when the event was not opened.
    public var count: ScaledCount?
    /// The privilege levels the value covers; nil when not opened. task-clock is `user+kernel` even when opened
    /// with `exclude_kernel`, which it ignores.
    public var mode: CountingMode?
    /// Where the value comes from.
    public var source: ReadingSource
    /// Each core PMU's part of a hardware event (one part on most machines, one per core type on hybrid CPUs);
    /// empty for software events and tracepoints.
    public var parts: [PMUCount]
    /// Why there is no value, when there is none: the open failed, or the group never ran in the region.
    public var reason: String?
    /// Set when a core type of a hybrid CPU refused the event: ``count`` and ``value`` then hold the count on the
    /// core types that counted it, not extrapolated to the thread's time on the others.
    public var coverage: PMUCoverage?

    /// A reading of an event opened as `availability` says: user-only when it was opened user-only.
    public init(event: PerfEvent, availability: EventAvailability, count: ScaledCount?) {
        self.init(
            event: event, availability: availability, count: count,
            mode: availability.isOpen ? (availability.state == .userOnly ? .userOnly : .userAndKernel) : nil,
            source: .perfEvent, parts: [], reason: nil)
    }

    /// A reading with every field given. A nil `reason` is filled in when there is no value: the availability's
    /// description when the event was not opened, "not counted" when its group never ran in the region.
    public init(
        event: PerfEvent, availability: EventAvailability, count: ScaledCount?, mode: CountingMode?,
        source: ReadingSource = .perfEvent, parts: [PMUCount] = [], reason: String?, coverage: PMUCoverage? = nil
    ) {
        self.event = event
        self.availability = availability
        self.count = count
        self.mode = mode
        self.source = source
        self.parts = parts
        self.coverage = coverage
        if reason == nil, count == nil || count?.wasCounted == false {
            self.reason = count == nil ? availability.description : "not counted: the group never ran in the region"
        } else {
            self.reason = reason
        }
    }

    /// The estimate of the region's count in ``unit``: ``raw`` when the counter ran all along, else
    /// `raw × enabled / running` (perf's scaling). Nil when not opened or never scheduled in the region
    /// ("not counted", never 0). With a ``coverage``, the count on the core types that counted the event.
    public var value: Double? { count?.value }

    /// The exact count while the counter ran (summed over core PMUs), in ``unit``; nil when not opened.
    /// It is the whole region's count when ``isScaled`` is false; when the group never ran it is 0 and means
    /// nothing (``value`` is then nil).
    public var raw: UInt64? { count?.raw }

    /// The exact count of the whole region: ``raw`` when the counter ran all along; nil when the value is an
    /// estimate (scaled), not counted, or not opened.
    public var exactValue: UInt64? {
        guard let count, count.wasCounted, !count.isScaled else { return nil }
        if let coverage, coverage.refusedShare != 0 { return nil }
        return count.raw
    }

    /// `running / enabled` of the region: 1 when counted all along, below 1 when multiplexed, 0 when the group
    /// never ran; nil when not opened or the region had no enabled time.
    public var runningFraction: Double? { count?.runningFraction }

    /// True when the value is an estimate scaled from part of the region.
    public var isScaled: Bool { count?.isScaled ?? false }

    /// The unit of ``raw`` and ``value``: the event's.
    public var unit: EventUnit { event.unit }

    /// One line: the event, its value and unit, how it was counted, or why there is no value.
    public var description: String {
        guard let value, let count else {
            return "\(event.name): not counted (\(reason ?? availability.description))"
        }
        var notes: [String] = []
        var text: String
        if count.isScaled {
            let percent = Int(((count.runningFraction ?? 0) * 100).rounded())
            text = "≈ \(value < 1.8e19 ? String(UInt64(value.rounded())) : String(value)) \(unit)"
            notes.append("scaled: counted \(percent)% of the region, raw \(count.raw)")
        } else {
            text = "\(count.raw) \(unit)"
        }
        if let coverage { notes.append(coverage.description) }
        if mode == .userOnly { notes.append("user-only") }
        if source == .rusage { notes.append("getrusage") }
        return "\(event.name): \(text)" + (notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))")
    }

    private enum CodingKeys: String, CodingKey {
        case event, availability, count, mode, source, parts, reason, coverage
    }

    /// Reads readings written before mode, source, parts and coverage existed: mode then follows the availability.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let availability = try c.decode(EventAvailability.self, forKey: .availability)
        let count = try c.decodeIfPresent(ScaledCount.self, forKey: .count)
        self.init(
            event: try c.decode(PerfEvent.self, forKey: .event), availability: availability, count: count,
            mode: try c.decodeIfPresent(CountingMode.self, forKey: .mode)
                ?? (availability.isOpen ? (availability.state == .userOnly ? .userOnly : .userAndKernel) : nil),
            source: try c.decodeIfPresent(ReadingSource.self, forKey: .source) ?? .perfEvent,
            parts: try c.decodeIfPresent([PMUCount].self, forKey: .parts) ?? [],
            reason: try c.decodeIfPresent(String.self, forKey: .reason),
            coverage: try c.decodeIfPresent(PMUCoverage.self, forKey: .coverage))
    }

    /// Writes the event by name (see ``PerfEvent/encode(to:)``), the availability, the count, mode, source,
    /// parts (when there are any), the reason and the coverage (when a core type refused the event).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(event, forKey: .event)
        try c.encode(availability, forKey: .availability)
        try c.encodeIfPresent(count, forKey: .count)
        try c.encodeIfPresent(mode, forKey: .mode)
        try c.encode(source, forKey: .source)
        if !parts.isEmpty { try c.encode(parts, forKey: .parts) }
        try c.encodeIfPresent(reason, forKey: .reason)
        try c.encodeIfPresent(coverage, forKey: .coverage)
    }
}

/// A value with where it came from and what it covers.
public struct SourcedValue: Sendable, Hashable, Codable {
    /// The value (an estimate when `isScaled`).
    public var value: Double
    /// perf_event or getrusage.
    public var source: ReadingSource
    /// The privilege levels it covers.
    public var mode: CountingMode
    /// True when scaled from part of the region.
    public var isScaled: Bool
    /// Why this source was used, when it is the fallback.
    public var note: String?

    /// Creates a value with its source and mode.
    public init(value: Double, source: ReadingSource, mode: CountingMode, isScaled: Bool = false, note: String? = nil) {
        self.value = value
        self.source = source
        self.mode = mode
        self.isScaled = isScaled
        self.note = note
    }
}

extension RegionMeasurement {
    /// The region's context switches from the best source there is, never a false 0: perf's
    /// `context-switches` when it was counted (user and kernel), else getrusage's voluntary + involuntary
    /// switches of the thread, which need no permission.
    public var contextSwitchFigure: SourcedValue {
        let fromRusage = Double(usage.contextSwitches)
        guard let reading = reading(.contextSwitches) else { return usage.contextSwitchFigure }
        if let value = reading.value, reading.mode == .userAndKernel {
            return SourcedValue(value: value, source: .perfEvent, mode: .userAndKernel, isScaled: reading.isScaled)
        }
        return SourcedValue(
            value: fromRusage, source: .rusage, mode: .userAndKernel,
            note: "context-switches: \(reading.reason ?? reading.availability.description)")
    }
}
