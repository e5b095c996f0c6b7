// CopyprofProfile — the profile file format: its own record types (not those of the counters or transports
// modules), the sweep plan and cell key, the environment, versioning, the reader with its one-line errors, and
// atomic writing. It depends on nothing of copyprof but the run limits, so the report module can read profiles
// without the code that measured them.
import CopyprofModel



/// Everything one `copyprof run` measured, as stored in a JSON file under profiles/.
///
/// Raw per-trial, per-thread values are kept, not only aggregates, so statistics can be recomputed.
public struct Profile: Codable, Sendable {
    /// The schema this build writes and reads.
    public static let currentSchemaVersion = 3
    /// Every schema version this build reads: 1 stored RTT histograms as arrays of pairs, 2 as one string, 3 adds
    /// sampling (``sampling``, ``frameNames``, ``WorkerRecord/attribution``, ``CellRecord/stacks``).
    public static let readableSchemaVersions = 1...3

    public var schemaVersion: Int
    /// Always "copyprof": tells a profile from other JSON.
    public var tool: String
    /// `complete`, or `interrupted` when Ctrl-C ended the sweep early.
    public var status: Status
    /// Why the sweep ended early, when it did (Ctrl-C, a lost server).
    public var statusReason: String?
    public var environment: EnvironmentInfo
    /// The server's side of a two-host run (`run --connect`); nil for a local run.
    public var remote: RemoteInfo?
    public var plan: SweepPlan
    /// The cells in the plan's order; an interrupted profile may have fewer than the plan, or fewer trials.
    public var cells: [CellRecord] {
        // A new, empty cache: the index is built again on the next lookup. (`didSet` without `oldValue` lets
        // `cells.append` and `cells[i].trials = …` change the array in place, SE-0268.)
        didSet { cellIndexCache = CellIndexCache() }
    }
    /// The control workload run once per round, which tells how the machine itself moved; nil in profiles written
    /// before it existed.
    public var control: ControlRecord?
    /// How the worker threads were sampled; nil when they were not (schema 1 and 2, `--sample off`, or
    /// ``notSampledReason``).
    public var sampling: SamplingRecord?
    /// Why the worker threads were not sampled although sampling was on (the kernel refused the sampler, a two-host
    /// run); nil when they were sampled or sampling was off.
    public var notSampledReason: String?
    /// The names of the frames of every ``StackRecord``, which refer to them by index.
    public var frameNames: [String]?

    /// Where each cell is by key, for ``cell(_:)``: not part of the file.
    private var cellIndexCache = CellIndexCache()

    /// Every stored property but the cell index: a property left out of them would be dropped from the file without
    /// a word (a test holds them to the stored properties).
    enum CodingKeys: String, CodingKey, CaseIterable {
        case schemaVersion, tool, status, statusReason, environment, remote, plan, cells, control, sampling, notSampledReason
        case frameNames
    }

    public enum Status: String, Codable, Sendable {
        case complete
        case interrupted
    }

    public init(environment: EnvironmentInfo, plan: SweepPlan, cells: [CellRecord] = [], status: Status = .complete) {
        self.schemaVersion = Self.currentSchemaVersion
        self.tool = "copyprof"
        self.status = status
        self.environment = environment
        self.plan = plan
        self.cells = cells
    }

    /// The cell with this key, if it ran (the first, should a profile built in code hold the key twice).
    ///
    /// O(1): the cells' index is built on the first lookup and kept until the cells change.
    public func cell(_ key: CellKey) -> CellRecord? { cellIndex.position(of: key).map { cells[$0] } }

    /// Where each cell is by key; built once for these cells.
    var cellIndex: CellIndex { cellIndexCache.index(of: cells) }
}

/// A fixed piece of work that does not depend on the transports — copying a buffer with `memcpy`, a loop of
/// `getppid()` system calls, and a ping-pong of two threads over pipes — run at the start of every recorded round,
/// while nothing else of the sweep runs. Its times across rounds show how steady the machine was during the run; between two profiles, how much the
/// machine itself moved.
public struct ControlRecord: Codable, Sendable, Hashable {
    /// Bytes of the buffer copied.
    public var copyBufferBytes: Int
    /// Times the buffer is copied per run of the control.
    public var copyRepetitions: Int
    /// `getppid()` calls per run of the control.
    public var syscalls: Int
    /// Round trips of a byte between two threads over two pipes per run: the cost of waking a blocked thread.
    public var wakeRoundTrips: Int
    /// One run per recorded round.
    public var samples: [ControlSample]

    public init(copyBufferBytes: Int, copyRepetitions: Int, syscalls: Int, wakeRoundTrips: Int, samples: [ControlSample] = []) {
        self.copyBufferBytes = copyBufferBytes
        self.copyRepetitions = copyRepetitions
        self.syscalls = syscalls
        self.wakeRoundTrips = wakeRoundTrips
        self.samples = samples
    }
}

/// One run of the control.
public struct ControlSample: Codable, Sendable, Hashable {
    /// The 1-based recorded round it opened.
    public var round: Int
    /// Wall time of the copies, ns.
    public var copyNs: UInt64
    /// Wall time of the system calls, ns.
    public var syscallNs: UInt64
    /// The thread's CPU time over both (`CLOCK_THREAD_CPUTIME_ID`), ns: less than the wall time when the thread
    /// waited for a CPU.
    public var cpuNs: UInt64
    /// Wall time of the pipe ping-pong's round trips, ns; 0 when it could not run.
    public var wakeNs: UInt64
    /// CPU time of both ping-pong threads, ns.
    public var wakeCPUNs: UInt64

    public init(round: Int, copyNs: UInt64, syscallNs: UInt64, cpuNs: UInt64, wakeNs: UInt64, wakeCPUNs: UInt64) {
        self.round = round
        self.copyNs = copyNs
        self.syscallNs = syscallNs
        self.cpuNs = cpuNs
        self.wakeNs = wakeNs
        self.wakeCPUNs = wakeCPUNs
    }

    /// Wall time of the copies and system calls, ns (saturating).
    public var wallNs: UInt64 {
        let (sum, overflow) = copyNs.addingReportingOverflow(syscallNs)
        return overflow ? .max : sum
    }
}

/// One cell: its recorded trials, the error that ended it, or why this host cannot run it.
public struct CellRecord: Codable, Sendable {
    public var key: CellKey
    public var trials: [TrialRecord]
    /// Why the cell has fewer trials than planned (a failed run), if it does.
    public var error: String?
    /// Why the host cannot run the cell at all (io_uring disabled, an old kernel, a seccomp filter): the cell has no
    /// trials, and the sweep went on. Not a failure.
    public var notSupported: String?
    /// The sampled call stacks of each role, summed over the counted trials; nil when the cell was not sampled.
    public var stacks: [StackSummary]?

    public init(
        key: CellKey, trials: [TrialRecord] = [], error: String? = nil, notSupported: String? = nil,
        stacks: [StackSummary]? = nil
    ) {
        self.key = key
        self.trials = trials
        self.error = error
        self.notSupported = notSupported
        self.stacks = stacks
    }
}

/// What a trial was run for: timing with no counters open, or counting.
///
/// Open perf events slow what they count (every context switch of a counted thread saves and restores its perf
/// context), so a sweep times its cells in trials without counters and counts their costs in separate trials, the two
/// kinds alternating. A trial of a profile written before the split has no kind: it served both purposes.
public enum TrialKind: String, Codable, Sendable, CaseIterable, Hashable {
    /// No counters open in the workers (rusage and the thread CPU clock only): throughput, message rate and RTT
    /// come from these.
    case timing
    /// The plan's counters open in every worker: costs per byte and per message come from these.
    case counted
}

/// One recorded trial of a cell.
public struct TrialRecord: Codable, Sendable {
    /// 1-based, in the order the cell's trials ran.
    public var trial: Int
    /// Timing or counted; nil in profiles written before the split (such a trial is both).
    public var kind: TrialKind?
    /// The 1-based recorded round the trial ran in (every cell runs once of each kind per round); nil in profiles
    /// written before rounds, whose trials of one group of cells were interleaved and pair by their order.
    public var round: Int?
    /// From the release of the workers to the last one's end, ns.
    public var elapsedNs: UInt64
    /// Bytes the receivers verified (ping-pong: both directions).
    public var bytes: UInt64
    /// Messages the receivers verified (ping-pong: both directions).
    public var messages: UInt64
    public var integrityErrors: UInt64
    public var firstMismatch: MismatchRecord?
    public var partialWrites: UInt64
    /// Ping-pong round-trip times.
    public var rtt: RTTRecord?
    /// Zero-copy sends, completions and copied completions.
    public var zeroCopy: ZeroCopyRecord?
    /// Every worker thread.
    public var workers: [WorkerRecord]

    public init(
        trial: Int, elapsedNs: UInt64, bytes: UInt64, messages: UInt64, integrityErrors: UInt64,
        firstMismatch: MismatchRecord?, partialWrites: UInt64, rtt: RTTRecord?, zeroCopy: ZeroCopyRecord?,
        workers: [WorkerRecord], kind: TrialKind? = nil, round: Int? = nil
    ) {
        self.trial = trial
        self.kind = kind
        self.round = round
        self.elapsedNs = elapsedNs
        self.bytes = bytes
        self.messages = messages
        self.integrityErrors = integrityErrors
        self.firstMismatch = firstMismatch
        self.partialWrites = partialWrites
        self.rtt = rtt
        self.zeroCopy = zeroCopy
        self.workers = workers
    }

    /// What the `mmap` receivers got mapped and copied, summed over them; nil for the other receivers.
    public var zeroCopyReceive: ZeroCopyReceiveRecord? {
        let all = workers.compactMap { $0.received?.zeroCopyReceive }
        guard let first = all.first else { return nil }
        return all.dropFirst().reduce(first, +)
    }

    /// False when the receivers discarded the bytes unread: the messages were counted, not verified.
    public var payloadVerified: Bool { !workers.contains { $0.received?.verified == false } }

    /// Verified throughput, Gbit/s.
    public var throughputGbps: Double { elapsedNs == 0 ? 0 : Double(bytes) * 8 / Double(elapsedNs) }
    public var durationSeconds: Double { Double(elapsedNs) / 1e9 }

    /// True when time metrics may be read from the trial: a timing trial, or one from before the split.
    public var servesTiming: Bool { kind != .counted }
    /// True when cost metrics may be read from the trial: a counted trial, or one from before the split.
    public var servesCounting: Bool { kind != .timing }
}

/// One worker thread's measurement in a trial.
public struct WorkerRecord: Codable, Sendable {
    public var connection: Int
    public var role: WorkerRole
    /// The host the thread ran on, when a run spans two hosts; nil for a local run.
    public var host: String?
    /// Wall time of its timed loop, ns.
    public var wallNs: UInt64
    public var sent: SenderRecord?
    public var received: ReceiverRecord?
    /// Counter deltas of the opened events, by event name, with their group's times.
    public var counters: [String: CounterRecord]
    /// Events the profile counts that this thread could not open, with the reason.
    public var unavailable: [String: String]?
    /// rusage and CPU clock deltas.
    public var usage: UsageRecord
    /// Where the thread's time went, from its samples; nil when it was not sampled (timing trials, `--sample off`,
    /// schema 1 and 2).
    public var attribution: AttributionRecord?
    /// Where the thread's cache misses were taken, per sampled cache-miss event (perf's name, as
    /// ``SamplingRecord/cacheMissEvents`` lists them), from the samples of those events; nil when none was sampled
    /// (`--sample-events` on a host with a PMU).
    public var cacheMissAttribution: [String: AttributionRecord]?
    /// The kernel thread id of the worker's thread (gettid), named `cp-send-N` or `cp-recv-N`: what `perf stat -t`,
    /// `ps -L` and /proc/PID/task/TID name, to count the same thread with another tool. Nil in profiles written
    /// before it was recorded.
    public var tid: Int32?

    public init(
        connection: Int, role: WorkerRole, host: String? = nil, wallNs: UInt64, sent: SenderRecord?,
        received: ReceiverRecord?, counters: [String: CounterRecord], unavailable: [String: String]? = nil,
        usage: UsageRecord, attribution: AttributionRecord? = nil, tid: Int32? = nil
    ) {
        self.attribution = attribution
        self.connection = connection
        self.role = role
        self.host = host
        self.wallNs = wallNs
        self.sent = sent
        self.received = received
        self.counters = counters
        self.unavailable = unavailable
        self.usage = usage
        self.tid = tid
    }
}

/// Round-trip times of a ping-pong trial: percentiles and the recorded histogram.
public struct RTTRecord: Codable, Sendable {
    public var count: UInt64
    public var minNs: UInt64
    public var p50Ns: UInt64
    public var p90Ns: UInt64
    public var p99Ns: UInt64
    public var p999Ns: UInt64
    public var maxNs: UInt64
    public var meanNs: Double
    /// Every non-empty bucket (HdrHistogram, 3 significant digits).
    public var histogram: HistogramBuckets

    public init(
        count: UInt64, minNs: UInt64, p50Ns: UInt64, p90Ns: UInt64, p99Ns: UInt64, p999Ns: UInt64, maxNs: UInt64,
        meanNs: Double, histogram: HistogramBuckets
    ) {
        self.count = count
        self.minNs = minNs
        self.p50Ns = p50Ns
        self.p90Ns = p90Ns
        self.p99Ns = p99Ns
        self.p999Ns = p999Ns
        self.maxNs = maxNs
        self.meanNs = meanNs
        self.histogram = histogram
    }
}

extension TrialRecord {
    /// The sum of an event's scaled values over the workers (all roles), or nil when any worker did not count it.
    public func counterSum(_ event: String, role: WorkerRole? = nil) -> Double? {
        var sum = 0.0
        var any = false
        for worker in workers where role == nil || worker.role == role {
            guard let value = worker.counters[event]?.value else { return nil }
            sum += value
            any = true
        }
        return any ? sum : nil
    }

    /// True when any worker's value of the event was scaled for multiplexing.
    public func counterIsScaled(_ event: String) -> Bool {
        workers.contains { $0.counters[event]?.isScaled == true }
    }

    /// True when any worker's value of the event covers user space only (perf's `:u`).
    public func counterIsUserOnly(_ event: String) -> Bool {
        workers.contains { $0.counters[event]?.isUserOnly == true }
    }

    /// CPU time over the workers, ns: task-clock where counted, else CLOCK_THREAD_CPUTIME_ID.
    public func cpuNs(role: WorkerRole? = nil) -> Double { cpuTime(role: role).ns }

    /// CPU time over the workers, ns, and where it comes from: task-clock where every worker counted it, else each
    /// thread's CLOCK_THREAD_CPUTIME_ID.
    public func cpuTime(role: WorkerRole? = nil) -> (ns: Double, source: ValueSource) {
        if let taskClock = counterSum(EventName.taskClock, role: role) { return (taskClock, .perfEvent) }
        let ns = workers.filter { role == nil || $0.role == role }.reduce(0) { $0 + Double($1.usage.cpuClockNs) }
        return (ns, .threadCPUClock)
    }

    /// Context switches over the workers and where they come from: perf's `context-switches` where every worker
    /// counted it for user and kernel space, else getrusage's voluntary + involuntary switches — never a user-only
    /// count, which is always 0 because switches happen in the kernel.
    public func contextSwitches(role: WorkerRole? = nil) -> (count: Double, source: ValueSource) {
        if let perf = counterSum(EventName.contextSwitches, role: role), !counterIsUserOnly(EventName.contextSwitches) {
            return (perf, .perfEvent)
        }
        let count = workers.filter { role == nil || $0.role == role }.reduce(0.0) { $0 + Double($1.usage.contextSwitches) }
        return (count, .getrusage)
    }
}

/// Where a value in a profile comes from.
public enum ValueSource: String, Codable, Sendable, Hashable {
    /// A perf_event_open counter of each worker thread.
    case perfEvent = "perf_event"
    /// getrusage(RUSAGE_THREAD) of each worker thread.
    case getrusage
    /// Each worker thread's CLOCK_THREAD_CPUTIME_ID.
    case threadCPUClock = "thread CPU clock"
}

