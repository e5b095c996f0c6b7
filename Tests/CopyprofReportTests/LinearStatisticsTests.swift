import Foundation
import Testing

@testable import CopyprofReport

/// The statistics computed in linear time give what the quadratic formulas they replaced gave, to the bit: the median
/// interval's binomial sums (once term by term) and the ratios' order statistics (once all n·m ratios, sorted).
@Suite struct LinearStatisticsTests {
    /// The median interval as copyprof 0.2 computed it: every binomial term C(n, k−1)/2^n from scratch.
    static func termByTermInterval(_ values: [Double], confidence: Double) -> (low: Double, high: Double, coverage: Double)? {
        func binomialHalf(_ n: Int, _ k: Int) -> Double {
            var logC = 0.0
            for i in 0..<k { logC += log(Double(n - i)) - log(Double(i + 1)) }
            return exp(logC - Double(n) * log(2))
        }
        let n = values.count
        guard n >= 1 else { return nil }
        let sorted = values.sorted()
        var best: (Int, Double)?
        var cumulative = 0.0
        for k in 1...((n + 1) / 2) {
            cumulative += binomialHalf(n, k - 1)
            let coverage = 1 - 2 * cumulative
            if coverage >= confidence { best = (k, coverage) } else { break }
        }
        guard let (k, coverage) = best else { return nil }
        return (sorted[k - 1], sorted[n - k], coverage)
    }

    /// Bauer's ratio interval as copyprof 0.2 computed it: all n·m ratios, sorted (k as ever).
    static func sortedRatioInterval(_ x: [Double], _ y: [Double], confidence: Double = 0.95)
        -> (estimate: Double, low: Double, high: Double)?
    {
        var ratios: [Double] = []
        for a in x { for b in y { ratios.append(a / b) } }
        ratios.sort()
        let total = ratios.count
        guard total > 0, let k = Statistics.ratioIntervalRank(x.count, y.count, confidence: confidence) else { return nil }
        let estimate = total % 2 == 1 ? ratios[total / 2] : (ratios[total / 2 - 1] * ratios[total / 2]).squareRoot()
        return (estimate, ratios[k - 1], ratios[total - k])
    }

    @Test func medianIntervalEqualsTheTermByTermFormula() throws {
        var rng = SeededGenerator(state: 23)
        for confidence in [0.95, 0.99, 0.9, 0.5] {
            for n in Array(1...200) + [257, 1000, 1478] {
                let values = (1...n).map { Double($0) * 1.5 }.shuffled(using: &rng)
                let expected = Self.termByTermInterval(values, confidence: confidence)
                let got = Statistics.medianConfidenceInterval(values, confidence: confidence)
                #expect(got?.low == expected?.low && got?.high == expected?.high, "n = \(n) at \(confidence)")
                #expect(got?.coverage == expected?.coverage, "n = \(n) at \(confidence): the same sums, to the bit")
                // Computed afresh, not from the cache.
                #expect(Statistics.computeOrderStatisticIndex(n, confidence: confidence)?.coverage == expected?.coverage)
            }
        }
        // Where the old formula says none (n < 6 at 95%), and the first n with one.
        #expect(Statistics.medianConfidenceInterval([1, 2, 3, 4, 5]) == nil)
        #expect(try #require(Statistics.medianConfidenceInterval([1, 2, 3, 4, 5, 6])).coverage == 1 - 2.0 / 64)
    }

    @Test func summaryUsesTheSameMedianAndInterval() throws {
        var rng = SeededGenerator(state: 7)
        for n in [1, 2, 5, 6, 7, 40, 301] {
            let values = (0..<n).map { _ in Double.random(in: 0.5...2, using: &rng) }
            let summary = try #require(Summary(values))
            #expect(summary.values == values, "kept in their order")
            #expect(summary.median == Statistics.median(values))
            let interval = Self.termByTermInterval(values, confidence: 0.95)
            #expect(summary.low == interval?.low && summary.high == interval?.high, "n = \(n)")
        }
    }

    /// Samples with ties (a few distinct values) and without, square and lopsided, above and below the size at which
    /// the selection stops narrowing and sorts.
    static func samplePairs() -> [(x: [Double], y: [Double])] {
        var rng = SeededGenerator(state: 42)
        func continuous(_ n: Int) -> [Double] { (0..<n).map { _ in Double.random(in: 0.1...10, using: &rng) } }
        func tied(_ n: Int) -> [Double] { (0..<n).map { _ in Double(Int.random(in: 1...4, using: &rng)) } }
        return [
            (continuous(1), continuous(1)), (continuous(1), continuous(9)), (continuous(5), continuous(3)),
            (continuous(40), continuous(33)), (continuous(120), continuous(90)), (continuous(300), continuous(7)),
            (continuous(7), continuous(300)), (tied(60), tied(50)), (tied(200), tied(3)), (tied(3), tied(200)),
            ([1e-300, 1e300] + continuous(150), [1e-300, 1e300] + continuous(40)),
        ]
    }

    @Test func selectedRatiosEqualTheSortedRatiosAtEveryRank() {
        for (x, y) in Self.samplePairs() {
            var sorted: [Double] = []
            for a in x { for b in y { sorted.append(a / b) } }
            sorted.sort()
            let ratios = Statistics.SortedRatios(x, over: y)
            // Every rank of the small ones; of the large, both ends, the middle and 200 spread between.
            let step = max(1, sorted.count / 200)
            let ranks = Set(stride(from: 0, to: sorted.count, by: step)).union([0, sorted.count / 2, sorted.count - 1])
            var mismatches = 0
            for rank in ranks.sorted() where ratios[rank] != sorted[rank] { mismatches += 1 }
            #expect(mismatches == 0, "\(x.count)×\(y.count): \(mismatches) of \(ranks.count) ranks differ")
        }
    }

    @Test func ratioIntervalEqualsTheSortedRatiosInterval() throws {
        for (x, y) in Self.samplePairs() {
            for confidence in [0.95, 0.99] {
                let expected = Self.sortedRatioInterval(x, y, confidence: confidence)
                let got = Statistics.ratioInterval(x, y, confidence: confidence)
                #expect(got?.estimate == expected?.estimate, "\(x.count)×\(y.count)")
                #expect(got?.low == expected?.low && got?.high == expected?.high, "\(x.count)×\(y.count) at \(confidence)")
            }
        }
        // 3 against 3 at 95%: too small for any interval, as before.
        #expect(Statistics.ratioInterval([1, 2, 3], [1, 2, 3]) == nil)
    }
}
