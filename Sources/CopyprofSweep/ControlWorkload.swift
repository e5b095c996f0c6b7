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

    /// The pipe ping-pong: wall time of all round trips, and the CPU time of both threads; zeros when a pipe or the
    /// thread cannot be had (the comparison then finds no wake-up drift rather than a false one).
    func wakeups() -> (wallNs: UInt64, cpuNs: UInt64) {
        var there: [Int32] = [-1, -1], back: [Int32] = [-1, -1]
        guard pipe(&there) == 0 else { return (0, 0) }
        guard pipe(&back) == 0 else {
            close(there[0]); close(there[1])
            return (0, 0)
        }
        defer { for fd in there + back where fd >= 0 { close(fd) } }
        let echo = PipeEcho(read: there[0], write: back[1], roundTrips: wakeRoundTrips)
        var thread = pthread_t()
        let box = Unmanaged.passRetained(echo)
        guard pthread_create(&thread, nil, { argument in
            let echo = Unmanaged<PipeEcho>.fromOpaque(argument!).takeRetainedValue()
            echo.run()
            return nil
        }, box.toOpaque()) == 0 else {
            box.release()
            return (0, 0)
        }
        var byte: UInt8 = 1
        let cpuStart = threadCPUClockNs()
        let start = monotonicNanoseconds()
        // A signal (Ctrl-C: the handler has no SA_RESTART) must not end a round trip halfway.
        for _ in 0..<wakeRoundTrips {
            guard retryingOnInterrupt({ write(there[1], &byte, 1) }) == 1,
                retryingOnInterrupt({ read(back[0], &byte, 1) }) == 1
            else { break }
        }
        let wall = monotonicNanoseconds() &- start
        let cpu = threadCPUClockNs() &- cpuStart
        // If the loop stopped early, the echo waits for a byte that will not come: closing this end ends its read.
        close(there[1])
        there[1] = -1
        pthread_join(thread, nil)
        return (wall, cpu &+ echo.cpuNs)
    }
}

/// The echoing side of the control's pipe ping-pong, on its own thread.
///
/// `@unchecked Sendable`: `cpuNs` is written by the echo thread before it ends and read after `pthread_join`.
private final class PipeEcho: @unchecked Sendable {
    let readFD: Int32
    let writeFD: Int32
    let roundTrips: Int
    var cpuNs: UInt64 = 0

    init(read: Int32, write: Int32, roundTrips: Int) {
        readFD = read
        writeFD = write
        self.roundTrips = roundTrips
    }

    func run() {
        var byte: UInt8 = 0
        let start = threadCPUClockNs()
        for _ in 0..<roundTrips {
            guard retryingOnInterrupt({ read(readFD, &byte, 1) }) == 1,
                retryingOnInterrupt({ write(writeFD, &byte, 1) }) == 1
            else { break }
        }
        cpuNs = threadCPUClockNs() &- start
    }
}

/// One `memcpy` the optimizer cannot see into from the loop, so that no copy is folded into another.
@inline(never)
func controlCopy(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) {
    memcpy(destination, source, count)
}

/// The calling thread's CPU time, ns (`CLOCK_THREAD_CPUTIME_ID`).
func threadCPUClockNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
