internal import CPerfEvent
#if canImport(Glibc)
import Glibc
#endif

/// The CPU's cache sizes, from /sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}.
public struct CacheSizes: Sendable, Hashable, Codable {
    /// Level 1 data cache, bytes.
    public var l1d: Int?
    /// Level 2 cache, bytes.
    public var l2: Int?
    /// The last level (the highest level listed), bytes.
    public var llc: Int?
    /// The level of `llc`.
    public var llcLevel: Int?

    /// Creates cache sizes; nil where a size is unknown.
    public init(l1d: Int?, l2: Int?, llc: Int?, llcLevel: Int?) {
        self.l1d = l1d
        self.l2 = l2
        self.llc = llc
        self.llcLevel = llcLevel
    }

    /// The sizes of cpu0's caches, as sysfs lists them.
    public static func current(root: String = "/sys/devices/system/cpu/cpu0/cache") -> CacheSizes {
        var sizes = CacheSizes(l1d: nil, l2: nil, llc: nil, llcLevel: nil)
        for entry in SystemFiles.directoryEntries(root) where entry.hasPrefix("index") {
            let dir = "\(root)/\(entry)"
            guard let level = SystemFiles.firstLine(dir + "/level").flatMap({ Int($0) }),
                let type = SystemFiles.firstLine(dir + "/type"),
                let size = SystemFiles.firstLine(dir + "/size").flatMap(parseSize)
            else { continue }
            if type == "Instruction" { continue }
            if level == 1 { sizes.l1d = size }
            if level == 2 { sizes.l2 = size }
            if level >= (sizes.llcLevel ?? 0) {
                sizes.llc = size
                sizes.llcLevel = level
            }
        }
        return sizes
    }

    /// `48K`, `1024K`, `32M` or a plain byte count as bytes.
    public static func parseSize(_ text: String) -> Int? {
        guard let last = text.last else { return nil }
        let multiplier: Int
        switch last {
        case "K", "k": multiplier = 1 << 10
        case "M", "m": multiplier = 1 << 20
        case "G", "g": multiplier = 1 << 30
        default: return Int(text)
        }
        return Int(text.dropLast()).map { $0 * multiplier }
    }
}

/// The range of the CPUs' clocks from cpufreq (/sys/devices/system/cpu/cpuN/cpufreq), GHz: the lowest
/// `cpuinfo_min_freq` and the highest `cpuinfo_max_freq` of all CPUs, so that a thread on any of them is inside
/// it — on a hybrid CPU the P-cores' ceiling and the E-cores' floor, where cpu0 alone may be an E-core.
///
/// `cpuinfo_max_freq` includes turbo (boost) frequencies with intel_pstate and amd-pstate; acpi-cpufreq lists one
/// frequency for the whole boost range (on Intel the base clock + 1 MHz), so where its `boost` switch is on the
/// highest clock is not known (``boostUnlisted``).
public struct FrequencyRange: Sendable, Hashable, Codable {
    /// The lowest clock of any CPU, GHz (`cpuinfo_min_freq`).
    public var minGHz: Double
    /// The highest clock of any CPU, GHz (`cpuinfo_max_freq`).
    public var maxGHz: Double
    /// How many CPUs listed a range (nil in reports written before it was recorded).
    public var cpus: Int?
    /// True when the CPUs can boost above the highest clock cpufreq lists (acpi-cpufreq with `boost` 1).
    public var boostUnlisted: Bool?

    /// A range given by hand; ``current(cpuRoot:)`` reads this host's.
    public init(minGHz: Double, maxGHz: Double, cpus: Int? = nil, boostUnlisted: Bool? = nil) {
        self.minGHz = minGHz
        self.maxGHz = maxGHz
        self.cpus = cpus
        self.boostUnlisted = boostUnlisted
    }

    /// The range of every `cpuN/cpufreq` under `cpuRoot`, or nil when sysfs has none (common in virtual machines).
    public static func current(cpuRoot: String = "/sys/devices/system/cpu") -> FrequencyRange? {
        var low = Double.infinity
        var high = 0.0
        var cpus = 0
        var drivers: Set<String> = []
        for entry in SystemFiles.directoryEntries(cpuRoot) where entry.hasPrefix("cpu") && Int(entry.dropFirst(3)) != nil {
            let folder = "\(cpuRoot)/\(entry)/cpufreq"
            guard let min = SystemFiles.firstLine(folder + "/cpuinfo_min_freq").flatMap({ Double($0) }),
                let max = SystemFiles.firstLine(folder + "/cpuinfo_max_freq").flatMap({ Double($0) }), min > 0, max >= min
            else { continue }
            low = Swift.min(low, min)
            high = Swift.max(high, max)
            cpus += 1
            if let driver = SystemFiles.firstLine(folder + "/scaling_driver") { drivers.insert(driver) }
        }
        guard cpus > 0 else { return nil }
        let boost = SystemFiles.firstLine(cpuRoot + "/cpufreq/boost") == "1" && drivers.contains("acpi-cpufreq")
        return FrequencyRange(minGHz: low / 1e6, maxGHz: high / 1e6, cpus: cpus, boostUnlisted: boost ? true : nil)
    }
}

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

/// A thread started with pthread_create and joined once.
final class JoinableThread {
    private var thread = pthread_t()
    private let started: Bool

    private final class Start {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    init(_ body: @escaping () -> Void) {
        let context = Unmanaged.passRetained(Start(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, context)
        started = rc == 0
        if !started { Unmanaged<Start>.fromOpaque(context).release() }
    }

    var isRunning: Bool { started }

    func join() {
        if started { pthread_join(thread, nil) }
    }
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
        let server = connected == 0 ? accept(listener, nil, nil) : -1
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
