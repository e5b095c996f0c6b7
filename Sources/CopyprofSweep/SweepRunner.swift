// CopyprofSweep — running a sweep: cells interleaved, each trial's transports run locally or with a remote
// server over the control protocol, counters opened in every worker thread, and what they measured turned into the
// profile's records (RecordConversion.swift, the one place that maps the lower modules' types). It also captures
// the environment and the network path.

import CopyprofProfile
import Histogram
import PerfCounters
import Transports
import SystemCalls

/// A worker's counters and rusage around its timed loop: opened on the worker's thread, read just before and just
/// after the loop.
extension CountedRegion: WorkerRegion {}

/// Where a sweep is, for progress displays.
public struct SweepProgress: Sendable {
    /// 1-based index of the run about to start, of `runCount`.
    public var runIndex: Int
    public var runCount: Int
    public var cell: CellKey
    /// 1-based cell index in the plan, of `cellCount`.
    public var cellIndex: Int
    public var cellCount: Int
    /// Recorded trial number, or nil for a warm-up.
    public var trial: Int?
    public var elapsedSeconds: Double
    /// Estimated from the pace so far.
    public var remainingSeconds: Double
}

/// Runs a ``SweepPlan``: every cell's warm-ups and trials, transports interleaved within each group of cells with
/// the same workload, size and thread count, so that slow drifts of a noisy machine hit every transport alike.
public struct SweepRunner {
    public var plan: SweepPlan
    public var events: [PerfEvent]
    /// Seconds a socket may make no progress before a trial fails.
    public var ioTimeout: Double = 5
    /// The server of a two-host run: its threads receive, this process's threads send.
    public var remote: RemoteClient?
    /// Test-only switches passed to every run (a simulated absence of a kernel feature).
    public var faults: FaultInjection = .none

    public init(plan: SweepPlan, events: [PerfEvent]) {
        self.plan = plan
        self.events = events
    }

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
        let keys = plan.cells
        let groupSize = plan.groupSize
        let runCount = keys.count * (plan.warmup + plan.trials)
        let started = monotonicNanoseconds()
        var runIndex = 0
        var interrupted = false

        groups: for groupStart in stride(from: 0, to: keys.count, by: groupSize) {
            let group = Array(keys[groupStart..<min(groupStart + groupSize, keys.count)])
            var records = group.map { CellRecord(key: $0) }
            for round in 0..<(plan.warmup + plan.trials) {
                for (offset, key) in group.enumerated() {
                    if shouldStop() {
                        interrupted = true
                        profile.statusReason = stopReason()
                        profile.cells += records.filter { !$0.trials.isEmpty || $0.error != nil || $0.notSupported != nil }
                        break groups
                    }
                    runIndex += 1
                    if records[offset].error != nil || records[offset].notSupported != nil { continue }
                    let elapsed = Double(monotonicNanoseconds() - started) / 1e9
                    let pace = runIndex > 1 ? elapsed / Double(runIndex - 1) : plan.duration
                    let trial = round >= plan.warmup ? round - plan.warmup + 1 : nil
                    progress(SweepProgress(
                        runIndex: runIndex, runCount: runCount, cell: key, cellIndex: groupStart + offset + 1,
                        cellCount: keys.count, trial: trial, elapsedSeconds: elapsed,
                        remainingSeconds: pace * Double(runCount - runIndex + 1)))
                    do {
                        let record = try runTrial(key, trial: trial ?? 0)
                        if trial != nil { records[offset].trials.append(record) }
                    } catch let error as CopyprofError {
                        // The server is gone: keep what was measured and stop.
                        records[offset].error = "\(trial.map { "trial \($0)" } ?? "warm-up"): \(error)"
                        profile.cells += records.filter { !$0.trials.isEmpty || $0.error != nil || $0.notSupported != nil }
                        profile.statusReason = error.description
                        interrupted = true
                        break groups
                    } catch let error as TransportError where error.notSupportedReason != nil {
                        // The host cannot run this cell at all: say why once, and go on with the others.
                        records[offset].notSupported = error.notSupportedReason
                        records[offset].trials = []
                    } catch {
                        records[offset].error = "\(trial.map { "trial \($0)" } ?? "warm-up"): \(error)"
                    }
                }
            }
            profile.cells += records
        }
        profile.status = interrupted ? .interrupted : .complete
        profile.environment.endTime = iso8601(.now)
        return profile
    }

    /// Runs one trial of a cell with counters in every worker thread.
    public func runTrial(_ key: CellKey, trial: Int) throws -> TrialRecord {
        if let remote {
            return try remote.runTrial(key, trial: trial, plan: plan, events: events, ioTimeout: ioTimeout, faults: faults)
        }
        let configuration = plan.configuration(key, address: plan.address, ioTimeout: ioTimeout, faults: faults)
        let events = self.events
        let result = try runTransport(configuration) { _ in try CountedRegion(events: events) }
        return TrialRecord(result, trial: trial)
    }
}

