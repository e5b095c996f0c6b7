// Samples a busy region of the calling thread and says what the sampler took: the event, the mode (user+kernel or
// user-only, and why), the ring, the samples against what the frequency and the thread's CPU time predict, and
// where they fell.
//
//   swift run sample-region [--seconds S] [--frequency HZ] [--callchain DEPTH] [--syscalls] [--cpu-clock]
//
// --syscalls spends the region in read(2) of /dev/zero (the kernel's clear_user), so that samples fall in the
// kernel; without it the region is arithmetic in user space.
import PerfCounters
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

struct Arguments {
    var seconds = 0.2
    var hertz: UInt64 = 1000
    var callchain: Int?
    var syscalls = false
    var cpuClock = false

    static func parse(_ words: [String]) -> Arguments {
        var arguments = Arguments()
        var rest = words[...]
        func value(_ name: String) -> String {
            guard let next = rest.popFirst() else { fail("\(name) needs a value") }
            return next
        }
        while let word = rest.popFirst() {
            switch word {
            case "--seconds":
                guard let seconds = Double(value(word)), seconds > 0 else { fail("--seconds takes a number above 0") }
                arguments.seconds = seconds
            case "--frequency":
                guard let hertz = UInt64(value(word)), hertz > 0 else { fail("--frequency takes a whole number of Hz above 0") }
                arguments.hertz = hertz
            case "--callchain":
                guard let depth = Int(value(word)), depth > 0 else { fail("--callchain takes a frame count above 0") }
                arguments.callchain = depth
            case "--syscalls": arguments.syscalls = true
            case "--cpu-clock": arguments.cpuClock = true
            default: fail("unknown argument '\(word)': use --seconds S, --frequency HZ, --callchain DEPTH, --syscalls, --cpu-clock")
            }
        }
        return arguments
    }
}

func fail(_ message: String) -> Never {
    let line = "sample-region: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

/// Runs until the thread has used `seconds` of CPU: arithmetic, or reads of /dev/zero.
func busy(seconds: Double, syscalls: Bool) -> UInt64 {
    let until = threadCPUClockNs() + UInt64(seconds * 1e9)
    var x: UInt64 = 1
    if syscalls {
        let fd = open("/dev/zero", O_RDONLY)
        guard fd >= 0 else { fail("cannot open /dev/zero: \(Errno.current)") }
        defer { close(fd) }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 65_536, alignment: 64)
        defer { buffer.deallocate() }
        while threadCPUClockNs() < until {
            x &+= UInt64(read(fd, buffer, 65_536))
        }
    } else {
        while threadCPUClockNs() < until {
            for i in 0..<10_000 { x = x &* 6364136223846793005 &+ UInt64(i) }
        }
    }
    return x
}

let arguments = Arguments.parse(Array(CommandLine.arguments.dropFirst()))
let options = SamplerOptions(
    rate: .frequency(hertz: arguments.hertz), callchainDepth: arguments.callchain,
    expectedSamples: SamplerOptions.expectedSamples(hertz: arguments.hertz, seconds: arguments.seconds * 1.5),
    event: arguments.cpuClock ? .cpuClock : .automatic)
let sampler: ThreadSampler
do {
    sampler = try ThreadSampler(options: options)
} catch {
    fail(error.description)
}
let cpuBefore = threadCPUClockNs()
let batch: SampleBatch
do {
    try sampler.enable()
    let checksum = busy(seconds: arguments.seconds, syscalls: arguments.syscalls)
    try sampler.disable()
    if checksum == 42 { print("(checksum 42)") }
    batch = try sampler.drain()
} catch {
    fail(error.description)
}
let cpuNs = threadCPUClockNs() - cpuBefore

for event in batch.events {
    print("event: \(event.perfName) at \(event.rate)" + (event.notes.isEmpty ? "" : " (\(event.notes.joined(separator: "; ")))"))
}
for refusal in sampler.refused {
    print("refused: \(refusal.event.name)\(refusal.pmu.map { " on \($0)" } ?? ""): \(refusal.availability)")
}
print("mode: \(batch.mode.rawValue)" + (batch.modeReason.map { " (\($0))" } ?? ""))
let rings = batch.ring.ringCount > 1 ? "rings: \(batch.ring.ringCount), one per CPU, each " : "ring: "
print("\(rings)\(batch.ring.dataPages) data pages of \(batch.ring.pageSize) B, room for \(batch.ring.sampleCapacity) samples"
    + (batch.ring.note.map { " (\($0))" } ?? ""))
let expected = Double(cpuNs) / 1e9 * Double(arguments.hertz)
print("samples: \(batch.samples.count) (about \(Int(expected.rounded())) expected from \(cpuNs / 1_000_000) ms of CPU at \(arguments.hertz) Hz)")
print("lost: \(batch.lostSamples) (\(batch.lostSamplesSource.rawValue)), throttled: \(batch.throttles), other records: \(batch.otherRecords)")
let tid = sampler.threadID
let ofThread = batch.samples.filter { $0.tid == tid }.count
print("thread: \(ofThread) of \(batch.samples.count) samples are of thread \(tid)")
let kernel = batch.samples.filter(\.isKernel).count
let withKernelFrames = batch.samples.filter { $0.kernelFrameCount > 0 }.count
let withUserFrames = batch.samples.filter { $0.userFrameCount > 0 }.count
print("kernel samples: \(kernel), with kernel frames: \(withKernelFrames), with user frames: \(withUserFrames)")
