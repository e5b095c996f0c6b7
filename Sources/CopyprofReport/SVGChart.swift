import CopyprofProfile
import Foundation

/// A line chart written as standalone SVG: title, labelled axes with units, ticks, a legend, medians with their 95%
/// intervals as whiskers, and series told apart by colour and marker shape fixed per series name (`SeriesStyle`).
/// Several panels share one legend.
///
/// The layout is computed from the lengths of its texts (`TextMetrics`): the chart grows, and a long title or legend
/// wraps, so that no text is clipped at any sweep size. When every point of the chart has the same x (a sweep of one
/// size or one connection count) the panels show one dot per series with its value, side by side, instead of single
/// points on an axis with one tick.
package struct LineChart: Sendable {
    /// A median and, when there is one, its 95% confidence interval.
    package struct Point: Sendable, Hashable {
        package var x: Double
        package var y: Double
        /// The interval's ends, drawn as a whisker; nil: no interval (fewer than 6 trials).
        package var low: Double?
        package var high: Double?

        package init(x: Double, y: Double, low: Double? = nil, high: Double? = nil) {
            self.x = x
            self.y = y
            self.low = low
            self.high = high
        }
    }

    package struct Series: Sendable {
        package var name: String
        package var style: SeriesStyle
        package var points: [Point]

        /// A series drawn in the style fixed for its name, unless another is given.
        package init(name: String, style: SeriesStyle? = nil, points: [Point]) {
            self.name = name
            self.style = style ?? SeriesStyle(named: name)
            self.points = points
        }
    }

    package struct Panel: Sendable {
        package var title: String
        package var series: [Series]
        package init(title: String, series: [Series]) {
            self.title = title
            self.series = series
        }
    }

    package var title: String
    package var xLabel: String
    package var yLabel: String
    package var logX = false
    package var logY = false
    /// Tick positions on x (default: every x that occurs).
    package var xTicks: [Double]?
    package var panels: [Panel]
    /// Text under the chart saying how to read it (what the points and whiskers are); nil: none.
    package var caption: String?

    package init(title: String, xLabel: String, yLabel: String, logX: Bool = false, logY: Bool = false,
                xTicks: [Double]? = nil, panels: [Panel], caption: String? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logX = logX
        self.logY = logY
        self.xTicks = xTicks
        self.panels = panels
        self.caption = caption
    }

    /// A point that can be drawn on these axes.
    private func drawable(_ p: Point) -> Bool {
        p.x.isFinite && p.y.isFinite && (!logX || p.x > 0) && (!logY || p.y > 0)
    }

    /// Every series name of the chart once, in order of appearance, with its style.
    private func legendEntries() -> [(name: String, style: SeriesStyle)] {
        var entries: [(name: String, style: SeriesStyle)] = []
        for panel in panels {
            for s in panel.series where !entries.contains(where: { $0.name == s.name }) { entries.append((s.name, s.style)) }
        }
        return entries
    }

    /// What a panel's axes show, before pixels are known.
    private struct PanelAxes {
        var y: AxisScale
        var yTickLabels: [(value: Double, label: String)]
        /// x ticks: position as a fraction of the axis, and label.
        var xTicks: [(fraction: Double, label: String)]
        var x: AxisScale?
        var isEmpty: Bool
    }

    /// The SVG document.
    package func svg() -> String {
        let legend = legendEntries()
        let xValues = Set(panels.flatMap { $0.series.flatMap { $0.points.filter(drawable).map(\.x) } })
        // One x for the whole chart: a dot per series, side by side, labelled with its value.
        let single: Double? = xValues.count == 1 ? xValues.first : nil
        let slotNames = legend.map(\.name)
        let shownPanels = panels.isEmpty ? [Panel(title: "", series: [])] : panels

        let axes: [PanelAxes] = shownPanels.map { panel in
            let points = panel.series.flatMap(\.points).filter(drawable)
            var yValues = points.map(\.y)
            for p in points {
                for end in [p.low, p.high] {
                    if let end, end.isFinite, !logY || end > 0 { yValues.append(end) }
                }
            }
            let y = AxisScale(values: yValues, log: logY, from: 1, to: 0, includeZero: !logY)
            let yTicks = y.ticks().map { ($0, tickLabel($0)) }
            if single != nil {
                let ticks = slotNames.indices.map { ((Double($0) + 0.5) / Double(slotNames.count), slotNames[$0]) }
                return PanelAxes(y: y, yTickLabels: yTicks, xTicks: ticks, x: nil, isEmpty: points.isEmpty)
            }
            let xs = (xTicks ?? Array(Set(points.map(\.x))).sorted()).filter { $0.isFinite && (!logX || $0 > 0) }
            let x = AxisScale(values: xs + points.map(\.x), log: logX, from: 0, to: 1, includeZero: false, exact: true)
            return PanelAxes(y: y, yTickLabels: yTicks, xTicks: xs.map { (x.position($0), tickLabel($0)) }, x: x,
                             isEmpty: points.isEmpty)
        }

        // Sizes shared by every panel, from the texts they hold.
        let tickSize = 11.0, labelSize = 12.0, panelTitleSize = 13.0, titleSize = 17.0
        let yLabelText = yLabel + (logY ? " (log scale)" : "")
        let xLabelText = single.map { "\(xLabel): \(tickLabel($0)) only" } ?? (xLabel + (logX ? " (log scale)" : ""))
        let yTickWidth = axes.flatMap { $0.yTickLabels.map { TextMetrics.width($0.label, size: tickSize) } }.max() ?? 0
        let lineBox = labelSize * (TextMetrics.ascent + TextMetrics.descent)
        let leftPad = 6 + lineBox + 8 + yTickWidth + 6
        let inset = single == nil ? 18.0 : 0
        var plotWidth = max(
            300, TextMetrics.width(xLabelText, size: labelSize),
            shownPanels.map { TextMetrics.width($0.title, size: panelTitleSize, bold: true) }.max() ?? 0)
        var rightPad = 12.0
        if single != nil {
            // A slot per series: room for its name under it and its value label beside the dot.
            var slot = 0.0
            for (i, name) in slotNames.enumerated() {
                slot = max(slot, TextMetrics.width(name, size: tickSize) + 10)
                for panel in shownPanels {
                    guard let series = panel.series.first(where: { $0.name == slotNames[i] }) else { continue }
                    for p in series.points.filter(drawable) {
                        slot = max(slot, 2 * (9 + TextMetrics.width(valueLabel(p.y), size: tickSize)) + 6)
                    }
                }
            }
            plotWidth = max(plotWidth, slot * Double(max(1, slotNames.count)))
        } else {
            for a in axes {
                let widths = a.xTicks.map { TextMetrics.width($0.label, size: tickSize) }
                for i in widths.indices.dropFirst() {
                    let gap = a.xTicks[i].fraction - a.xTicks[i - 1].fraction
                    guard gap > 0 else { continue }
                    plotWidth = max(plotWidth, 2 * inset + ((widths[i] + widths[i - 1]) / 2 + 8) / gap)
                }
                if let last = widths.last { rightPad = max(rightPad, last / 2 - inset + 4) }
            }
        }
        // Pathological x values (two almost equal sizes on a log axis) must not make a chart miles wide: labels may
        // then touch, which no sweep copyprof runs comes near.
        plotWidth = min(plotWidth, 3000)
        // A chart of one panel is as wide as one of two: titles and captions wrap less, and charts sit evenly in a report.
        plotWidth = max(plotWidth, minimumContentWidth / Double(min(2, shownPanels.count)) - leftPad - rightPad)
        let panelWidth = leftPad + plotWidth + rightPad
        let plotHeight = max(200, TextMetrics.width(yLabelText, size: labelSize) + 10)
        let panelHeight = 30 + plotHeight + 50
        let columns = min(2, shownPanels.count)
        let rows = (shownPanels.count + columns - 1) / columns

        let margin = 12.0
        let legendBlock = ChartLegend(entries: legend.map { entry in
            (entry.name, { x, y in
                "<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x + 22))\" y2=\"\(f(y))\" stroke=\"\(entry.style.color)\" stroke-width=\"2\"\(dashAttribute(entry.style))/>"
                    + marker(entry.style, x: x + 11, y: y)
            })
        }, glyphWidth: 28)
        let contentWidth = max(
            Double(columns) * panelWidth, legendBlock.widestEntry,
            TextMetrics.widestWord(title, size: titleSize, bold: true),
            caption.map { TextMetrics.widestWord($0, size: labelSize) } ?? 0)
        let width = contentWidth + 2 * margin

        var y = margin
        var body = chartTitle(title, width: width, contentWidth: contentWidth, y: &y)
        body += legendBlock.draw(margin: margin, contentWidth: contentWidth, y: &y)
        let panelsTop = y

        for (index, panel) in shownPanels.enumerated() {
            let px = margin + Double(index % columns) * panelWidth
            let py = panelsTop + Double(index / columns) * panelHeight
            let plotLeft = px + leftPad, plotRight = plotLeft + plotWidth, plotTop = py + 30, plotBottom = plotTop + plotHeight
            var a = axes[index]
            body += text(x: (plotLeft + plotRight) / 2, y: py + 16, panel.title, size: panelTitleSize, anchor: "middle", weight: "bold")
            guard !a.isEmpty else {
                body += text(x: (plotLeft + plotRight) / 2, y: (plotTop + plotBottom) / 2, "no data (not measured)", size: labelSize, anchor: "middle")
                continue
            }
            a.y.from = plotBottom
            a.y.to = plotTop
            for tick in a.yTickLabels {
                let ty = a.y.position(tick.value)
                body += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(ty))\" x2=\"\(f(plotRight))\" y2=\"\(f(ty))\" stroke=\"#e0e0e0\"/>"
                body += text(x: plotLeft - 6, y: ty + 4, tick.label, size: tickSize, anchor: "end")
            }
            let xSpan = plotWidth - 2 * inset
            func xPixel(fraction: Double) -> Double { plotLeft + inset + fraction * xSpan }
            for tick in a.xTicks {
                let tx = xPixel(fraction: tick.fraction)
                body += "<line x1=\"\(f(tx))\" y1=\"\(f(plotBottom))\" x2=\"\(f(tx))\" y2=\"\(f(plotBottom + 5))\" stroke=\"#333\"/>"
                body += text(x: tx, y: plotBottom + 18, tick.label, size: tickSize, anchor: "middle")
            }
            body += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(plotBottom))\" x2=\"\(f(plotRight))\" y2=\"\(f(plotBottom))\" stroke=\"#333\"/>"
            body += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(plotTop))\" x2=\"\(f(plotLeft))\" y2=\"\(f(plotBottom))\" stroke=\"#333\"/>"
            body += text(x: (plotLeft + plotRight) / 2, y: plotBottom + 38, xLabelText, size: labelSize, anchor: "middle")
            body += verticalText(x: px + 6 + labelSize * TextMetrics.ascent, y: (plotTop + plotBottom) / 2, yLabelText, size: labelSize)

            for series in panel.series {
                let style = series.style
                let visible = series.points.filter(drawable).sorted { $0.x < $1.x }
                let slot = slotNames.firstIndex(of: series.name) ?? 0
                // Series sharing an x are set a few pixels apart so that their whiskers do not hide each other.
                let step = min(3.5, 20 / Double(max(1, slotNames.count - 1)))
                let dodge = single == nil ? (Double(slot) - Double(slotNames.count - 1) / 2) * step : 0
                func pixel(_ p: Point) -> (x: Double, y: Double) {
                    let fraction = a.x.map { $0.position(p.x) } ?? (Double(slot) + 0.5) / Double(slotNames.count)
                    return (xPixel(fraction: fraction) + dodge, a.y.position(p.y))
                }
                if single == nil && visible.count > 1 {
                    let path = visible.map { "\(f(pixel($0).x)),\(f(pixel($0).y))" }.joined(separator: " ")
                    body += "<polyline fill=\"none\" stroke=\"\(style.color)\" stroke-width=\"2\"\(dashAttribute(style)) points=\"\(path)\"/>"
                }
                for point in visible {
                    let at = pixel(point)
                    body += whisker(point.low, point.high, x: at.x, scale: a.y, log: logY, color: style.color)
                    var tip = "\(series.name), \(xLabel) \(tickLabel(point.x)): \(valueLabel(point.y))"
                    if let low = point.low, let high = point.high { tip += " [\(valueLabel(low)), \(valueLabel(high))]" }
                    body += "<g><title>\(escape(tip))</title>\(marker(style, x: at.x, y: at.y))</g>"
                    if single != nil {
                        body += text(x: at.x + 9, y: at.y + 4, valueLabel(point.y), size: tickSize)
                    }
                }
            }
        }
        y = panelsTop + Double(rows) * panelHeight
        body += chartCaption(caption, margin: margin, contentWidth: contentWidth, y: &y)
        return svgHeader(width: width, height: y + margin) + body + "</svg>\n"
    }
}

/// Grouped bars: one group per category, one bar per series, around a zero line (for signed changes), each with
/// the whisker of its interval when it has one. Laid out from its texts like `LineChart`.
package struct BarChart: Sendable {
    /// A bar's value and the interval its whisker shows.
    package struct Bar: Sendable, Hashable {
        package var value: Double
        package var low: Double?
        package var high: Double?
        package init(value: Double, low: Double? = nil, high: Double? = nil) {
            self.value = value
            self.low = low
            self.high = high
        }
    }

    package struct Series: Sendable {
        package var name: String
        package var style: SeriesStyle
        /// One bar per category (nil: not measured).
        package var values: [Bar?]
        /// A series drawn in the style fixed for its name, unless another is given.
        package init(name: String, style: SeriesStyle? = nil, values: [Bar?]) {
            self.name = name
            self.style = style ?? SeriesStyle(named: name)
            self.values = values
        }
    }

    package var title: String
    package var yLabel: String
    package var categories: [String]
    package var series: [Series]
    /// Text under the chart saying how to read it; nil: none.
    package var caption: String?

    package init(title: String, yLabel: String, categories: [String], series: [Series], caption: String? = nil) {
        self.title = title
        self.yLabel = yLabel
        self.categories = categories
        self.series = series
        self.caption = caption
    }

    package func svg() -> String {
        let tickSize = 11.0, labelSize = 12.0, titleSize = 17.0, margin = 12.0
        var values: [Double] = []
        for s in series {
            for bar in s.values.compactMap({ $0 }) {
                values += [bar.value, bar.low, bar.high].compactMap { $0 }.filter(\.isFinite)
            }
        }
        var scale = AxisScale(values: values + [0], log: false, from: 1, to: 0, includeZero: true)
        let ticks = scale.ticks().map { ($0, tickLabel($0)) }
        let yTickWidth = ticks.map { TextMetrics.width($0.1, size: tickSize) }.max() ?? 0
        let leftPad = 6 + labelSize * (TextMetrics.ascent + TextMetrics.descent) + 8 + yTickWidth + 6
        let categoryWidth = categories.map { TextMetrics.width($0, size: tickSize) }.max() ?? 0
        var groupWidth = max(90, categoryWidth + 12, Double(series.count) * 18 / 0.8)
        groupWidth = max(groupWidth, (minimumContentWidth - leftPad - 12) / Double(max(1, categories.count)))
        let plotWidth = groupWidth * Double(max(1, categories.count))
        let plotHeight = max(280, TextMetrics.width(yLabel, size: labelSize) + 10)
        let legendBlock = ChartLegend(
            entries: series.map { s in (s.name, { x, y in swatch(color: s.style.color, filled: s.style.filled, x: x, y: y - 6) }) },
            glyphWidth: 20)
        let contentWidth = max(
            leftPad + plotWidth + 12, legendBlock.widestEntry,
            TextMetrics.widestWord(title, size: titleSize, bold: true),
            caption.map { TextMetrics.widestWord($0, size: labelSize) } ?? 0)
        let width = contentWidth + 2 * margin

        var y = margin
        var body = chartTitle(title, width: width, contentWidth: contentWidth, y: &y)
        body += legendBlock.draw(margin: margin, contentWidth: contentWidth, y: &y)
        let left = margin + leftPad, right = left + plotWidth, top = y + 10, bottom = top + plotHeight
        if values.isEmpty {
            body += text(x: (left + right) / 2, y: (top + bottom) / 2, "no data (not measured)", size: 13, anchor: "middle")
        } else {
            scale.from = bottom
            scale.to = top
            for (tick, label) in ticks {
                let ty = scale.position(tick)
                body += "<line x1=\"\(f(left))\" y1=\"\(f(ty))\" x2=\"\(f(right))\" y2=\"\(f(ty))\" stroke=\"#e0e0e0\"/>"
                body += text(x: left - 6, y: ty + 4, label, size: tickSize, anchor: "end")
            }
            let zero = scale.position(0)
            let barWidth = min(60, groupWidth * 0.8 / Double(max(1, series.count)))
            for (c, category) in categories.enumerated() {
                let gx = left + Double(c) * groupWidth + (groupWidth - barWidth * Double(series.count)) / 2
                for (i, s) in series.enumerated() {
                    let bx = gx + Double(i) * barWidth
                    guard c < s.values.count, let bar = s.values[c], bar.value.isFinite else {
                        body += text(x: bx + barWidth / 2, y: zero - 4, "n/a", size: 9, anchor: "middle")
                        continue
                    }
                    let top = scale.position(bar.value)
                    var tip = "\(s.name) \(category): \(valueLabel(bar.value))"
                    if let low = bar.low, let high = bar.high { tip += " [\(valueLabel(low)), \(valueLabel(high))]" }
                    let fill = s.style.filled ? s.style.color : "white"
                    body += "<rect x=\"\(f(bx))\" y=\"\(f(min(top, zero)))\" width=\"\(f(barWidth - 2))\" height=\"\(f(abs(zero - top)))\" "
                        + "fill=\"\(fill)\" stroke=\"\(s.style.color)\"><title>\(escape(tip))</title></rect>"
                    body += whisker(bar.low, bar.high, x: bx + (barWidth - 2) / 2, scale: scale, log: false, color: "#222")
                }
                body += text(x: left + (Double(c) + 0.5) * groupWidth, y: bottom + 18, category, size: tickSize, anchor: "middle")
            }
            body += "<line x1=\"\(f(left))\" y1=\"\(f(zero))\" x2=\"\(f(right))\" y2=\"\(f(zero))\" stroke=\"#333\"/>"
            body += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(bottom))\" stroke=\"#333\"/>"
        }
        body += verticalText(x: margin + 6 + labelSize * TextMetrics.ascent, y: (top + bottom) / 2, yLabel, size: labelSize)
        y = bottom + 30
        body += chartCaption(caption, margin: margin, contentWidth: contentWidth, y: &y)
        return svgHeader(width: width, height: y + margin) + body + "</svg>\n"
    }
}

/// The narrowest a chart's content is, in pixels: a sweep of one cell still gets a readable chart.
private let minimumContentWidth = 560.0

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
        var low = usable.min() ?? (log ? 1 : 0), high = usable.max() ?? (log ? 10 : 1)
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
            // Fitted to the data: an end snaps out to the next tick only when that tick is near (within 5% of the
            // range); otherwise the axis stops 5% past the data, so that a value of −30 on a step of 500 does not
            // stretch the axis to −500 where there is nothing.
            let pad = (high - low) * 0.05
            let snappedLow = floor(low / step) * step, snappedHigh = ceil(high / step) * step
            low = low - snappedLow <= pad ? snappedLow : low - pad
            high = snappedHigh - high <= pad ? snappedHigh : high + pad
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

    /// Linear: every step. Log: every power of ten, and 2× and 5× between them when the axis spans at most two decades.
    func ticks() -> [Double] {
        if log {
            let fine = log10(high / low) <= 2.0001
            var ticks: [Double] = []
            var decade = low
            // At most a few dozen decades; values near Double's limits must not loop forever.
            while decade <= high * 1.0001 && decade.isFinite && ticks.count < 40 {
                for multiple in fine ? [1.0, 2, 5] : [1] where decade * multiple <= high * 1.0001 {
                    ticks.append(decade * multiple)
                }
                decade *= 10
            }
            return ticks
        }
        var ticks: [Double] = []
        // The first multiple of the step on the axis (an end fitted to the data need not be one).
        var v = (low / step).rounded(.up) * step
        if v - step >= low - step / 1000 { v -= step }
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
        + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width.rounded(.up)))\" height=\"\(f(height.rounded(.up)))\" "
        + "viewBox=\"0 0 \(f(width.rounded(.up))) \(f(height.rounded(.up)))\" font-family=\"DejaVu Sans, Verdana, sans-serif\">"
        + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
}

private func text(
    x: Double, y: Double, _ content: String, size: Double, anchor: String = "start", weight: String = "normal", fill: String = "#222"
) -> String {
    "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(f(size))\" text-anchor=\"\(anchor)\" font-weight=\"\(weight)\" "
        + "fill=\"\(fill)\">\(escape(content))</text>"
}

/// Text read bottom to top, centred on (x, y); x is its baseline.
private func verticalText(x: Double, y: Double, _ content: String, size: Double) -> String {
    "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(f(size))\" text-anchor=\"middle\" font-weight=\"normal\" fill=\"#222\" "
        + "transform=\"rotate(-90 \(f(x)) \(f(y)))\">\(escape(content))</text>"
}

private func dashAttribute(_ style: SeriesStyle) -> String {
    style.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
}

/// The vertical whisker of an interval, with caps; nothing when there is no interval.
private func whisker(_ low: Double?, _ high: Double?, x: Double, scale: AxisScale, log: Bool, color: String) -> String {
    guard let low, let high, low.isFinite, high.isFinite, high > low else { return "" }
    let y1 = scale.position(log ? max(low, scale.low) : low), y2 = scale.position(high)
    let line = { (x1: Double, ya: Double, x2: Double, yb: Double) in
        "<line x1=\"\(f(x1))\" y1=\"\(f(ya))\" x2=\"\(f(x2))\" y2=\"\(f(yb))\" stroke=\"\(color)\" stroke-width=\"1.3\"/>"
    }
    return line(x, y1, x, y2) + line(x - 4, y1, x + 4, y1) + line(x - 4, y2, x + 4, y2)
}

/// The series' marker at (x, y): a shape of its own, filled or drawn as an outline.
private func marker(_ style: SeriesStyle, x: Double, y: Double) -> String {
    let paint = style.filled
        ? "fill=\"\(style.color)\""
        : "fill=\"white\" stroke=\"\(style.color)\" stroke-width=\"1.5\""
    func polygon(_ points: [(Double, Double)]) -> String {
        "<polygon points=\"\(points.map { "\(f(x + $0.0)),\(f(y + $0.1))" }.joined(separator: " "))\" \(paint)/>"
    }
    switch style.marker {
    case .circle: return "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"4.2\" \(paint)/>"
    case .square: return "<rect x=\"\(f(x - 4))\" y=\"\(f(y - 4))\" width=\"8\" height=\"8\" \(paint)/>"
    case .triangleUp: return polygon([(0, -5.5), (-5, 4), (5, 4)])
    case .triangleDown: return polygon([(0, 5.5), (-5, -4), (5, -4)])
    case .diamond: return polygon([(0, -5.5), (-5, 0), (0, 5.5), (5, 0)])
    case .pentagon: return polygon([(0, -5), (4.8, -1.5), (2.9, 4), (-2.9, 4), (-4.8, -1.5)])
    case .star:
        return polygon((0..<10).map { i in
            let r = i % 2 == 0 ? 5.5 : 2.4, angle = Double(i) * .pi / 5 - .pi / 2
            return (r * cos(angle), r * sin(angle))
        })
    case .cross:
        // Two strokes: a cross has no inside, so an outline style only thins it.
        let w = style.filled ? 2.6 : 1.6
        return "<path d=\"M\(f(x - 4)),\(f(y - 4)) L\(f(x + 4)),\(f(y + 4)) M\(f(x - 4)),\(f(y + 4)) L\(f(x + 4)),\(f(y - 4))\" "
            + "stroke=\"\(style.color)\" stroke-width=\"\(f(w))\"/>"
    }
}

/// A legend's colour swatch: a bar series', a category's.
func swatch(color: String, filled: Bool = true, x: Double, y: Double) -> String {
    "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"14\" height=\"12\" fill=\"\(filled ? color : "white")\" stroke=\"\(color)\"/>"
}

/// A chart's title, wrapped to the content width and centred on the chart, from `y` down; `y` ends below it.
func chartTitle(_ title: String, width: Double, contentWidth: Double, y: inout Double) -> String {
    let size = ChartLegend.titleSize
    var body = ""
    for line in TextMetrics.wrap(title, size: size, bold: true, maxWidth: contentWidth) {
        body += text(x: width / 2, y: y + size * TextMetrics.ascent, line, size: size, anchor: "middle", weight: "bold")
        y += 22
    }
    return body
}

/// How to read a chart, under it: wrapped to the content width, from `y` down; `y` ends below it. Nothing for nil.
func chartCaption(_ caption: String?, margin: Double, contentWidth: Double, y: inout Double) -> String {
    guard let caption else { return "" }
    let size = ChartLegend.textSize
    var body = ""
    for line in TextMetrics.wrap(caption, size: size, maxWidth: contentWidth) {
        body += text(x: margin, y: y + size * TextMetrics.ascent, line, size: size, fill: "#555")
        y += 16
    }
    return body
}

/// A chart's legend: its entries left to right, wrapped into rows within the content width, each a glyph (a line
/// with a marker, a swatch) `glyphWidth` wide and its name. Every chart lays out its legend with this.
struct ChartLegend {
    static let textSize = 12.0
    static let titleSize = 17.0
    /// Name and glyph drawer (at the entry's left edge and the row's centre line).
    var entries: [(name: String, glyph: (Double, Double) -> String)]
    var glyphWidth: Double

    /// An entry's width with the gap after it.
    func entryWidth(_ name: String) -> Double { glyphWidth + TextMetrics.width(name, size: Self.textSize) + 18 }

    /// The widest entry: a chart is at least this wide.
    var widestEntry: Double { entries.map { entryWidth($0.name) }.max() ?? 0 }

    /// The legend's rows below `y`; `y` ends below them.
    func draw(margin: Double, contentWidth: Double, y: inout Double) -> String {
        var body = ""
        var x = margin
        y += 10
        for entry in entries {
            let width = entryWidth(entry.name)
            if x > margin && x + width - 18 > margin + contentWidth {
                x = margin
                y += 20
            }
            body += entry.glyph(x, y)
            body += text(x: x + glyphWidth, y: y + 4, entry.name, size: Self.textSize)
            x += width
        }
        y += entries.isEmpty ? 0 : 16
        return body
    }
}

private func f(_ value: Double) -> String { formatDecimal(value, digits: 1) }

// The same pieces for the charts drawn in other files (StackedBarChart, FlameGraph).

/// An SVG document's opening: size, view box, font, white background.
func svgDocumentHeader(width: Double, height: Double) -> String { svgHeader(width: width, height: height) }

/// A `<text>` element, its content escaped.
func svgText(
    x: Double, y: Double, _ content: String, size: Double, anchor: String = "start", weight: String = "normal", fill: String = "#222"
) -> String {
    text(x: x, y: y, content, size: size, anchor: anchor, weight: weight, fill: fill)
}

/// Text read bottom to top, centred on (x, y).
func svgVerticalText(x: Double, y: Double, _ content: String, size: Double) -> String { verticalText(x: x, y: y, content, size: size) }

/// A coordinate as SVG text: at most one decimal.
func svgNumber(_ value: Double) -> String { f(value) }

func escape(_ text: String) -> String {
    // Most texts need nothing: one pass over their bytes first (a long name in many flame-graph boxes would otherwise
    // be searched four times per box).
    guard text.utf8.contains(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "\"") })
    else { return text }
    return text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
