#if canImport(Glibc)
import Glibc
#endif

/// Two threads handing one byte back and forth through two pipes: the calling thread writes, a partner thread reads
/// and writes it back, `roundTrips` times. Each round trip blocks each thread once in `read` and wakes it again:
/// the counters' calibration counts the context switches that makes (at least two a round trip when both threads
/// share a CPU), and copyprof's control workload times it as the cost of waking a blocked thread.
///
/// A signal whose handler has no `SA_RESTART` (copyprof's Ctrl-C handler) makes a blocked `read` or `write` fail
/// with EINTR: both are retried (``retryingOnInterrupt(_:)``), so a signal never ends a round trip halfway. A pipe
/// that fails ends both sides early, and each side's count of completed round trips says so.
public enum PipePingPong {
    /// Runs the round trips between the calling thread and a new thread named `partnerName`.
    ///
    /// `partner` runs on the new thread: it prepares what it needs (pins itself, opens counters…), calls `echo`
    /// — which tells the calling thread it is ready, then answers every byte — and returns what it measured.
    /// `caller` runs on the calling thread once the partner is ready (or has ended without calling `echo`): it
    /// prepares, calls `ping` — the round trips — and returns what it measured. `echo` and `ping` return the round
    /// trips their side completed: `roundTrips`, or fewer when a pipe failed or the other side stopped.
    ///
    /// - Throws: when the pipes or the partner thread cannot be had; nothing has run then.
    public static func run<Caller, Partner: Sendable>(
        roundTrips: Int, partnerName: String,
        partner: @escaping @Sendable (_ echo: () -> Int) -> Partner,
        caller: (_ ping: () -> Int) -> Caller
    ) throws(SystemCallError) -> (caller: Caller, partner: Partner) {
        let there = try makePipe()
        let back: (read: Int32, write: Int32)
        do { back = try makePipe() } catch {
            close(there.read)
            close(there.write)
            throw error
        }
        let slot = PartnerSlot<Partner>()
        let thread: JoinableThread
        do {
            thread = try JoinableThread(name: partnerName) {
                slot.value = partner {
                    // Ready: the caller's part starts now.
                    guard writeByte(back.write) else { return 0 }
                    var done = 0
                    while done < roundTrips, readByte(there.read), writeByte(back.write) { done += 1 }
                    return done
                }
                // The caller may still wait for a byte (the partner stopped early, or never echoed): this ends it.
                close(back.write)
            }
        } catch {
            for fd in [there.read, there.write, back.read, back.write] { close(fd) }
            throw error
        }
        let ready = readByte(back.read)
        let mine = caller {
            guard ready else { return 0 }
            var done = 0
            while done < roundTrips, writeByte(there.write), readByte(back.read) { done += 1 }
            return done
        }
        // The partner may still wait for a byte (the caller stopped early): the end of its pipe ends that read.
        close(there.write)
        thread.join()
        close(there.read)
        close(back.read)
        return (mine, slot.value!)
    }

    private static func readByte(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        return retryingOnInterrupt { read(fd, &byte, 1) } == 1
    }

    private static func writeByte(_ fd: Int32) -> Bool {
        var byte: UInt8 = 1
        return retryingOnInterrupt { write(fd, &byte, 1) } == 1
    }
}

/// What the partner measured.
///
/// `@unchecked Sendable`: written once by the partner thread before it ends, read by the calling thread only after
/// `pthread_join`, which orders the two.
private final class PartnerSlot<Value>: @unchecked Sendable {
    var value: Value?
}
