import PerfCounters

let counters = try ThreadCounters(events: [.cycles, .instructions, .taskClock, .contextSwitches])
try counters.start()
var x: UInt64 = 1
for i in 0..<10_000_000 { x = x &* 6364136223846793005 &+ UInt64(i) }
for reading in try counters.stop() {
    print(reading.event, reading.value.map { "\($0)" } ?? "not counted", reading.availability)
}
print(x)
