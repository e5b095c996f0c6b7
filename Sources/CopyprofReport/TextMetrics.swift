/// How wide a line of chart text is, so that charts lay themselves out from their text instead of clipping it.
///
/// The widths are the advance widths of DejaVu Sans (Book and Bold), in thousandths of an em, read from the fonts'
/// `hmtx` tables: the font `sans-serif` resolves to on Debian and in rsvg-convert, and as wide as Verdana, so the
/// common narrower fonts (Arial, Helvetica, Liberation Sans) fit inside the estimate. Characters outside the table
/// count as a full em.
enum TextMetrics {
    /// ASCII 32 ... 126, DejaVu Sans Book.
    private static let regular: [UInt16] = [
        318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636,
        636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656,
        557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613,
        635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818,
        592, 592, 525, 636, 337, 636, 838,
    ]
    /// ASCII 32 ... 126, DejaVu Sans Bold.
    private static let bold: [UInt16] = [
        348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696,
        696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775,
        637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675,
        716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924,
        645, 652, 582, 712, 365, 712, 838,
    ]
    /// The non-ASCII characters charts use: µ, ×, →, –, —, ≈ (Book, Bold).
    private static let other: [Character: (UInt16, UInt16)] = [
        "µ": (636, 736), "×": (838, 838), "→": (838, 838), "–": (500, 500), "—": (1000, 1000), "≈": (838, 838),
    ]

    /// Ascent and descent of the font, in ems: how far a line's ink reaches above and below its baseline.
    static let ascent = 0.93
    static let descent = 0.24

    /// The width of `text` in pixels at `size` pixels per em.
    static func width(_ text: String, size: Double, bold: Bool = false) -> Double {
        var thousandths = 0
        for character in text {
            if let ascii = character.asciiValue, ascii >= 32, ascii <= 126 {
                thousandths += Int((bold ? Self.bold : regular)[Int(ascii) - 32])
            } else if let known = other[character] {
                thousandths += Int(bold ? known.1 : known.0)
            } else {
                thousandths += 1000
            }
        }
        return Double(thousandths) / 1000 * size
    }

    /// `text` broken at spaces into lines no wider than `maxWidth` (a word wider than that gets a line of its own).
    static func wrap(_ text: String, size: Double, bold: Bool = false, maxWidth: Double) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            let candidate = line.isEmpty ? String(word) : line + " " + word
            if !line.isEmpty && width(candidate, size: size, bold: bold) > maxWidth {
                lines.append(line)
                line = String(word)
            } else {
                line = candidate
            }
        }
        if !line.isEmpty || lines.isEmpty { lines.append(line) }
        return lines
    }

    /// The width of the widest word of `text`.
    static func widestWord(_ text: String, size: Double, bold: Bool = false) -> Double {
        text.split(separator: " ").map { width(String($0), size: size, bold: bold) }.max() ?? 0
    }
}
