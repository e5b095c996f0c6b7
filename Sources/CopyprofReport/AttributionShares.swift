import CopyprofModel
import CopyprofProfile
import Foundation

// Where each role's time goes, from the samples of a schema-3 profile: a share per category with a 95% interval that
// accounts for the samples and the trials both.

/// One category's share of a role's sampled time in a cell, pooled over the role's threads and the cell's sampled
/// trials, with its 95% interval (``ShareEstimator``).
package struct CategoryShare: Sendable, Hashable, Codable {
    package var category: AttributionCategory
    /// The share, 0 to 1: the category's weight over all weight, pooled over trials (a ratio estimator).
    package var share: Double
    /// The 95% interval's ends, 0 to 1.
    package var low: Double
    package var high: Double
    /// The category's samples over every trial and thread (saturating).
    package var samples: UInt64
    /// The category's weight over every trial and thread (ns for `cpu-clock`): how much time, where shares of two
    /// roles are compared.
    package var weight: Double
    /// Each sampled trial's own share (the role's threads pooled): what `compare` tests. A trial whose samples carry no
    /// weight while others' do has no share of its own, and is left out rather than counted as 0.
    package var perTrial: [Double]

    package init(
        category: AttributionCategory, share: Double, low: Double, high: Double, samples: UInt64, weight: Double, perTrial: [Double]
    ) {
        self.category = category
        self.share = share
        self.low = low
        self.high = high
        self.samples = samples
        self.weight = weight
        self.perTrial = perTrial
    }

    /// True when the interval lies above 0: the data say the category took some of the time.
    package var isPresent: Bool { low > 0 }
}

/// A role's time in one trial, its threads pooled: per category the samples and their weight.
package struct TrialAttribution: Sendable, Hashable {
    package var samples: [AttributionCategory: Double]
    package var weights: [AttributionCategory: Double]

    package init(samples: [AttributionCategory: Double] = [:], weights: [AttributionCategory: Double] = [:]) {
        self.samples = samples
        self.weights = weights
    }

    package var totalSamples: Double { samples.values.reduce(0, +) }
    package var totalWeight: Double { weights.values.reduce(0, +) }
}

/// The share of a category in a role's time with a 95% interval that accounts for both the sampling within each trial
/// and the spread between trials.
///
/// **Estimate.** The share pooled over the k trials that sampled the role: p = Σₜ yₜ / Σₜ xₜ, where yₜ is the
/// category's weight in trial t (the samples' periods, as `perf report` weighs them) and xₜ the role's whole weight
/// in that trial — a ratio estimator, each trial (the role's threads pooled) a cluster.
///
/// **Between trials.** The ratio estimator's linearized variance (Cochran, *Sampling Techniques*, ch. 6), which is
/// the cluster-robust (sandwich) variance with trials as clusters, with the small-sample factor k/(k−1):
/// V = k/(k−1) · Σₜ (yₜ − p·xₜ)² / (Σₜ xₜ)², and the interval p ± t₀.₉₇₅,ₖ₋₁ · √V with Student's t for k−1 degrees of
/// freedom, as Cameron and Miller advise for few clusters ("A Practitioner's Guide to Cluster-Robust Inference",
/// 2015). It sees how much the trials disagree; with trials that agree it shrinks to nothing.
///
/// **Within trials.** The Wilson score interval of p with n = the pooled number of samples: the binomial interval
/// of the samples as if every one were an independent draw (with a fixed period, as `cpu-clock`'s, p is the share of
/// the samples and this is exactly Wilson's interval of their counts).
///
/// **The interval** spans both: from the lower of their low ends to the higher of their high ends, clipped to
/// [0, 1]. So it is never narrower than the binomial interval of the samples (identical trials give exactly that),
/// and trials that disagree widen it. With one trial it is Wilson's alone.
package enum ShareEstimator {
    /// The z of a two-sided 95% interval.
    static let z = 1.959963984540054

    /// The shares of every category in `categories` from the role's trials; trials without samples are left out (they
    /// say nothing of where time went). Nil when no trial has samples. When no trial carries weight (every period 0),
    /// the samples are the weights.
    package static func shares(_ trials: [TrialAttribution], categories: [AttributionCategory]) -> [AttributionCategory: CategoryShare]? {
        let sampled = trials.filter { $0.totalSamples > 0 }
        guard !sampled.isEmpty else { return nil }
        let useSamples = sampled.allSatisfy { $0.totalWeight == 0 }
        let totals = sampled.map { useSamples ? $0.totalSamples : $0.totalWeight }
        let n = sampled.reduce(0) { $0 + $1.totalSamples }
        var out: [AttributionCategory: CategoryShare] = [:]
        for category in categories {
            let parts = sampled.map { (useSamples ? $0.samples : $0.weights)[category] ?? 0 }
            let (share, low, high) = interval(parts: parts, totals: totals, samples: n)
            let samples = sampled.reduce(0.0) { $0 + ($1.samples[category] ?? 0) }
            out[category] = CategoryShare(
                category: category, share: share, low: low, high: high,
                samples: samples >= 0x1p64 ? .max : UInt64(samples), weight: parts.reduce(0, +),
                perTrial: zip(parts, totals).compactMap { $1 > 0 ? $0 / $1 : nil })
        }
        return out
    }

    /// The pooled share Σ parts / Σ totals and its 95% interval (see the type's documentation), from each trial's
    /// part and total and the pooled number of samples.
    package static func interval(parts: [Double], totals: [Double], samples n: Double) -> (share: Double, low: Double, high: Double) {
        let sumX = totals.reduce(0, +), sumY = parts.reduce(0, +)
        guard sumX > 0, n > 0 else { return (0, 0, 1) }
        let p = min(1, max(0, sumY / sumX))
        let wilson = wilsonInterval(p, n: n)
        var low = wilson.low, high = wilson.high
        let k = Double(totals.count)
        if totals.count >= 2 {
            let squares = zip(parts, totals).reduce(0.0) { sum, trial in
                let residual = trial.0 - p * trial.1
                return sum + residual * residual
            }
            let se = (k / (k - 1) * squares).squareRoot() / sumX
            let half = Statistics.studentTQuantile(0.975, degreesOfFreedom: k - 1) * se
            if half.isFinite {
                low = min(low, p - half)
                high = max(high, p + half)
            }
        }
        return (p, max(0, low), min(1, high))
    }

    /// The Wilson score interval of a proportion `p` of `n` draws at 95%:
    /// (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n).
    package static func wilsonInterval(_ p: Double, n: Double) -> (low: Double, high: Double) {
        guard n > 0 else { return (0, 1) }
        let z2 = z * z
        let denominator = 1 + z2 / n
        let centre = (p + z2 / (2 * n)) / denominator
        let half = z * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot() / denominator
        // At 0 and 1 the ends are exactly 0 and 1 (rounding would leave a hair's width).
        return (p <= 0 ? 0 : max(0, centre - half), p >= 1 ? 1 : min(1, centre + half))
    }
}

extension Statistics {
    /// The quantile of Student's t distribution with `df` degrees of freedom (df > 0), for 0 < p < 1: the t with
    /// P(T ≤ t) = p, by bisection of the distribution function P(T ≤ t) = 1 − ½·I_{df/(df+t²)}(df/2, ½) for t ≥ 0.
    package static func studentTQuantile(_ p: Double, degreesOfFreedom df: Double) -> Double {
        guard p > 0, p < 1, df > 0 else { return .nan }
        if p < 0.5 { return -studentTQuantile(1 - p, degreesOfFreedom: df) }
        if p == 0.5 { return 0 }
        func cdf(_ t: Double) -> Double { 1 - studentTSurvival(t, degreesOfFreedom: df) }
        var low = 0.0, high = 1.0
        while cdf(high) < p && high < 1e12 { high *= 2 }
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if cdf(mid) < p { low = mid } else { high = mid }
            if high - low <= 1e-12 * high { break }
        }
        return (low + high) / 2
    }

    /// P(T > t) for Student's t with `df` degrees of freedom: ½·I_{df/(df+t²)}(df/2, ½) for t ≥ 0; the normal tail
    /// where df is infinite.
    package static func studentTSurvival(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard t >= 0 else { return 1 - studentTSurvival(-t, degreesOfFreedom: df) }
        guard df.isFinite else { return 0.5 * erfc(t / 2.0.squareRoot()) }
        return 0.5 * regularizedIncompleteBeta(df / (df + t * t), a: df / 2, b: 0.5)
    }

    /// I_x(a, b), the regularized incomplete beta function, by its continued fraction (modified Lentz), on the side
    /// where it converges fast (Numerical Recipes, 3rd ed., §6.4).
    static func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logBeta: Double = lgamma(a) + lgamma(b) - lgamma(a + b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let front = exp(logPowers - logBeta)
        if x < (a + 1) / (a + b + 2) { return front * betaContinuedFraction(x, a, b) / a }
        return 1 - front * betaContinuedFraction(1 - x, b, a) / b
    }

    private static func betaContinuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...300 {
            let m = Double(m)
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + even * d
            if abs(d) < tiny { d = tiny }
            c = 1 + even / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + odd * d
            if abs(d) < tiny { d = tiny }
            c = 1 + odd / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            h *= step
            if abs(step - 1) < 1e-15 { break }
        }
        return h
    }
}
