import Foundation

/// How much more two runs differ than the spread of their trials says, estimated from all the comparisons between
/// them, and the allowance every comparison makes for it.
///
/// A test of two runs' trials treats the trials as independent draws. They are not: the trials of one run share its
/// moment — the host's load, where the scheduler put the threads, which mode zero-copy on loopback settled in — so
/// identical runs made a minute apart differ by more than the trials within each (on this project's VM, the zero-copy
/// receiver's CPU ns/B by 7–23% between identical two-transport runs, p down to 0.002). No test of one run against
/// another can see that from the trials alone; the comparisons between the two runs together can. Under the null
/// hypothesis each comparison's z² = Φ⁻¹(1 − p/2)² follows a known distribution: χ² of one degree of freedom (median
/// 0.4549) where its p came from the normal approximation, and where it came from the exact distribution of U for
/// small samples, the discrete distribution that one gives (6 and 6 trials: p = 1 one time in 16, and a median z² of
/// 0.29). When the runs differ by more than their trials say, every z² is inflated alike, by a factor λ. Its estimate
/// is the median z² of the comparisons over the median of their null distributions pooled, robust while fewer than
/// half of them changed for real; every comparison's z is then divided by √λ and its interval widened by √λ about its
/// estimate. This is genomic
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
    /// The median of their z² when nothing changes (``nullMedian(_:)``), which ``measured`` divides.
    package var nullMedian: Double
    /// The largest |z| any of the comparisons could reach, samples wholly apart: an exact test of 6 and 6 trials
    /// p = 2/924, |z| = 3.07; U's normal approximation (n1·n2/2 − ½)/σ with σ at its smallest, each sample all ties
    /// (6 and 6: 3.22); nil where a test has no bound.
    package var largestZ: Double?

    /// The factor applied: ``measured``, at least 1.
    package var lambda: Double

    /// Fewer comparisons than this give no estimate (the median of 7 z² values is too loose to act on).
    package static let minimumComparisons = 8

    /// The median of the χ² distribution with one degree of freedom: Φ⁻¹(0.75)².
    static let chiSquareOneMedian = 0.454936423119572

    /// How a comparison's p was had, which sets the distribution of its z² when nothing changed.
    package enum NullShape: Hashable, Sendable {
        /// The exact distribution of U for samples of these sizes (``Statistics/mannWhitneyU(_:_:)``'s small case).
        case exactU(Int, Int)
        /// U's normal approximation for samples of these sizes: z² is χ² of one degree of freedom, its |z| bounded by
        /// the sizes.
        case normalU(Int, Int)
        /// Another continuous test: z² is χ² of one degree of freedom.
        case continuous
    }

    /// The estimate from the p-values of the comparisons between two runs, each with how it was had; nil with fewer
    /// than ``minimumComparisons``, or when the null median is 0 (samples too small for any p below 1 half the time).
    package init?(tests: [(p: Double, null: NullShape)]) {
        let valid = tests.filter { $0.p.isFinite && $0.p > 0 }
        let squares = valid.map { Self.z(p: $0.p) }.map { $0 * $0 }
        guard squares.count >= Self.minimumComparisons, let median = Statistics.median(squares) else { return nil }
        let nullMedian = Self.nullMedian(valid.map(\.null))
        guard nullMedian > 1e-9 else { return nil }
        self.nullMedian = nullMedian
        largestZ = Set(valid.map(\.null)).reduce(Optional(0.0)) { largest, shape in
            guard let largest else { return nil }
            switch shape {
            case .exactU(let n1, let n2):
                let counts = Statistics.exactUDistribution(n1, n2)
                return max(largest, Self.z(p: min(1, 2 * counts[0] / counts.reduce(0, +))))
            case .normalU(let n1, let n2):
                let m = Double(n1 * n2), n = Double(n1 + n2)
                let ties = Double(n1 * n1 * n1 - n1 + n2 * n2 * n2 - n2) / (n * (n - 1))
                return max(largest, (m / 2 - 0.5) / (m / 12 * (n + 1 - ties)).squareRoot())
            case .continuous:
                return nil
            }
        }
        measured = median / nullMedian
        lambda = max(1, measured)
        comparisons = squares.count
    }

    /// The median of z² under the null, pooled over the comparisons: the x at which the mean of their distribution
    /// functions reaches ½ (by bisection: a step at each exact p, χ²₁'s erf(√(x/2)) elsewhere).
    static func nullMedian(_ shapes: [NullShape]) -> Double {
        guard !shapes.isEmpty else { return chiSquareOneMedian }
        var counts: [NullShape: Int] = [:]
        for shape in shapes { counts[shape, default: 0] += 1 }
        let parts = counts.map { shape, count in (steps: exactSteps(shape), weight: Double(count) / Double(shapes.count)) }
        func cdf(_ x: Double) -> Double {
            parts.reduce(0) { sum, part in
                guard let steps = part.steps else { return sum + part.weight * erf((x / 2).squareRoot()) }
                return sum + part.weight * steps.reduce(0) { $1.square <= x ? $0 + $1.probability : $0 }
            }
        }
        if parts.allSatisfy({ $0.steps == nil }) { return chiSquareOneMedian }
        var low = 0.0, high = 50.0
        if cdf(0) >= 0.5 { return 0 }
        for _ in 0..<100 {
            let mid = (low + high) / 2
            if cdf(mid) >= 0.5 { high = mid } else { low = mid }
        }
        return high
    }

    /// z² and its probability for every value of U, where `shape` is exact: as ``Statistics/mannWhitneyU(_:_:)``
    /// computes p from U; nil for a continuous shape.
    static func exactSteps(_ shape: NullShape) -> [(square: Double, probability: Double)]? {
        guard case .exactU(let n1, let n2) = shape else { return nil }
        let counts = Statistics.exactUDistribution(n1, n2)
        let total = counts.reduce(0, +), top = n1 * n2
        var tails = [Double](repeating: 0, count: counts.count)
        var running = 0.0
        for (u, c) in counts.enumerated() {
            running += c
            tails[u] = running
        }
        return counts.enumerated().map { u, c in
            let p = min(1, 2 * tails[min(u, top - u)] / total)
            let z = Self.z(p: p)
            return (z * z, c / total)
        }
    }

    /// The |z| of a two-sided p, from the lower tail (Φ⁻¹(p/2) keeps its precision where 1 − p/2 rounds to 1).
    static func z(p: Double) -> Double { -Statistics.normalQuantile(min(1, p) / 2) }

    /// A two-sided p allowed for the spread between runs: that of z / √λ.
    package func adjusted(_ p: Double?) -> Double? {
        guard let p, lambda > 1 else { return p }
        return min(1, erfc(Self.z(p: max(p, 1e-300)) / lambda.squareRoot() / 2.0.squareRoot()))
    }

    /// True when, with the allowance, no comparison could count at any size: the largest |z| the tests can reach,
    /// divided by √λ, falls short of the two-sided 1 − α quantile.
    package func nothingCanCount(alpha: Double) -> Bool {
        guard let largestZ, lambda > 1 else { return false }
        return largestZ / lambda.squareRoot() < Self.z(p: alpha)
    }

    /// A ratio interval widened by √λ on the log scale about its estimate.
    package func widened(_ interval: (estimate: Double, low: Double, high: Double)) -> (estimate: Double, low: Double, high: Double) {
        guard lambda > 1, interval.estimate > 0, interval.low > 0, interval.high > 0 else { return interval }
        let k = lambda.squareRoot(), e = interval.estimate
        return (e, e * pow(interval.low / e, k), e * pow(interval.high / e, k))
    }
}
