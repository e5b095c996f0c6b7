import CopyprofProfile

/// The SVG charts of a report, drawn from its analysis.
extension Report {
    /// The charts: file name and SVG text.
    public var charts: [(name: String, svg: String)] {
        var out: [(String, String)] = []
        let a = analysis
        func panels(_ metric: Metric, _ mode: Workload) -> [LineChart.Panel] {
            a.sizes.map { size in
                LineChart.Panel(title: "\(size) B messages", series: a.paths.map { t in
                    LineChart.Series(name: t.description, points: a.threadCounts.compactMap { n in
                        a.summary(metric, t, mode, size, n).map { (Double(n), $0.median) }
                    })
                })
            }
        }
        let threadTicks = a.threadCounts.map(Double.init)
        if a.modes.contains(.stream) {
            out.append(("throughput-vs-threads.svg", LineChart(
                title: "Stream throughput vs threads (median of trials)", xLabel: "connections (sender + receiver thread each)",
                yLabel: "throughput, Gbit/s", logX: true, xTicks: threadTicks, panels: panels(.throughput, .stream)).svg()))
            out.append(("context-switches-vs-threads.svg", LineChart(
                title: "Stream context switches per MB vs threads", xLabel: "connections",
                yLabel: "context switches per MB", logX: true, logY: true, xTicks: threadTicks,
                panels: panels(.contextSwitchesPerMB, .stream)).svg()))
        }
        if a.modes.contains(.pingpong) {
            out.append(("rtt-vs-threads.svg", LineChart(
                title: "Ping-pong RTT p50 vs threads", xLabel: "connections", yLabel: "round-trip time p50, µs", logX: true,
                xTicks: threadTicks, panels: panels(.rttP50, .pingpong)).svg()))
        }
        let threads = a.threadCounts.first ?? 1
        out.append(("cost-per-byte-vs-size.svg", LineChart(
            title: "CPU time per byte vs message size (\(threads) thread\(threads == 1 ? "" : "s"))", xLabel: "message size, bytes",
            yLabel: "CPU ns per byte (task-clock)", logX: true, logY: true, xTicks: a.sizes.map(Double.init),
            panels: a.modes.map { mode in
                LineChart.Panel(title: mode.rawValue, series: a.paths.map { t in
                    LineChart.Series(name: t.description, points: a.sizes.compactMap { s in
                        a.summary(.cpuNsPerByte, t, mode, s, threads).map { (Double(s), $0.median) }
                    })
                })
            }).svg()))
        out.append(("cache-deltas.svg", cacheDeltaChart().svg()))
        return out
    }

    /// Per-cache-level change against two-copy, or — without cache counters — the CPU-per-byte change that ran instead.
    func cacheDeltaChart() -> BarChart {
        let a = analysis
        let threads = a.threadCounts.first ?? 1
        let others = a.transports.filter { $0 != .twoCopy }
        let levels: [(String, Metric)] = [("L1d", .l1dMissesPerKB), ("LLC", .llcMissesPerKB)].filter { a.measured($0.1, mode: .stream) }
        let metrics = levels.isEmpty ? [("CPU ns/B", Metric.cpuNsPerByte)] : levels
        var categories: [String] = []
        var values: [[Double?]] = others.map { _ in [] }
        for (label, metric) in metrics {
            for size in a.sizes {
                categories.append("\(label) \(size) B")
                for (i, t) in others.enumerated() {
                    let c = a.contrast(metric, a.key(t, .stream, size, threads), a.key(.twoCopy, .stream, size, threads))
                    values[i].append(c?.change)
                }
            }
        }
        let title = levels.isEmpty
            ? "No cache counters here: change in CPU ns/byte vs two-copy (stream, \(threads) thread)"
            : "Change in cache misses per KB vs two-copy (stream, \(threads) thread)"
        return BarChart(title: title, yLabel: "change vs two-copy, %", categories: categories,
                        series: others.enumerated().map { ($0.element.rawValue, values[$0.offset]) },
                        colorOffset: a.transports.contains(.twoCopy) ? 1 : 0)
    }
}
