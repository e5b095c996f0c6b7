import CopyprofLimits

/// What `copyprof run` measures: transports × message sizes × thread counts × workloads, several trials each.
public struct SweepPlan: Codable, Sendable, Hashable {
    public var transports: [TransportKind]
    public var sizes: [Int]
    /// Connection counts; each connection has a sender thread and a receiver thread.
    public var threads: [Int]
    public var modes: [Workload]
    /// Recorded rounds: every cell runs one timing trial and, when counters are open, one counted trial per round,
    /// so this many trials of each kind per cell.
    public var trials: Int
    /// Unrecorded rounds before the recorded ones.
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

    /// Recorded rounds by default: six trials of each kind per cell, the fewest for which a median has a 95%
    /// confidence interval.
    public static let defaultTrials = 6
    /// Seconds per trial by default: 128 cells × (6 rounds × 2 kinds + 1 warm-up) = 1664 trials of 0.04 s, with each
    /// trial's set-up (7 ms on a quiet 2-core machine, 23 ms at a load average of 12), fit in two minutes.
    public static let defaultDuration = 0.04

    /// `--quick`: every transport and workload, two sizes, two thread counts, three rounds.
    public static func quick() -> SweepPlan {
        SweepPlan(sizes: [64, 65536], threads: [1, 2], trials: 3, warmup: 1)
    }

    /// The kinds of trial each cell runs per round: timing only without events, else timing and counted.
    public static func trialKinds(counting: Bool) -> [TrialKind] { counting ? [.timing, .counted] : [.timing] }

    /// The cells in the plan's order: grouped by workload, size and threads, transports side by side.
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

    /// Trials the sweep runs, warm-ups included, with `kinds` kinds per cell and recorded round.
    public func runCount(kinds: Int) -> Int { cells.count * (trials * kinds + warmup) }

    /// Seconds the sweep should take, without set-up costs.
    public func estimatedSeconds(kinds: Int) -> Double { Double(runCount(kinds: kinds)) * duration }

    /// One trial of a round: which cell, which kind.
    public struct ScheduledTrial: Sendable, Hashable {
        public var cell: CellKey
        public var kind: TrialKind
    }

    /// The trials of round `round` (0-based, warm-up rounds first), in the order they run.
    ///
    /// Every round runs every cell: one trial of each of `kinds` in a recorded round, one trial in a warm-up round
    /// (kinds alternating from cell to cell, so that both are warmed). So a cell's trials spread over the whole sweep,
    /// and its spread includes the machine's slow drift over the sweep's duration. The order rotates from round to
    /// round, so that no cell always runs first or always after the same one: the groups of cells (same workload, size
    /// and threads) start at a different group, the transports within a group start at a different transport, and
    /// the kind that runs first alternates. Within a group, the trials of one kind run for every transport back to back,
    /// then those of the other kind: the ratios to two-copy compare trials of one kind run side by side, and a cell's
    /// counted and timing trials (the counters' overhead) are a group's length apart.
    public func schedule(round: Int, kinds: [TrialKind]) -> [ScheduledTrial] {
        let keys = cells
        let groupSize = max(1, transports.count)
        let groupCount = (keys.count + groupSize - 1) / groupSize
        guard groupCount > 0, !kinds.isEmpty else { return [] }
        let totalRounds = max(1, warmup + trials)
        let groupStride = max(1, groupCount / totalRounds)
        let isWarmup = round < warmup
        var out: [ScheduledTrial] = []
        out.reserveCapacity(keys.count * kinds.count)
        for g in 0..<groupCount {
            let group = (g + round * groupStride) % groupCount
            let start = group * groupSize
            let members = Array(keys[start..<min(start + groupSize, keys.count)])
            let order = (0..<members.count).map { (($0 + round) % members.count) }
            if isWarmup {
                for index in order { out.append(ScheduledTrial(cell: members[index], kind: kinds[(start + index) % kinds.count])) }
            } else {
                let first = (round + group) % kinds.count
                for k in 0..<kinds.count {
                    let kind = kinds[(first + k) % kinds.count]
                    for index in order { out.append(ScheduledTrial(cell: members[index], kind: kind)) }
                }
            }
        }
        return out
    }

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

