internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Resource use of the calling thread (`getrusage(RUSAGE_THREAD)` and `CLOCK_THREAD_CPUTIME_ID`).
///
/// It splits user from kernel CPU time and counts voluntary and involuntary context switches even where
/// no PMU exists. Take two snapshots around a region and subtract them.
public struct ThreadUsage: Sendable, Hashable, Codable {
    /// User-mode CPU time, ns (`ru_utime`).
    public var userNs: UInt64
    /// Kernel-mode CPU time, ns (`ru_stime`).
    public var systemNs: UInt64
    /// Switches because the thread blocked (`ru_nvcsw`).
    public var voluntarySwitches: UInt64
    /// Switches because the scheduler preempted the thread (`ru_nivcsw`).
    public var involuntarySwitches: UInt64
    /// Page faults served without I/O (`ru_minflt`).
    public var minorFaults: UInt64
    /// CPU time of the thread from `CLOCK_THREAD_CPUTIME_ID`, ns (finer than ru_utime + ru_stime).
    public var cpuClockNs: UInt64

    /// A usage given by hand; ``current()`` reads the calling thread's.
    public init(
        userNs: UInt64, systemNs: UInt64, voluntarySwitches: UInt64, involuntarySwitches: UInt64,
        minorFaults: UInt64, cpuClockNs: UInt64
    ) {
        self.userNs = userNs
        self.systemNs = systemNs
        self.voluntarySwitches = voluntarySwitches
        self.involuntarySwitches = involuntarySwitches
        self.minorFaults = minorFaults
        self.cpuClockNs = cpuClockNs
    }

    /// The calling thread's usage now.
    public static func current() -> ThreadUsage {
        var usage = rusage()
        _ = CPerfEvent_getrusage_thread(&usage)
        func ns(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1_000 }
        return ThreadUsage(
            userNs: ns(usage.ru_utime), systemNs: ns(usage.ru_stime),
            voluntarySwitches: UInt64(usage.ru_nvcsw), involuntarySwitches: UInt64(usage.ru_nivcsw),
            minorFaults: UInt64(usage.ru_minflt), cpuClockNs: threadCPUClockNs())
    }

    /// The change from `earlier` to `self`.
    public func since(_ earlier: ThreadUsage) -> ThreadUsage {
        ThreadUsage(
            userNs: userNs &- earlier.userNs, systemNs: systemNs &- earlier.systemNs,
            voluntarySwitches: voluntarySwitches &- earlier.voluntarySwitches,
            involuntarySwitches: involuntarySwitches &- earlier.involuntarySwitches,
            minorFaults: minorFaults &- earlier.minorFaults, cpuClockNs: cpuClockNs &- earlier.cpuClockNs)
    }

    /// Voluntary plus involuntary switches.
    public var contextSwitches: UInt64 { voluntarySwitches + involuntarySwitches }

    /// ``contextSwitches`` as a sourced value: getrusage, user and kernel (the scheduler counts every switch;
    /// no permission is needed). The figure to use where perf's `context-switches` is not permitted.
    public var contextSwitchFigure: SourcedValue {
        SourcedValue(value: Double(contextSwitches), source: .rusage, mode: .userAndKernel)
    }
}


/// Everything measured for one thread over one region: counters, rusage and wall time.
public struct RegionMeasurement: Sendable, Hashable, Codable {
    /// One reading per requested event, in request order.
    public var counters: [CounterReading]
    /// The thread's rusage and CPU clock over the region.
    public var usage: ThreadUsage
    /// Wall time of the region, ns (`CLOCK_MONOTONIC`).
    public var wallNs: UInt64

    /// A measurement given by hand; ``CountedRegion/end()`` makes one from a region.
    public init(counters: [CounterReading], usage: ThreadUsage, wallNs: UInt64) {
        self.counters = counters
        self.usage = usage
        self.wallNs = wallNs
    }

    /// The reading of the event with this name, if it was requested.
    public func reading(_ name: String) -> CounterReading? { counters.first { $0.event.name == name } }

    /// The reading of this event, if it was requested.
    public func reading(_ event: PerfEvent) -> CounterReading? { counters.first { $0.event == event } }
}

/// Counters plus rusage of the calling thread around a region: ``begin()`` just before it, ``end()`` just after.
///
/// Counters are read innermost, so the rusage and clock calls are not in their counts. When none of the events can
/// be opened (perf_event_open refused outright: a container's seccomp profile, Debian's or Ubuntu's
/// `perf_event_paranoid` above 2), the region still measures rusage and the thread CPU clock, and its readings
/// say why each event has no value.
public final class CountedRegion {
    /// The counters; nil when the region was made without events, or none of them could be opened.
    public let counters: ThreadCounters?
    /// When none of the events could be opened: a reading of each, without a value, with its reason.
    public let unavailable: [CounterReading]
    private var usageAtStart = ThreadUsage(
        userNs: 0, systemNs: 0, voluntarySwitches: 0, involuntarySwitches: 0, minorFaults: 0, cpuClockNs: 0)
    private var wallAtStart: UInt64 = 0

    /// Opens `events` for the calling thread. With no events, or none that can be opened, only rusage and time are
    /// measured.
    public init(events: [PerfEvent], options: CounterOptions = CounterOptions()) throws(CounterError) {
        do throws(CounterError) {
            counters = events.isEmpty ? nil : try ThreadCounters(events: events, options: options)
            unavailable = []
        } catch {
            guard case .nothingAvailable(let reasons) = error else { throw error }
            counters = nil
            unavailable = events.map { event in
                CounterReading(
                    event: event, availability: reasons[event.name] ?? .init(state: .failed, reason: error.description),
                    count: nil, mode: nil, reason: nil)
            }
        }
    }

    /// Takes the start snapshots and enables the counters.
    public func begin() throws(CounterError) {
        wallAtStart = monotonicNanoseconds()
        usageAtStart = ThreadUsage.current()
        try counters?.start()
    }

    /// Disables the counters and returns the region's measurement.
    public func end() throws(CounterError) -> RegionMeasurement {
        let readings = try counters?.stop() ?? unavailable
        let usage = ThreadUsage.current().since(usageAtStart)
        return RegionMeasurement(counters: readings, usage: usage, wallNs: monotonicNanoseconds() &- wallAtStart)
    }
}
