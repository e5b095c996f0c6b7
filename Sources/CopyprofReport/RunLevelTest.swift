import Foundation

/// The test of two sides made of several runs each, with the run as the unit: each run gives one value (its median),
/// and the sides' values are compared by Welch's t-test on their logarithms. The spread between runs is then what the
/// test measures rather than what it leaves out: the remedy for trials that share their run's moment is to replicate
/// the run (T. Kalibera and R. Jones, "Rigorous benchmarking in reasonable time", ISMM 2013: repeat at the level
/// whose variation dominates, and test at that level).
package struct RunLevelTest: Sendable, Hashable {
    /// What the test compares.
    package enum Scale: Sendable {
        /// Positive values on a log scale: the estimate is the ratio of the geometric means, candidate over baseline.
        case ratio
        /// Values as they are (shares): the estimate is the difference of the means, candidate minus baseline.
        case difference
    }

    /// The ratio of the geometric means (``Scale/ratio``) or the difference of the means (``Scale/difference``).
    package var estimate: Double
    /// Its 1 − α interval, from Welch's interval for the difference of the means (of the logarithms, exp'd back).
    package var low: Double
    package var high: Double
    /// Two-sided p of Welch's t.
    package var p: Double
    /// Welch–Satterthwaite degrees of freedom.
    package var degreesOfFreedom: Double

    /// Nil when a side has fewer than 2 values, a value is not finite or (``Scale/ratio``) not positive, or no value
    /// differs from the others of its side on either side.
    package init?(baseline: [Double], candidate: [Double], alpha: Double = 0.05, scale: Scale = .ratio) {
        guard baseline.count >= 2, candidate.count >= 2,
            (baseline + candidate).allSatisfy({ $0.isFinite && (scale == .difference || $0 > 0) })
        else { return nil }
        let back: (Double) -> Double = scale == .ratio ? { exp($0) } : { $0 }
        let x = scale == .ratio ? baseline.map(log) : baseline, y = scale == .ratio ? candidate.map(log) : candidate
        func meanVariance(_ v: [Double]) -> (mean: Double, variance: Double) {
            let mean = v.reduce(0, +) / Double(v.count)
            return (mean, v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count - 1))
        }
        let (mx, vx) = meanVariance(x), (my, vy) = meanVariance(y)
        let sx = vx / Double(x.count), sy = vy / Double(y.count)
        let difference = my - mx
        let se = (sx + sy).squareRoot()
        estimate = back(difference)
        // Every run of both sides gave the same value: no spread to judge a difference against (the same file given
        // twice, or values rounded alike) — untestable, not a certain change.
        guard se > 0 else { return nil }
        let df = (sx + sy) * (sx + sy) / (sx * sx / Double(x.count - 1) + sy * sy / Double(y.count - 1))
        let t = difference / se
        let q = Statistics.studentTQuantile(1 - alpha / 2, degreesOfFreedom: df)
        low = back(difference - q * se)
        high = back(difference + q * se)
        p = min(1, 2 * Statistics.studentTSurvival(abs(t), degreesOfFreedom: df))
        degreesOfFreedom = df
    }
}
