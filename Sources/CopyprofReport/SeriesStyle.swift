/// How a series is drawn: a colour, a marker shape and a line pattern, fixed by the series' name, so that a transport
/// looks the same in every chart of every report whatever else is plotted beside it.
///
/// The known senders have a fixed colour (Okabe–Ito, told apart by colour-blind readers) and a shape of their own,
/// so they stay distinct in grey too; receivers keep the sender's colour and shape and differ by line pattern and
/// marker fill. Any other name gets a stable style from a hash of its text (the same name, the same style, in every
/// run), from colours and shapes the known names do not use.
package struct SeriesStyle: Sendable, Hashable {
    /// A marker's shape.
    package enum Marker: String, Sendable, Hashable, CaseIterable {
        case circle, square, triangleUp, diamond, triangleDown, cross, pentagon, star
    }

    /// An SVG colour, `#RRGGBB`.
    package var color: String
    package var marker: Marker
    /// False: the marker is drawn as an outline (white inside).
    package var filled: Bool
    /// The line's SVG `stroke-dasharray`; nil: solid.
    package var dash: String?

    package init(color: String, marker: Marker, filled: Bool = true, dash: String? = nil) {
        self.color = color
        self.marker = marker
        self.filled = filled
        self.dash = dash
    }

    /// The style of a series named after a sender (a transport) — or anything else, by a stable hash.
    package init(named name: String) {
        if let known = Self.senders[name] {
            self.init(color: known.color, marker: known.marker)
        } else {
            let hash = Self.fnv1a(name)
            let colors = Self.fallbackColors, markers = Self.fallbackMarkers
            self.init(color: colors[Int(hash % UInt64(colors.count))], marker: markers[Int(hash / UInt64(colors.count) % UInt64(markers.count))])
        }
    }

    /// The style of a sender paired with a receiver: the sender's colour and shape, the receiver's line and fill.
    /// The default receiver (`copy`, or nil) leaves the sender's style as it is.
    package init(sender: String, receiver: String?) {
        self.init(named: sender)
        guard let receiver, receiver != "copy" else { return }
        if let known = Self.receivers[receiver] {
            dash = known.dash
            filled = known.filled
        } else {
            let patterns = Self.fallbackDashes
            dash = patterns[Int(Self.fnv1a(receiver) % UInt64(patterns.count))]
            filled = false
        }
    }

    /// Senders, in the order they were added to copyprof: colours from Okabe–Ito (without its yellow, too pale on white).
    static let senders: [String: (color: String, marker: Marker)] = [
        "two-copy": ("#0072B2", .circle),  // blue
        "marshal": ("#D55E00", .square),  // vermillion
        "one-copy": ("#009E73", .triangleUp),  // bluish green
        "zero-copy": ("#CC79A7", .diamond),  // reddish purple
        "io-uring-zc": ("#E69F00", .triangleDown),  // orange
        "sendfile": ("#56B4E9", .cross),  // sky blue
    ]

    /// Receivers other than the default `copy`.
    static let receivers: [String: (dash: String?, filled: Bool)] = [
        "discard": ("7 4", false),
        "mmap": ("2 3", true),
    ]

    /// For names not in the table: colours of Paul Tol's muted scheme and black, none of them used above.
    static let fallbackColors = ["#000000", "#882255", "#117733", "#332288", "#999933", "#44AA99", "#AA4499"]
    static let fallbackMarkers: [Marker] = [.pentagon, .star, .circle, .square, .triangleUp, .diamond, .triangleDown, .cross]
    static let fallbackDashes = ["9 3 2 3", "4 2", "1 2"]

    /// FNV-1a of the UTF-8 bytes: the same in every process (Swift's `Hasher` is seeded per process).
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
