import CopyprofModel
import CopyprofProfile

/// Trials of one cell that do not agree with one another: some far from the rest, as when trials stall (a worker
/// blocked for much of the trial) or the cell runs in two modes (zero-copy on loopback: some trials at full speed,
/// some at a fraction). A median of such trials moves by half when one more trial falls on the other side, so a
/// change of it between two runs says nothing about the code: `compare` reports such a cell as unstable rather
/// than as a regression or an improvement, and the report names it among the surprises.
package struct Instability: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The metric whose values disagree.
    package var metric: Metric
    /// Values below ``lowFactor`` or above ``highFactor`` times the median.
    package var outliers: Int
    package var count: Int
    package var lowest: Double
    package var median: Double
    package var highest: Double

    /// A value below this share of the median is far from it: a trial that moved less than half as fast.
    package static let lowFactor = 0.5
    /// A value above this multiple of the median is far from it.
    package static let highFactor = 2.0

    /// The instability of a sample of a metric, or nil when its values agree (or there are fewer than 3, or the
    /// median is not positive: nothing to be far from).
    package init?(_ metric: Metric, _ values: [Double]) {
        guard values.count >= 3, let median = Statistics.median(values), median > 0 else { return nil }
        let far = values.filter { $0 < median * Self.lowFactor || $0 > median * Self.highFactor }.count
        guard far > 0, let lowest = values.min(), let highest = values.max() else { return nil }
        self.metric = metric
        outliers = far
        count = values.count
        self.lowest = lowest
        self.median = median
        self.highest = highest
    }

    package var description: String {
        "\(metric.title): \(outliers) of \(count) trials below half or above twice the median "
            + "(\(metric.format(lowest)) to \(metric.format(highest)) \(metric.unit), median \(metric.format(median)))"
    }
}

extension Analysis {
    /// Whether a cell's trials disagree on its primary metric (stream throughput, ping-pong RTT p50) or on
    /// `metric`: the first instability found, or nil.
    package static func instability(of cell: CellRecord, metric: Metric? = nil) -> Instability? {
        for m in [Metric.primary(for: cell.key.workload)] + (metric.map { [$0] } ?? []) {
            if let summary = m.summary(of: cell), let unstable = Instability(m, summary.values) { return unstable }
        }
        return nil
    }
}
