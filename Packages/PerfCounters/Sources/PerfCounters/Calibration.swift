internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// One check of a counter against work whose count is known (`copyprof counters --check`).
public struct CalibrationCheck: Sendable, Hashable, Codable {
    /// Passed, failed, or not run (with the reason in `note`).
    public enum Verdict: String, Sendable, Codable {
        /// The measured value is within the bounds.
        case pass
        /// The measured value is outside the bounds, or the counter gave none although it opened.
        case fail
        /// Not run: the event cannot be counted here, or the work cannot be done on this CPU.
        case skipped
    }

    /// The event checked (`context switches (getrusage)` for the rusage fallback).
    public var event: String
    /// The work, in words.
    public var workload: String
    /// What the count should be, in words (`40,000,000 ± 1%`, `≥ 1,000`).
    public var expected: String
    /// What was measured, in words, with perf's `:u` when user-only; nil when skipped.
    public var measured: String?
    /// The bounds of a pass in the measured unit (per load, GHz, count ...); nil when unbounded.
    public var lowerBound: Double?
    /// The upper bound of a pass, in the unit of ``lowerBound``; nil when unbounded.
    public var upperBound: Double?
    /// The measured value in the same unit as the bounds.
    public var measuredValue: Double?
    /// Pass, fail or skipped.
    public var verdict: Verdict
    /// The privilege levels the measured value covers.
    public var mode: CountingMode?
    /// perf_event or getrusage.
    public var source: ReadingSource?
    /// True when the counter was multiplexed and the value scaled.
    public var scaled: Bool
    /// Why it was skipped or failed, or what else to know.
    public var note: String?

    /// Creates a check; the fields are as their properties say.
    public init(
        event: String, workload: String, expected: String, measured: String? = nil, lowerBound: Double? = nil,
        upperBound: Double? = nil, measuredValue: Double? = nil, verdict: Verdict, mode: CountingMode? = nil,
        source: ReadingSource? = nil, scaled: Bool = false, note: String? = nil
    ) {
        self.event = event
        self.workload = workload
        self.expected = expected
        self.measured = measured
        self.lowerBound = lowerBound
        self.upperBound = upperBound
        self.measuredValue = measuredValue
        self.verdict = verdict
        self.mode = mode
        self.source = source
        self.scaled = scaled
        self.note = note
    }
}

/// The result of calibrating every requested event.
public struct CalibrationReport: Sendable, Codable {
    /// The host's core PMUs, paranoid level, watchdog and hypervisor flag.
    public var host: HostFacts
    /// The cache sizes the cache workloads were sized from.
    public var caches: CacheSizes
    /// The CPU clock range from cpufreq, when sysfs has it.
    public var frequency: FrequencyRange?
    /// True when the process ran as root (uid 0).
    public var root: Bool
    /// One check per counted event (and the getrusage context-switch figure), in the order run.
    public var checks: [CalibrationCheck]

    /// The number of checks that passed.
    public var passed: Int { checks.filter { $0.verdict == .pass }.count }
    /// The number of checks that failed.
    public var failed: Int { checks.filter { $0.verdict == .fail }.count }
    /// The number of checks that were not run.
    public var skipped: Int { checks.filter { $0.verdict == .skipped }.count }
}

/// How big the calibration workloads are. ``standard`` is what `copyprof counters --check` runs.
public struct CalibrationSizes: Sendable, Hashable {
    /// Turns of the two-instruction loop for `instructions`.
    public var instructionLoop: UInt64
    /// Turns of the loop for `cycles` against task-clock.
    public var cycleLoop: UInt64
    /// Dependent loads in the L1d walk.
    public var l1Loads: Int
    /// Branches on random bits for `branch-misses`.
    public var branches: Int
    /// Thread CPU time per task-clock window, ns.
    public var taskClockWindowNs: UInt64
    /// Round trips between the two threads for context switches.
    public var pingPongRounds: Int
    /// Moves between two CPUs for `cpu-migrations`.
    public var migrations: Int
    /// Fresh pages touched for `page-faults`.
    public var pages: Int
    /// recv() calls for the receive-copy tracepoint.
    public var receives: Int
    /// The largest buffer the LLC walk may map, bytes.
    public var maxLLCWalkBytes: Int

    /// Sizes the workloads; the fields are as their properties say.
    public init(
        instructionLoop: UInt64, cycleLoop: UInt64, l1Loads: Int, branches: Int, taskClockWindowNs: UInt64,
        pingPongRounds: Int, migrations: Int, pages: Int, receives: Int, maxLLCWalkBytes: Int
    ) {
        self.instructionLoop = instructionLoop
        self.cycleLoop = cycleLoop
        self.l1Loads = l1Loads
        self.branches = branches
        self.taskClockWindowNs = taskClockWindowNs
        self.pingPongRounds = pingPongRounds
        self.migrations = migrations
        self.pages = pages
        self.receives = receives
        self.maxLLCWalkBytes = maxLLCWalkBytes
    }

    /// The sizes `copyprof counters --check` uses: each check takes well under a second of CPU here.
    public static let standard = CalibrationSizes(
        instructionLoop: 20_000_000, cycleLoop: 100_000_000, l1Loads: 2_000_000, branches: 10_000_000,
        taskClockWindowNs: 50_000_000, pingPongRounds: 1_000, migrations: 20, pages: 512, receives: 200,
        maxLLCWalkBytes: 1 << 30)
}

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
    private static func open(_ events: [PerfEvent], options: CounterOptions) -> Result<ThreadCounters, SkipReason> {
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

    private struct SkipReason: Error {
        var event: PerfEvent
        var reason: String
    }

    private static func skipped(_ event: PerfEvent, workload: String, expected: String, reason: String) -> CalibrationCheck {
        CalibrationCheck(event: event.name, workload: workload, expected: expected, verdict: .skipped, note: reason)
    }

    /// Runs `work` between start and stop; nil readings when the counters fail.
    private static func measure(_ counters: ThreadCounters, _ work: () -> Void) -> Result<[CounterReading], CounterError> {
        do throws(CounterError) {
            try counters.start()
            work()
            return .success(try counters.stop())
        } catch {
            return .failure(error)
        }
    }

    /// A check from one reading: value in the unit of the bounds via `unit`.
    private static func check(
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

    // MARK: Hardware

    static func instructions(options: CounterOptions, sizes: CalibrationSizes) -> CalibrationCheck {
        let n = sizes.instructionLoop
        let exact = CPerfEvent_exact_loops() == 1
        let workload = "\(grouped(n)) turns of a 2-instruction loop (decrement, branch), minus an empty region"
        let expected = "\(grouped(2 * n)) ± 1%"
        let counters: ThreadCounters
        switch open([.instructions], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(.instructions, workload: workload, expected: expected, reason: skip.reason)
        }
        guard exact else {
            return skipped(.instructions, workload: workload, expected: expected, reason: "no loop of known length for this CPU architecture")
        }
        // The median of three (loop - empty region) differences: an interrupt inside one region adds its
        // kernel instructions to that region only.
        var deltas: [Double] = []
        var last: CounterReading?
        var scaled: CounterReading?
        for _ in 0..<3 {
            guard case .success(let empty) = measure(counters, { _ = CPerfEvent_instruction_loop(0) }),
                case .success(let full) = measure(counters, { _ = CPerfEvent_instruction_loop(n) })
            else { break }
            last = full[0]
            if let a = empty[0].value, let b = full[0].value { deltas.append(b - a) }
            if let multiplexed = [empty[0], full[0]].first(where: \.isScaled) { scaled = multiplexed }
        }
        guard var reading = last, deltas.count == 3 else {
            // Not measured: no pass without the comparison, and no figure that is not the difference.
            let why = last?.value == nil ? last?.reason : nil
            return CalibrationCheck(
                event: PerfEvent.instructions.name, workload: workload, expected: expected, measured: "n/a",
                verdict: .fail,
                note: "\(deltas.count) of 3 region pairs counted" + (why.map { ": " + $0 } ?? " (an empty region read nothing)"))
        }
        let median = deltas.sorted()[1]
        // The median of differences of readings (already estimates when a reading was scaled; said below).
        reading.count = ScaledCount(raw: UInt64(max(0, median)), timeEnabled: 1, timeRunning: 1)
        let target = Double(2 * n)
        var result = check(
            .instructions, reading: reading, workload: workload, expected: expected, lower: target * 0.99,
            upper: target * 1.01, describe: { grouped($0) })
        result.note = "median of 3; off by \(signedPercent(median / target - 1))"
        if let scaled {
            result.scaled = true
            result.note! += "; scaled: a region was counted \(percent(scaled.runningFraction ?? 0)) of the time"
        }
        return result
    }

    /// The cycles-per-ns bounds of the cycles check: cpufreq's range of all CPUs ± 10%; without cpufreq, or above a
    /// boost range cpufreq does not list, a plausible 6.5 GHz ceiling.
    static func cycleBounds(_ frequency: FrequencyRange?) -> (low: Double, high: Double, expected: String) {
        guard let frequency else { return (0.4, 6.5, "0.4–6.5 GHz (no cpufreq in sysfs: a plausible range)") }
        let cpus = frequency.cpus.map { $0 > 1 ? ", lowest and highest of \($0) CPUs" : "" } ?? ""
        if frequency.boostUnlisted == true {
            return (
                frequency.minGHz * 0.9, max(frequency.maxGHz * 1.1, 6.5),
                "\(fixed(frequency.minGHz, 2))–6.5 GHz (cpufreq\(cpus); acpi-cpufreq lists no boost clock, so the "
                    + "ceiling is a plausible 6.5 GHz)")
        }
        return (
            frequency.minGHz * 0.9, frequency.maxGHz * 1.1,
            "\(fixed(frequency.minGHz, 2))–\(fixed(frequency.maxGHz, 2)) GHz ± 10% (cpufreq\(cpus))")
    }

    static func cycles(options: CounterOptions, sizes: CalibrationSizes, frequency: FrequencyRange?) -> CalibrationCheck {
        let n = sizes.cycleLoop
        let workload = "\(grouped(n)) turns of the 2-instruction loop, cycles / task-clock"
        let range = cycleBounds(frequency)
        let (low, high, expected) = (range.low, range.high, range.expected)
        let counters: ThreadCounters
        switch open([.cycles, .taskClock], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(.cycles, workload: workload, expected: expected, reason: skip.reason)
        }
        guard case .success(let readings) = measure(counters, { _ = CPerfEvent_instruction_loop(n) }),
            let ns = readings[1].value, ns > 0
        else {
            return CalibrationCheck(event: "cycles", workload: workload, expected: expected, verdict: .fail, note: "the region could not be read")
        }
        return check(
            .cycles, reading: readings[0], workload: workload, expected: expected, lower: low, upper: high,
            unit: { $0 / ns }, describe: { "\(fixed($0 / ns, 2)) GHz (\(grouped($0)) cycles in \(fixed(ns / 1e6, 1)) ms)" })
    }

    static func l1dWalk(
        options: CounterOptions, sizes: CalibrationSizes, caches: CacheSizes, loads: Bool, misses: Bool
    ) -> [CalibrationCheck] {
        let events = (loads ? [PerfEvent.l1dLoads] : []) + (misses ? [PerfEvent.l1dLoadMisses] : [])
        guard let l1 = caches.l1d, let l2 = caches.l2, l2 >= 4 * l1 else {
            return events.map {
                skipped($0, workload: "a walk larger than L1d and inside L2", expected: "≈ 1 per load",
                        reason: "L1d and L2 sizes are not both in /sys/devices/system/cpu/cpu0/cache, or L2 < 4 × L1d")
            }
        }
        let bytes = min(4 * l1, l2 / 2)
        let steps = sizes.l1Loads
        let workload =
            "\(grouped(steps)) dependent loads, one per 64-byte line in shuffled order, over \(bytesText(bytes)) "
            + "(L1d \(bytesText(l1)) < it < L2 \(bytesText(l2)))"
        return cacheWalk(
            events, options: options, bytes: bytes, steps: steps, warm: true, hugePages: false, workload: workload,
            bounds: [PerfEvent.l1dLoads.name: (0.95, 1.5), PerfEvent.l1dLoadMisses.name: (0.7, 1.6)])
    }

    static func llcWalk(
        options: CounterOptions, sizes: CalibrationSizes, caches: CacheSizes, loads: Bool, misses: Bool
    ) -> [CalibrationCheck] {
        let events = (loads ? [PerfEvent.llcLoads] : []) + (misses ? [PerfEvent.llcLoadMisses] : [])
        guard let llc = caches.llc else {
            return events.map {
                skipped($0, workload: "a walk over 4 × the LLC", expected: "≈ 1 per load",
                        reason: "no cache sizes in /sys/devices/system/cpu/cpu0/cache")
            }
        }
        let bytes = 4 * llc
        let workload =
            "one pass of dependent loads, one per 64-byte line in shuffled order, over \(bytesText(bytes)) "
            + "(4 × L\(caches.llcLevel ?? 3) \(bytesText(llc)))"
        guard bytes <= sizes.maxLLCWalkBytes else {
            return events.map {
                skipped($0, workload: workload, expected: "≈ 1 per load",
                        reason: "4 × LLC is more than the \(bytesText(sizes.maxLLCWalkBytes)) this check maps")
            }
        }
        return cacheWalk(
            events, options: options, bytes: bytes, steps: bytes / 64, warm: false, hugePages: true, workload: workload,
            bounds: [PerfEvent.llcLoads.name: (0.6, 1.5), PerfEvent.llcLoadMisses.name: (0.6, 1.3)])
    }

    private static func cacheWalk(
        _ events: [PerfEvent], options: CounterOptions, bytes: Int, steps: Int, warm: Bool, hugePages: Bool,
        workload: String, bounds: [String: (Double, Double)]
    ) -> [CalibrationCheck] {
        func expected(_ event: PerfEvent) -> String {
            let (low, high) = bounds[event.name]!
            return "≈ 1 per load (\(fixed(low, 2))–\(fixed(high, 2)))"
        }
        // Each event on its own: opened together they would share its group's counters only when partners.
        let counters: ThreadCounters
        switch open(events, options: options) {
        case .success(let opened): counters = opened
        case .failure:
            // Check each event alone, so one that is missing does not hide the other.
            if events.count > 1 {
                return events.flatMap {
                    cacheWalk([$0], options: options, bytes: bytes, steps: steps, warm: warm, hugePages: hugePages,
                              workload: workload, bounds: bounds)
                }
            }
            if case .failure(let skip) = open(events, options: options) {
                return [skipped(events[0], workload: workload, expected: expected(events[0]), reason: skip.reason)]
            }
            return []
        }
        guard let chase = Workloads.PointerChase(bytes: bytes, hugePages: hugePages) else {
            return events.map {
                CalibrationCheck(event: $0.name, workload: workload, expected: expected($0), verdict: .fail,
                                 note: "could not map \(bytesText(bytes)): \(Errno(errno).text)")
            }
        }
        if warm { _ = chase.walk(steps: chase.lines * 2) }
        var sink = 0
        guard case .success(let readings) = measure(counters, { sink = chase.walk(steps: steps) }) else {
            return events.map {
                CalibrationCheck(event: $0.name, workload: workload, expected: expected($0), verdict: .fail, note: "the region could not be read")
            }
        }
        withExtendedLifetime(sink) {}
        return zip(events, readings).map { event, reading in
            let (low, high) = bounds[event.name]!
            return check(
                event, reading: reading, workload: workload, expected: expected(event), lower: low, upper: high,
                unit: { $0 / Double(steps) }, describe: { "\(fixed($0 / Double(steps), 3)) per load (\(grouped($0)))" })
        }
    }

    static func branchMisses(options: CounterOptions, sizes: CalibrationSizes) -> CalibrationCheck {
        let n = sizes.branches
        let workload = "\(grouped(n)) conditional branches on random bits"
        let expected = "35–65% of them (≈ half: no predictor learns random bits)"
        let counters: ThreadCounters
        switch open([.branchMisses], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(.branchMisses, workload: workload, expected: expected, reason: skip.reason)
        }
        guard CPerfEvent_exact_loops() == 1 else {
            return skipped(.branchMisses, workload: workload, expected: expected, reason: "no branch loop of known shape for this CPU architecture")
        }
        let bytes = Workloads.randomBytes(n)
        var taken: UInt64 = 0
        guard case .success(let readings) = measure(counters, {
            taken = bytes.withUnsafeBufferPointer { CPerfEvent_branch_loop($0.baseAddress, UInt64(n)) }
        }) else {
            return CalibrationCheck(event: "branch-misses", workload: workload, expected: expected, verdict: .fail, note: "the region could not be read")
        }
        withExtendedLifetime(taken) {}
        return check(
            .branchMisses, reading: readings[0], workload: workload, expected: expected, lower: 0.35, upper: 0.65,
            unit: { $0 / Double(n) }, describe: { "\(percent($0 / Double(n))) (\(grouped($0)))" })
    }

    // MARK: Software

    static func taskClock(options: CounterOptions, sizes: CalibrationSizes) -> CalibrationCheck {
        let window = sizes.taskClockWindowNs
        let workload = "\(fixed(Double(window) / 1e6, 0)) ms of CPU by CLOCK_THREAD_CPUTIME_ID (best of 3 windows)"
        let expected = "the thread CPU clock ± 5%"
        let counters: ThreadCounters
        switch open([.taskClock], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(.taskClock, workload: workload, expected: expected, reason: skip.reason)
        }
        // task-clock runs on the scheduler's clock; in a VM it also holds time the hypervisor stole while the
        // thread was on the vCPU, which CLOCK_THREAD_CPUTIME_ID may leave out: the best of three windows.
        var best: (ratio: Double, reading: CounterReading, cpu: Double)?
        for _ in 0..<3 {
            let before = threadCPUClockNs()
            guard case .success(let readings) = measure(counters, { spinCPU(ns: window) }) else { break }
            let cpu = Double(threadCPUClockNs() - before)
            guard let value = readings[0].value else { continue }
            let ratio = value / cpu
            if best == nil || abs(ratio - 1) < abs(best!.ratio - 1) { best = (ratio, readings[0], cpu) }
            if abs(ratio - 1) < 0.05 { break }
        }
        guard let best else {
            return CalibrationCheck(event: "task-clock", workload: workload, expected: expected, verdict: .fail, note: "not counted")
        }
        var result = check(
            .taskClock, reading: best.reading, workload: workload, expected: expected, lower: 0.95, upper: 1.05,
            unit: { $0 / best.cpu }, describe: { "\(fixed($0 / 1e6, 2)) ms vs \(fixed(best.cpu / 1e6, 2)) ms" })
        result.note = (result.note.map { $0 + "; " } ?? "") + "off by \(signedPercent(best.ratio - 1))"
        return result
    }

    /// Context switches of N pipe round trips between this thread and a second one, both pinned to one CPU:
    /// every round hands the CPU from one thread to the other and back, so together they are switched out at
    /// least 2N times. Checks perf's `context-switches` when it can be counted, and getrusage's figure always.
    static func contextSwitches(options: CounterOptions, sizes: CalibrationSizes) -> [CalibrationCheck] {
        let rounds = sizes.pingPongRounds
        let workload = "\(grouped(rounds)) pipe round trips between two threads on one CPU (both threads)"
        let expected = "≥ \(grouped(2 * rounds))"
        var checks: [CalibrationCheck] = []
        let opened = open([.contextSwitches], options: options)
        let perfCounted: Bool
        if case .failure(let skip) = opened {
            checks.append(skipped(.contextSwitches, workload: workload, expected: expected, reason: skip.reason))
            perfCounted = false
        } else {
            perfCounted = true
        }
        guard let result = PingPong.run(rounds: rounds, events: perfCounted ? [.contextSwitches] : [], options: options) else {
            checks.append(CalibrationCheck(
                event: "context switches (getrusage)", workload: workload, expected: expected, verdict: .fail,
                note: "could not make the pipes or the second thread"))
            return checks
        }
        let pinned = result.pinned ? "" : "; the threads could not be pinned to one CPU"
        if perfCounted {
            let readings = result.readings
            if readings.count == 2, let a = readings[0].value, let b = readings[1].value {
                var combined = readings[0]
                combined.count = ScaledCount(raw: UInt64(a + b), timeEnabled: 1, timeRunning: 1)
                var check = check(
                    .contextSwitches, reading: combined, workload: workload, expected: expected,
                    lower: Double(2 * rounds), upper: nil, describe: { grouped($0) })
                check.note = "\(grouped(a)) + \(grouped(b))" + pinned
                checks.insert(check, at: 0)
            } else {
                checks.insert(CalibrationCheck(
                    event: "context-switches", workload: workload, expected: expected, measured: "n/a", verdict: .fail,
                    note: readings.first?.reason ?? "not counted"), at: 0)
            }
        }
        let usage = Double(result.rusageSwitches)
        checks.append(CalibrationCheck(
            event: "context switches (getrusage)", workload: workload, expected: expected,
            measured: grouped(usage), lowerBound: Double(2 * rounds), measuredValue: usage,
            verdict: verdict(usage, lower: Double(2 * rounds), upper: nil), mode: .userAndKernel, source: .rusage,
            note: "voluntary + involuntary of both threads; the source when context-switches is not permitted" + pinned))
        return checks
    }

    static func migrations(options: CounterOptions, sizes: CalibrationSizes) -> CalibrationCheck {
        let moves = sizes.migrations
        let workload = "\(moves) moves of the thread between two CPUs (sched_setaffinity)"
        let expected = "≥ \(moves)"
        guard let saved = Affinity.current(), saved.cpus.count >= 2 else {
            return skipped(.cpuMigrations, workload: workload, expected: expected, reason: "this thread may run on one CPU only")
        }
        let counters: ThreadCounters
        switch open([.cpuMigrations], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(.cpuMigrations, workload: workload, expected: expected, reason: skip.reason)
        }
        let cpus = Array(saved.cpus.prefix(2))
        let here = Int(CPerfEvent_current_cpu())
        var next = cpus[0] == here ? 1 : 0
        var moved = 0
        let outcome = measure(counters) {
            for _ in 0..<moves {
                if Affinity.only(cpus[next]).apply() { moved += 1 }
                next = 1 - next
            }
        }
        saved.apply()
        guard case .success(let readings) = outcome, moved == moves else {
            return CalibrationCheck(
                event: "cpu-migrations", workload: workload, expected: expected, verdict: .fail,
                note: "sched_setaffinity refused a move (\(moved) of \(moves) made)")
        }
        return check(
            .cpuMigrations, reading: readings[0], workload: workload, expected: expected, lower: Double(moves),
            upper: nil, describe: { grouped($0) })
    }

    static func pageFaults(options: CounterOptions, sizes: CalibrationSizes) -> CalibrationCheck {
        let pages = sizes.pages
        let workload = "one write to each of \(pages) fresh anonymous pages"
        let expected = "≥ \(grouped(pages))"
        let counters: ThreadCounters
        switch open([.pageFaults], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(.pageFaults, workload: workload, expected: expected, reason: skip.reason)
        }
        guard let region = Workloads.freshPages(pages) else {
            return CalibrationCheck(event: "page-faults", workload: workload, expected: expected, verdict: .fail, note: "could not map the pages")
        }
        defer { munmap(region, pages * Workloads.pageSize) }
        // Only the writes are inside the region; the mapping and its removal are outside it.
        guard case .success(let readings) = measure(counters, { Workloads.touch(region, pages: pages) }) else {
            return CalibrationCheck(event: "page-faults", workload: workload, expected: expected, verdict: .fail, note: "the region could not be read")
        }
        return check(
            .pageFaults, reading: readings[0], workload: workload, expected: expected, lower: Double(pages),
            upper: Double(2 * pages), describe: { grouped($0) })
    }

    /// The receive-copy tracepoint over N recv() calls on loopback: one `skb_copy_datagram_iovec` per recv()
    /// that copies a segment (each send is one segment, received before the next is sent).
    static func tracepoint(_ event: PerfEvent, options: CounterOptions, sizes: CalibrationSizes) -> CalibrationCheck {
        let n = sizes.receives
        let isReceiveCopy = event == .skbCopyDatagramIovec
        let workload = "\(n) send() of 512 bytes on loopback TCP, each received before the next"
        let expected = isReceiveCopy ? "one per recv() that returned data (≈ \(n), + 1%)" : "no known count"
        guard isReceiveCopy else {
            return skipped(event, workload: "—", expected: expected, reason: "no calibrated workload for this tracepoint")
        }
        let counters: ThreadCounters
        switch open([event], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(event, workload: workload, expected: expected, reason: skip.reason)
        }
        guard let pair = LoopbackSockets() else {
            return CalibrationCheck(event: event.name, workload: workload, expected: expected, verdict: .fail, note: "no loopback TCP pair")
        }
        defer { pair.close() }
        var buffer = [UInt8](repeating: 7, count: 512)
        var receives = 0
        var broken = false
        let outcome = measure(counters) {
            for _ in 0..<n where !broken {
                let sent = buffer.withUnsafeBytes { send(pair.client, $0.baseAddress, $0.count, 0) }
                if sent != 512 { broken = true }
                var got = 0
                while got < 512 && !broken {
                    let r = buffer.withUnsafeMutableBytes { recv(pair.server, $0.baseAddress! + got, 512 - got, 0) }
                    if r <= 0 { broken = true } else { got += r; receives += 1 }
                }
            }
        }
        guard case .success(let readings) = outcome, !broken else {
            return CalibrationCheck(event: event.name, workload: workload, expected: expected, verdict: .fail, note: "the loopback exchange failed")
        }
        var result = check(
            event, reading: readings[0], workload: workload, expected: expected, lower: Double(receives),
            upper: Double(receives) * 1.01, describe: { grouped($0) })
        result.note = (result.note.map { $0 + "; " } ?? "") + "\(receives) recv() calls returned data"
        return result
    }
}

/// A calibration workload run alone, without counters, so that another tool can count it:
/// `perf stat -e instructions:u copyprof counters --workload instruction-loop`, or valgrind's cachegrind.
public enum CalibrationWorkload: String, Sendable, CaseIterable {
    /// The 2-instruction loop, ``CalibrationSizes/instructionLoop`` turns.
    case instructionLoop = "instruction-loop"
    /// The pointer chase larger than L1d and inside L2.
    case l1dWalk = "l1d-walk"
    /// The pointer chase over 4 × the LLC.
    case llcWalk = "llc-walk"
    /// Branches on random bits.
    case branchLoop = "branch-loop"

    /// Runs the workload on the calling thread and returns what it did and what its count should be.
    public func run(sizes: CalibrationSizes = .standard, caches: CacheSizes = .current()) -> String {
        switch self {
        case .instructionLoop:
            let n = sizes.instructionLoop
            _ = CPerfEvent_instruction_loop(n)
            return "\(grouped(n)) turns of the 2-instruction loop: \(grouped(2 * n)) instructions in the loop"
        case .l1dWalk, .llcWalk:
            let l1 = caches.l1d ?? 32 << 10
            let bytes = self == .l1dWalk ? min(4 * l1, (caches.l2 ?? 8 * l1) / 2) : 4 * (caches.llc ?? 8 << 20)
            let steps = self == .l1dWalk ? sizes.l1Loads : bytes / 64
            guard let chase = Workloads.PointerChase(bytes: bytes, hugePages: self == .llcWalk) else {
                return "could not map \(bytesText(bytes))"
            }
            if self == .l1dWalk { _ = chase.walk(steps: chase.lines * 2) }
            let end = chase.walk(steps: steps)
            withExtendedLifetime(end) {}
            return "\(grouped(steps)) dependent loads over \(bytesText(bytes))"
                + (self == .l1dWalk ? " after \(grouped(chase.lines * 2)) warming loads" : "")
        case .branchLoop:
            let bytes = Workloads.randomBytes(sizes.branches)
            let taken = bytes.withUnsafeBufferPointer { CPerfEvent_branch_loop($0.baseAddress, UInt64($0.count)) }
            return "\(grouped(sizes.branches)) branches on random bits, \(grouped(taken)) taken"
        }
    }
}

/// Two threads on one CPU handing a byte back and forth through two pipes.
enum PingPong {
    struct Result {
        /// The readings of the main thread, then of the second thread (empty without events).
        var readings: [CounterReading]
        /// Voluntary + involuntary switches of both threads (getrusage).
        var rusageSwitches: UInt64
        /// True when both threads were pinned to one CPU.
        var pinned: Bool
    }

    /// What the second thread measured; written by it before it exits, read after the join.
    private final class Box: @unchecked Sendable {
        var reading: CounterReading?
        var switches: UInt64 = 0
        var pinned = false
        var failed = false
    }

    static func run(rounds: Int, events: [PerfEvent], options: CounterOptions) -> Result? {
        var toHelper: [Int32] = [0, 0]
        var toMain: [Int32] = [0, 0]
        guard pipe(&toHelper) == 0 else { return nil }
        guard pipe(&toMain) == 0 else {
            close(toHelper[0]); close(toHelper[1])
            return nil
        }
        defer { for fd in toHelper + toMain { close(fd) } }
        let saved = Affinity.current()
        let cpu = Int(CPerfEvent_current_cpu())
        let pinnedHere = cpu >= 0 && Affinity.only(cpu).apply()
        defer { saved?.apply() }

        let box = Box()
        let (helperIn, helperOut, mainIn, mainOut) = (toHelper[0], toMain[1], toMain[0], toHelper[1])
        let helper = JoinableThread {
            box.pinned = cpu >= 0 && Affinity.only(cpu).apply()
            var byte: UInt8 = 0
            let counters = events.isEmpty ? nil : try? ThreadCounters(events: events, options: options)
            let before = ThreadUsage.current()
            try? counters?.start()
            // Ready: the main thread starts its counters now.
            if write(helperOut, &byte, 1) != 1 { box.failed = true }
            for _ in 0..<rounds where !box.failed {
                if read(helperIn, &byte, 1) != 1 || write(helperOut, &byte, 1) != 1 { box.failed = true }
            }
            box.reading = (try? counters?.stop())?.first
            box.switches = ThreadUsage.current().since(before).contextSwitches
        }
        guard helper.isRunning else { return nil }
        // Opened before the helper's "ready" is read: the helper's region holds only the round trips.
        let counters = events.isEmpty ? nil : try? ThreadCounters(events: events, options: options)
        var byte: UInt8 = 0
        if read(mainIn, &byte, 1) != 1 { box.failed = true }
        let before = ThreadUsage.current()
        try? counters?.start()
        for _ in 0..<rounds where !box.failed {
            if write(mainOut, &byte, 1) != 1 || read(mainIn, &byte, 1) != 1 { break }
        }
        let mine = (try? counters?.stop())?.first
        let switches = ThreadUsage.current().since(before).contextSwitches
        helper.join()
        if box.failed { return nil }
        return Result(
            readings: [mine, box.reading].compactMap { $0 }, rusageSwitches: switches + box.switches,
            pinned: pinnedHere && box.pinned)
    }
}

// MARK: Formatting

/// 1234567 as `1,234,567`.
func grouped(_ value: Double) -> String {
    guard value.isFinite else { return "n/a" }
    return grouped(Int64(value.rounded()))
}

func grouped<T: BinaryInteger>(_ value: T) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return (value < 0 ? "-" : "") + out
}

/// `value` with `digits` decimals, without Foundation.
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "n/a" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int64(scaled / scale)
    let fraction = Int64(scaled) - whole * Int64(scale)
    var text = (value < 0 && scaled != 0 ? "-" : "") + String(whole)
    if digits > 0 {
        let f = String(fraction)
        text += "." + String(repeating: "0", count: digits - f.count) + f
    }
    return text
}

func percent(_ fraction: Double) -> String { fixed(fraction * 100, 1) + "%" }

func signedPercent(_ fraction: Double) -> String { (fraction >= 0 ? "+" : "") + fixed(fraction * 100, 2) + "%" }

func bytesText(_ bytes: Int) -> String {
    if bytes >= 1 << 30, bytes % (1 << 30) == 0 { return "\(bytes >> 30) GiB" }
    if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
    if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
    return "\(bytes) B"
}
