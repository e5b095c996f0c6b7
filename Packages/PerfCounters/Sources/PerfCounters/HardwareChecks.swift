internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// The checks of the hardware events: instructions and cycles over a loop of known length, the cache events over
/// pointer chases sized from the caches, branch misses over branches on random bits.
extension CounterCalibration {
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
        var failure: CounterError?
        pairs: for _ in 0..<3 {
            let empty: [CounterReading], full: [CounterReading]
            switch (measure(counters, { _ = CPerfEvent_instruction_loop(0) }), measure(counters, { _ = CPerfEvent_instruction_loop(n) })) {
            case (.success(let a), .success(let b)): (empty, full) = (a, b)
            case (.failure(let error), _), (_, .failure(let error)):
                failure = error
                break pairs
            }
            last = full[0]
            if let a = empty[0].value, let b = full[0].value { deltas.append(b - a) }
            if let multiplexed = [empty[0], full[0]].first(where: \.isScaled) { scaled = multiplexed }
        }
        guard var reading = last, deltas.count == 3 else {
            // Not measured: no pass without the comparison, and no figure that is not the difference.
            let why = failure.map { "the region could not be counted: \($0.description)" } ?? (last?.value == nil ? last?.reason : nil)
            return CalibrationCheck(
                event: PerfEvent.instructions.name, workload: workload, expected: expected, measured: "n/a",
                verdict: .fail,
                note: "\(deltas.count) of 3 region pairs counted" + (why.map { ": " + $0 } ?? " (an empty region read nothing)"))
        }
        let median = deltas.sorted()[1]
        let target = Double(2 * n)
        if median < 0 {
            // The empty region read more than the full one: the difference is what was measured, never a 0.
            return CalibrationCheck(
                event: PerfEvent.instructions.name, workload: workload, expected: expected, measured: "-" + grouped(-median),
                lowerBound: target * 0.99, upperBound: target * 1.01, measuredValue: median, verdict: .fail,
                note: "median of 3: the empty region counted more than the full one")
        }
        // The median of differences of readings (already estimates when a reading was scaled; said below).
        reading.count = ScaledCount(raw: UInt64(median), timeEnabled: 1, timeRunning: 1)
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
        let counters: ThreadCounters
        switch open(events, options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip):
            // Opened together first; if that fails, each alone, so that one that is missing does not hide the other.
            if events.count > 1 {
                return events.flatMap {
                    cacheWalk([$0], options: options, bytes: bytes, steps: steps, warm: warm, hugePages: hugePages,
                              workload: workload, bounds: bounds)
                }
            }
            return [skipped(events[0], workload: workload, expected: expected(events[0]), reason: skip.reason)]
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
}
