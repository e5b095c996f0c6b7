// What a calibration gives back and how big its work is: the checks, the report, the workload sizes.

/// One check of a counter against work whose count is known (`copyprof counters --check`).
public struct CalibrationCheck: Sendable, Hashable, Codable {
    /// Passed, failed, or not run (with the reason in `note`).
    public enum Verdict: String, Sendable, Codable {
        /// The measured value is within the bounds.
        case pass
        /// The measured value is outside the bounds, or the counter gave none although it opened.
        case fail
        /// Not run: the event cannot be counted here, or the work cannot be done on this CPU.
        case skipped
    }

    /// The event checked (`context switches (getrusage)` for the rusage fallback).
    public var event: String
    /// The work, in words.
    public var workload: String
    /// What the count should be, in words (`40,000,000 ± 1%`, `≥ 1,000`).
    public var expected: String
    /// What was measured, in words, with perf's `:u` when user-only; nil when skipped.
    public var measured: String?
    /// The bounds of a pass in the measured unit (per load, GHz, count ...); nil when unbounded.
    public var lowerBound: Double?
    /// The upper bound of a pass, in the unit of ``lowerBound``; nil when unbounded.
    public var upperBound: Double?
    /// The measured value in the same unit as the bounds.
    public var measuredValue: Double?
    /// Pass, fail or skipped.
    public var verdict: Verdict
    /// The privilege levels the measured value covers.
    public var mode: CountingMode?
    /// perf_event or getrusage.
    public var source: ReadingSource?
    /// True when the counter was multiplexed and the value scaled.
    public var scaled: Bool
    /// Why it was skipped or failed, or what else to know.
    public var note: String?

    /// Creates a check; the fields are as their properties say.
    public init(
        event: String, workload: String, expected: String, measured: String? = nil, lowerBound: Double? = nil,
        upperBound: Double? = nil, measuredValue: Double? = nil, verdict: Verdict, mode: CountingMode? = nil,
        source: ReadingSource? = nil, scaled: Bool = false, note: String? = nil
    ) {
        self.event = event
        self.workload = workload
        self.expected = expected
        self.measured = measured
        self.lowerBound = lowerBound
        self.upperBound = upperBound
        self.measuredValue = measuredValue
        self.verdict = verdict
        self.mode = mode
        self.source = source
        self.scaled = scaled
        self.note = note
    }
}

/// The result of calibrating every requested event.
public struct CalibrationReport: Sendable, Codable {
    /// The host's core PMUs, paranoid level, watchdog and hypervisor flag.
    public var host: HostFacts
    /// The cache sizes the cache workloads were sized from.
    public var caches: CacheSizes
    /// The CPU clock range from cpufreq, when sysfs has it.
    public var frequency: FrequencyRange?
    /// True when the process ran as root (uid 0).
    public var root: Bool
    /// One check per counted event (and the getrusage context-switch figure), in the order run.
    public var checks: [CalibrationCheck]

    /// The number of checks that passed.
    public var passed: Int { checks.filter { $0.verdict == .pass }.count }
    /// The number of checks that failed.
    public var failed: Int { checks.filter { $0.verdict == .fail }.count }
    /// The number of checks that were not run.
    public var skipped: Int { checks.filter { $0.verdict == .skipped }.count }
}

/// How big the calibration workloads are. ``standard`` is what `copyprof counters --check` runs.
public struct CalibrationSizes: Sendable, Hashable {
    /// Turns of the two-instruction loop for `instructions`.
    public var instructionLoop: UInt64
    /// Turns of the loop for `cycles` against task-clock.
    public var cycleLoop: UInt64
    /// Dependent loads in the L1d walk.
    public var l1Loads: Int
    /// Branches on random bits for `branch-misses`.
    public var branches: Int
    /// Thread CPU time per task-clock window, ns.
    public var taskClockWindowNs: UInt64
    /// Round trips between the two threads for context switches.
    public var pingPongRounds: Int
    /// Moves between two CPUs for `cpu-migrations`.
    public var migrations: Int
    /// Fresh pages touched for `page-faults`.
    public var pages: Int
    /// recv() calls for the receive-copy tracepoint.
    public var receives: Int
    /// The largest buffer the LLC walk may map, bytes.
    public var maxLLCWalkBytes: Int

    /// Sizes the workloads; the fields are as their properties say.
    public init(
        instructionLoop: UInt64, cycleLoop: UInt64, l1Loads: Int, branches: Int, taskClockWindowNs: UInt64,
        pingPongRounds: Int, migrations: Int, pages: Int, receives: Int, maxLLCWalkBytes: Int
    ) {
        self.instructionLoop = instructionLoop
        self.cycleLoop = cycleLoop
        self.l1Loads = l1Loads
        self.branches = branches
        self.taskClockWindowNs = taskClockWindowNs
        self.pingPongRounds = pingPongRounds
        self.migrations = migrations
        self.pages = pages
        self.receives = receives
        self.maxLLCWalkBytes = maxLLCWalkBytes
    }

    /// The sizes `copyprof counters --check` uses: each check takes well under a second of CPU here.
    public static let standard = CalibrationSizes(
        instructionLoop: 20_000_000, cycleLoop: 100_000_000, l1Loads: 2_000_000, branches: 10_000_000,
        taskClockWindowNs: 50_000_000, pingPongRounds: 1_000, migrations: 20, pages: 512, receives: 200,
        maxLLCWalkBytes: 1 << 30)
}
