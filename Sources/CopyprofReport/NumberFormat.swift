import Foundation

// The one place numbers become text, for every renderer: Markdown report, comparison, summary table, CSV, charts.

/// `value` rounded to at most `digits` decimals, without trailing zeros: `1.5`, `12`, `0.034`.
func formatDecimal(_ value: Double, digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if text.contains("e") { return text }
    if text.contains(".") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
    }
    return text
}

/// `value` with exactly `digits` decimals, or "n/a"; values too large for that (beyond 10^15) in exponent notation.
package func fixed(_ value: Double?, _ digits: Int) -> String {
    guard let value, value.isFinite else { return "n/a" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    // Whole numbers up to 10^15 are exact in a Double and fit Int64 with room to spare.
    guard rounded < 1e15 else { return String(format: "%.\(max(0, min(digits, 6)))e", value) }
    let whole = rounded / scale
    var text = String(Int64(whole.rounded(.down)))
    if digits > 0 {
        let fraction = Int64(rounded) % Int64(scale)
        let digitsText = String(fraction)
        text += "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
    }
    return (value < 0 && rounded != 0 ? "-" : "") + text
}

/// A percent change with its sign: `+4.2`, `-10`.
func signed(_ value: Double) -> String { (value >= 0 ? "+" : "") + formatDecimal(value, digits: 1) }

/// A p-value as tables show it: `< 0.001`, `0.042`, or `n/a`.
func pValue(_ p: Double?) -> String {
    guard let p else { return "n/a" }
    return p < 0.001 ? "< 0.001" : formatDecimal(p, digits: 3)
}

/// An axis tick: `0`, `64`, `1.5k`, `2.5M`, `0.25`.
func tickLabel(_ value: Double) -> String {
    if value == 0 { return "0" }
    let magnitude = abs(value)
    if value == value.rounded() && magnitude < 1e7 { return String(Int(value)) }
    if magnitude >= 1e6 { return formatDecimal(value / 1e6, digits: 1) + "M" }
    if magnitude >= 1e4 { return formatDecimal(value / 1e3, digits: 1) + "k" }
    if magnitude >= 1 { return formatDecimal(value, digits: 2) }
    return formatDecimal(value, digits: 4)
}

/// A chart's value label: three significant digits, `0.652`, `16.5`, `5224`.
func valueLabel(_ value: Double) -> String {
    guard value.isFinite else { return "n/a" }
    let magnitude = abs(value)
    if magnitude != 0 && magnitude < 1e-4 { return String(format: "%.2e", value) }
    let digits = magnitude >= 100 || magnitude == 0 ? 0 : max(0, 2 - Int(floor(log10(magnitude))))
    return fixed(value, digits)
}

/// A ratio with its 95% interval, as the report's and the comparison's tables show it: `0.68× [0.65, 0.71]`.
/// (Byte counts: CopyprofModel's `formatBytes`, in binary units.)
func ratioText(_ s: Summary) -> String {
    var text = "\(fixed(s.median, 2))×"
    if let low = s.low, let high = s.high { text += " [\(fixed(low, 2)), \(fixed(high, 2))]" }
    return text
}
