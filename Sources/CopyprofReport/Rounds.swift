import CopyprofModel
import CopyprofProfile

// What rounds make measurable within one profile: a transport against two-copy round by round, the counters'
// overhead round by round, and the control's spread across rounds. Shared drift of the machine cancels in a ratio of
// two trials that ran side by side in the same round.

extension Metric {
    /// The metric by which a workload's cells are ranked: stream throughput, ping-pong RTT p50.
    package static func primary(for mode: Workload) -> Metric { mode == .stream ? .throughput : .rttP50 }
}

/// A metric's ratio between two sets of trials, round by round: its median with the 95% interval of that median
/// from order statistics (the same exact binomial interval as every other median; none below 6 rounds).
package struct RoundRatio: Sendable, Hashable, Codable {
    package var metric: Metric
    /// One ratio per round that both sides ran.
    package var summary: Summary

    /// The ratio as a percent change: (median − 1) × 100.
    package var percent: Double { (summary.median - 1) * 100 }
    package var lowPercent: Double? { summary.low.map { ($0 - 1) * 100 } }
    package var highPercent: Double? { summary.high.map { ($0 - 1) * 100 } }
}

extension RoundRatio {
    /// The metric of trials `a` divided by that of trials `b` that ran in the same round, one ratio per round; nil
    /// without a pair. Trials pair by their round; in a profile from before rounds, by their order (its sweep ran the
    /// transports of a group in turn, so the k-th trials of two cells of a group ran side by side).
    package init?(_ metric: Metric, _ a: [TrialRecord], over b: [TrialRecord]) {
        var ratios: [Double] = []
        if a.allSatisfy({ $0.round != nil }) && b.allSatisfy({ $0.round != nil }) {
            var byRound: [Int: Double] = [:]
            for trial in b { if let round = trial.round, let value = metric.value(of: trial) { byRound[round] = value } }
            for trial in a {
                guard let round = trial.round, let x = metric.value(of: trial), let y = byRound[round], y > 0 else { continue }
                ratios.append(x / y)
            }
        } else {
            for (x, y) in zip(a.map { metric.value(of: $0) }, b.map { metric.value(of: $0) }) {
                guard let x, let y, y > 0 else { continue }
                ratios.append(x / y)
            }
        }
        guard let summary = Summary(ratios) else { return nil }
        self.init(metric: metric, summary: summary)
    }
}

/// What the counters cost a cell: its primary metric in counted trials against timing trials of the same round.
package struct CounterOverhead: Sendable, Hashable {
    package var cell: CellKey
    /// Per round: how many times slower the counted trial was (timing/counted throughput, counted/timing RTT).
    package var slowdown: RoundRatio

    /// The overhead in percent: (median slowdown − 1) × 100; positive when the counters slow the cell.
    package var percent: Double { slowdown.percent }

    /// True when the overhead exceeds `limit` percent and the interval excludes no overhead at all.
    package func exceeds(_ limit: Double) -> Bool {
        percent > limit && (slowdown.summary.low ?? 0) > 1
    }
}

/// The control's times across a profile's rounds.
package struct ControlSpread: Sendable, Hashable {
    package var workload: ControlRecord
    /// Wall time of each run of the control, ms.
    package var wallMs: Summary
    /// CPU time of each run, ms.
    package var cpuMs: Summary
    /// A round trip of the pipe ping-pong in each run, µs; nil when it did not run.
    package var wakeUs: Summary?

    /// (max − min) / median of the wall times, in percent.
    package var rangePercent: Double { Self.range(wallMs) }

    /// (max − min) / median of the wake-up round trips, in percent.
    package var wakeRangePercent: Double? { wakeUs.map(Self.range) }

    static func range(_ s: Summary) -> Double {
        guard let low = s.values.min(), let high = s.values.max(), s.median > 0 else { return 0 }
        return (high - low) / s.median * 100
    }
}

extension Analysis {
    /// The trials of a cell of one kind (trials from before the split count as both).
    func trials(_ cell: CellRecord, _ kind: TrialKind) -> [TrialRecord] {
        cell.trials.filter { kind == .timing ? $0.servesTiming : $0.servesCounting }
    }

    /// Cell `a`'s metric against cell `b`'s, round by round (its trials of the metric's kind).
    package func relative(_ metric: Metric, _ a: CellKey, to b: CellKey) -> RoundRatio? {
        guard let ca = profile.cell(a), let cb = profile.cell(b) else { return nil }
        return RoundRatio(metric, metric.trials(of: ca), over: metric.trials(of: cb))
    }

    /// The counters' overhead in a cell: nil when it has no trials of one of the kinds (a run without counters, or a
    /// profile from before the split).
    package func overhead(_ cell: CellRecord) -> CounterOverhead? {
        let timing = cell.trials.filter { $0.kind == .timing }
        let counted = cell.trials.filter { $0.kind == .counted }
        guard !timing.isEmpty, !counted.isEmpty else { return nil }
        let metric = Metric.primary(for: cell.key.workload)
        let higher = metric.higherIsBetter ?? true
        let ratio = higher ? RoundRatio(metric, timing, over: counted) : RoundRatio(metric, counted, over: timing)
        return ratio.map { CounterOverhead(cell: cell.key, slowdown: $0) }
    }

    /// The counters' overhead of every cell that has both kinds of trials, in the profile's order.
    package var overheads: [CounterOverhead] { profile.cells.compactMap(overhead) }

    /// The control's spread across the rounds; nil without a control.
    package var controlSpread: ControlSpread? {
        guard let control = profile.control,
            let wall = Summary(control.samples.map { Double($0.wallNs) / 1e6 }),
            let cpu = Summary(control.samples.map { Double($0.cpuNs) / 1e6 })
        else { return nil }
        var spread = ControlSpread(workload: control, wallMs: wall, cpuMs: cpu)
        if control.wakeRoundTrips > 0, control.samples.allSatisfy({ $0.wakeNs > 0 }) {
            spread.wakeUs = Summary(control.samples.map { Double($0.wakeNs) / Double(control.wakeRoundTrips) / 1e3 })
        }
        return spread
    }
}
