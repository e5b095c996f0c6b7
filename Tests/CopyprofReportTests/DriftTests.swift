import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

@testable import CopyprofReport

/// Rounds, trial kinds, the control and the ratios to two-copy, on hand-made profiles with known numbers: how compare
/// tells a drifting machine from a changed transport, without running a sweep.
@Suite struct DriftTests {
    let two = CellKey(transport: .twoCopy, workload: .stream, messageSize: 4096, connections: 1)
    let one = CellKey(transport: .oneCopy, workload: .stream, messageSize: 4096, connections: 1)
    let marshal = CellKey(transport: .marshal, workload: .stream, messageSize: 4096, connections: 1)

    /// Six rounds of values around `level` with a fixed spread of ±2% (the same shape in every profile, so that only
    /// the level differs).
    func around(_ level: Double, shape: [Double] = [0.98, 1.01, 0.995, 1.02, 1.0, 0.985]) -> [Double] {
        shape.map { $0 * level }
    }

    /// A profile of two-copy, marshal and one-copy at the given levels (Gbit/s), and the control at `controlMs`.
    func profile(two t: Double, marshal m: Double, one o: Double, controlMs: Double?, shapes: Int = 0) -> Profile {
        let shapesList: [[Double]] = [
            [0.98, 1.01, 0.995, 1.02, 1.0, 0.985], [1.01, 0.985, 1.02, 0.99, 0.98, 1.005], [0.99, 1.0, 1.015, 0.98, 1.01, 0.995],
        ]
        let shape = shapesList[shapes % shapesList.count]
        return SampleProfiles.rounds(
            [
                SampleProfiles.roundsCell(two, timing: around(t, shape: shape), counted: around(t, shape: shape)),
                SampleProfiles.roundsCell(marshal, timing: around(m, shape: shape), counted: around(m, shape: shape)),
                SampleProfiles.roundsCell(one, timing: around(o, shape: shape), counted: around(o, shape: shape)),
            ],
            controlMs: controlMs.map { around($0, shape: shape) })
    }

    // MARK: - Statistics

    /// Bauer's interval against a brute-force computation (Python: all 36 ratios, k from the exact null distribution
    /// of U for 6 and 6, P(U ≤ 5) = 0.0206).
    @Test func ratioIntervalFromOrderStatistics() throws {
        let x = [1.10, 1.12, 1.15, 1.08, 1.11, 1.13], y = [1.0, 1.02, 0.99, 1.01, 1.03, 0.98]
        let r = try #require(Statistics.ratioInterval(x, y))
        #expect(abs(r.estimate - 1.1094553119026072) < 1e-12)
        #expect(abs(r.low - 1.0784313725490198) < 1e-12 && abs(r.high - 1.1414141414141412) < 1e-12)
        // Identical samples: the interval holds 1. Three values a side: no 95% interval exists.
        let same = try #require(Statistics.ratioInterval(y, y))
        #expect(same.low <= 1 && same.high >= 1 && abs(same.estimate - 1) < 1e-12)
        #expect(Statistics.ratioInterval([1, 2, 3], [1, 2, 3]) == nil)
        #expect(Statistics.ratioInterval([1, 0], [1, 2]) == nil, "ratios need positive values")
        // Large samples use the normal approximation of the same k.
        let big = (0..<30).map { 1 + Double($0) / 100 }
        let shifted = try #require(Statistics.ratioInterval(big.map { $0 * 1.5 }, big))
        #expect(shifted.low < 1.5 && shifted.high > 1.5 && shifted.low > 1)
    }

    @Test func roundRatiosPairTrialsOfTheSameRound() throws {
        // Rounds in a different order on each side; round 3 of `a` has no partner.
        let a = [
            SampleProfiles.trial(1, gbps: 8, kind: .timing, round: 2), SampleProfiles.trial(2, gbps: 4, kind: .timing, round: 1),
            SampleProfiles.trial(3, gbps: 9, kind: .timing, round: 3),
        ]
        let b = [SampleProfiles.trial(1, gbps: 2, kind: .timing, round: 1), SampleProfiles.trial(2, gbps: 16, kind: .timing, round: 2)]
        let ratio = try #require(RoundRatio(.throughput, a, over: b))
        #expect(ratio.summary.values.sorted() == [0.5, 2])
        // Without rounds (a profile from before them), trials pair by their order.
        let old = try #require(RoundRatio(
            .throughput, [SampleProfiles.trial(1, gbps: 8), SampleProfiles.trial(2, gbps: 4)],
            over: [SampleProfiles.trial(1, gbps: 4), SampleProfiles.trial(2, gbps: 4)]))
        #expect(old.summary.values == [2, 1])
    }

    // MARK: - Trial kinds

    @Test func timeMetricsComeFromTimingTrialsAndCostsFromCountedOnes() throws {
        // Counted trials are slower (the counters' cost) and cost more CPU per byte; timing trials are fast, and their
        // threads' CPU clocks give the CPU cost (issue 21: the counters' own cost is not in it).
        let cell = SampleProfiles.roundsCell(
            two, timing: [10, 10, 10, 10, 10, 10], counted: [9, 9, 9, 9, 9, 9], cpuNsPerByte: [3, 3, 3, 3, 3, 3])
        #expect(Metric.throughput.summary(of: cell)?.median == 10)
        #expect(Metric.cpuNsPerByte.summary(of: cell)?.median == 2)
        #expect(Metric.cpuNsPerByte.summary(of: cell)?.sources == [.threadCPUClock])
        // A run without counters: timing trials only, and costs from them.
        let timingOnly = SampleProfiles.roundsCell(two, timing: [10, 10, 10, 10, 10, 10])
        #expect(Metric.cpuNsPerByte.summary(of: timingOnly)?.median == 2)
        // Trials from before the split serve both.
        let old = CellRecord(key: two, trials: [SampleProfiles.trial(1, gbps: 7, cpuNsPerByte: 5)])
        #expect(Metric.throughput.summary(of: old)?.median == 7 && Metric.cpuNsPerByte.summary(of: old)?.median == 5)
        #expect(Analysis(profile: SampleProfiles.make(throughput: [1, 2, 3, 4, 5, 6])).overheads.isEmpty)
    }

    @Test func counterOverheadIsCountedAgainstTimingRoundByRound() throws {
        let slow = SampleProfiles.roundsCell(two, timing: [10, 12, 10, 11, 10, 12], counted: [9.5, 11.4, 9.5, 10.45, 9.5, 11.4])
        let free = SampleProfiles.roundsCell(one, timing: [10, 12, 10, 11, 10, 12], counted: [10.1, 11.9, 10, 11.1, 9.9, 12])
        let analysis = Analysis(profile: SampleProfiles.rounds([slow, free], controlMs: nil))
        let overhead = try #require(analysis.overhead(slow))
        // Every round 5% slower with counters: 1/0.95 − 1 = 5.26%, whatever the round's level.
        #expect(abs(overhead.percent - 5.263) < 0.01)
        #expect(overhead.exceeds(2))
        #expect(try #require(analysis.overhead(free)).exceeds(2) == false)
        guard case .counterOverhead(let finding) = try #require(analysis.findings.first { if case .counterOverhead = $0 { true } else { false } }) else {
            Issue.record("an overhead finding")
            return
        }
        #expect(finding.exceeding.map(\.cell) == [two] && finding.measuredCells == 2)
        let text = FindingsMarkdown.render(.counterOverhead(finding)).text
        #expect(text.contains("It exceeds 2% in 1 of 2 cells:\n- stream two-copy 4096 B × 1 connection: +5.3% [+5.3, +5.3]"))
        #expect(SummaryTable.render(analysis.profile).contains("5[5,5]*"))
    }

    /// The summary, its overhead grid included, fits an 80-column terminal even with the widest intervals (the note
    /// on getrusage, another part's, aside).
    @Test func theSummaryFits79Columns() throws {
        var p = try Profile.read(from: Fixtures.path(Fixtures.schema2Sweep))
        p.cells[0] = SampleProfiles.roundsCell(
            p.cells[0].key, timing: [10, 10, 10, 10, 10, 10], counted: [0.001, 5, 5, 5, 5, 10])
        let text = SummaryTable.table(p) + SummaryTable.overheadGrid(Analysis(profile: p))
        #expect(text.contains("999+"))
        for line in text.split(separator: "\n") where !line.hasPrefix("* context switches") {
            #expect(line.count <= 79, "\(line.count): \(line)")
        }
    }

    @Test func theReportStatesTheControlsSpread() throws {
        let p = profile(two: 10, marshal: 10, one: 9, controlMs: 2.5)
        let finding = try #require(Analysis(profile: p).findings.first { if case .machineSteadiness = $0 { true } else { false } })
        let text = FindingsMarkdown.render(finding).text
        #expect(text.contains("took 2.49 ms [2.45, 2.55] (median of 6 rounds; from 2.45 to 2.55 ms, a range of 4% of the median)"))
        #expect(text.contains("A round trip of a byte between two threads over pipes (100 of them, the cost of waking a thread, most of a ping-pong's) took 20.0 µs [20.0, 20.0] (a range of 0%)."))
        #expect(text.contains("The machine was steady during the run."))
        let report = Report(profile: p, source: "p.json", chartFolder: "c").markdown
        #expect(report.contains("### How steady the machine was"))
        #expect(report.contains("**throughput against two-copy**"))
        #expect(report.contains("| 4096 | 1 | 1.00× [1.00, 1.00] | 0.90× [0.90, 0.90] |"))
    }

    /// p = 0.01 and a median 7.5% lower, but the interval of the change reaches -1.5%: not shown to be more than
    /// half the 5% threshold.
    @Test func aChangeCountsOnlyWhenItsIntervalLiesBeyondHalfTheThreshold() throws {
        let base = SampleProfiles.make(throughput: [10, 10.1, 9.9, 10, 10.2, 9.8])
        let noisy = SampleProfiles.make(throughput: [9.3, 9.8, 9.0, 8.0, 9.85, 9.2])
        let c = Comparison(baseline: base, candidate: noisy, baselinePath: "a", candidatePath: "b")
        let row = try #require(c.rows.first { $0.metric == .throughput })
        let p = try #require(row.p), low = try #require(row.changeLow), high = try #require(row.changeHigh)
        #expect(p < 0.05 && row.change < -5)
        // Bauer's interval, as computed by brute force in Python: [0.816, 0.985] of the ratio (the profile's bytes are
        // whole 4096-byte messages, so the throughputs are those above within 0.05%).
        #expect(abs(low + 18.367) < 0.1 && abs(high + 1.5) < 0.1)
        #expect(row.verdict == .unchanged && c.exitCode == 0)
        // An interval that reaches only -4% (Python: [0.816, 0.960]) counts.
        let clearer = SampleProfiles.make(throughput: [9.3, 9.6, 9.0, 8.0, 9.55, 9.2])
        #expect(Comparison(baseline: base, candidate: clearer, baselinePath: "a", candidatePath: "b").exitCode == 2)
    }

    // MARK: - Compare on a drifting machine

    /// The same software on a machine 15% faster in the candidate: every transport 15% faster, the control 15%
    /// shorter. Nothing counts.
    @Test func driftTheControlExplainsIsNoChange() throws {
        let base = profile(two: 10, marshal: 9, one: 8, controlMs: 2.5)
        let cand = profile(two: 11.5, marshal: 10.35, one: 9.2, controlMs: 2.5 / 1.15, shapes: 1)
        let c = Comparison(baseline: base, candidate: cand, baselinePath: "a", candidatePath: "b")
        let drift = try #require(c.drift)
        #expect(drift.wall.significant && abs(drift.speedup - 1.15) < 0.02)
        let throughput = c.rows.filter { $0.metric == .throughput }
        #expect(throughput.count == 3 && throughput.allSatisfy { $0.uncorrectedVerdict == .improvement && $0.verdict == .unchanged })
        #expect(!c.rows.isEmpty && c.rows.allSatisfy { $0.verdict == .unchanged })
        #expect(!c.relativeRows.isEmpty && c.relativeRows.allSatisfy { $0.verdict == .unchanged })
        #expect(c.exitCode == 0)
        #expect(c.explainedByDrift.count == 3)
        let md = c.markdown
        #expect(md.contains("**The machine itself was 15% faster in the candidate.** The control: its copies and system calls took"))
        #expect(md.contains("3 changes are within the machine's drift, 0 exceed it."))
        #expect(md.contains("| vs control |"))
    }

    /// On the same drift, one transport 40% faster: it exceeds the drift, absolutely and against two-copy.
    @Test func aChangeBeyondTheDriftCounts() throws {
        let base = profile(two: 10, marshal: 9, one: 8, controlMs: 2.5)
        let cand = profile(two: 11.5, marshal: 10.35, one: 8 * 1.4, controlMs: 2.5 / 1.15, shapes: 1)
        let c = Comparison(baseline: base, candidate: cand, baselinePath: "a", candidatePath: "b")
        #expect(c.improvements.map(\.cell) == [one])
        #expect(c.relativeImprovements.map(\.cell) == [one] && c.relativeImprovements.map(\.metric) == [.throughput])
        #expect(c.exitCode == 4)
        #expect(c.markdown.contains("2 changes are within the machine's drift, 1 exceeds it."))
    }

    /// A steady machine and one transport 10% slower: flagged absolutely and against two-copy, the others unchanged.
    @Test func aSlowerTransportOnASteadyMachine() throws {
        let base = profile(two: 10, marshal: 9, one: 8, controlMs: 2.5)
        let cand = profile(two: 10, marshal: 9, one: 7.2, controlMs: 2.5, shapes: 1)
        let c = Comparison(baseline: base, candidate: cand, baselinePath: "a", candidatePath: "b")
        let drift = try #require(c.drift)
        #expect(!drift.moved)
        #expect(c.regressions.map(\.cell) == [one] && c.regressions.map(\.metric) == [.throughput])
        let relative = try #require(c.relativeRegressions.first)
        #expect(c.relativeRegressions.count == 1 && relative.cell == one)
        #expect(abs(relative.baseline.median - 0.8) < 1e-9 && abs(relative.candidate.median - 0.72) < 1e-9)
        #expect(c.relativeRows.first { $0.cell == marshal && $0.metric == .throughput }?.verdict == .unchanged)
        #expect(c.exitCode == 2)
        let md = c.markdown
        #expect(md.contains("**The machine did not move significantly.**"))
        #expect(md.contains("| stream 4096 B × 1 | one-copy vs two-copy | throughput | 0.80× [0.80, 0.80] | 0.72× [0.72, 0.72] | -10% [-10, -10] |"))
        #expect(md.contains("| stream 4096 B × 1 | marshal vs two-copy | throughput | 0.90× [0.90, 0.90] | 0.90× [0.90, 0.90] | ~ |"))
        #expect(!md.contains("| vs control |"))
    }

    /// A starved machine: the control twice as slow, the transports 40% slower. Reported as the machine's change;
    /// nothing counts against the software.
    @Test func aStarvedMachineIsTheMachinesChange() throws {
        let base = profile(two: 10, marshal: 9, one: 8, controlMs: 2.5)
        let cand = profile(two: 6, marshal: 5.4, one: 4.8, controlMs: 5, shapes: 2)
        let c = Comparison(baseline: base, candidate: cand, baselinePath: "a", candidatePath: "b")
        #expect(c.markdown.contains("**The machine itself was 2× slower in the candidate.**"))
        #expect(c.regressions.isEmpty && c.relativeRegressions.isEmpty)
        #expect(c.exitCode == 0)
    }

    /// Ping-pong 25% faster for every transport while the copies and system calls did not move but the control's
    /// wake-ups got 20% faster: the wake-ups explain it; a stream cell's change on the same machine still counts.
    @Test func wakeUpDriftExplainsPingPongAndOnlyPingPong() throws {
        func cells(_ scale: Double, stream: Double, shape: [Double]) -> [CellRecord] {
            [TransportKind.twoCopy, .marshal, .oneCopy].enumerated().map { i, t in
                var cell = SampleProfiles.roundsCell(
                    CellKey(transport: t, workload: .pingpong, messageSize: 4096, connections: 1),
                    timing: shape.map { $0 * scale * (4 - Double(i)) }, counted: shape.map { $0 * scale * (4 - Double(i)) })
                // A round trip per two messages of the trial: the round trips per second go as its bytes.
                for k in cell.trials.indices {
                    cell.trials[k].rtt = RTTRecord(
                        count: cell.trials[k].bytes / 8192, minNs: 1, p50Ns: 1, p90Ns: 1, p99Ns: 1, p999Ns: 1, maxNs: 1, meanNs: 1,
                        histogram: HistogramBuckets([(1, 1)]))
                }
                return cell
            } + [SampleProfiles.roundsCell(two, timing: shape.map { $0 * stream }, counted: shape.map { $0 * stream })]
        }
        let shapeA = [0.98, 1.01, 0.995, 1.02, 1.0, 0.985], shapeB = [1.01, 0.985, 1.02, 0.99, 0.98, 1.005]
        var base = SampleProfiles.rounds(cells(1, stream: 10, shape: shapeA), controlMs: nil)
        base.control = SampleProfiles.control(wallMs: shapeA.map { $0 * 17 }, wakeUs: shapeA.map { $0 * 20 })
        var cand = SampleProfiles.rounds(cells(1.25, stream: 12, shape: shapeB), controlMs: nil)
        cand.control = SampleProfiles.control(wallMs: shapeB.map { $0 * 17 }, wakeUs: shapeB.map { $0 * 16 })
        let c = Comparison(baseline: base, candidate: cand, baselinePath: "a", candidatePath: "b")
        let drift = try #require(c.drift)
        #expect(!drift.wall.significant && drift.wakeWall?.significant == true)
        let pingpong = c.rows.filter { $0.cell.workload == .pingpong && $0.metric == .roundTripRate }
        #expect(pingpong.count == 3 && pingpong.allSatisfy { $0.uncorrectedVerdict == .improvement && $0.verdict == .unchanged })
        #expect(c.improvements.map(\.cell) == [two], "the stream cell's 20% is not a wake-up")
        let md = c.markdown
        #expect(md.contains("**The machine's wake-ups were faster in the candidate.**"))
        #expect(md.contains("a round trip of its two threads over pipes took 19.9 µs and 16.0 µs (-20% [-21.6, -18], p = 0.002)"))
        #expect(md.contains("The wake-ups' CPU time moved by -20%"))
        #expect(md.contains("Changes of ping-pong RTT, ping-pong round trips/s and ping-pong CPU ns/B are also shown relative to the control"))
    }

    /// The control steady, every transport of the group 25% slower alike (as ping-pong moved between identical runs
    /// here while the copies and system calls did not): shared, listed, not counted; one transport's own 10% still is.
    @Test func aChangeEveryTransportSharesIsListedButDoesNotCount() throws {
        let base = profile(two: 10, marshal: 9, one: 8, controlMs: 17)
        let shared = Comparison(
            baseline: base, candidate: profile(two: 7.5, marshal: 6.75, one: 6, controlMs: 17, shapes: 1), baselinePath: "a",
            candidatePath: "b")
        let throughput = shared.rows.filter { $0.metric == .throughput }
        #expect(throughput.count == 3 && throughput.allSatisfy { $0.uncorrectedVerdict == .regression && $0.explainedByGroup })
        #expect(shared.exitCode == 0 && shared.sharedByGroup.count == 3)
        #expect(shared.markdown.contains("**3 changes are shared alike by the transports of their cell group**"))
        #expect(shared.markdown.contains("(shared)"))
        // Two transports only: no group to share with; the change counts.
        var pair = base
        pair.cells.removeLast()
        var pairCandidate = profile(two: 7.5, marshal: 6.75, one: 6, controlMs: 17, shapes: 1)
        pairCandidate.cells.removeLast()
        #expect(Comparison(baseline: pair, candidate: pairCandidate, baselinePath: "a", candidatePath: "b").exitCode == 2)
    }

    @Test func withoutAControlCompareSaysSo() throws {
        let base = SampleProfiles.make(throughput: [10, 10.1, 9.9, 10, 10.2, 9.8])
        let cand = profile(two: 10, marshal: 9, one: 8, controlMs: 2.5)
        let c = Comparison(baseline: base, candidate: cand, baselinePath: "a", candidatePath: "b")
        #expect(c.drift == nil && c.withoutControl == ["baseline"])
        #expect(c.markdown.contains("No control workload in the baseline"))
        let json = try JSONSerialization.jsonObject(with: c.json()) as? [String: Any]
        #expect((json?["withoutControl"] as? [String]) == ["baseline"])
        #expect(json?["relativeRows"] is [Any])
    }
}
