import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

@testable import CopyprofReport

/// Charts drawn from hand-made sweeps of every shape: text stays inside the picture and apart, styles follow the
/// transport, medians carry their intervals, and a sweep of one x shows dots rather than a one-tick axis.
@Suite struct ChartTests {
    /// A sweep of every transport, both workloads, the given sizes and connection counts, `trials` trials a cell whose
    /// throughput and RTT differ per transport and per trial (so that every median has an interval from 6 trials on).
    func sweep(sizes: [Int], connections: [Int], trials: Int = 6) -> Profile {
        var profile = SampleProfiles.make(throughput: [1])
        profile.plan = SweepPlan(sizes: sizes, connections: connections)
        profile.plan.trials = trials
        profile.cells = []
        for mode in Workload.allCases {
            for size in sizes {
                for n in connections {
                    for (t, transport) in TransportKind.allCases.enumerated() {
                        let key = CellKey(transport: transport, workload: mode, messageSize: size, connections: n)
                        profile.cells.append(CellRecord(key: key, trials: (0..<trials).map { i in
                            var trial = SampleProfiles.trial(
                                i + 1, gbps: Double(size) / 1000 * Double(n) / Double(t + 1) * (1 + Double(i) * 0.02),
                                extra: ["context-switches": Double(100 * (t + 1) + i)])
                            if mode == .pingpong {
                                let p50 = UInt64(20_000 + 5_000 * t + 300 * i)
                                trial.rtt = RTTRecord(
                                    count: 100, minNs: p50 / 2, p50Ns: p50, p90Ns: p50 * 2, p99Ns: p50 * 3, p999Ns: p50 * 4,
                                    maxNs: p50 * 5, meanNs: Double(p50), histogram: HistogramBuckets([(p50, 100)]))
                            }
                            return trial
                        }))
                    }
                }
            }
        }
        return profile
    }

    static let shapes: [(sizes: [Int], connections: [Int])] = [
        ([4096], [1]), ([65536], [1, 2, 4, 8]), ([64, 512, 4096, 65536], [2]), ([64, 512, 4096, 65536], [1, 2, 4, 8]),
    ]

    @Test(arguments: 0..<shapes.count)
    func everyTextLiesInsideTheChartAndApartFromTheOthers(shape: Int) throws {
        let (sizes, connections) = Self.shapes[shape]
        let report = Report(profile: sweep(sizes: sizes, connections: connections), source: "sweep.json", chartFolder: "charts")
        let charts = report.charts
        #expect(charts.map(\.name) == [
            "throughput-vs-connections.svg", "context-switches-vs-connections.svg", "rtt-vs-connections.svg",
            "cost-per-byte-vs-size.svg", "cache-deltas.svg",
        ])
        for chart in charts { try expectLaidOut(chart.svg, chart.name) }
    }

    @Test func longTitlesLabelsAndNamesWrapOrWidenTheChart() throws {
        let long = "A title much longer than any panel would be wide, naming the workload, the message size, the number "
            + "of connections and the receiver, as a user's label might"
        let names = ["two-copy", "io-uring-zc + a receiver with a long name", "sendfile", "a series nobody planned for"]
        for panelCount in [1, 2, 3] {
            for xs in [[1.0], [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]] {
                let chart = LineChart(
                    title: long, xLabel: "connections, each a sender thread and a receiver thread on this host (log scale)",
                    yLabel: "a y axis label longer than the plot is tall by default, with its unit, µs per message",
                    logX: true, logY: true,
                    panels: (0..<panelCount).map { p in
                        LineChart.Panel(
                            title: "panel \(p): a panel title that names its workload and its message size in full",
                            series: names.enumerated().map { i, name in
                                LineChart.Series(name: name, points: xs.map {
                                    .init(x: $0, y: 1234.5678 * Double(i + 1) / $0, low: 1000 / $0, high: 9999 * Double(i + 1) / $0)
                                })
                            })
                    },
                    caption: long)
                try expectLaidOut(chart.svg(), "line chart, \(panelCount) panels, \(xs.count) x values")
            }
        }
        let bars = BarChart(
            title: long, yLabel: "change against the reference transport, percent of its median",
            categories: ["L1d misses per KB at 65536 B", "LLC misses per KB at 65536 B", "n"],
            series: names.map { BarChart.Series(name: $0, values: [.init(value: -12345.6, low: -20000, high: 3), nil, .init(value: 0.001)]) },
            caption: long)
        try expectLaidOut(bars.svg(), "bar chart")
    }

    @Test func aTransportKeepsItsStyleWhateverItsPosition() throws {
        let full = Report(profile: sweep(sizes: [4096], connections: [1, 2]), source: "a", chartFolder: "c")
        var alone = sweep(sizes: [4096], connections: [1, 2])
        alone.cells.removeAll { $0.key.transport != .zeroCopy }
        let zeroCopy = SeriesStyle(named: "zero-copy")
        #expect(zeroCopy == SeriesStyle(color: "#CC79A7", marker: .diamond))
        for report in [full, Report(profile: alone, source: "a", chartFolder: "c")] {
            let throughput = try #require(report.charts.first { $0.name == "throughput-vs-connections.svg" }?.svg)
            // zero-copy's line: its colour, whatever its position among the series.
            #expect(throughput.contains("<polyline fill=\"none\" stroke=\"#CC79A7\""))
            // and its marker, a diamond, in the legend as in the plot.
            #expect(throughput.components(separatedBy: "fill=\"#CC79A7\"/>").count - 1 >= 3)
        }
        let marshal = try #require(full.charts.first { $0.name == "cache-deltas.svg" }?.svg)
        #expect(marshal.contains("fill=\"#D55E00\""), "marshal's bars are marshal's colour, not the palette's first")
    }

    @Test func stylesAreFixedDistinctAndStableForNewNames() {
        let known = ["two-copy", "marshal", "one-copy", "zero-copy", "io-uring-zc", "sendfile"].map { SeriesStyle(named: $0) }
        #expect(Set(known.map(\.color)).count == known.count && Set(known.map(\.marker)).count == known.count)
        #expect(TransportKind.allCases.allSatisfy { SeriesStyle.senders[$0.rawValue] != nil }, "every transport has its own row")
        // A name outside the table: the same style in every process (FNV-1a, not the per-process seeded Hasher).
        #expect(SeriesStyle.fnv1a("abc") == 0xe71f_a219_0541_574b)
        let newcomer = SeriesStyle(named: "splice")
        #expect(newcomer == SeriesStyle(named: "splice") && !known.map(\.color).contains(newcomer.color))
        // Receivers keep the sender's colour and shape; the default receiver changes nothing.
        let discard = SeriesStyle(sender: "zero-copy", receiver: "discard")
        let mmap = SeriesStyle(sender: "zero-copy", receiver: "mmap")
        #expect(SeriesStyle(sender: "zero-copy", receiver: "copy") == SeriesStyle(named: "zero-copy"))
        #expect(discard.color == "#CC79A7" && discard.marker == .diamond && mmap.color == "#CC79A7")
        #expect(Set([discard.dash, mmap.dash, nil]).count == 3 && !discard.filled)
    }

    @Test func mediansWithIntervalsHaveWhiskersAndOthersNone() throws {
        func whiskers(trials: Int) throws -> Int {
            let report = Report(profile: sweep(sizes: [4096, 65536], connections: [1, 2], trials: trials), source: "a", chartFolder: "c")
            let svg = try #require(report.charts.first { $0.name == "throughput-vs-connections.svg" }?.svg)
            return svg.components(separatedBy: "stroke-width=\"1.3\"").count - 1
        }
        // 2 sizes × 2 connection counts × every transport, each whisker a line and two caps.
        #expect(try whiskers(trials: 6) == 2 * 2 * TransportKind.allCases.count * 3)
        #expect(try whiskers(trials: 5) == 0, "no interval below 6 trials, so no whisker")
    }

    @Test func oneConnectionCountGivesADotPerTransportWithItsValue() throws {
        let report = Report(profile: sweep(sizes: [4096], connections: [1]), source: "a", chartFolder: "c")
        let svg = try #require(report.charts.first { $0.name == "throughput-vs-connections.svg" }?.svg)
        let texts = textElements(svg).map(\.content)
        #expect(texts.contains("connections (sender + receiver thread each): 1 only"))
        #expect(!texts.contains { $0.contains("log scale") })
        #expect(TransportKind.allCases.allSatisfy { t in texts.filter { $0 == t.rawValue }.count == 2 }, "in the legend and under its dot")
        // two-copy's median: 4.096 Gbit/s × 1.05 (the 3rd and 4th of 6 trials at +4% and +6%), with three digits.
        #expect(texts.contains("4.30"))
        #expect(!svg.contains("<polyline"), "no lines between single dots")
    }

    @Test func aLogAxisOfOneDecadeHasTicksBetweenItsEnds() {
        let scale = AxisScale(values: [0.575, 0.846], log: true, from: 0, to: 1, includeZero: false)
        #expect(scale.ticks() == [0.1, 0.2, 0.5, 1])
        let wide = AxisScale(values: [1, 5000], log: true, from: 0, to: 1, includeZero: false)
        #expect(wide.ticks() == [1, 10, 100, 1000, 10000])
    }

    // MARK: - Reading the SVG back

    struct TextElement {
        var x: Double, y: Double, size: Double, anchor: String, bold: Bool, vertical: Bool, content: String
        /// The box the text's ink can reach, from the estimated width and the font's ascent and descent.
        var box: (minX: Double, maxX: Double, minY: Double, maxY: Double) {
            let w = TextMetrics.width(content, size: size, bold: bold)
            let start = anchor == "middle" ? -w / 2 : anchor == "end" ? -w : 0
            if vertical {  // rotate(-90) about (x, y): the line runs upwards, its ascent to the left.
                return (x - TextMetrics.ascent * size, x + TextMetrics.descent * size, y - start - w, y - start)
            }
            return (x + start, x + start + w, y - TextMetrics.ascent * size, y + TextMetrics.descent * size)
        }
    }

    func attribute(_ name: String, in tag: Substring) -> String? {
        guard let range = tag.range(of: " \(name)=\"") else { return nil }
        return String(tag[range.upperBound...].prefix { $0 != "\"" })
    }

    func textElements(_ svg: String) -> [TextElement] {
        svg.components(separatedBy: "<text ").dropFirst().compactMap { piece in
            guard let close = piece.range(of: ">"), let end = piece.range(of: "</text>") else { return nil }
            let tag = " " + piece[..<close.lowerBound]
            let content = String(piece[close.upperBound..<end.lowerBound]).replacingOccurrences(of: "&lt;", with: "<")
                .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
                .replacingOccurrences(of: "&amp;", with: "&")
            guard let x = attribute("x", in: tag[...]).flatMap(Double.init), let y = attribute("y", in: tag[...]).flatMap(Double.init),
                let size = attribute("font-size", in: tag[...]).flatMap(Double.init)
            else { return nil }
            return TextElement(
                x: x, y: y, size: size, anchor: attribute("text-anchor", in: tag[...]) ?? "start",
                bold: attribute("font-weight", in: tag[...]) == "bold", vertical: tag.contains("rotate(-90"), content: content)
        }
    }

    /// Every text inside the SVG's width and height, and no two texts on top of each other.
    func expectLaidOut(_ svg: String, _ name: String) throws {
        let header = try #require(svg.components(separatedBy: "<svg ").dropFirst().first)
        let width = try #require(attribute("width", in: (" " + header)[...]).flatMap(Double.init))
        let height = try #require(attribute("height", in: (" " + header)[...]).flatMap(Double.init))
        let texts = textElements(svg)
        #expect(!texts.isEmpty && texts.count == svg.components(separatedBy: "<text ").count - 1, "every text element read (\(name))")
        for t in texts {
            let b = t.box
            #expect(b.minX >= 0 && b.maxX <= width && b.minY >= 0 && b.maxY <= height,
                    "\(name): \"\(t.content)\" reaches \(b) outside \(width) × \(height)")
        }
        for i in texts.indices {
            for j in texts.indices where j > i {
                let a = texts[i].box, b = texts[j].box
                let overlap = a.minX < b.maxX && b.minX < a.maxX && a.minY < b.maxY && b.minY < a.maxY
                #expect(!overlap, "\(name): \"\(texts[i].content)\" overlaps \"\(texts[j].content)\"")
            }
        }
    }
}
