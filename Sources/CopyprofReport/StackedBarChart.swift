import Foundation

/// Bars stacked to 100%: groups side by side (a path each), a few bars per group (sender, receiver), each bar a stack
/// of coloured segments (a category each, one fixed colour per category), with a legend of the segments' names. Laid
/// out from its texts like ``LineChart`` and ``BarChart``, with their title and legend.
package struct StackedBarChart: Sendable {
    /// One part of a bar: its name (the legend's), colour and value in percent, with the text of its tooltip.
    package struct Segment: Sendable, Hashable {
        package var name: String
        package var color: String
        package var percent: Double
        /// The tooltip: what the segment is, its share and interval.
        package var tip: String
        package init(name: String, color: String, percent: Double, tip: String) {
            self.name = name
            self.color = color
            self.percent = percent
            self.tip = tip
        }
    }

    /// One bar: a role of a path.
    package struct Bar: Sendable, Hashable {
        /// Under the bar: `S`, `R`.
        package var label: String
        /// Bottom first; nil: not measured (drawn as n/a).
        package var segments: [Segment]?
        package init(label: String, segments: [Segment]?) {
            self.label = label
            self.segments = segments
        }
    }

    /// Bars side by side under one label: a path's.
    package struct Group: Sendable, Hashable {
        package var label: String
        package var bars: [Bar]
        package init(label: String, bars: [Bar]) {
            self.label = label
            self.bars = bars
        }
    }

    package var title: String
    package var yLabel: String
    package var groups: [Group]
    /// The legend: every segment name with its colour, in stacking order.
    package var legend: [(name: String, color: String)]
    package var caption: String?

    package init(title: String, yLabel: String, groups: [Group], legend: [(name: String, color: String)], caption: String? = nil) {
        self.title = title
        self.yLabel = yLabel
        self.groups = groups
        self.legend = legend
        self.caption = caption
    }

    /// The SVG document.
    package func svg() -> String {
        let tickSize = 11.0, labelSize = 12.0, titleSize = ChartLegend.titleSize, margin = 12.0
        let barWidth = 28.0, barGap = 6.0, groupGap = 26.0
        let ticks = stride(from: 0.0, through: 100, by: 20).map { $0 }
        let yTickWidth = ticks.map { TextMetrics.width(tickLabel($0), size: tickSize) }.max() ?? 0
        let leftPad = 6 + labelSize * (TextMetrics.ascent + TextMetrics.descent) + 8 + yTickWidth + 6
        let groupWidths = groups.map { group in
            max(Double(group.bars.count) * (barWidth + barGap) - barGap + groupGap, TextMetrics.width(group.label, size: tickSize) + 12)
        }
        let plotWidth = max(240, groupWidths.reduce(0, +))
        let plotHeight = max(260, TextMetrics.width(yLabel, size: labelSize) + 10)
        let legendBlock = ChartLegend(
            entries: legend.map { entry in (entry.name, { x, y in swatch(color: entry.color, x: x, y: y - 6) }) }, glyphWidth: 20)
        let contentWidth = max(
            leftPad + plotWidth + 12, legendBlock.widestEntry, TextMetrics.widestWord(title, size: titleSize, bold: true),
            caption.map { TextMetrics.widestWord($0, size: labelSize) } ?? 0)
        let width = contentWidth + 2 * margin

        var y = margin
        var body = chartTitle(title, width: width, contentWidth: contentWidth, y: &y)
        body += legendBlock.draw(margin: margin, contentWidth: contentWidth, y: &y)
        let left = margin + leftPad, top = y + 10, bottom = top + plotHeight
        func yPixel(_ percent: Double) -> Double { bottom - min(100, max(0, percent)) / 100 * plotHeight }
        for tick in ticks {
            let ty = yPixel(tick)
            body += "<line x1=\"\(svgNumber(left))\" y1=\"\(svgNumber(ty))\" x2=\"\(svgNumber(left + plotWidth))\" y2=\"\(svgNumber(ty))\" stroke=\"#e0e0e0\"/>"
            body += svgText(x: left - 6, y: ty + 4, tickLabel(tick), size: tickSize, anchor: "end")
        }
        var gx = left
        for (g, group) in groups.enumerated() {
            let barsWidth = Double(group.bars.count) * (barWidth + barGap) - barGap
            var bx = gx + (groupWidths[g] - barsWidth) / 2
            for bar in group.bars {
                if let segments = bar.segments {
                    var base = 0.0
                    for segment in segments where segment.percent > 0 {
                        let y1 = yPixel(base + segment.percent), y0 = yPixel(base)
                        body += "<rect x=\"\(svgNumber(bx))\" y=\"\(svgNumber(y1))\" width=\"\(svgNumber(barWidth))\" "
                            + "height=\"\(svgNumber(max(0, y0 - y1)))\" fill=\"\(segment.color)\" stroke=\"white\" stroke-width=\"0.5\">"
                            + "<title>\(escape(segment.tip))</title></rect>"
                        base += segment.percent
                    }
                } else {
                    body += svgText(x: bx + barWidth / 2, y: bottom - 4, "n/a", size: 9, anchor: "middle")
                }
                body += svgText(x: bx + barWidth / 2, y: bottom + 14, bar.label, size: tickSize, anchor: "middle")
                bx += barWidth + barGap
            }
            body += svgText(x: gx + groupWidths[g] / 2, y: bottom + 30, group.label, size: tickSize, anchor: "middle")
            gx += groupWidths[g]
        }
        body += "<line x1=\"\(svgNumber(left))\" y1=\"\(svgNumber(bottom))\" x2=\"\(svgNumber(left + plotWidth))\" y2=\"\(svgNumber(bottom))\" stroke=\"#333\"/>"
        body += "<line x1=\"\(svgNumber(left))\" y1=\"\(svgNumber(top))\" x2=\"\(svgNumber(left))\" y2=\"\(svgNumber(bottom))\" stroke=\"#333\"/>"
        body += svgVerticalText(x: margin + 6 + labelSize * TextMetrics.ascent, y: (top + bottom) / 2, yLabel, size: labelSize)
        y = bottom + 44
        body += chartCaption(caption, margin: margin, contentWidth: contentWidth, y: &y)
        return svgDocumentHeader(width: width, height: y + margin) + body + "</svg>\n"
    }
}
