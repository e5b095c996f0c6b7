/// One `read()` of a counter group opened with
/// `PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID`.
///
/// The kernel writes native-endian 64-bit words: `nr`, `time_enabled`, `time_running`, then `nr` pairs
/// `{value, id}` (perf_event_open(2), "Reading results"). The times belong to the whole group.
public struct GroupRead: Sendable, Equatable {
    /// Nanoseconds the group was enabled.
    public var timeEnabled: UInt64
    /// Nanoseconds the group was scheduled on a PMU; less than `timeEnabled` when multiplexed, 0 when never.
    public var timeRunning: UInt64
    /// `(id, value)` for each member, leader first.
    public var values: [(id: UInt64, value: UInt64)]

    /// A read with these times and members.
    public init(timeEnabled: UInt64, timeRunning: UInt64, values: [(id: UInt64, value: UInt64)]) {
        self.timeEnabled = timeEnabled
        self.timeRunning = timeRunning
        self.values = values
    }

    /// Equal times and equal members in the same order.
    public static func == (a: GroupRead, b: GroupRead) -> Bool {
        a.timeEnabled == b.timeEnabled && a.timeRunning == b.timeRunning
            && a.values.elementsEqual(b.values, by: { $0.id == $1.id && $0.value == $1.value })
    }

    /// Bytes a read of a group of `members` events needs: `8 * 3 + members * 16`
    /// (tools/lib/perf/evsel.c `perf_evsel__read_size`). A smaller buffer makes read() fail with ENOSPC.
    public static func byteCount(members: Int) -> Int { 8 * 3 + members * 16 }

    /// Decodes the bytes of one group read.
    ///
    /// - Throws: ``CounterError/malformedRead(_:)`` when the length does not match `nr`.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(CounterError) -> GroupRead {
        guard bytes.count >= 24 else {
            throw .malformedRead("\(bytes.count) bytes, fewer than the 24 of the header")
        }
        func word(_ index: Int) -> UInt64 { bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self) }
        let nr = word(0)
        guard nr <= 4096, bytes.count == byteCount(members: Int(nr)) else {
            throw .malformedRead("nr = \(nr) needs \(nr <= 4096 ? byteCount(members: Int(nr)) : -1) bytes, got \(bytes.count)")
        }
        var values: [(id: UInt64, value: UInt64)] = []
        values.reserveCapacity(Int(nr))
        for i in 0..<Int(nr) {
            values.append((id: word(3 + 2 * i + 1), value: word(3 + 2 * i)))
        }
        return GroupRead(timeEnabled: word(1), timeRunning: word(2), values: values)
    }

    /// The value of the member with this id, or nil.
    public func value(id: UInt64) -> UInt64? {
        values.first(where: { $0.id == id })?.value
    }
}

/// A counter's value over a region, scaled for multiplexing the way perf does
/// (tools/lib/perf/evsel.c `perf_counts_values__scale`).
public struct ScaledCount: Sendable, Hashable, Codable {
    /// The raw delta the counter advanced by.
    public var raw: UInt64
    /// Nanoseconds the group was enabled in the region.
    public var timeEnabled: UInt64
    /// Nanoseconds the group was on a PMU in the region.
    public var timeRunning: UInt64

    /// A count with the times to scale it by.
    public init(raw: UInt64, timeEnabled: UInt64, timeRunning: UInt64) {
        self.raw = raw
        self.timeEnabled = timeEnabled
        self.timeRunning = timeRunning
    }

    /// False when the group never ran in the region: the value is unknown, not 0.
    public var wasCounted: Bool { timeRunning > 0 }

    /// True when the group ran part of the time and the value is an estimate.
    public var isScaled: Bool { timeRunning > 0 && timeRunning < timeEnabled }

    /// `running / enabled`: 1 when counted all along; nil when the region had no enabled time.
    public var runningFraction: Double? {
        timeEnabled == 0 ? nil : Double(timeRunning) / Double(timeEnabled)
    }

    /// The estimate of the full count: `raw * enabled / running`; `raw` when not multiplexed;
    /// nil when the group never ran (perf prints `<not counted>`).
    public var value: Double? {
        guard timeRunning > 0 else { return nil }
        if timeRunning >= timeEnabled { return Double(raw) }
        return Double(raw) * Double(timeEnabled) / Double(timeRunning)
    }

    /// The delta between two reads of the same group for the member with `id`.
    /// Counters and times only grow; PERF_EVENT_IOC_RESET does not reset the times, which is why regions are deltas.
    public static func delta(from start: GroupRead, to end: GroupRead, id: UInt64) -> ScaledCount? {
        guard let a = start.value(id: id), let b = end.value(id: id) else { return nil }
        return ScaledCount(
            raw: b &- a, timeEnabled: end.timeEnabled &- start.timeEnabled,
            timeRunning: end.timeRunning &- start.timeRunning)
    }
}
