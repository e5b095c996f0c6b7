import CopyprofLimits

/// What `copyprof run` measures: transports × message sizes × thread counts × workloads, several trials each.
public struct SweepPlan: Codable, Sendable, Hashable {
    public var transports: [TransportKind]
    public var sizes: [Int]
    /// Connection counts; each connection has a sender thread and a receiver thread.
    public var threads: [Int]
    public var modes: [Workload]
    /// Recorded trials per cell.
    public var trials: Int
    /// Unrecorded trials per cell before the recorded ones.
    public var warmup: Int
    /// Seconds per trial.
    public var duration: Double
    /// Event names counted in every worker thread.
    public var events: [String]
    public var verification: Verification
    public var label: String?
    /// The numeric address the connections use.
    public var address: String

    public init(
        transports: [TransportKind] = TransportKind.allCases, sizes: [Int] = [64, 512, 4096, 65536],
        threads: [Int] = [1, 2, 4, 8], modes: [Workload] = Workload.allCases, trials: Int = SweepPlan.defaultTrials,
        warmup: Int = 1, duration: Double = SweepPlan.defaultDuration, events: [String] = EventName.catalog,
        verification: Verification = .header, label: String? = nil, address: String = "127.0.0.1"
    ) {
        self.transports = transports
        self.sizes = sizes
        self.threads = threads
        self.modes = modes
        self.trials = trials
        self.warmup = warmup
        self.duration = duration
        self.events = events
        self.verification = verification
        self.label = label
        self.address = address
    }

    /// Recorded trials per cell by default: six, the fewest for which a median has a 95% confidence interval.
    public static let defaultTrials = 6
    /// Seconds per trial by default: the full matrix fits in two minutes on a 2-core machine.
    public static let defaultDuration = 0.1

    /// `--quick`: every transport and workload, two sizes, two thread counts, three short trials.
    public static func quick() -> SweepPlan {
        SweepPlan(sizes: [64, 65536], threads: [1, 2], trials: 3, warmup: 1, duration: 0.1)
    }

    /// The cells in the order they are run: grouped by workload, size and threads, transports side by side.
    public var cells: [CellKey] {
        var keys: [CellKey] = []
        for mode in modes {
            for size in sizes {
                for count in threads {
                    for transport in transports {
                        keys.append(CellKey(transport: transport, mode: mode, messageSize: size, threads: count))
                    }
                }
            }
        }
        return keys
    }

    /// Seconds the sweep should take, without set-up costs.
    public var estimatedSeconds: Double { Double(cells.count * (trials + warmup)) * duration }

    /// Checks the plan against ``RunLimits``; the message says which option is wrong and why.
    public func validate() throws(CopyprofError) {
        if transports.isEmpty { throw .invalidArgument("--transports is empty") }
        if sizes.isEmpty { throw .invalidArgument("--sizes is empty") }
        for size in sizes {
            if let problem = RunLimits.messageSizeProblem(size) { throw .invalidArgument("--sizes: \(problem)") }
        }
        if threads.isEmpty || threads.contains(where: { !RunLimits.connections.contains($0) }) {
            throw .invalidArgument(
                "--threads takes connection counts from \(RunLimits.connections.lowerBound) to \(RunLimits.connections.upperBound)")
        }
        if modes.isEmpty { throw .invalidArgument("--modes is empty") }
        // Buffers of both sides of the largest cell: receivers, and senders (a zero-copy pool, or up to 2 messages).
        let pool = transports.contains(.zeroCopy) ? RunLimits.defaultZeroCopyPoolSize : 2
        if let size = sizes.max(), let count = threads.max() {
            let bytes = RunLimits.runMemoryBytes(messageSize: size, connections: count, zeroCopyPoolSize: pool)
            if bytes > RunLimits.runMemory {
                throw .invalidArgument(
                    "--sizes \(size) with --threads \(count) needs \(RunLimits.describe(bytes: bytes)) of message buffers"
                        + (pool > 2 ? " (a zero-copy sender keeps \(pool) messages in flight)" : "")
                        + "; the limit is \(RunLimits.describe(bytes: RunLimits.runMemory)): use smaller sizes or fewer threads")
            }
        }
        if !RunLimits.trials.contains(trials) {
            throw .invalidArgument("--trials must be from \(RunLimits.trials.lowerBound) to \(RunLimits.trials.upperBound)")
        }
        if !RunLimits.warmup.contains(warmup) {
            throw .invalidArgument("--warmup must be from \(RunLimits.warmup.lowerBound) to \(RunLimits.warmup.upperBound)")
        }
        if !RunLimits.duration.contains(duration) {
            throw .invalidArgument(
                "--duration must be from \(RunLimits.duration.lowerBound) to \(Int(RunLimits.duration.upperBound)) seconds")
        }
    }
}

/// One cell of the matrix.
public struct CellKey: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var transport: TransportKind
    public var mode: Workload
    public var messageSize: Int
    public var threads: Int

    public init(transport: TransportKind, mode: Workload, messageSize: Int, threads: Int) {
        self.transport = transport
        self.mode = mode
        self.messageSize = messageSize
        self.threads = threads
    }

    public var description: String {
        "\(mode.rawValue) \(transport.rawValue) \(messageSize) B × \(threads) thread\(threads == 1 ? "" : "s")"
    }

    public static func < (a: CellKey, b: CellKey) -> Bool {
        let ai = TransportKind.allCases.firstIndex(of: a.transport)!
        let bi = TransportKind.allCases.firstIndex(of: b.transport)!
        return (a.mode.rawValue, a.messageSize, a.threads, ai) < (b.mode.rawValue, b.messageSize, b.threads, bi)
    }
}

