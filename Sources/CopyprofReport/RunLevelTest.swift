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

    /// Nil when a side has fewer than 2 values, a value is not finite, or (``Scale/ratio``) not positive.
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
        guard se > 0 else {
            // Every run of both sides gave the same value: the difference is exact.
            (low, high, p, degreesOfFreedom) = (estimate, estimate, difference == 0 ? 1 : 0, .infinity)
            return
        }
        let df = (sx + sy) * (sx + sy) / (sx * sx / Double(x.count - 1) + sy * sy / Double(y.count - 1))
        let t = difference / se
        let q = Self.tQuantile(1 - alpha / 2, df)
        low = back(difference - q * se)
        high = back(difference + q * se)
        p = min(1, 2 * Self.tSurvival(abs(t), df))
        degreesOfFreedom = df
    }

    /// P(T > t) for Student's t with ν degrees of freedom: I_{ν/(ν+t²)}(ν/2, 1/2) / 2.
    static func tSurvival(_ t: Double, _ nu: Double) -> Double {
        guard t > 0 else { return t == 0 ? 0.5 : 1 - tSurvival(-t, nu) }
        guard nu.isFinite else { return 0.5 * erfc(t / 2.0.squareRoot()) }
        return 0.5 * regularizedIncompleteBeta(nu / (nu + t * t), nu / 2, 0.5)
    }

    /// The quantile of Student's t, by bisection of ``tSurvival(_:_:)``.
    static func tQuantile(_ probability: Double, _ nu: Double) -> Double {
        var low = 0.0, high = 1e6
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if 1 - tSurvival(mid, nu) < probability { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }

    /// I_x(a, b), by the continued fraction of Numerical Recipes (§6.4, modified Lentz), on the side where it converges.
    static func regularizedIncompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logGammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let front = exp(logGammas + logPowers)
        if x < (a + 1) / (a + b + 2) { return front * betaContinuedFraction(x, a, b) / a }
        return 1 - front * betaContinuedFraction(1 - x, b, a) / b
    }

    static func betaContinuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...300 {
            let m = Double(m)
            var numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + numerator * d
            if abs(d) < tiny { d = tiny }
            c = 1 + numerator / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            h *= step
            if abs(step - 1) < 1e-15 { break }
        }
        return h
    }
}
