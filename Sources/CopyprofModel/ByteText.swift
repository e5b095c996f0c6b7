/// A byte count as people read it, in binary units: `100 B`, `48 KiB`, `1.5 MiB`, `977 KiB`, `4.1 GiB` — a whole
/// number where the count is one, or from 100 up, otherwise one decimal.
///
/// The one byte formatter of copyprof's modules: messages about limits, the report, the command line. (The
/// PerfCounters package depends on nothing, so its calibration writes its own sizes the same way.)
public func formatBytes<Count: BinaryInteger>(_ bytes: Count) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes >= Count(1) << shift {
        let value = Double(bytes) / Double(1 << shift)
        let rounded = value >= 100 || value == value.rounded() ? value.rounded() : (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded)) \(unit)" : "\(rounded) \(unit)"
    }
    return "\(bytes) B"
}
