import CopyprofModel
import CopyprofProfile

/// The SVG charts of a report, drawn from its analysis.
extension Report {
    /// How to read the line charts.
    static let medianCaption = "Points: the median of the trials of each cell; whiskers: its 95% confidence interval "
        + "(none below 6 trials). Each transport keeps its colour and marker in every chart."

    /// The charts: file name and SVG text.
    package var charts: [(name: String, svg: String)] { chartDrawings.map { ($0.name, $0.draw()) } }

    /// The charts' file names, in order, without drawing them (the Markdown links them).
    var chartNames: [String] { chartDrawings.map(\.name) }

    /// Each chart's file name and what draws it, in order: a report lists the names and draws each chart once. None
    /// for a profile without a trial.
    var chartDrawings: [(name: String, draw: () -> String)] {
        var out: [(String, () -> String)] = []
        guard hasTrials else { return out }
        let a = analysis
        func point(_ x: Double, _ s: Summary) -> LineChart.Point { .init(x: x, y: s.median, low: s.low, high: s.high) }
        func panels(_ metric: Metric, _ mode: Workload) -> [LineChart.Panel] {
            a.sizes.map { size in
                LineChart.Panel(title: "\(size) B messages", series: a.paths.map { t in
                    LineChart.Series(name: t.description, style: t.style, points: a.connectionCounts.compactMap { n in
                        a.summary(metric, t, mode, size, n).map { point(Double(n), $0) }
                    })
                })
            }
        }
        let connectionTicks = a.connectionCounts.map(Double.init)
        if a.workloads.contains(.stream) {
            out.append(("throughput-vs-connections.svg", {
                LineChart(
                    title: "Stream throughput vs connections", xLabel: "connections (sender + receiver thread each)",
                    yLabel: "throughput, Gbit/s", logX: true, xTicks: connectionTicks, panels: panels(.throughput, .stream),
                    caption: Self.medianCaption).svg()
            }))
            out.append(("context-switches-vs-connections.svg", {
                LineChart(
                    title: "Stream context switches per MB vs connections", xLabel: "connections",
                    yLabel: "context switches per MB", logX: true, logY: true, xTicks: connectionTicks,
                    panels: panels(.contextSwitchesPerMB, .stream), caption: Self.medianCaption).svg()
            }))
        }
        if a.workloads.contains(.pingpong) {
            out.append(("rtt-vs-connections.svg", {
                LineChart(
                    title: "Ping-pong RTT p50 vs connections", xLabel: "connections", yLabel: "round-trip time p50, µs", logX: true,
                    xTicks: connectionTicks, panels: panels(.rttP50, .pingpong), caption: Self.medianCaption).svg()
            }))
        }
        let connections = a.connectionCounts.first ?? 1
        out.append(("cost-per-byte-vs-size.svg", {
            LineChart(
                title: "CPU time per byte vs message size (\(connectionsLabel(connections)))", xLabel: "message size, bytes",
                yLabel: "CPU ns per byte (thread CPU clock)", logX: true, logY: true, xTicks: a.sizes.map(Double.init),
                panels: a.workloads.map { mode in
                    LineChart.Panel(title: mode.name, series: a.paths.map { t in
                        LineChart.Series(name: t.description, style: t.style, points: a.sizes.compactMap { s in
                            a.summary(.cpuNsPerByte, t, mode, s, connections).map { point(Double(s), $0) }
                        })
                    })
                }, caption: Self.medianCaption).svg()
        }))
        out.append(("cache-deltas.svg", { cacheDeltaChart().svg() }))
        return out
    }

    /// Per-cache-level change against two-copy, or — without cache counters — the CPU-per-byte change that ran instead.
    /// Each bar is the change of the transport's median from two-copy's; its whisker is the transport's 95% interval
    /// on the same scale (relative to two-copy's median).
    func cacheDeltaChart() -> BarChart {
        let a = analysis
        let connections = a.connectionCounts.first ?? 1
        let others = a.transports.filter { $0 != .twoCopy }
        let levels: [(String, Metric)] = [("L1d", .l1dMissesPerKB), ("LLC", .llcMissesPerKB)].filter { a.measured($0.1, workload: .stream) }
        let metrics = levels.isEmpty ? [("CPU ns/B", Metric.cpuNsPerByte)] : levels
        var categories: [String] = []
        var values: [[BarChart.Bar?]] = others.map { _ in [] }
        for (label, metric) in metrics {
            for size in a.sizes {
                categories.append("\(label) \(size) B")
                for (i, t) in others.enumerated() {
                    let c = a.contrast(metric, a.key(t, .stream, size, connections), a.key(.twoCopy, .stream, size, connections))
                    values[i].append(c.map { c in
                        let reference = abs(c.b.median)
                        func relative(_ v: Double?) -> Double? { v.flatMap { reference == 0 ? nil : ($0 - c.b.median) / reference * 100 } }
                        return BarChart.Bar(value: c.change, low: relative(c.a.low), high: relative(c.a.high))
                    })
                }
            }
        }
        let title = levels.isEmpty
            ? "No cache counters here: change in CPU ns/byte vs two-copy (stream, \(connectionsLabel(connections)))"
            : "Change in cache misses per KB vs two-copy (stream, \(connectionsLabel(connections)))"
        return BarChart(
            title: title, yLabel: "change vs two-copy, %", categories: categories,
            series: others.enumerated().map { BarChart.Series(name: $0.element.rawValue, values: values[$0.offset]) },
            caption: "Bars: the change of each transport's median from two-copy's; whiskers: the transport's 95% "
                + "confidence interval on the same scale (none below 6 trials).")
    }
}

/// "1 connection", "4 connections".
func connectionsLabel(_ n: Int) -> String { "\(n) connection\(n == 1 ? "" : "s")" }
