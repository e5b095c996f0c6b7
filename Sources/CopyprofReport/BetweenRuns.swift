import Foundation

/// How much more two runs differ than the spread of their trials says, estimated from all the comparisons between
/// them, and the allowance every comparison makes for it.
///
/// A test of two runs' trials treats the trials as independent draws. They are not: the trials of one run share its
/// moment — the host's load, where the scheduler put the threads, which mode zero-copy on loopback settled in — so
/// identical runs made a minute apart differ by more than the trials within each (on this project's VM, the zero-copy
/// receiver's CPU ns/B by 7–23% between identical two-transport runs, p down to 0.002). No test of one run against
/// another can see that from the trials alone; the comparisons between the two runs together can. Under the null
/// hypothesis each comparison's z² = Φ⁻¹(1 − p/2)² is a χ² variable of one degree of freedom, whose median is
/// 0.4549; when the runs differ by more than their trials say, every z² is inflated alike, by a factor λ. Its
/// estimate is the median z² of the comparisons over 0.4549, robust while fewer than half of them changed for real;
/// every comparison's z is then divided by √λ and its interval widened by √λ about its estimate. This is genomic
/// control (B. Devlin and K. Roeder, "Genomic control for association studies", Biometrics 55(4), 1999), made for
/// the same trouble: a structure shared by the samples that the per-test model leaves out. λ is never taken below 1:
/// runs that agree as well as their trials are not made to look more certain.
///
/// The cost: when more than half of the comparisons changed, part of the change is taken for spread between the
/// runs; and with few comparisons λ itself is uncertain (the median z² of 10 null comparisons over 0.4549 exceeds 2.26
/// in one case in ten, by simulation), which can only hide a change, never invent one. Several runs a side remove
/// both: the run is then the unit of the test (``RunLevelTest``) and λ is not needed.
package struct BetweenRuns: Sendable, Codable, Hashable {
    /// The inflation the comparisons show: their median z² over the median of χ²₁; below 1 when the runs agreed better
    /// than their trials predict.
    package var measured: Double
    /// The comparisons it was estimated from: those with a p (both sides tested, measured alike).
    package var comparisons: Int

    /// The factor applied: ``measured``, at least 1.
    package var lambda: Double

    /// Fewer comparisons than this give no estimate (the median of 7 z² values is too loose to act on).
    package static let minimumComparisons = 8

    /// The median of the χ² distribution with one degree of freedom: Φ⁻¹(0.75)².
    static let chiSquareOneMedian = 0.454936423119572

    /// The estimate from the p-values of the comparisons between two runs; nil with fewer than
    /// ``minimumComparisons``.
    package init?(pValues: [Double]) {
        let squares = pValues.filter { $0.isFinite && $0 > 0 }.map { Self.z(p: $0) }.map { $0 * $0 }
        guard squares.count >= Self.minimumComparisons, let median = Statistics.median(squares) else { return nil }
        measured = median / Self.chiSquareOneMedian
        lambda = max(1, measured)
        comparisons = squares.count
    }

    /// The |z| of a two-sided p.
    static func z(p: Double) -> Double { Statistics.normalQuantile(1 - min(1, p) / 2) }

    /// A two-sided p allowed for the spread between runs: that of z / √λ.
    package func adjusted(_ p: Double?) -> Double? {
        guard let p, lambda > 1 else { return p }
        return min(1, erfc(Self.z(p: max(p, 1e-300)) / lambda.squareRoot() / 2.0.squareRoot()))
    }

    /// A ratio interval widened by √λ on the log scale about its estimate.
    package func widened(_ interval: (estimate: Double, low: Double, high: Double)) -> (estimate: Double, low: Double, high: Double) {
        guard lambda > 1, interval.estimate > 0, interval.low > 0, interval.high > 0 else { return interval }
        let k = lambda.squareRoot(), e = interval.estimate
        return (e, e * pow(interval.low / e, k), e * pow(interval.high / e, k))
    }
}
