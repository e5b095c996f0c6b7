import Foundation
import Glibc
import Testing
import PerfCounters  // the public API only, as a package that depends on PerfCounters sees it
import SystemCalls

/// Events as typed values with their unit, and readings as exact counts plus the scaled estimate.
@Suite struct ReadingAPITests {
    @Test func everyCatalogEventHasTheUnitItsCountIsIn() throws {
        let units = Dictionary(uniqueKeysWithValues: PerfEvent.catalog.map { ($0.name, $0.unit) })
        #expect(units["cycles"] == .cycles)
        #expect(units["instructions"] == .instructions)
        #expect(units["task-clock"] == .nanoseconds)
        for name in [
            "L1-dcache-loads", "L1-dcache-load-misses", "LLC-loads", "LLC-load-misses", "branch-misses",
            "context-switches", "cpu-migrations", "page-faults", "skb:skb_copy_datagram_iovec",
        ] {
            #expect(units[name] == .events, "\(name)")
        }
        #expect(try PerfEvent.named("sched:sched_switch").unit == .events)
        #expect(EventUnit.nanoseconds.description == "ns")
        // An event made by hand takes its unit from its encoding unless told otherwise.
        let refCycles = PerfEvent(name: "ref-cycles", source: .hardware(config: 9), summary: "reference cycles")
        #expect(refCycles.unit == .cycles)
        let cpuClock = PerfEvent(name: "cpu-clock", source: .software(config: 0), summary: "CPU clock")
        #expect(cpuClock.unit == .nanoseconds)
    }

    @Test func catalogEventsAndTracepointsEncodeAsTheirNames() throws {
        let events: [PerfEvent] = [.cycles, .taskClock, try PerfEvent.named("sched:sched_switch")]
        let text = String(decoding: try JSONEncoder().encode(events), as: UTF8.self)
        #expect(text == #"["cycles","task-clock","sched:sched_switch"]"#)
        #expect(try JSONDecoder().decode([PerfEvent].self, from: Data(text.utf8)) == events)
    }

    @Test func anEventMadeByHandRoundTripsWithItsEncodingAndUnit() throws {
        let event = PerfEvent(
            name: "stalled-cycles-backend", source: .hardware(config: 8), summary: "cycles stalled in the back end")
        let decoded = try JSONDecoder().decode(PerfEvent.self, from: JSONEncoder().encode(event))
        #expect(decoded == event && decoded.unit == .cycles && decoded.summary == event.summary)
    }

    @Test func anUnknownEventNameDoesNotDecode() throws {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(PerfEvent.self, from: Data(#""no-such-event""#.utf8))
        }
    }

    @Test func aReadingCountedAllAlongIsExact() {
        let reading = CounterReading(
            event: .taskClock, availability: .counted,
            count: ScaledCount(raw: 10_208_471, timeEnabled: 10_300_000, timeRunning: 10_300_000))
        #expect(reading.raw == 10_208_471 && reading.exactValue == 10_208_471 && reading.value == 10_208_471)
        #expect(reading.runningFraction == 1 && !reading.isScaled && reading.unit == .nanoseconds)
        #expect(reading.description == "task-clock: 10208471 ns")
    }

    @Test func aMultiplexedReadingIsAnEstimateThatSaysSo() {
        let reading = CounterReading(
            event: .cycles, availability: .counted,
            count: ScaledCount(raw: 44_414_997, timeEnabled: 1_000_000, timeRunning: 520_000))
        #expect(reading.raw == 44_414_997 && reading.exactValue == nil && reading.isScaled)
        #expect(reading.value == 44_414_997.0 * 1_000_000 / 520_000 && reading.runningFraction == 0.52)
        #expect(reading.description == "cycles: ≈ 85413456 cycles (scaled: counted 52% of the region, raw 44414997)")
    }

    @Test func aReadingWithoutAValueSaysWhy() {
        let refused = CounterReading(
            event: .instructions, availability: .init(state: .notSupported, reason: "ENOENT: no hardware PMU"),
            count: nil)
        #expect(refused.raw == nil && refused.value == nil && refused.exactValue == nil)
        #expect(refused.description == "instructions: not counted (not-supported: ENOENT: no hardware PMU)")
        let neverRan = CounterReading(
            event: .cycles, availability: .counted, count: ScaledCount(raw: 0, timeEnabled: 1_000, timeRunning: 0))
        #expect(neverRan.value == nil && neverRan.exactValue == nil && neverRan.runningFraction == 0)
        #expect(neverRan.description == "cycles: not counted (not counted: the group never ran in the region)")
    }

    @Test func aUserOnlyReadingSaysSo() {
        let reading = CounterReading(
            event: .pageFaults, availability: .init(state: .userOnly, reason: "EACCES"),
            count: ScaledCount(raw: 12, timeEnabled: 5, timeRunning: 5))
        #expect(reading.mode == .userOnly && reading.description == "page-faults: 12 events (user-only)")
    }

    @Test func aRealRegionReadsTaskClockInNanoseconds() throws {
        let counters = try ThreadCounters(events: [.taskClock])
        try counters.start()
        let until = threadCPUClockNs() + 2_000_000
        while threadCPUClockNs() < until {}
        let reading = try #require(try counters.stop().first)
        #expect(reading.event == .taskClock && reading.unit == .nanoseconds)
        // 2 ms of the thread's CPU time, counted all along (a software group is never multiplexed), so exact.
        // task-clock and CLOCK_THREAD_CPUTIME_ID differ by up to 5% in a VM (taskClockAgreesWithThreadCPUClock):
        // the bounds check the unit (ns, not µs or a count), with a margin of 50% below and 500× above.
        let exact = try #require(reading.exactValue)
        #expect(exact >= 1_000_000 && exact < 1_000_000_000)
        #expect(reading.description == "task-clock: \(exact) ns")
    }

    @Test func aRegionMeasurementFindsAReadingByEventOrName() throws {
        let region = try CountedRegion(events: [.taskClock])
        try region.begin()
        let measurement = try region.end()
        #expect(measurement.reading(.taskClock)?.event == .taskClock)
        #expect(measurement.reading("task-clock")?.event == .taskClock)
        #expect(measurement.reading(.contextSwitches) == nil)
    }
}
