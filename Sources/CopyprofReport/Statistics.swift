import CopyprofProfile
import Foundation
import Synchronization

/// Order statistics of small samples, as benchstat uses them.
package enum Statistics {
    /// The median: the middle value, or the mean of the two middle values; nil for no values.
    package static func median(_ values: [Double]) -> Double? { median(sorted: values.sorted()) }

    /// ``median(_:)`` of values already sorted ascending.
    static func median(sorted: [Double]) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// A confidence interval for the median from order statistics: `[x(k), x(n-k+1)]` with the largest k whose exact
    /// binomial coverage `1 - 2·P(Bin(n, ½) ≤ k-1)` is at least `confidence`. Nil when even `[min, max]` covers less
    /// (n < 6 at 95%).
    package static func medianConfidenceInterval(_ values: [Double], confidence: Double = 0.95)
        -> (low: Double, high: Double, coverage: Double)?
    {
        medianConfidenceInterval(sorted: values.sorted(), confidence: confidence)
    }

    /// ``medianConfidenceInterval(_:confidence:)`` of values already sorted ascending.
    static func medianConfidenceInterval(sorted: [Double], confidence: Double = 0.95)
        -> (low: Double, high: Double, coverage: Double)?
    {
        let n = sorted.count
        guard n >= 1, let (k, coverage) = orderStatisticIndex(n, confidence: confidence) else { return nil }
        return (sorted[k - 1], sorted[n - k], coverage)
    }

    /// The k of the median's interval `[x(k), x(n-k+1)]` for n values, with its coverage; nil when none reaches
    /// `confidence`. It depends on n and the confidence alone: each pair is computed once and kept, so a report of
    /// thousands of cells of thousands of trials computes it once per distinct n.
    static func orderStatisticIndex(_ n: Int, confidence: Double) -> (k: Int, coverage: Double)? {
        guard !confidence.isNaN else { return computeOrderStatisticIndex(n, confidence: confidence) }
        let key = IntervalKey(n: n, confidence: confidence)
        if let known = intervalIndices.withLock({ $0[key] }) { return known.index }
        let computed = computeOrderStatisticIndex(n, confidence: confidence)
        intervalIndices.withLock { $0[key] = KnownIndex(index: computed) }
        return computed
    }

    /// The largest k with `1 - 2·P(Bin(n, ½) ≤ k-1) ≥ confidence`, by the cumulative sum of the terms C(n, i)/2^n.
    ///
    /// Each term's log binomial coefficient extends the previous one by its next factor, `log(n−i) − log(i+1)`: the
    /// same additions, in the same order, as computing each term from scratch made (copyprof 0.2 did, in O(k²) logs
    /// per interval: 40% of a report of 189,121 trials) — so the same values to the bit — in O(k) logs. (The terms
    /// stay in logs because 2^−n underflows beyond n = 1074.)
    static func computeOrderStatisticIndex(_ n: Int, confidence: Double) -> (k: Int, coverage: Double)? {
        guard n >= 1 else { return nil }
        var best: (Int, Double)?
        var cumulative = 0.0  // P(B <= k-1)
        var logC = 0.0  // log C(n, k-1)
        let logHalfPower = Double(n) * log(2)
        for k in 1...((n + 1) / 2) {
            if k > 1 { logC += log(Double(n - (k - 2))) - log(Double(k - 1)) }
            cumulative += exp(logC - logHalfPower)
            let coverage = 1 - 2 * cumulative
            if coverage >= confidence { best = (k, coverage) } else { break }
        }
        return best
    }

    private struct IntervalKey: Hashable {
        var n: Int
        var confidence: Double
    }

    /// A computed index, or that there is none.
    private struct KnownIndex {
        var index: (k: Int, coverage: Double)?
    }

    /// The median intervals' k by n and confidence, computed so far.
    private static let intervalIndices = Mutex<[IntervalKey: KnownIndex]>([:])

    /// The two-sided Mann-Whitney U test of two independent samples.
    ///
    /// Like scipy.stats.mannwhitneyu(x, y, alternative='two-sided', method='auto'): the exact distribution of U when
    /// one sample has at most 8 values and there are no ties, otherwise the normal approximation with tie correction
    /// and continuity correction. The exact distribution is used only while it is small (at most
    /// ``exactDistributionLimit`` values of U); beyond that the normal approximation, which is close there, keeps
    /// time and memory linear in the samples. `u` is the statistic of `x`; `exact` tells which way p was had.
    package static func mannWhitneyU(_ x: [Double], _ y: [Double]) -> (u: Double, p: Double, exact: Bool)? {
        let n1 = x.count, n2 = y.count
        guard n1 > 0, n2 > 0 else { return nil }
        let all = (x.map { ($0, 0) } + y.map { ($0, 1) }).sorted { $0.0 < $1.0 }
        var ranks = [Double](repeating: 0, count: all.count)
        var tieTerm = 0.0
        var hasTies = false
        var i = 0
        while i < all.count {
            var j = i
            while j + 1 < all.count && all[j + 1].0 == all[i].0 { j += 1 }
            let rank = Double(i + j + 2) / 2  // average of 1-based ranks i+1...j+1
            for k in i...j { ranks[k] = rank }
            let t = Double(j - i + 1)
            if t > 1 {
                hasTies = true
                tieTerm += t * t * t - t
            }
            i = j + 1
        }
        let m1 = Double(n1), m2 = Double(n2)
        let r1 = zip(all, ranks).filter { $0.0.1 == 0 }.reduce(0.0) { $0 + $1.1 }
        let u1 = r1 - m1 * (m1 + 1) / 2
        let u2 = m1 * m2 - u1
        if min(n1, n2) <= 8 && !hasTies && m1 * m2 < Double(exactDistributionLimit) {
            let counts = exactUDistribution(n1, n2)
            let total = counts.reduce(0, +)
            let uMin = Int(min(u1, u2).rounded())
            let tail = counts[0...uMin].reduce(0, +)
            return (u1, min(1, 2 * tail / total), true)
        }
        let n = m1 + m2
        let mu = m1 * m2 / 2
        let sigma = sqrt(m1 * m2 / 12 * ((n + 1) - tieTerm / (n * (n - 1))))
        guard sigma > 0 else { return (u1, 1, false) }
        let z = (max(u1, u2) - mu - 0.5) / sigma
        return (u1, min(1, erfc(z / 2.0.squareRoot())), false)  // 2 · sf(z)
    }

    /// The most values of U (n1·n2 + 1) for which the exact distribution is computed: 64 K doubles, 512 KiB.
    package static let exactDistributionLimit = 1 << 16

    /// How many arrangements give each U = 0 ... n1·n2 (the null distribution without ties).
    ///
    /// The counts are the coefficients of the Gaussian binomial [n1+n2 choose m]_q with m = min(n1, n2), built as
    /// ∏_{i=1..m} (1 − q^(n+i)) / (1 − q^i): one array of n1·n2 + 1 values and m passes over it, so memory is linear
    /// in n1·n2 (not the (n1+1)(n2+1) tables of the textbook recursion).
    static func exactUDistribution(_ n1: Int, _ n2: Int) -> [Double] {
        let m = min(n1, n2), n = max(n1, n2)
        let degree = m * n
        var c = [Double](repeating: 0, count: degree + 1)
        c[0] = 1
        // After step i, c holds [n+i choose i]_q, of degree i·n.
        for i in stride(from: 1, through: m, by: 1) {
            let top = i * n
            // Multiply by (1 − q^(n+i)), highest terms first.
            if n + i <= top {
                for k in stride(from: top, through: n + i, by: -1) { c[k] -= c[k - n - i] }
            }
            // Divide by (1 − q^i): c[k] += c[k − i], lowest terms first.
            if i <= top {
                for k in i...top { c[k] += c[k - i] }
            }
        }
        // Rounding in the subtractions can leave tiny negative or fractional values; counts are whole and ≥ 0.
        return c.map { max(0, $0.rounded()) }
    }

    /// The ratio of two independent samples' locations, `x` against `y`, with its confidence interval from order
    /// statistics: the Hodges-Lehmann estimate (the median of all n·m ratios xᵢ/yⱼ) and the interval
    /// `[r(k), r(nm−k+1)]` of the sorted ratios, with k from the null distribution of the Mann-Whitney U (exact for
    /// n·m ≤ 400, normal otherwise) — Bauer's interval, as R's `wilcox.test(log(x), log(y), conf.int = TRUE)` gives
    /// it on the log scale. Distribution-free and deterministic; it is the interval of the Mann-Whitney test
    /// (without ties, it excludes 1 when the test rejects at 1 − `confidence`). Nil when a value is not positive, or when the samples are too
    /// small for any interval at that confidence (n = m = 3 at 95%).
    package static func ratioInterval(_ x: [Double], _ y: [Double], confidence: Double = 0.95)
        -> (estimate: Double, low: Double, high: Double)?
    {
        let n = x.count, m = y.count
        guard n > 0, m > 0, x.allSatisfy({ $0 > 0 && $0.isFinite }), y.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        guard let k = ratioIntervalRank(n, m, confidence: confidence) else { return nil }
        let ratios = SortedRatios(x, over: y)
        let total = n * m
        let estimate = total % 2 == 1 ? ratios[total / 2] : (ratios[total / 2 - 1] * ratios[total / 2]).squareRoot()
        return (estimate, ratios[k - 1], ratios[total - k])
    }

    /// The k of the ratio interval `[r(k), r(nm−k+1)]` of samples of n and m values: the largest with
    /// P(U ≤ k − 1) ≤ (1 − `confidence`) / 2 (exact for n·m ≤ 400, normal otherwise); nil when there is none.
    static func ratioIntervalRank(_ n: Int, _ m: Int, confidence: Double) -> Int? {
        let total = n * m
        let tail = (1 - confidence) / 2
        var k = 0
        if total <= 400 {
            let counts = exactUDistribution(n, m)
            let all = counts.reduce(0, +)
            var cumulative = 0.0
            for c in counts {
                cumulative += c / all
                if cumulative > tail { break }
                k += 1
            }
        } else {
            let mean = Double(total) / 2
            let sd = (Double(total) * Double(n + m + 1) / 12).squareRoot()
            k = max(0, Int((mean - normalQuantile(1 - tail) * sd).rounded(.down)))
        }
        guard k >= 1, k <= total - k + 1 else { return nil }
        return k
    }

    /// All n·m ratios xᵢ/yⱼ of two samples of positive finite values, as if sorted ascending, without computing or
    /// storing them all: `ratios[r]` selects the one of 0-based rank r in O((n + m) · log(n·m)) divisions.
    ///
    /// With x ascending and y descending, the ratio `x[i] / y[j]` (rounded as every division is) never decreases
    /// along a row i or a column j: a sorted matrix. Selection in it (Johnson and Mizoguchi, "Selecting the Kth
    /// element in X + Y and X1 + X2 + … + Xm", SIAM J. Comput. 7(2), 1978; as Monahan's algorithm 616, ACM TOMS 10(3),
    /// 1984, does for the one-sample Hodges-Lehmann estimate) keeps per row the window of columns that may still hold
    /// the answer, and narrows every window by a pivot: the weighted median of the windows' middle elements, which
    /// rules out at least a quarter of what remains. The ratios are the same divisions as materialising them would
    /// make, so the value selected is exactly the element of that rank of their sorted array.
    struct SortedRatios {
        let x: [Double]
        let y: [Double]

        init(_ x: [Double], over y: [Double]) {
            self.x = x.sorted()
            self.y = y.sorted(by: >)
        }

        func ratio(_ i: Int, _ j: Int) -> Double { x[i] / y[j] }

        /// The ratio of 0-based rank `rank` among all n·m.
        subscript(rank: Int) -> Double {
            let n = x.count, m = y.count
            precondition(rank >= 0 && rank < n * m, "rank \(rank) outside the \(n * m) ratios")
            // Columns below low[i] hold ratios known to rank below the answer, columns from high[i] on above it.
            var low = [Int](repeating: 0, count: n)
            var high = [Int](repeating: m, count: n)
            var remaining = n * m
            var middles: [(value: Double, weight: Int)] = []
            middles.reserveCapacity(n)
            while remaining > Self.sortBelow {
                middles.removeAll(keepingCapacity: true)
                for i in 0..<n where low[i] < high[i] {
                    middles.append((ratio(i, (low[i] + high[i]) / 2), high[i] - low[i]))
                }
                middles.sort { $0.value < $1.value }
                var weight = 0
                var pivot = middles[middles.count - 1].value
                for middle in middles {
                    weight += middle.weight
                    if 2 * weight >= remaining {
                        pivot = middle.value
                        break
                    }
                }
                // Per row, how many ratios are below the pivot and how many at most it: the boundaries move left
                // (never right) from row to row, so both walks take n + m steps.
                var less = 0, lessOrEqual = 0
                var lt = m, le = m
                var belowPivot = [Int](repeating: 0, count: n), atMostPivot = [Int](repeating: 0, count: n)
                for i in 0..<n {
                    while lt > 0 && ratio(i, lt - 1) >= pivot { lt -= 1 }
                    while le > 0 && ratio(i, le - 1) > pivot { le -= 1 }
                    belowPivot[i] = lt
                    atMostPivot[i] = le
                    less += lt
                    lessOrEqual += le
                }
                if rank < less {
                    for i in 0..<n { high[i] = min(high[i], belowPivot[i]) }
                } else if rank >= lessOrEqual {
                    for i in 0..<n { low[i] = max(low[i], atMostPivot[i]) }
                } else {
                    return pivot
                }
                remaining = 0
                for i in 0..<n { remaining += high[i] - low[i] }
            }
            var known = 0
            var candidates: [Double] = []
            candidates.reserveCapacity(remaining)
            for i in 0..<n {
                known += low[i]
                for j in low[i]..<high[i] { candidates.append(ratio(i, j)) }
            }
            candidates.sort()
            return candidates[rank - known]
        }

        /// Windows with this many ratios left are sorted rather than narrowed further.
        static let sortBelow = 1024
    }

    /// The standard normal quantile, by bisection of `erfc` (for the few calls a comparison makes).
    static func normalQuantile(_ p: Double) -> Double {
        var low = -10.0, high = 10.0
        for _ in 0..<100 {
            let mid = (low + high) / 2
            if 0.5 * erfc(-mid / 2.0.squareRoot()) < p { low = mid } else { high = mid }
        }
        return (low + high) / 2
    }

    /// The geometric mean of positive values; nil when there are none.
    package static func geometricMean(_ values: [Double]) -> Double? {
        let positive = values.filter { $0 > 0 && $0.isFinite }
        guard !positive.isEmpty else { return nil }
        return exp(positive.reduce(0) { $0 + log($1) } / Double(positive.count))
    }
}

/// The median of a sample with its confidence interval and warnings, as tables show it.
package struct Summary: Sendable, Hashable, Codable {
    package var values: [Double]
    package var median: Double
    package var low: Double?
    package var high: Double?
    /// Flags worth a footnote: high spread, scaled counters. (Fewer than 6 trials shows as a missing interval.)
    package var warnings: [String]
    /// True when an input counter of some trial was multiplexed and its value scaled by enabled/running: an estimate,
    /// said wherever the value is shown.
    package var scaled = false

    package init?(_ values: [Double], scaled: Bool = false) {
        // Sorted once, for the median and its interval both.
        let sorted = values.sorted()
        guard let median = Statistics.median(sorted: sorted) else { return nil }
        self.values = values
        self.median = median
        let interval = Statistics.medianConfidenceInterval(sorted: sorted)
        low = interval?.low
        high = interval?.high
        warnings = []
        if let low, let high, median != 0, (high - low) / abs(median) > 0.25 {
            warnings.append("high spread: the 95% interval is \(formatDecimal((high - low) / abs(median) * 100, digits: 0))% of the median")
        }
        if scaled { warnings.append("multiplexed counters, scaled by enabled/running") }
        self.scaled = scaled
    }

    /// True when the values cover user space only (perf's `:u`): the kernel's part is not in them.
    package var userOnly = false
    /// Where the values' counted inputs come from (empty: measured by the run itself).
    package var sources: [ValueSource] = []
    /// Trials of the metric's kind that gave no value (moved 0 bytes, failed), by reason: counted in ``trialCount``,
    /// not in ``values``.
    package var omitted: [Omission] = []

    /// Trials of one reason that gave no value.
    package struct Omission: Sendable, Hashable, Codable {
        package var reason: String
        package var count: Int

        package init(reason: String, count: Int) {
            self.reason = reason
            self.count = count
        }
    }

    /// The trials the summary stands for: those with a value and those omitted.
    package var trialCount: Int { values.count + omitted.reduce(0) { $0 + $1.count } }

    /// `5 of 6 (1 moved 0 bytes)`, or nil when every trial gave a value.
    package var omissionNote: String? {
        guard !omitted.isEmpty else { return nil }
        return "\(values.count) of \(trialCount) (" + omitted.map { "\($0.count) \($0.reason)" }.joined(separator: "; ") + ")"
    }

    /// Half the interval's width relative to the median, or nil.
    package var relativeHalfWidth: Double? {
        guard let low, let high, median != 0 else { return nil }
        return (high - low) / 2 / abs(median)
    }
}
