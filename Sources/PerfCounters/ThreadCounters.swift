import CPerfEvent
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How ``ThreadCounters`` opens its events.
public struct CounterOptions: Sendable, Hashable {
    /// Count user space only from the start (`exclude_kernel`, `exclude_hv`; perf's `:u`).
    public var userOnly: Bool
    /// When the kernel refuses an event (EACCES/EPERM), retry it user-only as perf does. Default true.
    public var fallBackToUserOnly: Bool

    public init(userOnly: Bool = false, fallBackToUserOnly: Bool = true) {
        self.userOnly = userOnly
        self.fallBackToUserOnly = fallBackToUserOnly
    }
}

/// The value of one event over a region, with what became of it when it was opened.
public struct CounterReading: Sendable, Hashable, Codable {
    /// The event's stable name.
    public var event: String
    /// Counted, user-only, or why not.
    public var availability: EventAvailability
    /// The raw delta and the group's times; nil when the event was not opened.
    public var count: ScaledCount?

    public init(event: String, availability: EventAvailability, count: ScaledCount?) {
        self.event = event
        self.availability = availability
        self.count = count
    }

    /// The scaled value; nil when not opened or never scheduled in the region ("not counted", never 0).
    public var value: Double? { count?.value }
}

/// Hardware and software counters of the calling thread (perf_event_open with pid 0, cpu -1),
/// read around a region of code.
///
/// Hardware and cache events form one group under one leader, so they are scheduled together and their
/// ratios are meaningful; software events and tracepoints form a second group beside it. Each group is read
/// in one `read()` with `PERF_FORMAT_GROUP | TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING | ID` and enabled and
/// disabled with `PERF_IOC_FLAG_GROUP`. A region's value is the delta of a read before and after it.
///
/// Create it on the thread to be measured: the counters follow the thread that opened them.
/// Events that cannot be opened are kept with their reason; if none can, `init` throws.
///
/// ```swift
/// let counters = try ThreadCounters(events: [.taskClock, .contextSwitches, .cycles])
/// try counters.start()
/// work()
/// for reading in try counters.stop() { print(reading.event, reading.value ?? .nan) }
/// ```
public final class ThreadCounters {
    /// The requested events, in order.
    public let events: [PerfEvent]
    /// What became of each requested event, in the order of `events`.
    public private(set) var availability: [EventAvailability]
    /// The kernel thread id the counters follow.
    public let threadID: pid_t

    private var groups: [Group] = []
    /// For each event: which group and which id, or nil when not opened.
    private var slots: [(group: Int, id: UInt64)?]
    private var running = false

    /// Opens the events for the calling thread, disabled.
    ///
    /// - Throws: ``CounterError/nothingAvailable(_:)`` when no requested event can be opened.
    public init(events: [PerfEvent], options: CounterOptions = CounterOptions()) throws(CounterError) {
        self.events = events
        self.threadID = CPerfEvent_gettid()
        self.availability = Array(repeating: .counted, count: events.count)
        self.slots = Array(repeating: nil, count: events.count)
        let paranoid = HostCounters.paranoidLevel

        let hardware = events.indices.filter { events[$0].isHardware }
        let other = events.indices.filter { !events[$0].isHardware }
        for indices in [hardware, other] where !indices.isEmpty {
            openGroup(indices, options: options, paranoid: paranoid)
        }
        if groups.isEmpty {
            var reasons: [String: EventAvailability] = [:]
            for (event, status) in zip(events, availability) { reasons[event.name] = status }
            throw .nothingAvailable(reasons)
        }
    }

    deinit {
        for group in groups { group.close() }
    }

    /// Opens the events at `indices` as one group: the first that opens leads, the rest join it.
    private func openGroup(_ indices: [Int], options: CounterOptions, paranoid: Int?) {
        var group: Group?
        for index in indices {
            let event = events[index]
            // Members follow the leader's exclude bits, so that ratios within a group compare like with like.
            let userOnly = group?.userOnly ?? options.userOnly
            let fallBack = group == nil && options.fallBackToUserOnly && !userOnly
            switch Self.open(event, groupFD: group?.leader ?? -1, userOnly: userOnly, fallBack: fallBack, paranoid: paranoid) {
            case .opened(let opened):
                var id: UInt64 = 0
                if CPerfEvent_id(opened.fd, &id) != 0 {
                    let code = errno
                    Glibc.close(opened.fd)
                    availability[index] = .init(state: .failed, reason: "PERF_EVENT_IOC_ID: \(errnoText(code))", errno: code)
                    continue
                }
                if group == nil {
                    group = Group(leader: opened.fd, userOnly: opened.userOnly)
                } else {
                    group!.members.append(opened.fd)
                }
                slots[index] = (groups.count, id)
                availability[index] = opened.availability
            case .refused(let reason):
                availability[index] = reason
            }
        }
        if var group {
            group.allocateBuffers()
            groups.append(group)
        }
    }

    private enum OpenOutcome {
        case opened(Opened)
        case refused(EventAvailability)
    }

    private struct Opened {
        var fd: Int32
        var userOnly: Bool
        var availability: EventAvailability
    }

    /// perf_event_open with EINTR retried and perf's user-only fallback on EACCES/EPERM.
    private static func open(
        _ event: PerfEvent, groupFD: Int32, userOnly: Bool, fallBack: Bool, paranoid: Int?
    ) -> OpenOutcome {
        var attr = perf_event_attr()
        attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
        switch event.source {
        case .hardware(let config):
            attr.type = PERF_TYPE_HARDWARE.rawValue
            attr.config = config
        case .hardwareCache(let cache, let op, let result):
            attr.type = PERF_TYPE_HW_CACHE.rawValue
            attr.config = cache | op << 8 | result << 16
        case .software(let config):
            attr.type = PERF_TYPE_SOFTWARE.rawValue
            attr.config = config
        case .tracepoint(let subsystem, let name):
            switch Tracefs.id(subsystem: subsystem, name: name) {
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
        attr.disabled = groupFD == -1 ? 1 : 0
        attr.exclude_kernel = userOnly ? 1 : 0
        attr.exclude_hv = userOnly ? 1 : 0

        let fd = retryingEINTR { CPerfEvent_open(&attr, 0, -1, groupFD, UInt(PERF_FLAG_FD_CLOEXEC)) }
        if fd >= 0, attr.type == PERF_TYPE_TRACEPOINT.rawValue {
            TracepointRegistrations.keep(attr)
        }
        if fd >= 0 {
            return .opened(Opened(fd: fd, userOnly: userOnly, availability: userOnly ? userOnlyAvailability(paranoid) : .counted))
        }
        let code = errno
        let isTracepoint = if case .tracepoint = event.source { true } else { false }
        if fallBack, !isTracepoint, code == EACCES || code == EPERM {
            return open(event, groupFD: groupFD, userOnly: true, fallBack: false, paranoid: paranoid)
        }
        return .refused(
            EventAvailability.classify(
                errno: code, event: event, paranoid: paranoid, attrSize: MemoryLayout<perf_event_attr>.size))
    }

    private static func userOnlyAvailability(_ paranoid: Int?) -> EventAvailability {
        let level = paranoid.map { String($0) } ?? "unknown"
        return .init(
            state: .userOnly,
            reason: "user space only (perf_event_paranoid = \(level)): the kernel side of send/recv, "
                + "where the copies happen, is not counted")
    }

    /// Reads the start values, then enables every group. Call on the thread that created the counters.
    public func start() throws(CounterError) {
        if running { throw .misuse("start() called twice without stop()") }
        for group in groups {
            try group.read(into: group.startBuffer)
        }
        for group in groups where CPerfEvent_enable(group.leader, PERF_IOC_FLAG_GROUP.rawValue) != 0 {
            throw .systemCall("ioctl(PERF_EVENT_IOC_ENABLE)", errno: errno)
        }
        running = true
    }

    /// Disables every group, reads the end values and returns each event's delta, in the order of `events`.
    public func stop() throws(CounterError) -> [CounterReading] {
        if !running { throw .misuse("stop() called without start()") }
        running = false
        for group in groups where CPerfEvent_disable(group.leader, PERF_IOC_FLAG_GROUP.rawValue) != 0 {
            throw .systemCall("ioctl(PERF_EVENT_IOC_DISABLE)", errno: errno)
        }
        for group in groups {
            try group.read(into: group.endBuffer)
        }
        var reads: [(start: GroupRead, end: GroupRead)] = []
        for group in groups {
            reads.append((
                try GroupRead.decode(UnsafeRawBufferPointer(group.startBuffer)),
                try GroupRead.decode(UnsafeRawBufferPointer(group.endBuffer))
            ))
        }
        return events.indices.map { index in
            guard let slot = slots[index] else {
                return CounterReading(event: events[index].name, availability: availability[index], count: nil)
            }
            let read = reads[slot.group]
            return CounterReading(
                event: events[index].name, availability: availability[index],
                count: ScaledCount.delta(from: read.start, to: read.end, id: slot.id))
        }
    }

    /// One perf group: a leader file descriptor, its members, and the buffers its reads land in.
    private struct Group {
        var leader: Int32
        var userOnly: Bool
        var members: [Int32] = []
        var startBuffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        var endBuffer = UnsafeMutableRawBufferPointer(start: nil, count: 0)

        init(leader: Int32, userOnly: Bool) {
            self.leader = leader
            self.userOnly = userOnly
        }

        mutating func allocateBuffers() {
            let size = GroupRead.byteCount(members: 1 + members.count)
            startBuffer = .allocate(byteCount: size, alignment: 8)
            endBuffer = .allocate(byteCount: size, alignment: 8)
        }

        func read(into buffer: UnsafeMutableRawBufferPointer) throws(CounterError) {
            let n = retryingEINTR { Glibc.read(leader, buffer.baseAddress, buffer.count) }
            if n < 0 { throw .systemCall("read(perf group)", errno: errno) }
            if n != buffer.count { throw .malformedRead("read returned \(n) of \(buffer.count) bytes") }
        }

        func close() {
            for fd in members { Glibc.close(fd) }
            Glibc.close(leader)
            startBuffer.deallocate()
            endBuffer.deallocate()
        }
    }
}

/// Calls `body` again while it fails with EINTR.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ body: () -> T) -> T {
    while true {
        let result = body()
        if result < 0 && errno == EINTR { continue }
        return result
    }
}

/// Keeps one disabled event open per tracepoint for the life of the process.
///
/// When the last perf event of a tracepoint closes, the kernel unregisters its probe and waits for an RCU grace
/// period (tracepoint_synchronize_unregister): tens of milliseconds on an idle machine, paid at every thread exit.
/// One event that never closes keeps the probe registered, so counters of short-lived threads close at once.
enum TracepointRegistrations {
    private static let kept = Mutex<[UInt64: Int32]>([:])

    static func keep(_ attr: perf_event_attr) {
        kept.withLock { fds in
            guard fds[attr.config] == nil else { return }
            var keeper = attr
            keeper.disabled = 1
            keeper.read_format = 0
            let fd = CPerfEvent_open(&keeper, 0, -1, -1, UInt(PERF_FLAG_FD_CLOEXEC))
            if fd >= 0 { fds[attr.config] = fd }
        }
    }
}

extension ThreadCounters {
    /// What measuring costs: nanoseconds per `start()` + `stop()` pair (an enable, a read per group before and
    /// after, a disable) averaged over `iterations` empty regions. Run it on the thread that opened the counters.
    public func regionCostNs(iterations: Int = 10_000) throws(CounterError) -> Double {
        let begin = monotonicClockNs()
        for _ in 0..<iterations {
            try start()
            _ = try stop()
        }
        return Double(monotonicClockNs() - begin) / Double(iterations)
    }
}
