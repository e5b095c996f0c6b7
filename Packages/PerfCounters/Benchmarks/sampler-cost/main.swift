// What sampling costs around a region, on this machine:
//   1. one enable + disable + drain of an idle sampler (no samples in between): what a worker pays per region;
//   2. draining a ring the kernel filled (cpu-clock of a busy loop), in ns per sample, without and with call chains;
//   3. decoding a ring built in memory of N samples with 64-frame call chains (no system calls): the decoder alone,
//      and the memory the batch takes.
//
//   swift run -c release sampler-cost [--quick] [--decode-only]
//
// Figures are medians of rounds, in the thread's CPU time (CLOCK_THREAD_CPUTIME_ID: the machine is shared, and wall
// time counts the waits for a CPU too; wall-time medians follow in brackets). Each line says what was timed. Not a
// test: nothing is asserted.
import PerfCounters
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

let quick = CommandLine.arguments.contains("--quick")

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func format(_ ns: Double) -> String {
    ns >= 10_000 ? "\(Int((ns / 1000).rounded())) µs" : "\(Int(ns.rounded())) ns"
}

/// CPU and wall time of `body`, ns.
func timed(_ body: () throws(CounterError) -> Void) throws(CounterError) -> (cpu: Double, wall: Double) {
    let cpu = threadCPUClockNs()
    let wall = monotonicNanoseconds()
    try body()
    return (Double(threadCPUClockNs() - cpu), Double(monotonicNanoseconds() - wall))
}

/// `cpu [wall]` medians of per-unit times.
func summary(_ rounds: [(cpu: Double, wall: Double)], per units: Int) -> String {
    "\(format(median(rounds.map { $0.cpu / Double(units) }))) [wall \(format(median(rounds.map { $0.wall / Double(units) })))]"
}

func busy(cpuNs: UInt64, syscalls: Bool) {
    let until = threadCPUClockNs() + cpuNs
    if syscalls {
        let fd = open("/dev/zero", O_RDONLY)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 65_536, alignment: 64)
        while threadCPUClockNs() < until { _ = read(fd, buffer, 65_536) }
        buffer.deallocate()
        close(fd)
    } else {
        var x: UInt64 = 1
        while threadCPUClockNs() < until {
            for i in 0..<10_000 { x = x &* 6364136223846793005 &+ UInt64(i) }
        }
        if x == 42 { print("") }
    }
}

func run() throws(CounterError) {
    // 1. An idle sampler's enable + disable + drain.
    let idle = try ThreadSampler(options: SamplerOptions(rate: .frequency(hertz: 1000), event: .cpuClock))
    let iterations = quick ? 2_000 : 20_000
    var cycle: [(cpu: Double, wall: Double)] = []
    var toggle: [(cpu: Double, wall: Double)] = []
    var drainOnly: [(cpu: Double, wall: Double)] = []
    var stray = 0
    for _ in 0..<5 {
        cycle.append(
            try timed { () throws(CounterError) in
                for _ in 0..<iterations {
                    try idle.enable()
                    try idle.disable()
                    stray += try idle.drain().samples.count
                }
            })
        toggle.append(
            try timed { () throws(CounterError) in
                for _ in 0..<iterations {
                    try idle.enable()
                    try idle.disable()
                }
            })
        drainOnly.append(
            try timed { () throws(CounterError) in
                for _ in 0..<iterations { stray += try idle.drain().samples.count }
            })
    }
    print("idle sampler (\(idle.events[0].perfName), \(idle.ring.dataPages) data pages), median of 5 rounds of \(iterations):")
    print("  enable + disable + drain: \(summary(cycle, per: iterations))")
    print("  enable + disable:         \(summary(toggle, per: iterations))")
    print("  drain of an empty ring:   \(summary(drainOnly, per: iterations))   (a read() of the event's count and lost samples, a look at the ring)")
    print("  samples in the idle regions: \(stray) (the hrtimer's period carries over from region to region)")
    let counters = try ThreadCounters(events: [.taskClock])
    var counted: [(cpu: Double, wall: Double)] = []
    for _ in 0..<5 {
        counted.append(
            try timed { () throws(CounterError) in
                for _ in 0..<iterations {
                    try counters.start()
                    _ = try counters.stop()
                }
            })
    }
    print("  for comparison, a task-clock counter's start + stop (a read, enable, disable, a read): \(summary(counted, per: iterations))")

    // 2. Draining a ring the kernel filled.
    let seconds = quick ? 0.2 : 1.0
    for (label, depth, syscalls) in [("no call chains", nil as Int?, false), ("call chains, 64 frames, read(2) loop", 64, true)] {
        let hertz: UInt64 = 20_000
        let options = SamplerOptions(
            rate: .frequency(hertz: hertz), callchainDepth: depth,
            expectedSamples: SamplerOptions.expectedSamples(hertz: hertz, seconds: seconds * 1.5), maxRingPages: 65_536,
            event: .cpuClock)
        let sampler = try ThreadSampler(options: options)
        var perSample: [(cpu: Double, wall: Double)] = []
        var counts: [Int] = []
        var frames = 0
        for _ in 0..<3 {
            try sampler.enable()
            busy(cpuNs: UInt64(seconds * 1e9), syscalls: syscalls)
            try sampler.disable()
            var batch: SampleBatch?
            let time = try timed { () throws(CounterError) in batch = try sampler.drain() }
            let samples = Double(max(1, batch!.samples.count))
            perSample.append((time.cpu / samples, time.wall / samples))
            counts.append(batch!.samples.count)
            frames = batch!.frames.count / max(1, batch!.samples.count)
        }
        print("drain of a filled ring, \(label) (\(sampler.ring.dataPages) data pages, \(counts.map(String.init).joined(separator: "/")) samples, \(frames) frames per sample): \(summary(perSample, per: 1)) per sample")
    }
}

// 3. The decoder alone, on a ring built in memory: N samples with 64-frame call chains as the kernel writes them
// (PERF_CONTEXT_KERNEL, 20 frames, PERF_CONTEXT_USER, 44 frames); thread CPU time.
func decodeSynthetic(samples count: Int) {
    let layout = SampleLayout(sampleType: SampleLayout.samplerType(callchain: true, identifier: false))!
    let pageSize = 4096
    let recordWords = 5 + 1 + 66
    var dataPages = 1
    while dataPages * pageSize < count * recordWords * 8 + 8 { dataPages *= 2 }
    let bytes = (1 + dataPages) * pageSize
    let mapping = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: pageSize)
    defer { mapping.deallocate() }
    mapping.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    mapping.storeBytes(of: UInt64(pageSize), toByteOffset: 1040, as: UInt64.self)
    mapping.storeBytes(of: UInt64(dataPages * pageSize), toByteOffset: 1048, as: UInt64.self)
    var offset = pageSize
    func put(_ word: UInt64) {
        mapping.storeBytes(of: word, toByteOffset: offset, as: UInt64.self)
        offset += 8
    }
    let contextKernel = UInt64(bitPattern: -128)
    let contextUser = UInt64(bitPattern: -512)
    for i in 0..<count {
        put(9 | UInt64(1) << 32 | UInt64(recordWords * 8) << 48)
        put(0xffff_ffff_8100_0000 + UInt64(i % 4096))
        put(UInt64(4242) | UInt64(4243) << 32)
        put(UInt64(i) * 1000)
        put(1_000_000)
        put(66)
        put(contextKernel)
        for f in 0..<20 { put(0xffff_ffff_8100_0000 + UInt64(f)) }
        put(contextUser)
        for f in 0..<44 { put(0x40_0000 + UInt64(f)) }
    }
    mapping.storeBytes(of: UInt64(offset - pageSize), toByteOffset: 1024, as: UInt64.self)
    let ring = SampleRing(mapping: mapping, dataPages: dataPages, pageSize: pageSize)
    var decoder = SampleDecoder(layout: layout, eventIDs: [])
    let begin = threadCPUClockNs()
    decoder.reserve(for: ring.survey())
    ring.consume { decoder.decode($0) }
    let ns = Double(threadCPUClockNs() - begin)
    let memory = decoder.samples.capacity * MemoryLayout<Sample>.stride + decoder.frames.capacity * 8
    print("decode of \(decoder.samples.count) samples with 64-frame call chains built in memory: "
        + "\(format(ns / Double(count))) per sample; the batch holds \(decoder.frames.count) frames in two arrays, "
        + "\(memory / 1_048_576) MiB (Sample is \(MemoryLayout<Sample>.stride) bytes)")
}

do {
    if !CommandLine.arguments.contains("--decode-only") { try run() }
    decodeSynthetic(samples: quick ? 10_000 : 100_000)
} catch {
    print("sampler-cost: \(error)")
    exit(1)
}
