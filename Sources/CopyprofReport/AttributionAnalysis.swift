import CopyprofModel
import CopyprofProfile

/// Where one role's time went in one cell: a share per category with its interval, and what the sampler lost.
package struct RoleAttribution: Sendable, Hashable {
    package var cell: CellKey
    package var role: WorkerRole
    /// Trials in which the role's threads were sampled and had samples: the clusters of the intervals.
    package var trials: Int
    /// Samples over every trial and thread (saturating).
    package var samples: UInt64
    /// Samples the kernel took but the ring could not hold (PERF_RECORD_LOST), summed (saturating).
    package var lost: UInt64
    /// Times the kernel lowered the sampling rate (PERF_RECORD_THROTTLE), summed.
    package var throttled: UInt64
    /// True when only user space was sampled: kernel categories are not permitted, the shares are of user time.
    package var userOnly: Bool
    /// The share of every category that could be seen (with user-only sampling, the user-space categories only).
    package var shares: [AttributionCategory: CategoryShare]

    /// The category's share, or nil when it could not be seen (a kernel category with user-only sampling).
    package func share(_ category: AttributionCategory) -> CategoryShare? { shares[category] }

    /// Lost samples as a fraction of what the kernel took (kept and lost); nil when none were lost.
    package var lostFraction: Double? {
        guard lost > 0 else { return nil }
        return Double(lost) / (Double(samples) + Double(lost))
    }
}

/// A function at the leaf of the stacks charged to `other`, and its part of a role's samples.
package struct OtherFunctionShare: Sendable, Hashable {
    package var name: String
    package var samples: UInt64
    /// Of all the role's stack samples in the cell (those kept and those left out of the profile).
    package var fraction: Double
}

/// The attribution of every sampled cell and role of a profile, computed once (a dictionary by cell), with the
/// reason when the profile has none.
package struct AttributionAnalysis: Sendable {
    /// How the threads were sampled; nil when they were not.
    package let sampling: SamplingRecord?
    /// Why there is no attribution (schema 1 and 2, `--sample off`); nil when the profile was sampled.
    package let unavailableReason: String?
    /// The frame names stacks refer to.
    package let frameNames: [String]
    /// Per cell, per role.
    private let byCell: [CellKey: [WorkerRole: RoleAttribution]]
    private let stacksByCell: [CellKey: [StackSummary]]
    /// The sampled cells, in the report's order.
    package let cells: [CellKey]

    /// The categories a profile's tables show: every one, or with user-only sampling those of user space.
    package var visibleCategories: [AttributionCategory] {
        AttributionCategory.allCases.filter { !userOnly || !$0.isKernel }
    }

    /// True when only user space was sampled.
    package var userOnly: Bool { sampling.map { !$0.seesKernel } ?? false }

    /// Why a kernel category has no share here, once for the report: the sampling mode's reason.
    package var notPermittedReason: String {
        "not permitted: user-only sampling" + (sampling?.modeReason.map { " (\($0))" } ?? "")
    }

    package init(profile: Profile) {
        sampling = profile.sampling
        frameNames = profile.frameNames ?? []
        if profile.sampling == nil {
            unavailableReason = profile.schemaVersion < 3
                ? "not sampled: the profile predates sampling (schema \(profile.schemaVersion))"
                : "not sampled: the sweep ran without sampling (`--sample off`)"
            byCell = [:]
            stacksByCell = [:]
            cells = []
            return
        }
        unavailableReason = nil
        let userOnly = profile.sampling.map { !$0.seesKernel } ?? false
        let categories = AttributionCategory.allCases.filter { !userOnly || !$0.isKernel }
        var byCell: [CellKey: [WorkerRole: RoleAttribution]] = [:]
        var stacksByCell: [CellKey: [StackSummary]] = [:]
        for cell in profile.cells {
            if let stacks = cell.stacks, !stacks.isEmpty { stacksByCell[cell.key] = stacks }
            var roles: [WorkerRole: RoleAttribution] = [:]
            for role in WorkerRole.allCases {
                var trials: [TrialAttribution] = []
                var lost: UInt64 = 0, throttled: UInt64 = 0, samples: UInt64 = 0
                for trial in cell.trials {
                    var pooled = TrialAttribution()
                    var sampled = false
                    for worker in trial.workers where worker.role == role {
                        guard let a = worker.attribution else { continue }
                        sampled = true
                        for category in categories {
                            if let s = a.samples[category] {
                                pooled.samples[category, default: 0] += Double(s)
                                samples = saturatingAdd(samples, s)
                            }
                            if let w = a.weights[category] { pooled.weights[category, default: 0] += Double(w) }
                        }
                        lost = saturatingAdd(lost, a.lost)
                        throttled = saturatingAdd(throttled, a.throttled ?? 0)
                    }
                    if sampled { trials.append(pooled) }
                }
                guard !trials.isEmpty else { continue }
                let shares = ShareEstimator.shares(trials, categories: categories) ?? [:]
                roles[role] = RoleAttribution(
                    cell: cell.key, role: role, trials: trials.filter { $0.totalSamples > 0 }.count, samples: samples, lost: lost,
                    throttled: throttled, userOnly: userOnly, shares: shares)
            }
            if !roles.isEmpty { byCell[cell.key] = roles }
        }
        self.byCell = byCell
        self.stacksByCell = stacksByCell
        cells = Set(byCell.keys).union(stacksByCell.keys).sorted()
    }

    /// Where the role's time went in the cell; nil when it was not sampled there.
    package func role(_ role: WorkerRole, in cell: CellKey) -> RoleAttribution? { byCell[cell]?[role] }

    /// The role's stacks in the cell; nil when the profile has none for it.
    package func stacks(_ role: WorkerRole, in cell: CellKey) -> StackSummary? {
        stacksByCell[cell]?.first { $0.role == role }
    }

    /// True when any cell has stacks.
    package var hasStacks: Bool { !stacksByCell.isEmpty }

    /// A frame's name; an index outside the table (a damaged profile) is named as such, never a trap.
    package func frameName(_ index: Int) -> String {
        frameNames.indices.contains(index) ? frameNames[index] : "[frame \(index): not in the profile's frame names]"
    }

    /// The functions at the leaf of the role's stacks charged to `other`, most samples first (ties by name), at most
    /// `limit`.
    package func otherFunctions(_ role: WorkerRole, in cell: CellKey, limit: Int) -> [OtherFunctionShare] {
        guard let summary = stacks(role, in: cell) else { return [] }
        var byName: [String: UInt64] = [:]
        var total = Double(summary.omittedSamples)
        for stack in summary.stacks {
            total += Double(stack.samples)
            guard stack.category == .other else { continue }
            let name = stack.frames.last.map(frameName) ?? "[no frames]"
            byName[name] = saturatingAdd(byName[name] ?? 0, stack.samples)
        }
        guard total > 0 else { return [] }
        return byName.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(limit)
            .map { OtherFunctionShare(name: $0.key, samples: $0.value, fraction: Double($0.value) / total) }
    }

    /// The role's stacks as folded stacks (frames named, root first), with `prefix` frames put before each stack's
    /// root; the samples of stacks left out of the profile are one stack, `[stacks left out of the profile]`.
    package func folded(_ role: WorkerRole, in cell: CellKey, prefix: [String] = []) -> FoldedStacks {
        var folded = FoldedStacks()
        guard let summary = stacks(role, in: cell) else { return folded }
        for stack in summary.stacks {
            folded.add(rootFirst: prefix + (stack.frames.isEmpty ? ["[no frames]"] : stack.frames.map(frameName)), count: stack.samples)
        }
        folded.add(rootFirst: prefix + [Self.omittedFrame], count: summary.omittedSamples)
        return folded
    }

    /// The frame that stands for the stacks a profile left out to stay small.
    package static let omittedFrame = "[stacks left out of the profile]"
}

func saturatingAdd(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : sum
}
