// CopyprofSweep — running a sweep: cells interleaved, each trial's transports run locally or through a
// ``RemoteTrialRunner`` (CopyprofRemote's client of `copyprof serve`), counters opened in every worker thread, and what
// they measured turned into the profile's records (RecordConversion.swift, the one place that maps the lower modules'
// types). It also captures the environment.

import CopyprofModel
import CopyprofProfile
import Histogram
import PerfCounters
import Transports
import SystemCalls

/// A worker's counters and rusage around its timed loop: opened on the worker's thread, read just before and just
/// after the loop.
extension CountedRegion: WorkerRegion {}

/// Runs a sweep's trials with another host: this process's threads send, the other host's receive (in ping-pong,
/// echo), and one record holds both sides' workers. CopyprofRemote's `RemoteClient` is the one implementation; the
/// protocol keeps the dependency one way (the control plane builds on the sweep, not the sweep on it).
public protocol RemoteTrialRunner: AnyObject {
    /// The other host: its address, its environment, the route each side's data takes.
    var info: RemoteInfo { get }

    /// Runs one trial of `key` with the other host. With no `events` (a timing trial) neither side opens counters.
    ///
    /// - Throws: ``CopyprofError/remote(_:)`` when the other host is gone (the sweep must stop), or the trial's own
    ///   error (a `TransportError`, which fails this cell's trial only).
    func runTrial(
        _ key: CellKey, trial: Int, plan: SweepPlan, events: [PerfEvent], ioTimeout: Double, faults: FaultInjection
    ) throws -> TrialRecord
}

/// Where a sweep is, for progress displays.
public struct SweepProgress: Sendable {
    /// 1-based index of the run about to start, of `runCount`.
    public var runIndex: Int
    public var runCount: Int
    public var cell: CellKey
    /// 1-based cell index in the plan, of `cellCount`.
    public var cellIndex: Int
    public var cellCount: Int
    /// 1-based round, warm-up rounds first, of `roundCount`.
    public var round: Int
    public var roundCount: Int
    /// True in a warm-up round.
    public var warmup: Bool
    public var kind: TrialKind
    public var elapsedSeconds: Double
    /// Estimated from the pace so far.
    public var remainingSeconds: Double
}

/// Runs a ``SweepPlan`` in rounds: each round runs every cell once of each trial kind (timing without counters,
/// counted with them), in an order that rotates from round to round (``SweepPlan/schedule(round:kinds:)``), and opens
/// with the control workload. A cell's trials so spread over the whole sweep: its spread includes the machine's drift
/// over the sweep, the transports of a group run side by side in every round, and the control tells how the machine
/// itself moved.
public struct SweepRunner {
    public var plan: SweepPlan {
        didSet { probedSampling = nil }  // what the probe was made for changed
    }
    /// The events counted in counted trials; empty: timing trials only.
    public var events: [PerfEvent] {
        didSet { probedSampling = nil }  // what the probe was made for changed
    }
    /// Seconds a socket may make no progress before a trial fails.
    public var ioTimeout: Double = 5
    /// The server of a two-host run: its threads receive, this process's threads send.
    public var remote: (any RemoteTrialRunner)? {
        didSet { probedSampling = nil }  // what the probe was made for changed
    }
    /// The fixed workload run at the start of every recorded round.
    public var control = ControlWorkload()
    /// Test-only: this transport's senders copy each message `copies` extra times (a local run's slower transport
    /// on purpose, to show that compare finds it); nil for a normal run.
    public var slowTransport: (transport: TransportKind, copies: Int)?
    /// Test-only switches passed to every run (a simulated absence of a kernel feature).
    public var faults: FaultInjection = .none
    /// How the counted trials' workers are sampled; nil: not sampled (`--sample off`, or no counted trials).
    public var sampling: SweepSamplingOptions? {
        didSet { probedSampling = nil }  // what the probe was made for changed
    }
    /// A `perf stat --control` (or `perf record --control`) session enabled around every timed loop of a local run
    /// (`--perf-control`); nil for none.
    public var perfControl: PerfControl?
    /// The sampler's probe, once ``samplingSummary()`` ran it: ``run(environment:shouldStop:stopReason:progress:)``
    /// uses it rather than probing again, so the line printed is what the sweep gets. Cleared when the plan, the
    /// events, the remote side or the sampling options change.
    private var probedSampling: Result<SweepSampling, SamplingRefusal>??

    public init(plan: SweepPlan, events: [PerfEvent]) {
        self.plan = plan
        self.events = events
    }

    /// The kinds of trial each cell runs per recorded round.
    public var kinds: [TrialKind] { SweepPlan.trialKinds(counting: !events.isEmpty) }

    /// Trials the sweep runs, warm-ups included.
    public var runCount: Int { plan.runCount(kinds: kinds.count) }

    /// Runs the sweep. `shouldStop` is asked between runs (Ctrl-C, SIGTERM): the trial in flight finishes, the rest
    /// is skipped and the profile is marked interrupted, with `stopReason` as its reason.
    public func run(
        environment: EnvironmentInfo,
        shouldStop: () -> Bool = { false },
        stopReason: () -> String = { "interrupted (Ctrl-C)" },
        progress: (SweepProgress) -> Void = { _ in }
    ) -> Profile {
        var profile = Profile(environment: environment, plan: plan)
        profile.remote = remote?.info
        let sampler: SweepSampling?
        switch probedSampling ?? preparedSampling() {
        case .none:
            sampler = nil
        case .success(let prepared):
            sampler = prepared
        case .failure(let refusal):
            sampler = nil
            profile.notSampledReason = refusal.reason
        }
        var controlRecord = control.record
        let keys = plan.cells
        let cellIndex = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($0.element, $0.offset) })
        var records = keys.map { CellRecord(key: $0) }
        let kinds = self.kinds
        let runCount = self.runCount
        let roundCount = plan.warmup + plan.trials
        let started = monotonicNanoseconds()
        var runIndex = 0
        var interrupted = false

        rounds: for round in 0..<roundCount {
            let recordedRound = round >= plan.warmup ? round - plan.warmup + 1 : nil
            if let recordedRound {
                if shouldStop() {
                    interrupted = true
                    profile.statusReason = stopReason()
                    break rounds
                }
                controlRecord.samples.append(control.run(round: recordedRound))
            }
            for scheduled in plan.schedule(round: round, kinds: kinds) {
                let offset = cellIndex[scheduled.cell]!
                if shouldStop() {
                    interrupted = true
                    profile.statusReason = stopReason()
                    break rounds
                }
                runIndex += 1
                if records[offset].error != nil || records[offset].notSupported != nil { continue }
                let elapsed = Double(monotonicNanoseconds() - started) / 1e9
                let pace = runIndex > 1 ? elapsed / Double(runIndex - 1) : plan.duration
                progress(SweepProgress(
                    runIndex: runIndex, runCount: runCount, cell: scheduled.cell, cellIndex: offset + 1,
                    cellCount: keys.count, round: round + 1, roundCount: roundCount, warmup: recordedRound == nil,
                    kind: scheduled.kind, elapsedSeconds: elapsed,
                    remainingSeconds: pace * Double(runCount - runIndex + 1)))
                let what = recordedRound.map { "round \($0) \(scheduled.kind.rawValue) trial" } ?? "warm-up"
                do {
                    var (record, measurements) = try measureTrial(
                        scheduled.cell, trial: records[offset].trials.count + 1, kind: scheduled.kind,
                        sampled: sampler != nil)
                    if let recordedRound {
                        record.round = recordedRound
                        // Between trials, on this thread: the workers are gone, no loop is timed.
                        sampler?.attribute(measurements, into: &record, cell: scheduled.cell)
                        records[offset].trials.append(record)
                    }
                } catch let error as CopyprofError {
                    // The server is gone, or perf stopped following (--perf-control): keep what was measured and stop.
                    records[offset].error = "\(what): \(error)"
                    profile.statusReason = error.description
                    interrupted = true
                    break rounds
                } catch let error as TransportError where error.notSupportedReason != nil {
                    // The host cannot run this cell at all: say why once, and go on with the others.
                    records[offset].notSupported = error.notSupportedReason
                    records[offset].trials = []
                } catch {
                    records[offset].error = "\(what): \(error)"
                }
            }
        }
        profile.cells = interrupted ? records.filter { !$0.trials.isEmpty || $0.error != nil || $0.notSupported != nil } : records
        profile.control = controlRecord.samples.isEmpty ? nil : controlRecord
        sampler?.finish(&profile)
        profile.status = interrupted ? .interrupted : .complete
        profile.environment.endTime = iso8601(.now)
        return profile
    }

    /// Runs one trial of a cell: a timing trial opens no counters in the workers (rusage and the thread CPU clock
    /// only), a counted trial opens the events in every worker.
    public func runTrial(_ key: CellKey, trial: Int, kind: TrialKind = .counted) throws -> TrialRecord {
        try measureTrial(key, trial: trial, kind: kind, sampled: false).record
    }

    /// How the sweep will sample, in one line (`sampling cpu-clock at 4000 Hz, user+kernel, ...`), or why it will
    /// not; nil when sampling is off.
    public mutating func samplingSummary() -> String? {
        let prepared = probedSampling ?? preparedSampling()
        probedSampling = prepared
        switch prepared {
        case .none: return nil
        case .success(let sampler): return sampler.probe.summary
        case .failure(let refusal): return "not sampled: \(refusal.reason)"
        }
    }

    /// Whether the sweep samples, and if it cannot, why: sampling needs counted trials and a local run (a two-host
    /// run's server does not send samples back, so neither side is sampled), and a sampler the kernel grants.
    func preparedSampling() -> Result<SweepSampling, SamplingRefusal>? {
        guard let sampling else { return nil }
        if !kinds.contains(.counted) {
            return .failure(
                SamplingRefusal(
                    reason: "sampling runs in the counted trials, and this sweep has none (no event can be counted, "
                        + "or --events none)"))
        }
        if remote != nil {
            return .failure(
                SamplingRefusal(
                    reason: "a two-host run is not sampled: the server's threads would need their own symbols and "
                        + "attribution on the server, which the control protocol does not carry yet; run on one "
                        + "host (loopback or veth) to see where the time goes"))
        }
        return SamplingProbe.run(sampling).map { SweepSampling(options: sampling, probe: $0) }
    }

    /// Runs one trial of a cell, its workers sampled when `sampled` and the trial is counted (timing trials never
    /// are): the record, and each worker's measurement in the record's worker order (none for a two-host run).
    func measureTrial(_ key: CellKey, trial: Int, kind: TrialKind, sampled: Bool) throws
        -> (record: TrialRecord, measurements: [WorkerMeasurement?])
    {
        let events = kind == .counted ? self.events : []
        var record: TrialRecord
        var measurements: [WorkerMeasurement?] = []
        if let remote {
            record = try remote.runTrial(key, trial: trial, plan: plan, events: events, ioTimeout: ioTimeout, faults: faults)
        } else {
            var configuration = plan.configuration(key, address: plan.address, ioTimeout: ioTimeout, faults: faults)
            if let slowTransport, slowTransport.transport == key.transport {
                configuration.faults.extraCopies = slowTransport.copies
            }
            let samplerOptions = sampled && kind == .counted
                ? sampling?.samplerOptions(duration: plan.duration, workers: 2 * key.connections) : nil
            let result = try runTransport(configuration, observer: perfControl) { _ in
                try SweepWorkerRegion(events: events, sampler: samplerOptions)
            }
            // perf no longer follows: what it counted from here on would not match; stop the sweep.
            if let failure = perfControl?.failure { throw CopyprofError.invalidArgument(failure) }
            record = TrialRecord(result, trial: trial)
            measurements = result.workers.map(\.measurement)
        }
        record.kind = kind
        return (record, measurements)
    }
}
