import CopyprofModel

extension Profile {
    /// The first value that no run of copyprof can produce, as "JSON path: what is wrong"; nil when there is none.
    ///
    /// Decoding checks types; this checks meaning, so that what reads a profile can trust its counts: sizes and
    /// thread counts within ``RunLimits``, one record per cell, bytes that are whole messages, copied zero-copy
    /// completions ≤ completions ≤ sends, a counter's running time ≤ its enabled time, workers of the cell's
    /// connections; sampling records that agree with how the profile says it sampled (``samplingProblem()``).
    /// Arithmetic on the values that pass must still not trap (they may be as large as UInt64 allows).
    public func validate() -> String? {
        if let problem = plan.problem() { return problem }
        var seen: [CellKey: Int] = [:]
        for (c, cell) in cells.enumerated() {
            let at = "cells[\(c)]"
            if let problem = cell.key.problem(at: "\(at).key") { return problem }
            if let first = seen[cell.key] {
                return "\(at).key: \(cell.key) appears twice (also cells[\(first)]); a profile has one record per cell"
            }
            seen[cell.key] = c
            if cell.notSupported != nil && !cell.trials.isEmpty {
                return "\(at).notSupported: a cell the host cannot run has no trials, but this one has \(cell.trials.count)"
            }
            for (t, trial) in cell.trials.enumerated() {
                if let problem = trial.problem(at: "\(at).trials[\(t)]", key: cell.key) { return problem }
            }
            if let problem = stacksProblem(cell, at: at) { return problem }
        }
        if let problem = samplingProblem() { return problem }
        if let control, let problem = control.problem(at: "control") { return problem }
        return nil
    }
}

extension Profile {
    /// A stack's frame that is not in ``frameNames``: what the stack would name cannot be known.
    func stacksProblem(_ cell: CellRecord, at path: String) -> String? {
        let names = frameNames?.count ?? 0
        for (s, summary) in (cell.stacks ?? []).enumerated() {
            for (k, stack) in summary.stacks.enumerated() {
                if let bad = stack.frames.first(where: { !(0..<names).contains($0) }) {
                    return "\(path).stacks[\(s)].stacks[\(k)].frames: \(bad) is not an index of frameNames (\(names) names)"
                }
            }
        }
        return nil
    }
}

extension ControlRecord {
    func problem(at path: String) -> String? {
        for (name, value) in [
            ("copyBufferBytes", copyBufferBytes), ("copyRepetitions", copyRepetitions), ("syscalls", syscalls),
            ("wakeRoundTrips", wakeRoundTrips),
        ] where value < 1 {
            return "\(path).\(name): \(value) is not a positive amount of work"
        }
        for (i, sample) in samples.enumerated() where !RunLimits.trials.contains(sample.round) {
            return "\(path).samples[\(i)].round: \(sample.round) is not a round from 1 to \(RunLimits.trials.upperBound)"
        }
        return nil
    }
}

extension SweepPlan {
    func problem() -> String? {
        for (i, size) in sizes.enumerated() {
            if let problem = RunLimits.messageSizeProblem(size) { return "plan.sizes[\(i)]: \(problem)" }
        }
        for (i, count) in connections.enumerated() where !RunLimits.connections.contains(count) {
            return "plan.threads[\(i)]: \(count) is not a connection count from \(RunLimits.connections.lowerBound) to \(RunLimits.connections.upperBound)"
        }
        if !RunLimits.trials.contains(trials) {
            return "plan.trials: \(trials) is not from \(RunLimits.trials.lowerBound) to \(RunLimits.trials.upperBound)"
        }
        if !RunLimits.warmup.contains(warmup) {
            return "plan.warmup: \(warmup) is not from \(RunLimits.warmup.lowerBound) to \(RunLimits.warmup.upperBound)"
        }
        if !RunLimits.duration.contains(duration) {
            return "plan.duration: \(duration) s is not from \(RunLimits.duration.lowerBound) to \(Int(RunLimits.duration.upperBound)) s"
        }
        return nil
    }
}

extension CellKey {
    func problem(at path: String) -> String? {
        if let problem = RunLimits.messageSizeProblem(messageSize) { return "\(path).messageSize: \(problem)" }
        if !RunLimits.connections.contains(connections) {
            return "\(path).threads: \(connections) is not a connection count from \(RunLimits.connections.lowerBound) to \(RunLimits.connections.upperBound)"
        }
        return nil
    }
}

extension TrialRecord {
    /// The first inconsistency of a trial of cell `key`, or nil.
    public func problem(at path: String, key: CellKey) -> String? {
        if !RunLimits.trials.contains(trial) {
            return "\(path).trial: \(trial) is not a trial number from \(RunLimits.trials.lowerBound) to \(RunLimits.trials.upperBound)"
        }
        if let round, !RunLimits.trials.contains(round) {
            return "\(path).round: \(round) is not a round from \(RunLimits.trials.lowerBound) to \(RunLimits.trials.upperBound)"
        }
        if let problem = wholeMessages(bytes: bytes, messages: messages, size: key.messageSize, at: path) { return problem }
        if let mismatch = firstMismatch, !(0..<key.messageSize).contains(mismatch.offset) {
            return "\(path).firstMismatch.offset: \(mismatch.offset) is outside a \(key.messageSize)-byte message"
        }
        if let zeroCopy, let problem = zeroCopy.problem(at: "\(path).zeroCopy") { return problem }
        if workers.isEmpty { return "\(path).workers: no worker records (a trial has a sender and a receiver per connection)" }
        for (w, worker) in workers.enumerated() {
            let at = "\(path).workers[\(w)]"
            if !(0..<key.connections).contains(worker.connection) {
                return "\(at).connection: \(worker.connection) is not one of the cell's \(key.connections) connection(s) (0 to \(key.connections - 1))"
            }
            if let tid = worker.tid, tid < 1 {
                return "\(at).tid: \(tid) is not a thread id (the kernel's are positive)"
            }
            if let received = worker.received {
                if let problem = wholeMessages(bytes: received.bytes, messages: received.messages, size: key.messageSize, at: "\(at).received") {
                    return problem
                }
                if let mismatch = received.firstMismatch, !(0..<key.messageSize).contains(mismatch.offset) {
                    return "\(at).received.firstMismatch.offset: \(mismatch.offset) is outside a \(key.messageSize)-byte message"
                }
                if received.verified == false && received.integrityErrors > 0 {
                    return "\(at).received.integrityErrors: \(received.integrityErrors) from a receiver that did not read the "
                        + "bytes (verified: false)"
                }
            }
            if let zeroCopy = worker.sent?.zeroCopy, let problem = zeroCopy.problem(at: "\(at).sent.zeroCopy") { return problem }
            for name in worker.counters.keys.sorted() {
                let counter = worker.counters[name]!
                if counter.timeRunning > counter.timeEnabled {
                    return "\(at).counters.\(abbreviated(name, limit: 60)): timeRunning \(counter.timeRunning) ns is above timeEnabled "
                        + "\(counter.timeEnabled) ns (a counter cannot run longer than it is enabled)"
                }
            }
        }
        return nil
    }

    private func wholeMessages(bytes: UInt64, messages: UInt64, size: Int, at path: String) -> String? {
        let (expected, overflow) = messages.multipliedReportingOverflow(by: UInt64(size))
        if overflow || expected != bytes {
            return "\(path).bytes: \(bytes) is not messages (\(messages)) × \(size) B; receivers count whole messages"
        }
        return nil
    }
}

extension ZeroCopyRecord {
    func problem(at path: String) -> String? {
        if copiedCompletions > completions {
            return "\(path).copiedCompletions: \(copiedCompletions) is above completions (\(completions)); only completions can be flagged copied"
        }
        if completions > sends {
            return "\(path).completions: \(completions) is above sends (\(sends)); each send completes once"
        }
        return nil
    }
}
