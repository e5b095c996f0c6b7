import CopyprofModel

extension Profile {
    /// Several runs made with the same options, as one profile of all their trials: one side of a comparison made of
    /// more than one run, so that the spread between runs is inside each side rather than only between the sides.
    ///
    /// The trials of a cell are those of every run, in the runs' order; rounds and trial numbers are offset run by
    /// run, so that a round still pairs the trials that ran side by side (the ratios to two-copy stay within a run)
    /// and the control's runs keep theirs. The environment, status and sampling are the first run's; the sampled
    /// stacks and their frame names are left out (each run numbers its frames its own way; what `compare` uses, the
    /// trials' attribution, is kept). One run is returned as it is.
    ///
    /// Throws when the runs cannot be pooled: their plans differ (other options), they ran on other machines (CPU,
    /// kernel, host, perf_event_paranoid: ``EnvironmentInfo/differences(from:)``), they counted or sampled differently
    /// (an event counted in one, user-only or refused in another; another sampling event, mode, frequency or call-chain
    /// depth), or their controls ran different workloads. `names` name the runs in that error, in order.
    public static func pooling(_ runs: [Profile], names: [String]) throws(CopyprofError) -> Profile {
        guard var pooled = runs.first else { throw .invalidArgument("no profile to pool") }
        guard runs.count > 1 else { return pooled }
        let name = { (i: Int) in i < names.count ? names[i] : "run \(i + 1)" }
        for (i, run) in runs.enumerated().dropFirst() {
            if run.plan != pooled.plan {
                throw .invalidArgument(
                    "\(name(i)) was run with other options than \(name(0)) (its sweep plan differs): pool only runs made with the same options")
            }
            let machine = run.environment.differences(from: pooled.environment)
            if !machine.isEmpty {
                throw .invalidArgument(
                    "\(name(i)) ran on another machine than \(name(0)) (\(machine.joined(separator: "; "))): pool only runs of one machine")
            }
            let counting = { (p: Profile) in p.environment.events.map { "\($0.name) \($0.availability.state.rawValue) \($0.mode.map { "\($0)" } ?? "")" } }
            if counting(run) != counting(pooled) {
                throw .invalidArgument(
                    "\(name(i)) counted its events differently from \(name(0)) (an event counted in one is user-only or refused in the other): pool only runs counted alike")
            }
            let sampling = { (p: Profile) in p.sampling.map { [$0.event, $0.mode.rawValue, "\($0.frequency)", "\($0.callchainDepth)"] } }
            if sampling(run) != sampling(pooled) {
                throw .invalidArgument("\(name(i)) was sampled differently from \(name(0)): pool only runs sampled alike")
            }
            if let a = pooled.control, let b = run.control,
                a.copyBufferBytes != b.copyBufferBytes || a.copyRepetitions != b.copyRepetitions || a.syscalls != b.syscalls
                    || a.wakeRoundTrips != b.wakeRoundTrips
            {
                throw .invalidArgument("\(name(i)) ran another control workload than \(name(0)): pool only runs of one copyprof version")
            }
        }
        var cells = pooled.cells
        var position: [CellKey: Int] = [:]
        for (i, cell) in cells.enumerated() where position[cell.key] == nil { position[cell.key] = i }
        for i in cells.indices { cells[i].stacks = nil }
        var control = pooled.control
        // Rounds and trial numbers run on from the largest of the runs before.
        var roundOffset = pooled.lastRound
        var trialOffset = pooled.cells.map { $0.trials.map(\.trial).max() ?? 0 }.max() ?? 0
        for run in runs.dropFirst() {
            for cell in run.cells {
                let trials = cell.trials.map { trial in
                    var trial = trial
                    trial.trial += trialOffset
                    trial.round = trial.round.map { $0 + roundOffset }
                    return trial
                }
                if let at = position[cell.key] {
                    cells[at].trials += trials
                    if cells[at].error == nil { cells[at].error = cell.error }
                } else {
                    position[cell.key] = cells.count
                    cells.append(CellRecord(key: cell.key, trials: trials, error: cell.error, notSupported: cell.notSupported))
                }
            }
            if var runControl = run.control {
                for i in runControl.samples.indices { runControl.samples[i].round += roundOffset }
                if control == nil { control = runControl } else { control?.samples += runControl.samples }
            }
            roundOffset += run.lastRound
            trialOffset += run.cells.map { $0.trials.map(\.trial).max() ?? 0 }.max() ?? 0
        }
        pooled.cells = cells
        // A control from some runs only would say how the machine moved during those alone.
        pooled.control = runs.allSatisfy { $0.control != nil } ? control : nil
        pooled.frameNames = nil
        if runs.contains(where: { $0.status == .interrupted }) { pooled.status = .interrupted }
        return pooled
    }

    /// The largest round of any trial or control run; 0 when none has one.
    var lastRound: Int {
        max(cells.map { $0.trials.compactMap(\.round).max() ?? 0 }.max() ?? 0, control?.samples.map(\.round).max() ?? 0)
    }
}
