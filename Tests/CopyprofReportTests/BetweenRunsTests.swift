import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

@testable import CopyprofReport

/// The spread between two runs beyond their trials (genomic control): its estimate from the comparisons' p-values,
/// what it does to a p and an interval, and to compare's verdicts on hand-made profiles.
@Suite struct BetweenRunsTests {
    /// The estimate from p-values of continuous tests (χ²₁ under the null).
    func continuous(_ pValues: [Double]) -> BetweenRuns? { BetweenRuns(tests: pValues.map { ($0, .continuous) }) }

    // MARK: - The estimate

    /// λ is the median z² over 0.4549, the median of χ²₁: p = 0.5 is z = 0.6745, exactly the null median; p = 0.05 is
    /// z = 1.96, z² = 3.84, λ = 8.44. Fewer than 8 p-values give no estimate; below 1 it is reported, not applied.
    @Test func inflationIsTheMedianChiSquareOverItsNullMedian() throws {
        let null = try #require(continuous(Array(repeating: 0.5, count: 8)))
        #expect(abs(null.measured - 1) < 1e-6 && abs(null.lambda - 1) < 1e-6 && null.comparisons == 8)
        let inflated = try #require(continuous(Array(repeating: 0.05, count: 5) + Array(repeating: 0.9, count: 4)))
        #expect(abs(inflated.measured - 1.959964 * 1.959964 / 0.454936) < 1e-3, "the median of 9: the fifth smallest p")
        let calm = try #require(continuous(Array(repeating: 0.9, count: 10)))
        #expect(calm.measured < 0.1 && calm.lambda == 1, "runs that agree beyond their trials are not made more certain")
        #expect(continuous(Array(repeating: 0.01, count: 7)) == nil)
        #expect(continuous([0.01, .nan, 0, 0.5, 0.5, 0.5, 0.5, 0.5]) == nil, "a p that is not a probability is left out")
    }

    /// Exact p-values are discrete: with 6 and 6 trials p = 1 one time in 16 and the null median of z² is 0.2923, not
    /// χ²₁'s 0.4549 (SciPy: the exact U distribution's two-sided p for every U, z = Φ⁻¹(1 − p/2), the weighted median
    /// of z²: 0.29231 for 6 and 6, 0.16376 for 4 and 4, 0.44366 for 8 and 8). Judged against 0.4549, identical runs of 6
    /// trials would read λ = 0.64; against their own null, 1.
    @Test func exactPValuesAreJudgedAgainstTheirOwnNull() throws {
        for (n, median) in [(6, 0.29230910266762056), (4, 0.1637642064148303), (8, 0.44365977766164844)] {
            #expect(abs(BetweenRuns.nullMedian([.exactU(n, n)]) - median) < 1e-6, "\(n) and \(n)")
        }
        #expect(abs(BetweenRuns.nullMedian([.continuous]) - 0.454936) < 1e-5)
        let mixed = BetweenRuns.nullMedian([.exactU(6, 6), .continuous])
        #expect(mixed > 0.29 && mixed < 0.455, "a mixture's median lies between its parts': \(mixed)")
        // p-values at the null median of 6 and 6 (z² = 0.2923: p = 0.5887): λ is 1, where χ²₁ would read 0.64.
        let p = 0.5887445887445888
        let exact = try #require(BetweenRuns(tests: Array(repeating: (p, .exactU(6, 6)), count: 9)))
        #expect(abs(exact.measured - 1) < 1e-3, "\(exact.measured)")
        let asIfContinuous = try #require(continuous(Array(repeating: p, count: 9)))
        #expect(abs(asIfContinuous.measured - 0.6425) < 1e-3, "\(asIfContinuous.measured)")
    }

    /// With λ = 4, z is halved: p = 0.002 (z = 3.09) becomes 2·(1 − Φ(1.545)) = 0.122; an interval is widened by 2 on
    /// the log scale about its estimate; with λ = 1 both are left as they are.
    @Test func aPIsTakenAtZOverRootLambdaAndAnIntervalWidenedAboutItsEstimate() throws {
        let four = try #require(continuous(Array(repeating: 0.17737, count: 8)))  // z = 1.3490, z² / 0.4549 = 4.0
        #expect(abs(four.lambda - 4) < 0.001)
        let p = try #require(four.adjusted(0.002))
        #expect(abs(p - 0.1223) < 0.002)
        let wide = four.widened((estimate: 1.1, low: 1.05, high: 1.2))
        let k = four.lambda.squareRoot()
        #expect(abs(wide.low - 1.1 * pow(1.05 / 1.1, k)) < 1e-12 && abs(wide.high - 1.1 * pow(1.2 / 1.1, k)) < 1e-12)
        #expect(wide.low < 1.05 && wide.high > 1.2 && wide.estimate == 1.1)
        let one = try #require(continuous(Array(repeating: 0.6, count: 8)))
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
        #expect(c.withinBetweenRuns == trialsAlone && c.exitCode == 3, "not 'nothing changed': compare cannot tell")
        let row = try #require(c.rows.first { $0.metric == .throughput && $0.cell.messageSize == 64 && $0.cell.transport == .twoCopy })
        #expect(row.trialsP.map { $0 < 0.01 } == true && row.p.map { $0 > 0.05 } == true)
        #expect((row.changeHigh ?? 0) - (row.changeLow ?? 0) > 10, "the interval widened by √λ")
        let md = c.markdown
        #expect(md.contains("**The runs differ by more than their trials say**: λ = "))
        #expect(md.contains("\(trialsAlone) changes that the trials alone would count are within that spread, marked `(between runs)` "
            + "(exit status 3: compare cannot tell them from it)"))
        #expect(md.contains("(between runs) |"))
        // Six trials a side: an exact test reaches |z| = 3.07 at most (p = 2/924: SciPy's norm.isf(1/924) = 3.06668), the
        // normal approximation of the tied ratios 3.22 (each side all ties: 17.5 / √(3 · (13 − 420/132))); over √λ > 1.65
        // neither reaches 1.96.
        #expect(abs((between.largestZ ?? 0) - 3.22450) < 1e-4 && between.nothingCanCount(alpha: 0.05))
        #expect(md.contains("**No change of any size can count here**: the largest z these tests of few trials can reach (3.22)"))
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

/// Several runs a side: pooled into one profile each, compared with the run as the unit (Welch's t on the logarithms
/// of the runs' medians).
@Suite struct RunLevelTests {
    /// Against SciPy 1.17: `stats.ttest_ind(log(c), log(b), equal_var=False)` gives t = −4.2571, p = 0.011041,
    /// df = 4.3274, and its 95% interval exp'd [0.83355, 0.95993] about 0.89451; `stats.t.ppf(0.975, ν)` for ν = 2, 4,
    /// 10, 3.7 and `stats.t.sf`.
    @Test func welchOnLogarithmsAgreesWithSciPy() throws {
        let test = try #require(RunLevelTest(baseline: [10.0, 10.4, 9.7], candidate: [8.9, 9.3, 8.6, 9.1]))
        #expect(abs(test.p - 0.011040935547814806) < 1e-9)
        #expect(abs(test.degreesOfFreedom - 4.327397127475341) < 1e-9)
        #expect(abs(test.estimate - 0.8945092622105374) < 1e-12)
        #expect(abs(test.low - 0.8335454981384328) < 1e-7 && abs(test.high - 0.9599317877277456) < 1e-7)
        for (nu, q) in [(2.0, 4.30265273), (4, 2.77644511), (10, 2.22813885), (3.7, 2.86752071)] {
            #expect(abs(Statistics.studentTQuantile(0.975, degreesOfFreedom: nu) - q) < 1e-6, "t quantile, ν = \(nu)")
        }
        for (t, nu, sf) in [(2.0, 2.0, 0.09175171), (0.5, 7.5, 0.31570548), (5, 3, 0.00769622)] {
            #expect(abs(Statistics.studentTSurvival(t, degreesOfFreedom: nu) - sf) < 1e-7, "t survival, t = \(t), ν = \(nu)")
        }
        #expect(RunLevelTest(baseline: [1], candidate: [1, 2]) == nil, "one run is no spread")
        #expect(RunLevelTest(baseline: [1, 0], candidate: [1, 2]) == nil, "logarithms need positive values")
        #expect(RunLevelTest(baseline: [2, 2], candidate: [3, 3]) == nil, "no spread on either side: untestable, never a certain change")
        #expect(RunLevelTest(baseline: [2, 2], candidate: [3, 3.3]) != nil, "spread on one side suffices")
    }

    let two = CellKey(transport: .twoCopy, workload: .stream, messageSize: 4096, connections: 1)
    let one = CellKey(transport: .oneCopy, workload: .stream, messageSize: 4096, connections: 1)
    let shape = [0.98, 1.01, 0.995, 1.02, 1.0, 0.985]

    /// A run of two-copy and one-copy at `level` times 10 and 8 Gbit/s (one-copy also times `slower`, and times `own`:
    /// its standing against two-copy wanders a little from run to run, as it does).
    func run(_ level: Double, slower: Double = 1, own: Double = 1, controlMs: Double = 17) -> Profile {
        let slower = slower * own
        return SampleProfiles.rounds(
            [
                SampleProfiles.roundsCell(two, timing: shape.map { $0 * 10 * level }, timingCPUNsPerByte: shape.map { 2 / level / $0 }),
                SampleProfiles.roundsCell(
                    one, timing: shape.map { $0 * 8 * level * slower }, timingCPUNsPerByte: shape.map { 2.5 / level / slower / $0 }),
            ],
            controlMs: shape.map { $0 * controlMs })
    }

    /// Pooling offsets rounds and trial numbers run by run (so a round still pairs trials that ran side by side) and
    /// the control's rounds with them; the stacks and frame names go; a single run comes back as it is.
    @Test func poolingKeepsEveryTrialAndEachRunsRounds() throws {
        var first = run(1), second = run(1.1)
        first.cells[0].stacks = []
        first.frameNames = ["f"]
        second.cells.swapAt(0, 1)
        let pooled = try Profile.pooling([first, second], names: ["a", "b"])
        let cell = try #require(pooled.cell(two))
        #expect(cell.trials.count == 12 && cell.stacks == nil && pooled.frameNames == nil)
        #expect(cell.trials.compactMap(\.round) == Array(1...6) + Array(7...12))
        #expect(Set(cell.trials.map(\.trial)).count == 12)
        #expect(pooled.control?.samples.map(\.round) == Array(1...12))
        #expect(pooled.cells.map(\.key) == [two, one], "the first run's order")
        let ratio = try #require(Analysis(profile: pooled).relative(.throughput, one, to: two))
        #expect(ratio.summary.values.count == 12 && ratio.summary.values.allSatisfy { abs($0 - 0.8) < 1e-9 }, "within a run's rounds")
        let single = try Profile.pooling([first], names: ["a"])
        #expect(single.frameNames == ["f"])
        // Runs of other options, or sampled otherwise, are not one side.
        var other = run(1)
        other.plan.sizes = [65536]
        #expect(throws: CopyprofError.self) { try Profile.pooling([first, other], names: ["a.json", "c.json"]) }
        do {
            _ = try Profile.pooling([first, other], names: ["a.json", "c.json"])
        } catch {
            #expect(error.description.hasPrefix("c.json was run with other options than a.json"))
        }
        // Nor runs of another machine, or counted otherwise.
        var kernel = run(1)
        kernel.environment.kernelRelease = "6.12.0"
        #expect(throws: CopyprofError.invalidArgument(
            "k.json ran on another machine than a.json (kernel: 6.12.0 vs 6.1.0): pool only runs of one machine")) {
            try Profile.pooling([first, kernel], names: ["a.json", "k.json"])
        }
        var userOnly = run(1)
        userOnly.environment.events[0].availability = AvailabilityRecord(state: .userOnly)
        #expect(throws: CopyprofError.self) { try Profile.pooling([first, userOnly], names: ["a.json", "u.json"]) }
    }

    /// Identical runs whose levels wander by ±10% between runs, the trials within 2%: one run against one flags on
    /// the trials alone, and three against three with the run as the unit flags nothing — while a one-copy made 15%
    /// slower in every candidate run is found, in its cell and in its ratio to two-copy.
    @Test func theRunAsTheUnitSeesTheSpreadBetweenRuns() throws {
        let levels = [1.0, 0.9, 1.1, 0.92, 1.08, 0.97], own = [1.0, 1.015, 0.99, 1.005, 0.985, 1.01]
        let runs = zip(levels, own).map { run($0, own: $1) }
        let single = Comparison(baseline: runs[0], candidate: runs[1], baselinePath: "a", candidatePath: "b")
        #expect(single.rows.contains { $0.trialsVerdict == .regression }, "on the trials alone, run 2 is slower")
        let aa = Comparison(
            baseline: try Profile.pooling(Array(runs[0..<3]), names: []), candidate: try Profile.pooling(Array(runs[3...]), names: []),
            baselinePath: "a", candidatePath: "b", baselineRuns: Array(runs[0..<3]), candidateRuns: Array(runs[3...]))
        #expect(aa.runs == Comparison.RunCounts(baseline: 3, candidate: 3) && aa.betweenRuns == nil)
        #expect(aa.regressions.isEmpty && aa.improvements.isEmpty && aa.relativeRegressions.isEmpty && aa.exitCode == 0)
        #expect(aa.rows.allSatisfy { $0.verdict != .unstable })
        let slow = zip([0.95, 1.05, 1.0], [1.01, 0.99, 1.0]).map { run($0, slower: 0.85, own: $1) }
        let ab = Comparison(
            baseline: try Profile.pooling(Array(runs[0..<3]), names: []), candidate: try Profile.pooling(slow, names: []),
            baselinePath: "a", candidatePath: "b", baselineRuns: Array(runs[0..<3]), candidateRuns: slow)
        #expect(ab.relativeRegressions.contains { $0.cell == one && $0.metric == .throughput })
        #expect(ab.exitCode == 2)
        let md = ab.markdown
        #expect(md.contains("**The run is the unit**: 3 baseline and 3 candidate runs"))
        #expect(md.contains("| 3+3 runs, 18+18 trials |"))
        #expect(!md.contains("The runs differ by more than their trials say"))
        // One definition of the change: the runs' geometric means, which the columns show with the runs' range.
        let row = try #require(ab.rows.first { $0.cell == one && $0.metric == .throughput })
        let values = try #require(row.runValues)
        #expect(values.baseline.count == 3 && values.candidate.count == 3)
        let geomeans = try #require(Statistics.geometricMean(values.candidate)) / (try #require(Statistics.geometricMean(values.baseline)))
        #expect(abs(1 + row.change / 100 - geomeans) < 1e-9)
        #expect(md.contains(String(format: "| %.3f (", try #require(Statistics.geometricMean(values.baseline)))))
        // One run against several: the trial stays the unit, and compare says why.
        let uneven = Comparison(
            baseline: try Profile.pooling(Array(runs[0..<3]), names: []), candidate: runs[3], baselinePath: "a", candidatePath: "b",
            baselineRuns: Array(runs[0..<3]), candidateRuns: [runs[3]])
        #expect(uneven.runs == nil && uneven.unevenRuns == Comparison.RunCounts(baseline: 3, candidate: 1))
        #expect(uneven.markdown.contains("The baseline pooled 3 runs and the candidate 1: the run can be the unit of the test only"))
        // A cell missing from a run: its rows count the runs that have it; with one left on a side, untestable.
        var gap = runs[4]
        gap.cells.removeAll { $0.key == one }
        let missing = Comparison(
            baseline: try Profile.pooling(Array(runs[0..<2]), names: []), candidate: try Profile.pooling([runs[3], gap], names: []),
            baselinePath: "a", candidatePath: "b", baselineRuns: Array(runs[0..<2]), candidateRuns: [runs[3], gap])
        let short = try #require(missing.rows.first { $0.cell == one && $0.metric == .throughput })
        #expect(short.runValues?.candidate.count == 1 && short.verdict == .untestable)
        #expect(missing.markdown.contains("| 2+1 runs, 12+6 trials |"))
        // A side whose runs have a control only in part: said as such, not as a profile from before the control.
        var old = runs[5]
        old.control = nil
        let partial = Comparison(
            baseline: try Profile.pooling(Array(runs[0..<2]), names: []), candidate: try Profile.pooling([runs[3], old], names: []),
            baselinePath: "a", candidatePath: "b", baselineRuns: Array(runs[0..<2]), candidateRuns: [runs[3], old])
        #expect(partial.drift == nil && partial.controlInSomeRuns == ["candidate"])
        #expect(partial.markdown.contains("Only some runs of the candidate have a control workload"))
    }

    /// A machine 25% slower in every candidate run, its control likewise (each run a little apart): the control's move
    /// is tested with the run as the unit too, and the transports' slowdown is the machine's, not a regression.
    @Test func theControlWithTheRunAsTheUnit() throws {
        let base = zip([1.0, 1.02, 0.98], [17.0, 17.3, 16.8]).map { run($0, controlMs: $1) }
        let cand = zip([0.8, 0.81, 0.79], [21.2, 21.6, 21.0]).map { run($0, own: 1.0, controlMs: $1) }
        let c = Comparison(
            baseline: try Profile.pooling(base, names: []), candidate: try Profile.pooling(cand, names: []), baselinePath: "a",
            candidatePath: "b", baselineRuns: base, candidateRuns: cand)
        let drift = try #require(c.drift)
        #expect(drift.wall.significant && abs(drift.wall.ratio - 1.25) < 0.02 && (drift.wall.p ?? 1) < 0.01)
        // Welch's p of the runs' medians of the control, not a test of its pooled samples.
        let middle = try #require(Statistics.median(shape))
        let expected = try #require(RunLevelTest(baseline: [17.0, 17.3, 16.8].map { $0 * middle }, candidate: [21.2, 21.6, 21.0].map { $0 * middle }))
        #expect(abs((drift.wall.p ?? -1) - expected.p) < 1e-6 && drift.wall.low.map { abs($0 - expected.low) < 1e-6 } == true)
        let throughput = c.rows.filter { $0.metric == .throughput }
        #expect(throughput.allSatisfy { $0.uncorrectedVerdict == .regression && $0.verdict == .unchanged }, "\(throughput.map(\.verdict))")
        #expect(c.regressions.isEmpty)
    }

    /// Where the time goes, with the run as the unit: each run's pooled share one value, Welch's t of the shares.
    /// Two-copy's sender copying 11 points less in each of three runs (the runs a point apart) is a shift with its
    /// interval in points; three runs against three others like them is none.
    @Test func sharesWithTheRunAsTheUnit() throws {
        let jitter = [-0.01, 0, 0.012]
        func runs(_ copy: Double, _ jitter: [Double]) -> [Profile] {
            jitter.map { SampledSweep.profile(twoCopySenderShift: [.copyFromUser: copy + $0, .tcpIP: -copy - $0]) }
        }
        let a = runs(0, jitter), b = runs(-0.11, jitter), a2 = runs(0, [0.008, -0.012, 0.002])
        let c = try #require(AttributionComparison(
            baseline: try Profile.pooling(a, names: []), candidate: try Profile.pooling(b, names: []), baselineRuns: a, candidateRuns: b))
        #expect(c.runs == Comparison.RunCounts(baseline: 3, candidate: 3))
        let copy = try #require(c.rows.first { $0.cell == SampledSweep.key(.twoCopy) && $0.role == .sender && $0.category == .copyFromUser })
        #expect(copy.verdict == .decreased && abs(copy.change + 11) < 1 && copy.changeLow < copy.change && copy.change < copy.changeHigh)
        #expect((copy.p ?? 1) < 0.01)
        #expect(c.shifts.allSatisfy { $0.cell == SampledSweep.key(.twoCopy) && $0.role == .sender })
        #expect(c.markdown.contains("The run is the unit (3 and 3 runs)") && c.markdown.contains("| 3+3 runs, 18+18 trials |"))
        let same = try #require(AttributionComparison(
            baseline: try Profile.pooling(a, names: []), candidate: try Profile.pooling(a2, names: []), baselineRuns: a, candidateRuns: a2))
        #expect(same.shifts.isEmpty && !same.rows.isEmpty)
        let one = try #require(AttributionComparison(
            baseline: try Profile.pooling(a, names: []), candidate: b[0], baselineRuns: a, candidateRuns: [b[0]]))
        #expect(one.runs == nil, "one run on a side: the trial stays the unit")
        var faster = a[1]
        faster.sampling?.frequency = 1000
        #expect(throws: CopyprofError.invalidArgument("f.json was sampled differently from a.json: pool only runs sampled alike")) {
            try Profile.pooling([a[0], faster], names: ["a.json", "f.json"])
        }
    }
}
