import CopyprofProfile
import Foundation

/// A line chart written as standalone SVG: title, labelled axes with units, ticks, a legend, and series told apart
/// by colour (Okabe–Ito, safe for colour-blind readers) and by marker shape. Several panels share one legend.
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    public struct Panel: Sendable {
        public var title: String
        public var series: [Series]
        public init(title: String, series: [Series]) {
            self.title = title
            self.series = series
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logX = false
    public var logY = false
    /// Tick positions on x (default: every x that occurs).
    public var xTicks: [Double]?
    public var panels: [Panel]

    public init(title: String, xLabel: String, yLabel: String, logX: Bool = false, logY: Bool = false,
                xTicks: [Double]? = nil, panels: [Panel]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logX = logX
        self.logY = logY
        self.xTicks = xTicks
        self.panels = panels
    }

    static let colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

    /// The SVG document.
    public func svg() -> String {
        let columns = min(2, max(1, panels.count))
        let rows = (panels.count + columns - 1) / columns
        let panelWidth = 440.0, panelHeight = 300.0
        let top = 56.0, legendHeight = 34.0
        let width = panelWidth * Double(columns) + 20
        let height = top + panelHeight * Double(rows) + legendHeight + 10
        var out = svgHeader(width: width, height: height)
        out += text(x: width / 2, y: 26, title, size: 17, anchor: "middle", weight: "bold")
        let names = orderedSeriesNames()
        // Legend.
        var lx = 20.0
        for (i, name) in names.enumerated() {
            let color = Self.colors[i % Self.colors.count]
            out += "<line x1=\"\(f(lx))\" y1=\"44\" x2=\"\(f(lx + 22))\" y2=\"44\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            out += marker(i, x: lx + 11, y: 44, color: color)
            out += text(x: lx + 28, y: 48, name, size: 12)
            lx += 40 + Double(name.count) * 7
        }
        for (index, panel) in panels.enumerated() {
            let px = 10 + Double(index % columns) * panelWidth
            let py = top + 8 + Double(index / columns) * panelHeight
            out += renderPanel(panel, names: names, x: px, y: py, width: panelWidth, height: panelHeight)
        }
        out += "</svg>\n"
        return out
    }

    private func orderedSeriesNames() -> [String] {
        var names: [String] = []
        for panel in panels { for s in panel.series where !names.contains(s.name) { names.append(s.name) } }
        return names
    }

    private func renderPanel(_ panel: Panel, names: [String], x: Double, y: Double, width: Double, height: Double) -> String {
        let left = x + 70, right = x + width - 16, top = y + 30, bottom = y + height - 50
        var out = text(x: (left + right) / 2, y: y + 16, panel.title, size: 13, anchor: "middle", weight: "bold")
        let points = panel.series.flatMap(\.points).filter { (!logX || $0.x > 0) && (!logY || $0.y > 0) && $0.y.isFinite }
        guard !points.isEmpty else {
            return out + text(x: (left + right) / 2, y: (top + bottom) / 2, "no data (not measured)", size: 12, anchor: "middle")
        }
        let xs = xTicks ?? Array(Set(points.map(\.x))).sorted()
        let xScale = AxisScale(values: xs + points.map(\.x), log: logX, from: left + 12, to: right - 12, includeZero: false, exact: true)
        let yScale = AxisScale(values: points.map(\.y), log: logY, from: bottom, to: top, includeZero: !logY)
        // Grid and ticks.
        for tick in yScale.ticks() {
            let ty = yScale.position(tick)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(ty))\" x2=\"\(f(right))\" y2=\"\(f(ty))\" stroke=\"#e0e0e0\"/>"
            out += text(x: left - 6, y: ty + 4, tickLabel(tick), size: 11, anchor: "end")
        }
        for tick in xs {
            let tx = xScale.position(tick)
            out += "<line x1=\"\(f(tx))\" y1=\"\(f(bottom))\" x2=\"\(f(tx))\" y2=\"\(f(bottom + 5))\" stroke=\"#333\"/>"
            out += text(x: tx, y: bottom + 18, tickLabel(tick), size: 11, anchor: "middle")
        }
        out += "<line x1=\"\(f(left))\" y1=\"\(f(bottom))\" x2=\"\(f(right))\" y2=\"\(f(bottom))\" stroke=\"#333\"/>"
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(bottom))\" stroke=\"#333\"/>"
        out += text(x: (left + right) / 2, y: bottom + 38, xLabel + (logX ? " (log scale)" : ""), size: 12, anchor: "middle")
        let cy = (top + bottom) / 2
        out += "<text x=\"\(f(x + 16))\" y=\"\(f(cy))\" font-size=\"12\" text-anchor=\"middle\" font-family=\"sans-serif\" "
            + "transform=\"rotate(-90 \(f(x + 16)) \(f(cy)))\">\(escape(yLabel + (logY ? " (log scale)" : "")))</text>"
        for series in panel.series {
            let i = names.firstIndex(of: series.name) ?? 0
            let color = Self.colors[i % Self.colors.count]
            let visible = series.points.filter { (!logX || $0.x > 0) && (!logY || $0.y > 0) && $0.y.isFinite }
                .sorted { $0.x < $1.x }
            let path = visible.map { "\(f(xScale.position($0.x))),\(f(yScale.position($0.y)))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>"
            for point in visible {
                out += marker(i, x: xScale.position(point.x), y: yScale.position(point.y), color: color)
            }
        }
        return out
    }
}

/// Grouped bars: one group per category, one bar per series, around a zero line (for signed changes).
public struct BarChart: Sendable {
    public var title: String
    public var yLabel: String
    public var categories: [String]
    /// Series name and one value per category (nil: not measured).
    public var series: [(name: String, values: [Double?])]
    /// The palette index of the first series, so that a series keeps its colour across charts.
    public var colorOffset: Int

    public init(
        title: String, yLabel: String, categories: [String], series: [(name: String, values: [Double?])], colorOffset: Int = 0
    ) {
        self.title = title
        self.yLabel = yLabel
        self.categories = categories
        self.series = series
        self.colorOffset = colorOffset
    }

    public func svg() -> String {
        let width = max(600.0, 110.0 * Double(categories.count) + 120, Double(title.count) * 9.5 + 40), height = 420.0
        let left = 90.0, right = width - 20, top = 70.0, bottom = height - 60
        var out = svgHeader(width: width, height: height)
        out += text(x: width / 2, y: 26, title, size: 17, anchor: "middle", weight: "bold")
        var lx = 20.0
        for (i, s) in series.enumerated() {
            let color = LineChart.colors[(i + colorOffset) % LineChart.colors.count]
            out += "<rect x=\"\(f(lx))\" y=\"38\" width=\"14\" height=\"12\" fill=\"\(color)\"/>"
            out += text(x: lx + 20, y: 48, s.name, size: 12)
            lx += 40 + Double(s.name.count) * 7
        }
        let values = series.flatMap { $0.values.compactMap { $0 } }
        guard !values.isEmpty else {
            return out + text(x: width / 2, y: height / 2, "no data (not measured)", size: 13, anchor: "middle") + "</svg>\n"
        }
        let scale = AxisScale(values: values + [0], log: false, from: bottom, to: top, includeZero: true)
        for tick in scale.ticks() {
            let ty = scale.position(tick)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(ty))\" x2=\"\(f(right))\" y2=\"\(f(ty))\" stroke=\"#e0e0e0\"/>"
            out += text(x: left - 6, y: ty + 4, tickLabel(tick), size: 11, anchor: "end")
        }
        let zero = scale.position(0)
        let groupWidth = (right - left) / Double(max(1, categories.count))
        let barWidth = groupWidth * 0.8 / Double(max(1, series.count))
        for (c, category) in categories.enumerated() {
            let gx = left + Double(c) * groupWidth + groupWidth * 0.1
            for (i, s) in series.enumerated() {
                let bx = gx + Double(i) * barWidth
                guard c < s.values.count, let value = s.values[c] else {
                    out += text(x: bx + barWidth / 2, y: zero - 4, "n/a", size: 9, anchor: "middle")
                    continue
                }
                let y = scale.position(value)
                let color = LineChart.colors[(i + colorOffset) % LineChart.colors.count]
                out += "<rect x=\"\(f(bx))\" y=\"\(f(min(y, zero)))\" width=\"\(f(barWidth - 2))\" height=\"\(f(abs(zero - y)))\" fill=\"\(color)\"><title>\(escape(s.name)) \(escape(category)): \(tickLabel(value))</title></rect>"
            }
            out += text(x: gx + groupWidth * 0.4, y: bottom + 18, category, size: 11, anchor: "middle")
        }
        out += "<line x1=\"\(f(left))\" y1=\"\(f(zero))\" x2=\"\(f(right))\" y2=\"\(f(zero))\" stroke=\"#333\"/>"
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(bottom))\" stroke=\"#333\"/>"
        let cy = (top + bottom) / 2
        out += "<text x=\"24\" y=\"\(f(cy))\" font-size=\"12\" text-anchor=\"middle\" font-family=\"sans-serif\" "
            + "transform=\"rotate(-90 24 \(f(cy)))\">\(escape(yLabel))</text>"
        out += "</svg>\n"
        return out
    }
}

/// Maps data values to pixels, linear or log10, with readable ticks.
struct AxisScale {
    var low: Double
    var high: Double
    var log: Bool
    var from: Double
    var to: Double
    /// The linear tick step.
    var step: Double = 1

    init(values: [Double], log: Bool, from: Double, to: Double, includeZero: Bool, exact: Bool = false) {
        let usable = (log ? values.filter { $0 > 0 } : values).filter(\.isFinite)
        var low = usable.min() ?? 0, high = usable.max() ?? 1
        if exact {
            if low == high { high = log ? low * 2 : low + 1 }
        } else if log {
            low = pow(10, floor(log10(low)))
            high = pow(10, ceil(log10(high)))
            if low == high { high = low * 10 }
        } else {
            if includeZero { low = min(0, low); high = max(0, high) }
            if low == high { high = low + 1 }
            let step = AxisScale.niceStep((high - low) / 6)
            low = floor(low / step) * step
            high = ceil(high / step) * step
            self.step = step
        }
        self.low = low
        self.high = high
        self.log = log
        self.from = from
        self.to = to
    }

    func position(_ value: Double) -> Double {
        let t = log ? (log10(value) - log10(low)) / (log10(high) - log10(low)) : (value - low) / (high - low)
        return from + t * (to - from)
    }

    func ticks() -> [Double] {
        if log {
            var ticks: [Double] = []
            var v = low
            // At most a few dozen decades; values near Double's limits must not loop forever.
            while v <= high * 1.0001 && v.isFinite && ticks.count < 40 {
                ticks.append(v)
                v *= 10
            }
            return ticks
        }
        var ticks: [Double] = []
        var v = low
        // A step below the values' precision (huge values close together) would never advance: stop at a few dozen.
        while v <= high + step / 1000 && ticks.count < 40 {
            ticks.append(abs(v) < step / 1e6 ? 0 : v)
            let next = v + step
            if !(next > v) { break }
            v = next
        }
        return ticks
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, floor(log10(raw)))
        let fraction = raw / magnitude
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return nice * magnitude
    }
}

private func svgHeader(width: Double, height: Double) -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" "
        + "viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"sans-serif\">"
        + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
}

private func text(x: Double, y: Double, _ content: String, size: Int, anchor: String = "start", weight: String = "normal") -> String {
    "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\" font-weight=\"\(weight)\" "
        + "fill=\"#222\">\(escape(content))</text>"
}

/// Circle, square, triangle, diamond, ...: series differ in shape as well as colour.
private func marker(_ index: Int, x: Double, y: Double, color: String) -> String {
    switch index % 4 {
    case 0: return "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"4\" fill=\"\(color)\"/>"
    case 1: return "<rect x=\"\(f(x - 4))\" y=\"\(f(y - 4))\" width=\"8\" height=\"8\" fill=\"\(color)\"/>"
    case 2: return "<polygon points=\"\(f(x)),\(f(y - 5)) \(f(x - 5)),\(f(y + 4)) \(f(x + 5)),\(f(y + 4))\" fill=\"\(color)\"/>"
    default: return "<polygon points=\"\(f(x)),\(f(y - 5)) \(f(x - 5)),\(f(y)) \(f(x)),\(f(y + 5)) \(f(x + 5)),\(f(y))\" fill=\"\(color)\"/>"
    }
}
private func f(_ value: Double) -> String { formatDecimal(value, digits: 1) }

func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
