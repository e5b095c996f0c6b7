import CopyprofModel

/// What `copyprof run` measures: transports × receivers × message sizes × connection counts × workloads, several
/// trials each.
public struct SweepPlan: Codable, Sendable, Hashable {
    public var transports: [TransportKind]
    /// How the receivers take the bytes; `[copy]` in profiles written before receivers were recorded.
    public var receivers: [ReceiverKind]
    public var sizes: [Int]
    /// Connection counts; each connection has a sender thread and a receiver thread.
    public var connections: [Int]
    public var workloads: [Workload]
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
        transports: [TransportKind] = TransportKind.classic, receivers: [ReceiverKind] = [.copy],
        sizes: [Int] = [64, 512, 4096, 65536],
        connections: [Int] = [1, 2, 4, 8], workloads: [Workload] = Workload.allCases, trials: Int = SweepPlan.defaultTrials,
        warmup: Int = 1, duration: Double = SweepPlan.defaultDuration, events: [String] = EventName.catalog,
        verification: Verification = .header, label: String? = nil, address: String = "127.0.0.1"
    ) {
        self.transports = transports
        self.receivers = receivers
        self.sizes = sizes
        self.connections = connections
        self.workloads = workloads
        self.trials = trials
        self.warmup = warmup
        self.duration = duration
        self.events = events
        self.verification = verification
        self.label = label
        self.address = address
    }

    /// The names on disk: `threads` are the connection counts, `modes` the workloads.
    private enum CodingKeys: String, CodingKey {
        case transports, receivers, sizes, trials, warmup, duration, events, verification, label, address
        case connections = "threads"
        case workloads = "modes"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        transports = try c.decode([TransportKind].self, forKey: .transports)
        receivers = try c.decodeIfPresent([ReceiverKind].self, forKey: .receivers) ?? [.copy]
        sizes = try c.decode([Int].self, forKey: .sizes)
        connections = try c.decode([Int].self, forKey: .connections)
        workloads = try c.decode([Workload].self, forKey: .workloads)
        trials = try c.decode(Int.self, forKey: .trials)
        warmup = try c.decode(Int.self, forKey: .warmup)
        duration = try c.decode(Double.self, forKey: .duration)
        events = try c.decode([String].self, forKey: .events)
        verification = try c.decode(Verification.self, forKey: .verification)
        label = try c.decodeIfPresent(String.self, forKey: .label)
        address = try c.decode(String.self, forKey: .address)
    }

    /// Recorded rounds by default: six trials of each kind per cell, the fewest for which a median has a 95%
    /// confidence interval.
    public static let defaultTrials = 6
    /// Seconds per trial by default: 128 cells × (6 rounds × 2 kinds + 1 warm-up) = 1664 trials of 0.04 s, with each
    /// trial's set-up (7 ms on a quiet 2-core machine, 23 ms at a load average of 12), fit in two minutes.
    public static let defaultDuration = 0.04

    /// `--quick`: the classic transports with the copy receiver, both workloads, two sizes, two connection counts,
    /// three rounds.
    public static func quick() -> SweepPlan {
        SweepPlan(sizes: [64, 65536], connections: [1, 2], trials: 3, warmup: 1)
    }

    /// `--preset all-paths`: every sender with every receiver, stream and ping-pong, at a page-sized and a 64 KiB
    /// message over one connection — the matrix of the receive-side findings: 72 cells, about a minute (52 s on a
    /// 2-core VM) and a 1.7 MB profile with the default rounds.
    public static func allPaths() -> SweepPlan {
        SweepPlan(
            transports: TransportKind.allCases, receivers: ReceiverKind.allCases, sizes: [4096, 65536], connections: [1],
            trials: defaultTrials, warmup: 1, duration: defaultDuration)
    }

    /// The kinds of trial each cell runs per round: timing only without events, else timing and counted.
    public static func trialKinds(counting: Bool) -> [TrialKind] { counting ? [.timing, .counted] : [.timing] }

    /// The cells in the plan's order: grouped by workload, size and connections, every transport and receiver side by
    /// side.
    public var cells: [CellKey] {
        var keys: [CellKey] = []
        for workload in workloads {
            for size in sizes {
                for count in connections {
                    for transport in transports {
                        for receiver in receivers {
                            keys.append(CellKey(
                                transport: transport, receiver: receiver, workload: workload, messageSize: size,
                                connections: count))
                        }
                    }
                }
            }
        }
        return keys
    }

    /// Cells run side by side in a group (same workload, size and connections).
    public var groupSize: Int { transports.count * receivers.count }

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
    /// and connections) start at a different group, the transports within a group start at a different transport, and
    /// the kind that runs first alternates. Within a group, the trials of one kind run for every transport back to back,
    /// then those of the other kind: the ratios to two-copy compare trials of one kind run side by side, and a cell's
    /// counted and timing trials (the counters' overhead) are a group's length apart.
    public func schedule(round: Int, kinds: [TrialKind]) -> [ScheduledTrial] {
        let keys = cells
        let groupSize = max(1, self.groupSize)
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
        if receivers.isEmpty { throw .invalidArgument("--receivers is empty") }
        if sizes.isEmpty { throw .invalidArgument("--sizes is empty") }
        for size in sizes {
            if let problem = RunLimits.messageSizeProblem(size) { throw .invalidArgument("--sizes: \(problem)") }
        }
        if connections.isEmpty || connections.contains(where: { !RunLimits.connections.contains($0) }) {
            throw .invalidArgument(
                "--connections takes connection counts from \(RunLimits.connections.lowerBound) to \(RunLimits.connections.upperBound)")
        }
        if workloads.isEmpty { throw .invalidArgument("--workloads is empty") }
        // Buffers of both sides of the largest cell: receivers, and senders (a zero-copy pool, or up to 2 messages).
        let pool = transports.contains(where: \.reportsCompletions) ? RunLimits.defaultZeroCopyPoolSize : 2
        if let size = sizes.max(), let count = connections.max() {
            let bytes = RunLimits.runMemoryBytes(messageSize: size, connections: count, zeroCopyPoolSize: pool)
            if bytes > RunLimits.runMemory {
                throw .invalidArgument(
                    "--sizes \(size) with --connections \(count) needs \(formatBytes(bytes)) of message buffers"
                        + (pool > 2 ? " (a zero-copy or io_uring zero-copy sender keeps \(pool) messages in flight)" : "")
                        + "; the limit is \(formatBytes(RunLimits.runMemory)): use smaller sizes or fewer connections")
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

