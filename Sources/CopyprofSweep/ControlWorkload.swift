import CopyprofProfile
import PerfCounters
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// The control of a sweep: a fixed piece of work that does not depend on the transports, run on the sweep's own
/// thread at the start of every recorded round while no trial runs: about 17 ms on this project's machine, half a
/// trial.
///
/// It copies a buffer with `memcpy` (memory bandwidth, as the copies under test need) and then calls `getppid()`
/// in a loop (the cost of entering and leaving the kernel, as every `send` and `recv` pays). Both are timed by the wall
/// clock, so that a thread that waits for a CPU (a busy neighbour, a hypervisor that steals the vCPU) takes longer,
/// as the transports' threads do; the thread CPU clock beside it tells waiting from slower running.
///
/// It must run for several of the scheduler's time slices to see a CPU shared with busy neighbours: a first version of
/// 2.5 ms ran within one slice after its pause and did not move when two busy loops at nice −5 took three quarters
/// of the CPUs from the transports (their throughput fell by 60–80%).
///
/// Then two threads pass a byte back and forth over two pipes (`wakeRoundTrips` times): the cost of waking a
/// blocked thread, which is most of a ping-pong round trip on a VM and moves with how idle the machine's CPUs are (an
/// idle vCPU must be woken through the hypervisor). Three identical runs here saw ping-pong RTT fall by 20–40% for
/// every transport alike from one run to the next while the copies and system calls did not move.
public struct ControlWorkload: Sendable {
    /// Bytes of the buffer copied: 256 KiB, inside any current CPU's L2 cache, so the copy measures the CPU and its
    /// caches rather than the memory of a shared host.
    public var copyBufferBytes = 256 << 10
    /// Copies of the buffer per run: 1 GiB in all, about 9 ms here (some 120 GB/s from L2).
    public var copyRepetitions = 4096
    /// `getppid()` calls per run: about 8 ms here, where one costs some 130 ns (a VM's system calls are slow).
    public var syscalls = 64_000
    /// Round trips of the two threads' pipe ping-pong: 10–40 ms here (15–60 µs a round trip).
    public var wakeRoundTrips = 600

    public init() {}

    /// The record of the workload, without samples.
    public var record: ControlRecord {
        ControlRecord(
            copyBufferBytes: copyBufferBytes, copyRepetitions: copyRepetitions, syscalls: syscalls, wakeRoundTrips: wakeRoundTrips)
    }

    /// Milliseconds the thread sleeps before the workload, so that the kernel's deferred work of the trial before it
    /// (closing its sockets, ending its threads) is not counted as the machine's.
    public var settleMs = 10

    /// Runs the workload once on the calling thread and returns its times.
    public func run(round: Int) -> ControlSample {
        if settleMs > 0 { usleep(UInt32(settleMs * 1000)) }
        let count = copyBufferBytes
        let source = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        defer {
            source.deallocate()
            destination.deallocate()
        }
        memset(source, 0x5A, count)
        memset(destination, 0, count)
        // One untimed copy brings both buffers into the caches and their pages into memory.
        memcpy(destination, source, count)

        let cpuStart = threadCPUClockNs()
        let copyStart = monotonicNanoseconds()
        for repetition in 0..<copyRepetitions {
            // Alternate the direction, so that each copy reads what the one before wrote.
            if repetition & 1 == 0 { controlCopy(destination, source, count) } else { controlCopy(source, destination, count) }
        }
        let copyEnd = monotonicNanoseconds()
        var sink: pid_t = 0
        for _ in 0..<syscalls { sink &+= getppid() }
        let syscallEnd = monotonicNanoseconds()
        let cpuEnd = threadCPUClockNs()
        withExtendedLifetime(sink) {}
        let wake = wakeups()
        return ControlSample(
            round: round, copyNs: copyEnd &- copyStart, syscallNs: syscallEnd &- copyEnd, cpuNs: cpuEnd &- cpuStart,
            wakeNs: wake.wallNs, wakeCPUNs: wake.cpuNs)
    }

    /// The pipe ping-pong (``PipePingPong``): wall time of all round trips, and the CPU time of both threads; zeros
    /// when the pipes or the thread cannot be had (the comparison then finds no wake-up drift rather than a false
    /// one). A signal (Ctrl-C: the handler has no SA_RESTART) does not end a round trip halfway.
    func wakeups() -> (wallNs: UInt64, cpuNs: UInt64) {
        let sides = try? PipePingPong.run(
            roundTrips: wakeRoundTrips, partnerName: "cp-control-echo",
            partner: { echo in
                let start = threadCPUClockNs()
                _ = echo()
                return threadCPUClockNs() &- start
            },
            caller: { ping in
                let cpuStart = threadCPUClockNs()
                let start = monotonicNanoseconds()
                _ = ping()
                return (wallNs: monotonicNanoseconds() &- start, cpuNs: threadCPUClockNs() &- cpuStart)
            })
        guard let sides else { return (0, 0) }
        return (sides.caller.wallNs, sides.caller.cpuNs &+ sides.partner)
    }
}

/// One `memcpy` the optimizer cannot see into from the loop, so that no copy is folded into another.
@inline(never)
func controlCopy(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) {
    memcpy(destination, source, count)
}
