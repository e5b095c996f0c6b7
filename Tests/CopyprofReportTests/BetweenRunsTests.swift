import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

@testable import CopyprofReport

/// The spread between two runs beyond their trials (genomic control): its estimate from the comparisons' p-values,
/// what it does to a p and an interval, and to compare's verdicts on hand-made profiles.
@Suite struct BetweenRunsTests {
    // MARK: - The estimate

    /// λ is the median z² over 0.4549, the median of χ²₁: p = 0.5 is z = 0.6745, exactly the null median; p = 0.05 is
    /// z = 1.96, z² = 3.84, λ = 8.44. Fewer than 8 p-values give no estimate; below 1 it is reported, not applied.
    @Test func inflationIsTheMedianChiSquareOverItsNullMedian() throws {
        let null = try #require(BetweenRuns(pValues: Array(repeating: 0.5, count: 8)))
        #expect(abs(null.measured - 1) < 1e-6 && abs(null.lambda - 1) < 1e-6 && null.comparisons == 8)
        let inflated = try #require(BetweenRuns(pValues: Array(repeating: 0.05, count: 5) + Array(repeating: 0.9, count: 4)))
        #expect(abs(inflated.measured - 1.959964 * 1.959964 / 0.454936) < 1e-3, "the median of 9: the fifth smallest p")
        let calm = try #require(BetweenRuns(pValues: Array(repeating: 0.9, count: 10)))
        #expect(calm.measured < 0.1 && calm.lambda == 1, "runs that agree beyond their trials are not made more certain")
        #expect(BetweenRuns(pValues: Array(repeating: 0.01, count: 7)) == nil)
        #expect(BetweenRuns(pValues: [0.01, .nan, 0, 0.5, 0.5, 0.5, 0.5, 0.5]) == nil, "a p that is not a probability is left out")
    }

    /// With λ = 4, z is halved: p = 0.002 (z = 3.09) becomes 2·(1 − Φ(1.545)) = 0.122; an interval is widened by 2 on
    /// the log scale about its estimate; with λ = 1 both are left as they are.
    @Test func aPIsTakenAtZOverRootLambdaAndAnIntervalWidenedAboutItsEstimate() throws {
        let four = try #require(BetweenRuns(pValues: Array(repeating: 0.17737, count: 8)))  // z = 1.3490, z² / 0.4549 = 4.0
        #expect(abs(four.lambda - 4) < 0.001)
        let p = try #require(four.adjusted(0.002))
        #expect(abs(p - 0.1223) < 0.002)
        let wide = four.widened((estimate: 1.1, low: 1.05, high: 1.2))
        let k = four.lambda.squareRoot()
        #expect(abs(wide.low - 1.1 * pow(1.05 / 1.1, k)) < 1e-12 && abs(wide.high - 1.1 * pow(1.2 / 1.1, k)) < 1e-12)
        #expect(wide.low < 1.05 && wide.high > 1.2 && wide.estimate == 1.1)
        let one = try #require(BetweenRuns(pValues: Array(repeating: 0.6, count: 8)))
        #expect(one.adjusted(0.002) == 0.002)
        #expect(one.widened((estimate: 1.1, low: 1.05, high: 1.2)).low == 1.05)
        #expect(four.adjusted(nil) == nil)
    }

    // MARK: - compare

    let transports: [TransportKind] = [.twoCopy, .marshal, .oneCopy]
    let sizes = [64, 4096, 65536]
    let shapes: [[Double]] = [
        [0.98, 1.01, 0.995, 1.02, 1.0, 0.985], [1.01, 0.985, 1.02, 0.99, 0.98, 1.005], [0.99, 1.0, 1.015, 0.98, 1.01, 0.995],
        [1.0, 0.99, 0.98, 1.01, 1.02, 0.995], [1.015, 0.995, 1.0, 0.985, 0.99, 1.01],
    ]

    /// Nine stream cells (three transports × three sizes), each at 10 Gbit/s and 2 ns/B times `factor(i)`, with the
    /// ±2% spread of shape `shape(i)`; the control steady.
    func profile(factor: (Int) -> Double, shape: (Int) -> Int) -> Profile {
        var cells: [CellRecord] = []
        for (s, size) in sizes.enumerated() {
            for (t, transport) in transports.enumerated() {
                let i = s * transports.count + t
                let spread = shapes[shape(i) % shapes.count]
                cells.append(SampleProfiles.roundsCell(
                    CellKey(transport: transport, workload: .stream, messageSize: size, connections: 1),
                    timing: spread.map { $0 * 10 * factor(i) }, timingCPUNsPerByte: spread.map { 2 / factor(i) / $0 }))
            }
        }
        return SampleProfiles.rounds(cells, controlMs: [17, 17.1, 16.9, 17, 17.2, 16.8])
    }

    /// Identical runs in which each cell settled at its own level, 7–9% off the other run's, every trial within 2% of
    /// it: on the trials alone nearly every comparison is a change (p = 0.002 each); all of them together say the
    /// runs differ beyond their trials, and none counts. They are listed as `(between runs)`, and the top says why.
    @Test func runsWhoseCellsEachSettledElsewhereAreNotAChange() throws {
        let levels = [1.08, 0.93, 1.07, 0.92, 1.09, 0.94, 1.07, 0.91, 1.08]
        let base = profile(factor: { _ in 1 }, shape: { $0 })
        let cand = profile(factor: { levels[$0] }, shape: { $0 + 1 })
        let c = Comparison(baseline: base, candidate: cand, baselinePath: "a", candidatePath: "b")
        let between = try #require(c.betweenRuns)
        #expect(between.lambda > 4, "every comparison's z² inflated: \(between.measured)")
        let trialsAlone = c.rows.filter { $0.trialsVerdict == .regression || $0.trialsVerdict == .improvement }.count
            + c.relativeRows.filter { $0.trialsVerdict == .regression || $0.trialsVerdict == .improvement }.count
        #expect(trialsAlone >= 12, "on the trials alone these runs differ: \(trialsAlone)")
        #expect(c.regressions.isEmpty && c.improvements.isEmpty && c.relativeRegressions.isEmpty && c.relativeImprovements.isEmpty)
        #expect(c.withinBetweenRuns == trialsAlone && c.exitCode == 0)
        let row = try #require(c.rows.first { $0.metric == .throughput && $0.cell.messageSize == 64 && $0.cell.transport == .twoCopy })
        #expect(row.trialsP.map { $0 < 0.01 } == true && row.p.map { $0 > 0.05 } == true)
        #expect((row.changeHigh ?? 0) - (row.changeLow ?? 0) > 10, "the interval widened by √λ")
        let md = c.markdown
        #expect(md.contains("**The runs differ by more than their trials say**: λ = "))
        #expect(md.contains("\(trialsAlone) changes that the trials alone would count are within that spread, marked `(between runs)`"))
        #expect(md.contains("(between runs) |"))
        let json = try JSONSerialization.jsonObject(with: c.json()) as? [String: Any]
        let recorded = try #require(json?["betweenRuns"] as? [String: Any])
        #expect((recorded["lambda"] as? Double).map { abs($0 - between.lambda) < 1e-9 } == true)
        #expect((recorded["comparisons"] as? Int) == between.comparisons && (json?["withinBetweenRuns"] as? Int) == trialsAlone)
    }

    /// Steady runs (each cell at the same level, the trials in another order) in which one transport got 15% slower at
    /// one size: the other comparisons are as chance makes them, λ stays near 1, and the change counts.
    @Test func oneTransportsOwnChangeAmongSteadyCellsStillCounts() throws {
        let base = profile(factor: { _ in 1 }, shape: { $0 })
        let cand = profile(factor: { $0 == 8 ? 0.85 : 1 }, shape: { $0 + 2 })
        let c = Comparison(baseline: base, candidate: cand, baselinePath: "a", candidatePath: "b")
        let between = try #require(c.betweenRuns)
        #expect(between.lambda < 2, "\(between.measured)")
        let slower = CellKey(transport: .oneCopy, workload: .stream, messageSize: 65536, connections: 1)
        #expect(c.regressions.contains { $0.cell == slower && $0.metric == .throughput })
        #expect(c.regressions.allSatisfy { $0.cell == slower })
        #expect(c.exitCode == 2)
    }

    /// A profile of one cell gives too few comparisons to estimate the spread between runs: compare says so.
    @Test func tooFewComparisonsAreSaid() throws {
        let base = SampleProfiles.make(throughput: [10, 10.1, 9.9, 10, 10.2, 9.8])
        let c = Comparison(baseline: base, candidate: base, baselinePath: "a", candidatePath: "b")
        #expect(c.betweenRuns == nil)
        #expect(c.markdown.contains("to tell whether the runs differ by more than their trials"))
    }
}
