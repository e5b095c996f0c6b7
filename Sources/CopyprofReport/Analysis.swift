// CopyprofReport — from profiles to answers: derived metrics, statistics (medians, intervals, Mann-Whitney U),
// findings and comparisons as data, and their renderers — the Markdown report, the comparison's Markdown and JSON,
// SVG charts, CSV and the summary table — sharing one number-formatting file. It reads only the profile module.
// Its users are the `copyprof` command and the tests, both in this package, and no product vends it: its
// declarations are `package`, none `public`.

import CopyprofModel
import CopyprofProfile

/// Answers computed from a profile: medians with confidence intervals per cell and metric, significance between
/// cells, and findings that cite their numbers.
package struct Analysis: Sendable {
    package let profile: Profile
    /// The significance level of every test.
    package var alpha = 0.05

    /// The message sizes measured, ascending.
    package let sizes: [Int]
    /// The connection counts measured, ascending.
    package let connectionCounts: [Int]
    /// The transports measured with the `copy` receiver: what the classic findings compare.
    package let transports: [TransportKind]
    /// Every sender and receiver measured: the columns of the tables and the series of the charts.
    package let paths: [TransportPath]
    /// The receivers measured.
    package let receivers: [ReceiverKind]
    /// The workloads measured.
    package let workloads: [Workload]

    /// The profile's dimensions are read in one pass over its cells, here: tables and findings loop over them, and
    /// reading them again in every iteration made a report's time grow with the square of the cells.
    package init(profile: Profile) {
        self.profile = profile
        var sizes: Set<Int> = [], connectionCounts: Set<Int> = [], paths: Set<TransportPath> = []
        var copyTransports: Set<TransportKind> = [], receivers: Set<ReceiverKind> = [], workloads: Set<Workload> = []
        for cell in profile.cells {
            let key = cell.key
            sizes.insert(key.messageSize)
            connectionCounts.insert(key.connections)
            paths.insert(key.transportPath)
            if key.receiver == .copy { copyTransports.insert(key.transport) }
            receivers.insert(key.receiver)
            workloads.insert(key.workload)
        }
        self.sizes = sizes.sorted()
        self.connectionCounts = connectionCounts.sorted()
        self.transports = TransportKind.allCases.filter(copyTransports.contains)
        self.paths = paths.sorted()
        self.receivers = ReceiverKind.allCases.filter(receivers.contains)
        self.workloads = Workload.allCases.filter(workloads.contains)
    }

    package func cell(_ transport: TransportKind, _ workload: Workload, _ size: Int, _ connections: Int) -> CellRecord? {
        profile.cell(CellKey(transport: transport, workload: workload, messageSize: size, connections: connections))
    }

    package func summary(_ metric: Metric, _ transport: TransportKind, _ workload: Workload, _ size: Int, _ connections: Int) -> Summary? {
        cell(transport, workload, size, connections).flatMap { metric.summary(of: $0) }
    }

    /// The summary of a sender and receiver's cell.
    package func summary(_ metric: Metric, _ path: TransportPath, _ workload: Workload, _ size: Int, _ connections: Int) -> Summary? {
        profile.cell(CellKey(
            transport: path.transport, receiver: path.receiver, workload: workload, messageSize: size, connections: connections))
            .flatMap { metric.summary(of: $0) }
    }

    /// True when the metric was measured in at least one cell.
    package func measured(_ metric: Metric, workload: Workload? = nil) -> Bool {
        profile.cells.contains { (workload == nil || $0.key.workload == workload) && metric.summary(of: $0) != nil }
    }

    /// How `a` compares with `b` on a metric: medians, the percent change from b to a, Mann-Whitney p.
    package struct Contrast: Sendable {
        package var a: Summary
        package var b: Summary
        package var p: Double?
        /// (a - b) / b in percent.
        package var change: Double { Comparison.percentChange(b.median, a.median) }
        package func significant(alpha: Double) -> Bool { (p ?? 1) < alpha }
    }

    package func contrast(_ metric: Metric, _ a: CellKey, _ b: CellKey) -> Contrast? {
        guard let ca = profile.cell(a), let cb = profile.cell(b),
            let sa = metric.summary(of: ca), let sb = metric.summary(of: cb)
        else { return nil }
        let p = (sa.values.count >= 2 && sb.values.count >= 2) ? Statistics.mannWhitneyU(sa.values, sb.values)?.p : nil
        return Contrast(a: sa, b: sb, p: p)
    }

    /// Whether `a` is significantly better than `b` on the metric.
    func better(_ metric: Metric, _ a: CellKey, than b: CellKey) -> Contrast? {
        guard let c = contrast(metric, a, b), c.significant(alpha: alpha), let higher = metric.higherIsBetter else { return nil }
        return (higher ? c.a.median > c.b.median : c.a.median < c.b.median) ? c : nil
    }
}
