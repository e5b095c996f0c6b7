/// The profile's own records of what the lower layers measured. Each mirrors, field for field, what schema version
/// 1 stored, so the file format does not change when a type of the counters or transports modules does; the sweep
/// module fills them in.

/// Which privilege levels a counter value covers.
public enum CountingMode: String, Codable, Sendable, Hashable {
    /// User and kernel space: the kernel's copies are in the count.
    case userAndKernel = "user+kernel"
    /// User space only (perf's `:u`): the kernel side of send and recv, where the copies are, is not.
    case userOnly = "user-only"
}

/// A counter's delta over a worker's timed loop, with its group's enabled and running times (perf's scaling inputs).
public struct CounterRecord: Codable, Sendable, Hashable {
    /// The raw delta the counter advanced by (summed over core PMUs on a hybrid CPU).
    public var raw: UInt64
    /// Nanoseconds the counter's group was enabled in the region.
    public var timeEnabled: UInt64
    /// Nanoseconds the group was on a PMU in the region (summed over core PMUs).
    public var timeRunning: UInt64
    /// Set only for a user-only value (perf's `:u`); absent means user and kernel.
    public var mode: CountingMode?
    /// Each core PMU's part on a hybrid CPU (`cpu_core`, `cpu_atom`); absent with one core PMU.
    public var parts: [PMUPartRecord]?

    public init(
        raw: UInt64, timeEnabled: UInt64, timeRunning: UInt64, mode: CountingMode? = nil, parts: [PMUPartRecord]? = nil
    ) {
        self.raw = raw
        self.timeEnabled = timeEnabled
        self.timeRunning = timeRunning
        self.mode = mode == .userAndKernel ? nil : mode
        self.parts = parts
    }

    /// True when the value covers user space only.
    public var isUserOnly: Bool { mode == .userOnly }

    /// True when the group ran part of the time and the value is an estimate.
    public var isScaled: Bool { timeRunning > 0 && timeRunning < timeEnabled }

    /// `running / enabled`; nil when the region had no enabled time.
    public var runningFraction: Double? { timeEnabled == 0 ? nil : Double(timeRunning) / Double(timeEnabled) }

    /// The estimate of the full count (`raw × enabled / running` when multiplexed); nil when the group never ran.
    public var value: Double? {
        guard timeRunning > 0 else { return nil }
        if timeRunning >= timeEnabled { return Double(raw) }
        return Double(raw) * Double(timeEnabled) / Double(timeRunning)
    }
}

/// One core PMU's part of a hardware counter's value on a hybrid CPU.
public struct PMUPartRecord: Codable, Sendable, Hashable {
    /// The core PMU (`cpu_core`, `cpu_atom`).
    public var pmu: String
    public var raw: UInt64
    public var timeEnabled: UInt64
    public var timeRunning: UInt64

    public init(pmu: String, raw: UInt64, timeEnabled: UInt64, timeRunning: UInt64) {
        self.pmu = pmu
        self.raw = raw
        self.timeEnabled = timeEnabled
        self.timeRunning = timeRunning
    }
}

/// A worker thread's rusage and CPU-clock deltas.
public struct UsageRecord: Codable, Sendable, Hashable {
    /// User-mode CPU time, ns (`ru_utime`).
    public var userNs: UInt64
    /// Kernel-mode CPU time, ns (`ru_stime`).
    public var systemNs: UInt64
    /// `ru_nvcsw`.
    public var voluntarySwitches: UInt64
    /// `ru_nivcsw`.
    public var involuntarySwitches: UInt64
    /// `ru_minflt`.
    public var minorFaults: UInt64
    /// `CLOCK_THREAD_CPUTIME_ID`, ns.
    public var cpuClockNs: UInt64

    public init(
        userNs: UInt64, systemNs: UInt64, voluntarySwitches: UInt64, involuntarySwitches: UInt64, minorFaults: UInt64,
        cpuClockNs: UInt64
    ) {
        self.userNs = userNs
        self.systemNs = systemNs
        self.voluntarySwitches = voluntarySwitches
        self.involuntarySwitches = involuntarySwitches
        self.minorFaults = minorFaults
        self.cpuClockNs = cpuClockNs
    }

    /// Voluntary plus involuntary switches (saturating: a record read from a file may hold any values).
    public var contextSwitches: UInt64 {
        let (sum, overflow) = voluntarySwitches.addingReportingOverflow(involuntarySwitches)
        return overflow ? .max : sum
    }
}

/// What a sender did in a trial.
public struct SenderRecord: Codable, Sendable, Hashable {
    public var messages: UInt64
    public var bytes: UInt64
    /// send/sendmsg calls (more than messages when writes were partial).
    public var sendCalls: UInt64
    public var partialWrites: UInt64
    /// MSG_ZEROCOPY bookkeeping; nil for the copying transports.
    public var zeroCopy: ZeroCopyRecord?

    public init(messages: UInt64, bytes: UInt64, sendCalls: UInt64, partialWrites: UInt64, zeroCopy: ZeroCopyRecord?) {
        self.messages = messages
        self.bytes = bytes
        self.sendCalls = sendCalls
        self.partialWrites = partialWrites
        self.zeroCopy = zeroCopy
    }
}

/// What a receiver verified in a trial.
public struct ReceiverRecord: Codable, Sendable, Hashable {
    public var messages: UInt64
    public var bytes: UInt64
    public var recvCalls: UInt64
    public var integrityErrors: UInt64
    public var firstMismatch: MismatchRecord?
    /// Messages read after the timed loop (stream: the tail the sender queued before the stop).
    public var drainedMessages: UInt64
    /// `false` when the receiver discarded the bytes unread (`discard`): its messages were counted, not verified, and
    /// its integrity errors are not a measurement. Absent when it verified them as the plan says.
    public var verified: Bool?
    /// What a `mmap` receiver got mapped and had to copy; absent for the other receivers.
    public var zeroCopyReceive: ZeroCopyReceiveRecord?

    public init(
        messages: UInt64, bytes: UInt64, recvCalls: UInt64, integrityErrors: UInt64, firstMismatch: MismatchRecord?,
        drainedMessages: UInt64, verified: Bool? = nil, zeroCopyReceive: ZeroCopyReceiveRecord? = nil
    ) {
        self.messages = messages
        self.bytes = bytes
        self.recvCalls = recvCalls
        self.integrityErrors = integrityErrors
        self.firstMismatch = firstMismatch
        self.drainedMessages = drainedMessages
        self.verified = verified == false ? false : nil
        self.zeroCopyReceive = zeroCopyReceive
    }
}

/// What a `TCP_ZEROCOPY_RECEIVE` receiver got in a trial, up to the end of its timed loop.
public struct ZeroCopyReceiveRecord: Codable, Sendable, Hashable {
    /// Bytes the kernel mapped into the receiver (whole pages of the receive queue).
    public var mappedBytes: UInt64
    /// Bytes it could not map, read with `recv()`.
    public var copiedBytes: UInt64
    /// `getsockopt(TCP_ZEROCOPY_RECEIVE)` calls.
    public var mapCalls: UInt64
    /// `recv()` calls for the copied bytes.
    public var copyCalls: UInt64
    /// Why nothing was mapped, when nothing was (from what the run knew: the sender, the message size, the MTU).
    public var unmappedReason: String?

    public init(mappedBytes: UInt64, copiedBytes: UInt64, mapCalls: UInt64, copyCalls: UInt64, unmappedReason: String? = nil) {
        self.mappedBytes = mappedBytes
        self.copiedBytes = copiedBytes
        self.mapCalls = mapCalls
        self.copyCalls = copyCalls
        self.unmappedReason = unmappedReason
    }

    /// mapped / (mapped + copied) — neper's `percent_mmaped` as a fraction — or nil before any byte.
    public var mappedShare: Double? {
        let (total, overflow) = mappedBytes.addingReportingOverflow(copiedBytes)
        if overflow { return Double(mappedBytes) / (Double(mappedBytes) + Double(copiedBytes)) }
        return total == 0 ? nil : Double(mappedBytes) / Double(total)
    }

    /// The sum of two receivers' counts (saturating); the first reason kept.
    public static func + (a: ZeroCopyReceiveRecord, b: ZeroCopyReceiveRecord) -> ZeroCopyReceiveRecord {
        func add(_ x: UInt64, _ y: UInt64) -> UInt64 {
            let (s, o) = x.addingReportingOverflow(y)
            return o ? .max : s
        }
        return ZeroCopyReceiveRecord(
            mappedBytes: add(a.mappedBytes, b.mappedBytes), copiedBytes: add(a.copiedBytes, b.copiedBytes),
            mapCalls: add(a.mapCalls, b.mapCalls), copyCalls: add(a.copyCalls, b.copyCalls),
            unmappedReason: a.unmappedReason ?? b.unmappedReason)
    }
}

/// Where a receiver found the first message that was not what was sent.
public struct MismatchRecord: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The sequence number the receiver expected.
    public var sequence: UInt64
    /// The first bad byte within that message.
    public var offset: Int

    public init(sequence: UInt64, offset: Int) {
        self.sequence = sequence
        self.offset = offset
    }

    public var description: String { "message \(sequence), byte \(offset)" }
}

/// MSG_ZEROCOPY bookkeeping of a trial.
public struct ZeroCopyRecord: Codable, Sendable, Hashable {
    /// Successful zero-copy sends.
    public var sends: UInt64
    /// Ids the kernel reported complete.
    public var completions: UInt64
    /// Completions flagged `SO_EE_CODE_ZEROCOPY_COPIED`.
    public var copiedCompletions: UInt64
    /// Error-queue notifications read.
    public var notifications: UInt64
    /// ENOBUFS returns (back-pressure).
    public var enobufs: UInt64
    /// Waits for completions before a field set could be rewritten.
    public var reuseWaits: UInt64

    public init(
        sends: UInt64 = 0, completions: UInt64 = 0, copiedCompletions: UInt64 = 0, notifications: UInt64 = 0,
        enobufs: UInt64 = 0, reuseWaits: UInt64 = 0
    ) {
        self.sends = sends
        self.completions = completions
        self.copiedCompletions = copiedCompletions
        self.notifications = notifications
        self.enobufs = enobufs
        self.reuseWaits = reuseWaits
    }

    /// copiedCompletions / completions, or nil with no completions.
    public var copiedShare: Double? { completions == 0 ? nil : Double(copiedCompletions) / Double(completions) }

    /// The sum of two trials' or threads' bookkeeping (saturating).
    public static func + (a: ZeroCopyRecord, b: ZeroCopyRecord) -> ZeroCopyRecord {
        func add(_ x: UInt64, _ y: UInt64) -> UInt64 {
            let (s, o) = x.addingReportingOverflow(y)
            return o ? .max : s
        }
        return ZeroCopyRecord(
            sends: add(a.sends, b.sends), completions: add(a.completions, b.completions),
            copiedCompletions: add(a.copiedCompletions, b.copiedCompletions),
            notifications: add(a.notifications, b.notifications), enobufs: add(a.enobufs, b.enobufs),
            reuseWaits: add(a.reuseWaits, b.reuseWaits))
    }
}

/// What became of one event when it was opened.
public struct AvailabilityRecord: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The outcome of opening an event, as the counters module names it.
    public enum State: String, Codable, Sendable, CaseIterable {
        case counted
        case userOnly = "user-only"
        case notSupported = "not-supported"
        case notPermitted = "not-permitted"
        case failed
        /// Opened, but its group never got a hardware counter (time_running 0).
        case notCounted = "not-counted"
    }

    public var state: State
    /// Why, in one line; nil when counted.
    public var reason: String?
    public var errno: Int32?

    public init(state: State, reason: String? = nil, errno: Int32? = nil) {
        self.state = state
        self.reason = reason
        self.errno = errno
    }

    /// True when the event produced values (`counted` or `user-only`).
    public var isOpen: Bool { state == .counted || state == .userOnly }

    public var description: String { reason.map { "\(state.rawValue): \($0)" } ?? state.rawValue }
}

/// One event of the plan and whether the host could count it.
public struct EventProbeRecord: Codable, Sendable, Hashable {
    public var name: String
    /// `hardware`, `cache`, `software` or `tracepoint`.
    public var kind: String
    public var summary: String
    public var availability: AvailabilityRecord
    /// The privilege levels it was counted for; absent when not counted (and in profiles before copyprof 0.2).
    public var mode: CountingMode?
    /// The core PMUs a hardware event counted on; absent for software events and tracepoints.
    public var pmus: [String]?

    public init(
        name: String, kind: String, summary: String, availability: AvailabilityRecord, mode: CountingMode? = nil,
        pmus: [String]? = nil
    ) {
        self.name = name
        self.kind = kind
        self.summary = summary
        self.availability = availability
        self.mode = mode
        self.pmus = pmus
    }

    /// True when the event's values cover user space only: from its mode, or from the availability of older profiles.
    public var isUserOnly: Bool { mode.map { $0 == .userOnly } ?? (availability.state == .userOnly) }
}

/// The event names a profile's counter maps use (perf's names), for the metrics that read them.
public enum EventName {
    public static let cycles = "cycles"
    public static let instructions = "instructions"
    public static let l1dLoads = "L1-dcache-loads"
    public static let l1dLoadMisses = "L1-dcache-load-misses"
    public static let llcLoads = "LLC-loads"
    public static let llcLoadMisses = "LLC-load-misses"
    public static let branchMisses = "branch-misses"
    public static let taskClock = "task-clock"
    public static let contextSwitches = "context-switches"
    public static let cpuMigrations = "cpu-migrations"
    public static let pageFaults = "page-faults"
    /// The tracepoint hit once per skb copied to user space by `recv()`.
    public static let receiveCopy = "skb:skb_copy_datagram_iovec"

    /// Every event of the catalog, in the order `copyprof counters` lists them.
    public static let catalog = [
        cycles, instructions, l1dLoads, l1dLoadMisses, llcLoads, llcLoadMisses, branchMisses, taskClock, contextSwitches,
        cpuMigrations, pageFaults, receiveCopy,
    ]

    /// Hardware and cache events: they need a PMU.
    public static let hardware: Set<String> = [cycles, instructions, l1dLoads, l1dLoadMisses, llcLoads, llcLoadMisses, branchMisses]
}

/// The non-empty buckets of an RTT histogram: (value in ns, count) pairs in increasing value order.
///
/// Schema 1 stored them as `[[value, count], ...]`, three JSON tokens a bucket, half of a full sweep's profile and
/// most of its reading time. Schema 2 stores one string, `"24943:1 8656:1 14432:2"`: each value as its difference from
/// the previous bucket's, a colon, the count, pairs separated by spaces. A reader passes over it as one token and
/// parses it only when asked for the buckets. Both forms decode; the string form is written.
public struct HistogramBuckets: Codable, Sendable, Hashable {
    /// The schema 2 text.
    public private(set) var text: String

    /// Buckets from pairs in increasing value order.
    public init(_ pairs: [(value: UInt64, count: UInt64)]) {
        var out = ""
        out.reserveCapacity(pairs.count * 8)
        var previous: UInt64 = 0
        for (i, pair) in pairs.enumerated() {
            if i > 0 { out += " " }
            out += String(pair.value &- previous) + ":" + String(pair.count)
            previous = pair.value
        }
        text = out
    }

    private init(text: String) { self.text = text }

    /// The buckets, parsed from the text.
    public var pairs: [(value: UInt64, count: UInt64)] { Self.parse(text) ?? [] }

    /// The number of recorded values in all buckets (saturating).
    public var totalCount: UInt64 {
        pairs.reduce(0) { $0.addingReportingOverflow($1.count).overflow ? .max : $0 + $1.count }
    }

    /// Parses the text form; nil when it is malformed, a value overflows or values do not increase.
    static func parse(_ text: String) -> [(value: UInt64, count: UInt64)]? {
        var pairs: [(value: UInt64, count: UInt64)] = []
        var previous: UInt64 = 0
        var bytes = Substring(text).utf8[...]
        func number(_ bytes: inout Substring.UTF8View.SubSequence) -> UInt64? {
            var value: UInt64 = 0
            var digits = 0
            while let byte = bytes.first, byte >= 48, byte <= 57 {
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (plus, o2) = times.addingReportingOverflow(UInt64(byte - 48))
                if o1 || o2 { return nil }
                value = plus
                digits += 1
                bytes = bytes.dropFirst()
            }
            return digits > 0 ? value : nil
        }
        while !bytes.isEmpty {
            if !pairs.isEmpty {
                guard bytes.first == UInt8(ascii: " ") else { return nil }
                bytes = bytes.dropFirst()
            }
            guard let delta = number(&bytes), bytes.first == UInt8(ascii: ":") else { return nil }
            bytes = bytes.dropFirst()
            guard let count = number(&bytes) else { return nil }
            let (value, overflow) = previous.addingReportingOverflow(delta)
            if overflow || (!pairs.isEmpty && delta == 0) { return nil }
            pairs.append((value, count))
            previous = value
        }
        return pairs
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard Self.parse(text) != nil else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "not a histogram: expected \"value:count\" pairs with increasing values")
            }
            self = HistogramBuckets(text: text)
            return
        }
        // Schema 1: [[value, count], ...].
        let pairs = try container.decode([[UInt64]].self)
        guard pairs.allSatisfy({ $0.count == 2 }) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a histogram: expected [value, count] pairs")
        }
        self.init(pairs.map { ($0[0], $0[1]) })
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}
