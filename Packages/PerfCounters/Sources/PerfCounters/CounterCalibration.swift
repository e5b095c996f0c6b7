#if canImport(Glibc)
import Glibc
#endif

// The calibration's driver and judge: which checks run, how a reading becomes a verdict. The checks themselves are
// in HardwareChecks.swift and SoftwareChecks.swift, their work in CalibrationWorkloads.swift.

/// Calibrates counters against work whose counts are known: each counted event is measured over such work
/// on the calling thread and compared with what the count must be.
public enum CounterCalibration {
    /// Runs a check for every event in `events` (and the getrusage context-switch figure when
    /// `context-switches` is among them). Events that cannot be counted here are skipped with the reason.
    public static func run(
        events: [PerfEvent] = PerfEvent.catalog, options: CounterOptions = CounterOptions(),
        sizes: CalibrationSizes = .standard
    ) -> CalibrationReport {
        let host = HostFacts.current()
        let caches = CacheSizes.current()
        let frequency = FrequencyRange.current()
        var checks: [CalibrationCheck] = []
        let requested = Set(events.map(\.name))
        func wants(_ event: PerfEvent) -> Bool { requested.contains(event.name) }

        if wants(.instructions) { checks.append(instructions(options: options, sizes: sizes)) }
        if wants(.cycles) { checks.append(cycles(options: options, sizes: sizes, frequency: frequency)) }
        if wants(.l1dLoads) || wants(.l1dLoadMisses) {
            checks += l1dWalk(options: options, sizes: sizes, caches: caches, loads: wants(.l1dLoads), misses: wants(.l1dLoadMisses))
        }
        if wants(.llcLoads) || wants(.llcLoadMisses) {
            checks += llcWalk(options: options, sizes: sizes, caches: caches, loads: wants(.llcLoads), misses: wants(.llcLoadMisses))
        }
        if wants(.branchMisses) { checks.append(branchMisses(options: options, sizes: sizes)) }
        if wants(.taskClock) { checks.append(taskClock(options: options, sizes: sizes)) }
        if wants(.contextSwitches) { checks += contextSwitches(options: options, sizes: sizes) }
        if wants(.cpuMigrations) { checks.append(migrations(options: options, sizes: sizes)) }
        if wants(.pageFaults) { checks.append(pageFaults(options: options, sizes: sizes)) }
        for event in events {
            if case .tracepoint = event.source { checks.append(tracepoint(event, options: options, sizes: sizes)) }
        }
        return CalibrationReport(host: host, caches: caches, frequency: frequency, root: geteuid() == 0, checks: checks)
    }

    // MARK: Evaluation

    /// Judges a measured value against bounds (either may be nil for open-ended).
    public static func verdict(_ value: Double?, lower: Double?, upper: Double?) -> CalibrationCheck.Verdict {
        guard let value, value.isFinite else { return .fail }
        if let lower, value < lower { return .fail }
        if let upper, value > upper { return .fail }
        return .pass
    }

    /// Opens `events` and returns the counters, or a skipped check per event that cannot be counted.
    static func open(_ events: [PerfEvent], options: CounterOptions) -> Result<ThreadCounters, SkipReason> {
        do throws(CounterError) {
            let counters = try ThreadCounters(events: events, options: options)
            if let index = counters.availability.firstIndex(where: { !$0.isOpen }) {
                return .failure(SkipReason(event: events[index], reason: counters.availability[index].description))
            }
            return .success(counters)
        } catch {
            if case .nothingAvailable(let reasons) = error, let first = events.first(where: { reasons[$0.name] != nil }) {
                return .failure(SkipReason(event: first, reason: reasons[first.name]!.description))
            }
            return .failure(SkipReason(event: events[0], reason: error.description))
        }
    }

    struct SkipReason: Error {
        var event: PerfEvent
        var reason: String
    }

    static func skipped(_ event: PerfEvent, workload: String, expected: String, reason: String) -> CalibrationCheck {
        CalibrationCheck(event: event.name, workload: workload, expected: expected, verdict: .skipped, note: reason)
    }

    /// Runs `work` between start and stop; nil readings when the counters fail.
    static func measure(_ counters: ThreadCounters, _ work: () -> Void) -> Result<[CounterReading], CounterError> {
        do throws(CounterError) {
            try counters.start()
            work()
            return .success(try counters.stop())
        } catch {
            return .failure(error)
        }
    }

    /// A check from one reading: value in the unit of the bounds via `unit`.
    static func check(
        _ event: PerfEvent, reading: CounterReading, workload: String, expected: String, lower: Double?, upper: Double?,
        unit: (Double) -> Double = { $0 }, describe: (Double) -> String
    ) -> CalibrationCheck {
        guard let value = reading.value else {
            return CalibrationCheck(
                event: event.name, workload: workload, expected: expected, measured: "n/a", lowerBound: lower,
                upperBound: upper, verdict: .fail, mode: reading.mode, source: reading.source,
                note: reading.reason ?? "not counted")
        }
        let inUnit = unit(value)
        return CalibrationCheck(
            event: event.name, workload: workload, expected: expected,
            measured: describe(value) + (reading.mode?.perfSuffix ?? ""), lowerBound: lower, upperBound: upper,
            measuredValue: inUnit, verdict: verdict(inUnit, lower: lower, upper: upper), mode: reading.mode,
            source: reading.source, scaled: reading.isScaled,
            note: reading.isScaled ? "scaled: counted \(percent(reading.runningFraction ?? 0)) of the time" : nil)
    }
}
