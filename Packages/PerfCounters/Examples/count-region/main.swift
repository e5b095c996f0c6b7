// Counts a region of code on the calling thread, as the README shows.
//
//     swift run count-region                        # cycles, instructions, task-clock, context-switches
//     swift run count-region task-clock,page-faults # any catalog events, or tracepoints as subsystem:name
import PerfCounters

#if canImport(Glibc)
import Glibc
#endif

/// The work counted: fills 8 MiB (fresh pages, so page faults) and sums it, 10 times over.
func work() -> UInt64 {
    var sum: UInt64 = 0
    for round in 0..<10 {
        let words = [UInt64](unsafeUninitializedCapacity: 1 << 20) { buffer, count in
            for i in 0..<buffer.count { buffer[i] = UInt64(i) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(round) }
            count = buffer.count
        }
        for word in words { sum &+= word >> 7 }
    }
    return sum
}

do throws(CounterError) {
    let events: [PerfEvent] =
        CommandLine.arguments.count > 1
        ? try PerfEvent.list(CommandLine.arguments[1])
        : [.cycles, .instructions, .taskClock, .contextSwitches]

    // Open the counters on the thread to be measured: they count the thread that opened them.
    let counters = try ThreadCounters(events: events)
    try counters.start()
    let result = work()
    let readings = try counters.stop()

    // Each reading prints with its unit, says when it is scaled or user-only, and why when it has no value.
    for reading in readings { print(reading) }

    // The typed values: the exact count while counting (UInt64), the estimate of the whole region, the fraction.
    if let cpu = readings.first(where: { $0.event == .taskClock }), let ns = cpu.exactValue {
        print("task-clock is exact: \(ns) \(cpu.unit) of CPU time for 10 × 8 MiB, checksum \(result % 1000)")
    }
    for reading in readings where reading.isScaled {
        let percent = Int((reading.runningFraction ?? 0) * 100)
        print("\(reading.event) was multiplexed: \(reading.raw ?? 0) counted in \(percent)% of the region")
    }
} catch {
    // One line that says what failed and what to do (no event here can be counted, an unknown name ...).
    var message = "count-region: \(error)\n"
    message.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(1)
}
