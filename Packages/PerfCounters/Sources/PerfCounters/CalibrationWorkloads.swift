internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Work whose event counts are known, for calibrating counters.
enum Workloads {
    /// A buffer of `lines` 64-byte lines whose first word holds the index of the next line, in one random cycle
    /// through all of them (Sattolo's shuffle), so each load depends on the last and prefetchers cannot guess
    /// the next line.
    final class PointerChase {
        let lines: Int
        let base: UnsafeMutablePointer<Int>
        private let bytes: Int

        init?(bytes requested: Int, hugePages: Bool) {
            lines = max(2, requested / 64)
            bytes = lines * 64
            guard let region = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                region != MAP_FAILED
            else { return nil }
            if hugePages { _ = madvise(region, bytes, MADV_HUGEPAGE) }
            base = region.bindMemory(to: Int.self, capacity: bytes / 8)
            var order = Array(0..<lines)
            var random = SplitMix64(seed: 0x5eed)
            var i = lines - 1
            while i > 0 {
                let j = Int(random.next() % UInt64(i))
                order.swapAt(i, j)
                i -= 1
            }
            for k in 0..<lines { base[order[k] * 8] = order[(k + 1) % lines] * 8 }
        }

        deinit { munmap(base, bytes) }

        /// Follows `steps` pointers from line 0: `steps` dependent loads, each of a new line (in assembly on
        /// x86-64 and AArch64, so that there is no other load in the loop whatever the build mode).
        func walk(steps: Int) -> Int {
            let end = base.withMemoryRebound(to: UInt64.self, capacity: lines * 8) {
                CPerfEvent_pointer_chase($0, UInt64(steps))
            }
            return Int(end)
        }
    }

    /// `count` bytes of a fixed pseudo-random sequence.
    static func randomBytes(_ count: Int) -> [UInt8] {
        var random = SplitMix64(seed: 42)
        var bytes = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var word = random.next()
            for _ in 0..<8 where i < count {
                bytes[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
        return bytes
    }

    /// `pages` fresh anonymous pages (no huge pages), mapped but not touched; nil when mmap fails. Map before the
    /// counted region and unmap after it, so that the region holds only the writes.
    static func freshPages(_ pages: Int) -> UnsafeMutableRawPointer? {
        let size = pageSize
        guard let region = mmap(nil, pages * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            region != MAP_FAILED
        else { return nil }
        _ = madvise(region, pages * size, MADV_NOHUGEPAGE)
        return region
    }

    /// One write to each of `pages` pages at `region`: one page fault per fresh page.
    static func touch(_ region: UnsafeMutableRawPointer, pages: Int) {
        let size = pageSize
        for page in 0..<pages { region.storeBytes(of: UInt8(1), toByteOffset: page * size, as: UInt8.self) }
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Splitmix64 (Steele, Lea, Flood 2014): a fixed, fast pseudo-random sequence.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The calling thread's CPU affinity, to pin and restore.
struct Affinity {
    static let words = 16
    var mask: [UInt64]

    static func current() -> Affinity? {
        var mask = [UInt64](repeating: 0, count: words)
        guard CPerfEvent_allowed_cpus(&mask, Int32(words)) == 0 else { return nil }
        return Affinity(mask: mask)
    }

    var cpus: [Int] {
        (0..<(64 * Self.words)).filter { mask[$0 / 64] & (1 << UInt64($0 % 64)) != 0 }
    }

    static func only(_ cpu: Int) -> Affinity {
        var mask = [UInt64](repeating: 0, count: words)
        mask[cpu / 64] = 1 << UInt64(cpu % 64)
        return Affinity(mask: mask)
    }

    /// Applies it to the calling thread. Returns false when the kernel refused.
    @discardableResult
    func apply() -> Bool { CPerfEvent_set_allowed_cpus(mask, Int32(Self.words)) == 0 }
}

/// A connected TCP pair on loopback, both ends owned by the caller.
struct LoopbackSockets {
    var client: Int32
    var server: Int32

    init?() {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { return nil }
        defer { Glibc.close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(listener, sa, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, sa, &length) == 0
            }
        }
        guard listening else { return nil }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard client >= 0 else { return nil }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) }
        }
        let server = connected == 0 ? acceptCloseOnExec(listener) : -1
        guard server >= 0 else {
            Glibc.close(client)
            return nil
        }
        self.client = client
        self.server = server
    }

    func close() {
        Glibc.close(client)
        Glibc.close(server)
    }
}

/// Two threads on one CPU handing a byte back and forth through two pipes (``PipePingPong``), each counting its own
/// context switches over its round trips: perf's `context-switches` when asked for, getrusage's always.
enum PingPong {
    struct Result {
        /// The readings of the calling thread, then of the partner thread (empty without events).
        var readings: [CounterReading]
        /// Voluntary + involuntary switches of both threads (getrusage).
        var rusageSwitches: UInt64
        /// True when both threads were pinned to one CPU.
        var pinned: Bool
    }

    /// What one thread measured over its round trips.
    private struct Side: Sendable {
        var reading: CounterReading?
        var switches: UInt64
        var pinned: Bool
        var roundTrips: Int
    }

    /// Nil when the pipes or the partner thread cannot be had, or a round trip failed.
    static func run(rounds: Int, events: [PerfEvent], options: CounterOptions) -> Result? {
        let saved = Affinity.current()
        let cpu = Int(CPerfEvent_current_cpu())
        let pinnedHere = cpu >= 0 && Affinity.only(cpu).apply()
        defer { saved?.apply() }
        // Opened before the partner starts, so that the partner's region holds only its round trips.
        let counters = events.isEmpty ? nil : try? ThreadCounters(events: events, options: options)
        guard
            let sides = try? PipePingPong.run(
                roundTrips: rounds, partnerName: "calib-pingpong",
                partner: { echo in
                    let pinned = cpu >= 0 && Affinity.only(cpu).apply()
                    let counters = events.isEmpty ? nil : try? ThreadCounters(events: events, options: options)
                    return measure(counters, pinned: pinned, echo)
                },
                caller: { ping in measure(counters, pinned: pinnedHere, ping) }),
            sides.caller.roundTrips == rounds, sides.partner.roundTrips == rounds
        else { return nil }
        return Result(
            readings: [sides.caller.reading, sides.partner.reading].compactMap { $0 },
            rusageSwitches: sides.caller.switches + sides.partner.switches,
            pinned: sides.caller.pinned && sides.partner.pinned)
    }

    /// The thread's switches (and counters) over `roundTrips`, its side of the ping-pong.
    private static func measure(_ counters: ThreadCounters?, pinned: Bool, _ roundTrips: () -> Int) -> Side {
        let before = ThreadUsage.current()
        try? counters?.start()
        let completed = roundTrips()
        let reading = (try? counters?.stop())?.first
        return Side(
            reading: reading, switches: ThreadUsage.current().since(before).contextSwitches, pinned: pinned,
            roundTrips: completed)
    }
}
