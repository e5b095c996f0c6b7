import CopyprofModel

// What the reader checks of schema 3's sampling records: nothing a report adds up or indexes can be out of range,
// and nothing contradicts how the profile says its threads were sampled.

extension Profile {
    /// The first sampling record that no run of copyprof can write, as "JSON path: what is wrong"; nil when there is
    /// none.
    func samplingProblem() -> String? {
        if let sampling {
            if let problem = sampling.problem(at: "sampling") { return problem }
            if notSampledReason != nil {
                return "notSampledReason: the profile has a sampling record, so its threads were sampled"
            }
        }
        for (c, cell) in cells.enumerated() {
            let at = "cells[\(c)]"
            for (t, trial) in cell.trials.enumerated() {
                for (w, worker) in trial.workers.enumerated() {
                    let path = "\(at).trials[\(t)].workers[\(w)]"
                    if let problem = worker.samplingProblem(at: path, trial: trial, sampling: sampling) { return problem }
                }
            }
            guard let stacks = cell.stacks else { continue }
            guard let sampling else {
                return "\(at).stacks: sampled call stacks in a profile without a sampling record (not sampled)"
            }
            var roles: Set<WorkerRole> = []
            for (s, summary) in stacks.enumerated() {
                let path = "\(at).stacks[\(s)]"
                if !roles.insert(summary.role).inserted {
                    return "\(path).role: \(summary.role.rawValue) has two stack summaries; a cell has one per role"
                }
                for (k, stack) in summary.stacks.enumerated() {
                    if let problem = stack.problem(at: "\(path).stacks[\(k)]", sampling: sampling) {
                        return problem
                    }
                }
            }
        }
        return nil
    }
}

extension SamplingRecord {
    func problem(at path: String) -> String? {
        if event.isEmpty { return "\(path).event: empty; the sampled event is named as perf names it (cpu-clock, cycles)" }
        if !RunLimits.sampleFrequency.contains(frequency) {
            return "\(path).frequency: \(frequency) Hz is not from \(RunLimits.sampleFrequency.lowerBound) to "
                + "\(RunLimits.sampleFrequency.upperBound) Hz"
        }
        if let grantedFrequency, !(1...frequency).contains(grantedFrequency) {
            return "\(path).grantedFrequency: \(grantedFrequency) Hz is not from 1 to the \(frequency) Hz asked for "
                + "(the kernel only lowers a frequency)"
        }
        if !RunLimits.callchainDepth.contains(callchainDepth) {
            return "\(path).callchainDepth: \(callchainDepth) is not from \(RunLimits.callchainDepth.lowerBound) to "
                + "\(RunLimits.callchainDepth.upperBound) frames"
        }
        return nil
    }
}

extension WorkerRecord {
    func samplingProblem(at path: String, trial: TrialRecord, sampling: SamplingRecord?) -> String? {
        guard attribution != nil || cacheMissAttribution != nil else { return nil }
        let field = attribution != nil ? "attribution" : "cacheMissAttribution"
        guard let sampling else {
            return "\(path).\(field): a sampled thread in a profile without a sampling record (not sampled)"
        }
        if trial.kind == .timing {
            return "\(path).\(field): a timing trial's thread was sampled; only counted trials are"
        }
        if let attribution, let problem = attribution.problem(at: "\(path).attribution", sampling: sampling) {
            return problem
        }
        for name in (cacheMissAttribution ?? [:]).keys.sorted() {
            let at = "\(path).cacheMissAttribution.\(abbreviated(name, limit: 60))"
            guard sampling.cacheMissEvents?.contains(name) == true else {
                return "\(at): not one of the sampled cache-miss events (sampling.cacheMissEvents)"
            }
            if let problem = cacheMissAttribution![name]!.problem(at: at, sampling: sampling) { return problem }
        }
        return nil
    }
}

extension AttributionRecord {
    func problem(at path: String, sampling: SamplingRecord) -> String? {
        for category in AttributionCategory.allCases {
            if let count = samples[category], count == 0 {
                return "\(path).samples.\(category.rawValue): 0; a category without samples is absent"
            }
            if weights[category] != nil && samples[category] == nil {
                return "\(path).weights.\(category.rawValue): a weight without samples"
            }
            if !sampling.seesKernel && category.isKernel && samples[category] != nil {
                return "\(path).samples.\(category.rawValue): a kernel category in a profile sampled in user space only "
                    + "(sampling.mode), where it cannot be seen"
            }
        }
        return nil
    }
}

extension StackRecord {
    /// Frames outside ``Profile/frameNames`` are ``Profile/stacksProblem(_:at:)``'s to find.
    func problem(at path: String, sampling: SamplingRecord) -> String? {
        if frames.isEmpty { return "\(path).frames: empty; a stack has at least the sampled function" }
        if frames.count > RunLimits.callchainDepth.upperBound {
            return "\(path).frames: \(frames.count) frames; a stack keeps at most \(RunLimits.callchainDepth.upperBound)"
        }
        if samples == 0 { return "\(path).samples: 0; a stack is kept for its samples" }
        if !sampling.seesKernel && category.isKernel {
            return "\(path).category: \(category.rawValue) is a kernel category in a profile sampled in user space "
                + "only (sampling.mode)"
        }
        return nil
    }
}
