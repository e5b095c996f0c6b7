import CopyprofLimits

/// What `copyprof run` measures: transports × receivers × message sizes × thread counts × workloads, several trials
/// each.
public struct SweepPlan: Codable, Sendable, Hashable {
    public var transports: [TransportKind]
    /// How the receivers take the bytes; `[copy]` in profiles written before receivers were recorded.
    public var receivers: [ReceiverKind]
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
        transports: [TransportKind] = TransportKind.classic, receivers: [ReceiverKind] = [.copy],
        sizes: [Int] = [64, 512, 4096, 65536],
        threads: [Int] = [1, 2, 4, 8], modes: [Workload] = Workload.allCases, trials: Int = SweepPlan.defaultTrials,
        warmup: Int = 1, duration: Double = SweepPlan.defaultDuration, events: [String] = EventName.catalog,
        verification: Verification = .header, label: String? = nil, address: String = "127.0.0.1"
    ) {
        self.transports = transports
        self.receivers = receivers
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

    private enum CodingKeys: String, CodingKey {
        case transports, receivers, sizes, threads, modes, trials, warmup, duration, events, verification, label, address
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        transports = try c.decode([TransportKind].self, forKey: .transports)
        receivers = try c.decodeIfPresent([ReceiverKind].self, forKey: .receivers) ?? [.copy]
        sizes = try c.decode([Int].self, forKey: .sizes)
        threads = try c.decode([Int].self, forKey: .threads)
        modes = try c.decode([Workload].self, forKey: .modes)
        trials = try c.decode(Int.self, forKey: .trials)
        warmup = try c.decode(Int.self, forKey: .warmup)
        duration = try c.decode(Double.self, forKey: .duration)
        events = try c.decode([String].self, forKey: .events)
        verification = try c.decode(Verification.self, forKey: .verification)
        label = try c.decodeIfPresent(String.self, forKey: .label)
        address = try c.decode(String.self, forKey: .address)
    }

    /// Recorded trials per cell by default: six, the fewest for which a median has a 95% confidence interval.
    public static let defaultTrials = 6
    /// Seconds per trial by default: the full matrix fits in two minutes on a 2-core machine.
    public static let defaultDuration = 0.1

    /// `--quick`: the classic transports, both workloads, two sizes, two thread counts, three short trials.
    public static func quick() -> SweepPlan {
        SweepPlan(sizes: [64, 65536], threads: [1, 2], trials: 3, warmup: 1, duration: 0.1)
    }

    /// `--preset all-paths`: every sender with every receiver, stream and ping-pong, at a page-sized and a 64 KiB
    /// message over one connection — the matrix of the receive-side findings, in about 2 minutes and a few MB.
    public static func allPaths() -> SweepPlan {
        SweepPlan(
            transports: TransportKind.allCases, receivers: ReceiverKind.allCases, sizes: [4096, 65536], threads: [1],
            trials: defaultTrials, warmup: 1, duration: defaultDuration)
    }

    /// The cells in the order they are run: grouped by workload, size and threads, every transport and receiver
    /// side by side.
    public var cells: [CellKey] {
        var keys: [CellKey] = []
        for mode in modes {
            for size in sizes {
                for count in threads {
                    for transport in transports {
                        for receiver in receivers {
                            keys.append(CellKey(
                                transport: transport, receiver: receiver, mode: mode, messageSize: size, threads: count))
                        }
                    }
                }
            }
        }
        return keys
    }

    /// Cells run side by side in a group (same workload, size and threads).
    public var groupSize: Int { transports.count * receivers.count }

    /// Seconds the sweep should take, without set-up costs.
    public var estimatedSeconds: Double { Double(cells.count * (trials + warmup)) * duration }

    /// Checks the plan against ``RunLimits``; the message says which option is wrong and why.
    public func validate() throws(CopyprofError) {
        if transports.isEmpty { throw .invalidArgument("--transports is empty") }
        if receivers.isEmpty { throw .invalidArgument("--receivers is empty") }
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
        let pool = transports.contains(where: \.reportsCompletions) ? RunLimits.defaultZeroCopyPoolSize : 2
        if let size = sizes.max(), let count = threads.max() {
            let bytes = RunLimits.runMemoryBytes(messageSize: size, connections: count, zeroCopyPoolSize: pool)
            if bytes > RunLimits.runMemory {
                throw .invalidArgument(
                    "--sizes \(size) with --threads \(count) needs \(RunLimits.describe(bytes: bytes)) of message buffers"
                        + (pool > 2 ? " (a zero-copy or io_uring zero-copy sender keeps \(pool) messages in flight)" : "")
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
    /// How the receivers took the bytes; `copy` in profiles written before receivers were recorded.
    public var receiver: ReceiverKind
    public var mode: Workload
    public var messageSize: Int
    public var threads: Int

    public init(transport: TransportKind, receiver: ReceiverKind = .copy, mode: Workload, messageSize: Int, threads: Int) {
        self.transport = transport
        self.receiver = receiver
        self.mode = mode
        self.messageSize = messageSize
        self.threads = threads
    }

    private enum CodingKeys: String, CodingKey { case transport, receiver, mode, messageSize, threads }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        transport = try container.decode(TransportKind.self, forKey: .transport)
        receiver = try container.decodeIfPresent(ReceiverKind.self, forKey: .receiver) ?? .copy
        mode = try container.decode(Workload.self, forKey: .mode)
        messageSize = try container.decode(Int.self, forKey: .messageSize)
        threads = try container.decode(Int.self, forKey: .threads)
    }

    /// The sender and the receiver: `zero-copy+mmap`; the transport alone with the default `copy` receiver, as
    /// every table names it.
    public var path: String { receiver == .copy ? transport.rawValue : "\(transport.rawValue)+\(receiver.rawValue)" }

    public var description: String {
        "\(mode.rawValue) \(path) \(messageSize) B × \(threads) thread\(threads == 1 ? "" : "s")"
    }

    public static func < (a: CellKey, b: CellKey) -> Bool {
        let ai = TransportKind.allCases.firstIndex(of: a.transport)!
        let bi = TransportKind.allCases.firstIndex(of: b.transport)!
        let ar = ReceiverKind.allCases.firstIndex(of: a.receiver)!
        let br = ReceiverKind.allCases.firstIndex(of: b.receiver)!
        return (a.mode.rawValue, a.messageSize, a.threads, ai, ar) < (b.mode.rawValue, b.messageSize, b.threads, bi, br)
    }
}

/// A sender and a receiver: what the tables, charts and comparisons call a path (``CellKey/path``).
public struct TransportPath: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var transport: TransportKind
    public var receiver: ReceiverKind

    public init(_ transport: TransportKind, _ receiver: ReceiverKind = .copy) {
        self.transport = transport
        self.receiver = receiver
    }

    public var description: String { receiver == .copy ? transport.rawValue : "\(transport.rawValue)+\(receiver.rawValue)" }

    public static func < (a: TransportPath, b: TransportPath) -> Bool {
        (TransportKind.allCases.firstIndex(of: a.transport)!, ReceiverKind.allCases.firstIndex(of: a.receiver)!)
            < (TransportKind.allCases.firstIndex(of: b.transport)!, ReceiverKind.allCases.firstIndex(of: b.receiver)!)
    }
}

extension CellKey {
    /// The cell's sender and receiver.
    public var transportPath: TransportPath { TransportPath(transport, receiver) }
}

