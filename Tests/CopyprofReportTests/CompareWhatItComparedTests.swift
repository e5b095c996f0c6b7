import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

@testable import CopyprofReport

/// Issue 23, item 2: compare says what it compared — nothing in common, one dimension apart, ratios with few trials,
/// unstable cells.
@Suite struct CompareWhatItComparedTests {
    func key(_ t: TransportKind = .twoCopy, size: Int = 4096, connections: Int = 1, receiver: ReceiverKind = .copy) -> CellKey {
        CellKey(transport: t, receiver: receiver, workload: .stream, messageSize: size, connections: connections)
    }

    func profile(_ cells: [(CellKey, [Double])]) -> Profile {
        SampleProfiles.rounds(cells.map { SampleProfiles.roundsCell($0.0, timing: $0.1, counted: $0.1) }, controlMs: nil)
    }

    let steady = [10.0, 10.1, 9.9, 10.2, 9.8, 10.05]

    @Test func profilesWithNoCellInCommonExit3WithOneLineNamingTheDimensions() {
        let a = profile([(key(size: 64, connections: 1), steady)])
        let b = profile([(key(size: 65536, connections: 4), steady)])
        let c = Comparison(baseline: a, candidate: b, baselinePath: "a", candidatePath: "b")
        #expect(c.exitCode == 3)
        #expect(c.rows.isEmpty && c.pairing == nil)
        #expect(c.nothingInCommon == "no cell in common: the profiles differ in message size (64 vs 65536) and connections (1 vs 4); "
            + "compare pairs cells along one dimension when the profiles differ in it alone, with one value each")
        #expect(!c.markdown.contains("0 regressions"), "never \"nothing changed\" about nothing")
    }

    @Test func profilesOneDimensionApartArePairedAlongIt() throws {
        // 1 connection against 4: every transport faster with 4, as a user asking "1 vs 4 connections" expects to see.
        let a = profile([(key(.twoCopy), steady), (key(.oneCopy), steady), (key(.marshal), steady)])
        let b = profile([(key(.twoCopy, connections: 4), steady.map { $0 * 2 }), (key(.oneCopy, connections: 4), steady.map { $0 * 2 }),
                         (key(.marshal, connections: 4), steady.map { $0 * 2 })])
        let c = Comparison(baseline: a, candidate: b, baselinePath: "a", candidatePath: "b")
        let pairing = try #require(c.pairing)
        #expect(pairing.dimension == .connections && pairing.description == "comparing 1 → 4 connections")
        #expect(c.onlyInBaseline.isEmpty && c.onlyInCandidate.isEmpty)
        let row = try #require(c.rows.first { $0.cell == key(.twoCopy) && $0.metric == .throughput })
        #expect(row.candidateCell == key(.twoCopy, connections: 4))
        // A change every transport shares is the answer here, not a drift the group explains away.
        #expect(row.verdict == .improvement && !row.explainedByGroup)
        // Nor is it spread between the runs: most comparisons are meant to change, so λ is not estimated from them.
        #expect(c.betweenRuns == nil && c.withinBetweenRuns == 0)
        #expect(c.markdown.contains("Along a dimension most comparisons are meant to change"))
        #expect(c.relativeRows.contains { $0.cell == key(.oneCopy) && $0.candidateCell == key(.oneCopy, connections: 4) })
        let md = c.markdown
        #expect(md.contains("**comparing 1 → 4 connections**"))
        #expect(md.contains("| stream two-copy 4096 B × 1 → 4 connections | throughput (Gbit/s) |"))
        // Along the receiver too.
        let mmap = profile([(key(.twoCopy, receiver: .mmap), steady)])
        let r = Comparison(baseline: profile([(key(.twoCopy), steady)]), candidate: mmap, baselinePath: "a", candidatePath: "b")
        #expect(r.pairing?.description == "comparing receiver copy → mmap")
        #expect(r.rows.first?.candidateCell == key(.twoCopy, receiver: .mmap))
        // Not along the workload: stream and ping-pong measure different things.
        var pingpong = key(.twoCopy)
        pingpong.workload = .pingpong
        let w = Comparison(baseline: profile([(key(.twoCopy), steady)]), candidate: profile([(pingpong, steady)]), baselinePath: "a", candidatePath: "b")
        #expect(w.pairing == nil && w.exitCode == 3 && w.nothingInCommon?.contains("stream and ping-pong measure different things") == true)
    }

    @Test func ratioRowsWithFewerThan4TrialsAreUntestableAndShowNoPValue() throws {
        let three = [10.0, 10.1, 9.9]
        let a = profile([(key(.twoCopy), three), (key(.oneCopy), three)])
        let b = profile([(key(.twoCopy), three), (key(.oneCopy), three.map { $0 * 0.5 })])
        let c = Comparison(baseline: a, candidate: b, baselinePath: "a", candidatePath: "b")
        let ratio = try #require(c.relativeRows.first { $0.metric == .throughput })
        #expect(ratio.verdict == .untestable)
        let line = try #require(c.markdown.split(separator: "\n").first { $0.contains("one-copy vs two-copy") && $0.contains("throughput") })
        #expect(line.contains("untestable (n < 4)") && !line.contains("| ~ |") && line.hasSuffix("|  | 3+3 |"))
    }

    @Test func aCellWhoseTrialsDisagreeIsUnstableNotARegression() throws {
        // Zero-copy on loopback: some trials at full speed, some stalled; the median falls by half between two runs.
        let bimodalA = [20.0, 21, 20.5, 9, 20.8, 8.5], bimodalB = [9.0, 20.2, 8.8, 9.1, 21, 8.7]
        let a = profile([(key(.twoCopy), steady), (key(.zeroCopy), bimodalA)])
        let b = profile([(key(.twoCopy), steady), (key(.zeroCopy), bimodalB)])
        let c = Comparison(baseline: a, candidate: b, baselinePath: "a", candidatePath: "b")
        let row = try #require(c.rows.first { $0.cell == key(.zeroCopy) && $0.metric == .throughput })
        #expect(abs(row.change) > 40, "the medians moved by half")
        #expect(row.verdict == .unstable)
        #expect(row.instability?.hasPrefix("baseline: throughput: 2 of 6 trials below half or above twice the median") == true)
        #expect(c.relativeRows.filter { $0.cell == key(.zeroCopy) }.allSatisfy { $0.verdict == .unstable })
        #expect(c.regressions.isEmpty && c.improvements.isEmpty)
        #expect(c.rows.first { $0.cell == key(.twoCopy) && $0.metric == .throughput }?.verdict == .unchanged)
        #expect(c.markdown.contains("> ⚠ **Unstable**:"))
        // The same rule is the report's "unstable cell".
        let surprises = Analysis(profile: b).surpriseGroups()
        #expect(surprises.contains { if case .unstableCell(let k, _) = $0.strongest { k == key(.zeroCopy) } else { false } })
        // And a steady pair with the same drop is a regression.
        let slow = Comparison(
            baseline: profile([(key(.zeroCopy), steady)]), candidate: profile([(key(.zeroCopy), steady.map { $0 / 2 })]),
            baselinePath: "a", candidatePath: "b")
        #expect(slow.rows.first { $0.metric == .throughput }?.verdict == .regression)
    }

    @Test func instabilityNeedsATrialFarFromTheMedian() {
        #expect(Instability(.throughput, [10, 10.5, 9.5, 10.2, 9.8, 10]) == nil)
        #expect(Instability(.throughput, [10, 10.5, 9.5, 10.2, 9.8, 4.9])?.outliers == 1)
        #expect(Instability(.throughput, [10, 10.5, 9.5, 10.2, 9.8, 20.5])?.outliers == 1)
        #expect(Instability(.throughput, [10, 4]) == nil, "fewer than 3 values")
    }
}
