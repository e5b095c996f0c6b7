internal import CPerfEvent
import Synchronization
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// How ``ThreadCounters`` opens its events.
public struct CounterOptions: Sendable, Hashable {
    /// Count user space only from the start (`exclude_kernel`, `exclude_hv`; perf's `:u`).
    public var userOnly: Bool
    /// When the kernel refuses kernel counting (EACCES at `perf_event_paranoid` ≥ 2), retry user-only as perf does
    /// (``AttrFallback/excludeKernel``, then ``AttrFallback/excludeHypervisor``). Default true. task-clock, which
    /// counts the same either way, is retried whatever this says; EPERM is never retried (no exclude bit lifts it).
    public var fallBackToUserOnly: Bool

    /// Options; the defaults count user and kernel space and fall back to user-only as perf does.
    public init(userOnly: Bool = false, fallBackToUserOnly: Bool = true) {
        self.userOnly = userOnly
        self.fallBackToUserOnly = fallBackToUserOnly
    }
}

/// Hardware and software counters of the calling thread (perf_event_open with pid 0, cpu -1),
/// read around a region of code.
///
/// Events are opened as perf does: hardware events in small groups of ratio partners
/// (``PerfEvent/hardwareGroups(_:)``), each scaled by its own enabled/running times; on hybrid CPUs once per
/// core PMU, summed; software events and tracepoints in one more group. A group the kernel rejects is reopened
/// smaller, then event by event. Each group is read in one `read()` with `PERF_FORMAT_GROUP |
/// TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING | ID` and enabled and disabled with `PERF_IOC_FLAG_GROUP`. A
/// region's value is the delta of a read before and after it.
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
    public var events: [PerfEvent] { counterSet.events }
    /// What became of each requested event, in the order of `events`.
    public var availability: [EventAvailability] { counterSet.availability }
    /// The privilege levels each opened event covers (nil when not opened), in the order of `events`.
    public var modes: [CountingMode?] { counterSet.modes }
    /// The perf groups as opened, leader first.
    public var groups: [CounterGroupDescription] { counterSet.groupDescriptions }
    /// What was known of the host when the counters were opened.
    public var host: HostFacts { counterSet.system.host }
    /// The kernel thread id the counters follow (a `pid_t`, as `gettid()` returns it).
    public let threadID: Int32

    private let counterSet: CounterSet<KernelPerfEvents>

    /// Opens the events for the calling thread, disabled.
    ///
    /// - Throws: ``CounterError/nothingAvailable(_:)`` when no requested event can be opened.
    public init(events: [PerfEvent], options: CounterOptions = CounterOptions()) throws(CounterError) {
        threadID = currentThreadID()
        counterSet = try CounterSet(events: events, options: options, system: KernelPerfEvents())
    }

    /// Reads the start values, then enables every group. Call on the thread that created the counters.
    public func start() throws(CounterError) {
        try counterSet.start()
    }

    /// Disables every group, reads the end values and returns each event's reading, in the order of `events`.
    public func stop() throws(CounterError) -> [CounterReading] {
        try counterSet.stop()
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
            let fd = retryingOnInterrupt { CPerfEvent_open(&keeper, 0, -1, -1, UInt(PERF_FLAG_FD_CLOEXEC)) }
            if fd >= 0 { fds[attr.config] = fd }
        }
    }
}

extension ThreadCounters {
    /// What measuring costs: nanoseconds per `start()` + `stop()` pair (an enable, a read per group before and
    /// after, a disable) averaged over `iterations` empty regions. Run it on the thread that opened the counters.
    public func regionCostNs(iterations: Int = 10_000) throws(CounterError) -> Double {
        let begin = monotonicNanoseconds()
        for _ in 0..<iterations {
            try start()
            _ = try stop()
        }
        return Double(monotonicNanoseconds() - begin) / Double(iterations)
    }
}
