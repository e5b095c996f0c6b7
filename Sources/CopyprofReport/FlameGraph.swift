import CopyprofModel
import Foundation

/// A flame graph as standalone SVG, in Brendan Gregg's layout (flamegraph.pl): each box a function in a call stack,
/// its width its share of the samples, the root (`all`) at the bottom and the leaves on top, callees above their
/// callers sorted by name; boxes coloured by attribution category (a box that several categories pass through takes
/// the colour of the one with most of its samples), names truncated to fit their box, and a `<title>` per box with
/// the full name, its samples and share, and its category. Boxes narrower than 0.1 pixel are left out, as
/// flamegraph.pl's `--minwidth` does.
package struct FlameGraph: Sendable {
    /// One distinct stack: its frames root first, the category its samples were charged to (nil: unknown, as the
    /// samples left out of a profile), and its samples.
    package struct Stack: Sendable, Hashable {
        package var frames: [String]
        package var category: AttributionCategory?
        package var samples: UInt64
        package init(frames: [String], category: AttributionCategory?, samples: UInt64) {
            self.frames = frames
            self.category = category
            self.samples = samples
        }
    }

    package var title: String
    /// A line under the title: what was sampled.
    package var subtitle: String?
    package var stacks: [Stack]
    /// The image's width in pixels (flamegraph.pl's default).
    package var width = 1200.0

    package init(title: String, subtitle: String? = nil, stacks: [Stack]) {
        self.title = title
        self.subtitle = subtitle
        self.stacks = stacks
    }

    /// A node of the merged call tree.
    struct Node {
        var name: String
        var samples: Double = 0
        var categories: [AttributionCategory?: Double] = [:]
        var children: [String: Int] = [:]
        var depth: Int

        /// The category with most of the node's samples (ties: the first in the category order).
        var dominant: AttributionCategory? {
            categories.max { a, b in
                a.value != b.value ? a.value < b.value : order(a.key) > order(b.key)
            }?.key
        }

        private func order(_ c: AttributionCategory?) -> Int {
            c.flatMap { AttributionCategory.allCases.firstIndex(of: $0) } ?? AttributionCategory.allCases.count
        }
    }

    /// The stacks merged into one tree: nodes[0] is the root, `all`.
    func tree() -> [Node] {
        var nodes = [Node(name: "all", depth: 0)]
        for stack in stacks where stack.samples > 0 {
            let samples = Double(stack.samples)
            var index = 0
            nodes[0].samples += samples
            nodes[0].categories[stack.category, default: 0] += samples
            for frame in stack.frames {
                if let child = nodes[index].children[frame] {
                    index = child
                } else {
                    nodes.append(Node(name: frame, depth: nodes[index].depth + 1))
                    nodes[index].children[frame] = nodes.count - 1
                    index = nodes.count - 1
                }
                nodes[index].samples += samples
                nodes[index].categories[stack.category, default: 0] += samples
            }
        }
        return nodes
    }

    /// The SVG document.
    package func svg() -> String {
        let nodes = tree()
        let margin = 12.0, frameHeight = 17.0, fontSize = 11.0, labelSize = 12.0
        let total = nodes[0].samples
        let contentWidth = width - 2 * margin
        let present = AttributionCategory.allCases.filter { c in nodes[0].categories[c] != nil }
        var legendEntries: [(name: String, glyph: (Double, Double) -> String)] = present.map { c in
            (c.rawValue, { x, y in swatch(color: c.color, x: x, y: y - 6) })
        }
        if nodes[0].categories[nil] != nil {
            legendEntries.append(("unknown", { x, y in swatch(color: Self.unknownColor, x: x, y: y - 6) }))
        }
        let legend = ChartLegend(entries: legendEntries, glyphWidth: 20)

        var y = margin
        var body = chartTitle(title, width: width, contentWidth: contentWidth, y: &y)
        if let subtitle {
            for line in TextMetrics.wrap(subtitle, size: labelSize, maxWidth: contentWidth) {
                body += svgText(x: width / 2, y: y + labelSize * TextMetrics.ascent, line, size: labelSize, anchor: "middle", fill: "#555")
                y += 16
            }
        }
        body += legend.draw(margin: margin, contentWidth: contentWidth, y: &y)
        guard total > 0 else {
            body += svgText(x: width / 2, y: y + 30, "no samples", size: 13, anchor: "middle")
            return svgDocumentHeader(width: width, height: y + 50) + body + "</svg>\n"
        }
        let pixelsPerSample = contentWidth / total
        // Which boxes are drawn (wide enough), and how deep the drawing goes.
        var maxDepth = 0
        var boxes: [(node: Int, x: Double)] = []
        var pending: [(node: Int, x: Double)] = [(0, margin)]
        while let (index, x) = pending.popLast() {
            let node = nodes[index]
            guard node.samples * pixelsPerSample >= 0.1 else { continue }
            boxes.append((index, x))
            maxDepth = max(maxDepth, node.depth)
            var childX = x
            for name in node.children.keys.sorted() {
                let child = node.children[name]!
                pending.append((child, childX))
                childX += nodes[child].samples * pixelsPerSample
            }
        }
        let top = y + 6
        let bottom = top + Double(maxDepth + 1) * frameHeight
        for (index, x) in boxes {
            let node = nodes[index]
            let boxWidth = node.samples * pixelsPerSample
            let boxY = bottom - Double(node.depth + 1) * frameHeight
            let category = node.dominant
            let fill = category?.color ?? Self.unknownColor
            let share = node.samples / total * 100
            var tip = "\(node.name) (\(formatDecimal(node.samples, digits: 0)) samples, \(formatDecimal(share, digits: 2))%)"
            if let category, node.categories.count == 1 { tip += ", \(category.rawValue)" } else if let category {
                tip += ", mostly \(category.rawValue)"
            }
            body += "<g><title>\(escape(tip))</title><rect x=\"\(svgNumber(x))\" y=\"\(svgNumber(boxY))\" width=\"\(svgNumber(max(0.1, boxWidth - 0.5)))\" "
                + "height=\"\(svgNumber(frameHeight - 1))\" fill=\"\(fill)\" rx=\"2\" ry=\"2\"/>"
            if let label = Self.fit(node.name, width: boxWidth - 6, size: fontSize) {
                body += svgText(x: x + 3, y: boxY + frameHeight - 5, label, size: fontSize, fill: category?.textColor ?? "#000000")
            }
            body += "</g>"
        }
        return svgDocumentHeader(width: width, height: bottom + margin) + body + "</svg>\n"
    }

    /// The colour of samples whose category is unknown (those a profile left out).
    static let unknownColor = "#E8E8E8"

    /// The name as it fits `width` pixels: whole, or cut with `..` (as flamegraph.pl cuts); nil when not even two
    /// characters and the dots fit. One pass that stops where the box ends, however long the name.
    static func fit(_ name: String, width: Double, size: Double) -> String? {
        let dots = TextMetrics.width("..", size: size)
        var used = 0.0
        var kept = 0, count = 0
        var cut = name.startIndex
        var index = name.startIndex
        while index < name.endIndex {
            let next = name.index(after: index)
            used += TextMetrics.width(String(name[index..<next]), size: size)
            if used > width { return kept >= 2 ? String(name[..<cut]) + ".." : nil }
            count += 1
            if used + dots <= width {
                cut = next
                kept = count
            }
            index = next
        }
        return name
    }
}
