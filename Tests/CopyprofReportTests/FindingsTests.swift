import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

@testable import CopyprofReport

/// Findings computed from saved and hand-made profiles: no sweep runs, so they do not depend on this machine's mood.
@Suite struct FindingsTests {
    /// A profile of stream cells with the given throughput per trial (Gbit/s) and 2 CPU ns per byte.
    func profile(_ cells: [(TransportKind, Int, [Double])], threads: Int = 1) -> Profile {
        var profile = SampleProfiles.make(throughput: [1])
        profile.cells = cells.map { transport, size, gbps in
            CellRecord(
                key: CellKey(transport: transport, workload: .stream, messageSize: size, connections: threads),
                trials: gbps.enumerated().map { SampleProfiles.trial($0.offset + 1, gbps: $0.element) })
        }
        return profile
    }

    let slow = [8.0, 8.1, 8.2, 8.3, 8.4, 8.5]
    let fast = [10.0, 10.1, 10.2, 10.3, 10.4, 10.5]

    @Test func crossoverIsTheFirstSizeWhereTheChallengerWinsSignificantly() throws {
        let analysis = Analysis(profile: profile([
            (.twoCopy, 4096, slow), (.oneCopy, 4096, slow.map { $0 - 0.05 }),
            (.twoCopy, 65536, slow), (.oneCopy, 65536, fast),
        ]))
        guard case .crossover(let crossover) = try #require(analysis.findings.first) else {
            Issue.record("the first finding is the crossover")
            return
        }
        #expect(crossover.sizes == [4096, 65536])
        let line = try #require(crossover.lines.first { $0.challenger == .oneCopy && $0.workload == .stream })
        let outcome = try #require(line.outcomes.first)
        #expect(outcome.connections == 1 && outcome.fromSize == 65536)
        let evidence = try #require(outcome.evidence)
        #expect(abs(evidence.median - 10.25) < 1e-3 && abs(evidence.referenceMedian - 8.25) < 1e-3, "bytes are whole numbers")
        #expect(try #require(evidence.p) < 0.01)
        let text = FindingsMarkdown.render(.crossover(crossover)).text
        #expect(text.contains("**one-copy** vs two-copy, stream throughput: 1 connection: from 65536 B (10.250 vs 8.250 Gbit/s, p = 0.002)."))
    }

    @Test func aChallengerThatNeverWinsSaysSoAtTheLargestSize() throws {
        let analysis = Analysis(profile: profile([(.twoCopy, 4096, fast), (.zeroCopy, 4096, slow)]))
        let crossover = try #require(analysis.crossover())
        let outcome = try #require(crossover.lines.first?.outcomes.first)
        #expect(outcome.fromSize == nil && outcome.evidence?.cell.messageSize == 4096)
        #expect(FindingsMarkdown.render(.crossover(crossover)).text.contains("1 connection: never (at 4096 B 8.250 vs 10.250 Gbit/s)"))
    }

    @Test func fewerCopiesSlowerIsASurpriseWithItsEvidence() throws {
        let analysis = Analysis(profile: profile([(.marshal, 4096, fast), (.twoCopy, 4096, slow)]))
        let groups = analysis.surpriseGroups()
        let group = try #require(groups.first { $0.strongest.kind == "fewer copies, slower" })
        guard case .fewerCopiesSlower(let fewer, let evidence) = group.strongest else {
            Issue.record("expected fewer copies, slower")
            return
        }
        #expect(fewer == .twoCopy && evidence.cell.transport == .marshal && evidence.reference.transport == .twoCopy)
        #expect(abs(evidence.change - (10.25 - 8.25) / 8.25 * 100) < 1e-2)
        #expect(group.count == 1)
    }

    @Test func integrityErrorsAndFailedCellsComeFirstAmongSurprises() throws {
        var p = profile([(.marshal, 4096, fast), (.twoCopy, 4096, slow)])
        p.cells[1].trials[0].integrityErrors = 3
        p.cells[0].error = "trial 6: connection 0 sender: the peer closed the connection"
        let groups = Analysis(profile: p).surpriseGroups()
        #expect(groups.count == 3)
        #expect(Set(groups.prefix(2).map(\.strongest.kind)) == ["integrity", "failed"])
        let text = FindingsMarkdown.render(.surprises(groups)).text
        #expect(text.contains("**Integrity errors**: stream two-copy 4096 B × 1 connection received 3 message(s)"))
    }

    @Test func identicalTransportsGiveNoSurprises() {
        let analysis = Analysis(profile: profile([(.marshal, 4096, slow), (.twoCopy, 4096, slow), (.oneCopy, 4096, slow)]))
        #expect(analysis.surpriseGroups().isEmpty)
    }

    /// The saved sweep of this machine: loopback, so every zero-copy completion was copied.
    @Test func savedSweepFindings() throws {
        let saved = try Profile.read(from: Fixtures.path(Fixtures.schema2Sweep))
        let findings = Analysis(profile: saved).findings
        #expect(findings.map(\.order) == findings.map(\.order).sorted(), "in report order")
        guard case .zeroCopyAvoided(let zeroCopy) = try #require(findings.first { $0.order == 1 }) else {
            Issue.record("a zero-copy finding")
            return
        }
        #expect(zeroCopy.copiedPercent == 100 && zeroCopy.completions > 0)
        guard case .crossover(let crossover) = try #require(findings.first) else {
            Issue.record("a crossover finding")
            return
        }
        #expect(crossover.lines.count == 4, "stream and ping-pong, one-copy and zero-copy")
        #expect(crossover.lines.allSatisfy { $0.outcomes.map(\.connections) == [1, 2] })
        guard case .cacheLevel(.notMeasured(let reasons, _, _)) = try #require(findings.first { if case .cacheLevel = $0 { true } else { false } }) else {
            Issue.record("no PMU on the machine that made the fixture: cache levels not measured")
            return
        }
        #expect(reasons.map(\.event) == ["L1-dcache-load-misses", "LLC-load-misses"])
    }

    /// The whole report of the saved sweep, byte for byte: a change to any finding, table or number format shows here.
    /// Regenerate with `copyprof report Tests/TestSupport/Fixtures/schema2-sweep.json --output
    /// Tests/TestSupport/Fixtures/schema2-sweep-report.md` and read the diff before committing it.
    @Test func savedSweepReportIsUnchanged() throws {
        let saved = try Profile.read(from: Fixtures.path(Fixtures.schema2Sweep))
        let report = Report(profile: saved, source: "Tests/TestSupport/Fixtures/schema2-sweep.json", chartFolder: "schema2-sweep-report-charts")
        let expected = try String(decoding: Fixtures.data("schema2-sweep-report.md"), as: UTF8.self)
        #expect(report.markdown == expected)
    }
}

/// Trials that ran well past their planned duration are named in the report, by cell and by how much.
@Suite struct OverrunTests {
    /// Two cells of 6 trials planned for 1 ms each; trial elapsed times in ms as given.
    func profile(twoCopy: [Double], zeroCopy: [Double]) -> Profile {
        var profile = SampleProfiles.make(throughput: [1])
        profile.plan.duration = 0.001
        profile.cells = [(TransportKind.twoCopy, twoCopy), (.zeroCopy, zeroCopy)].map { transport, elapsed in
            CellRecord(
                key: CellKey(transport: transport, workload: .stream, messageSize: 4096, connections: 2),
                trials: elapsed.enumerated().map { i, ms in
                    var trial = SampleProfiles.trial(i + 1, gbps: 8)
                    trial.elapsedNs = UInt64(ms * 1e6)
                    return trial
                })
        }
        return profile
    }

    @Test func trialsMoreThan20PercentLongAreFlaggedWorstFirst() throws {
        let p = profile(twoCopy: [1, 1.19, 1, 1.25, 1, 1], zeroCopy: [1, 1, 2.2, 1, 1, 0.9])
        let overruns = Analysis(profile: p).overruns
        #expect(overruns.map(\.trial) == [3, 4], "1.19 ms is within 20% of 1 ms; 1.25 and 2.2 are not")
        let worst = try #require(overruns.first)
        #expect(worst.cell.transport == .zeroCopy && abs(worst.ratio - 2.2) < 1e-9 && worst.bytes == 1_000_000)
        // 1 MB in 2.2 ms against 1 MB in 1 ms for the trials on time: 45% of the usual rate, a stall.
        #expect(abs(try #require(worst.rateShare) - 1 / 2.2) < 1e-9 && worst.cause == .stalled)
        let report = Report(profile: p, source: "p.json", chartFolder: "c").markdown
        #expect(report.contains("### Trials that overran\n\n⚠ 2 of 12 trials ran more than 20% past their planned 0.001 s, in 2 cells."))
        #expect(report.contains(
            "| stream zero-copy 4096 B × 2 connections | 1 of 6 | trial 3: 2.2× (0.002 s, 977 KiB, 45% of the usual rate) | stalled |\n"
                + "| stream two-copy 4096 B × 2 connections | 1 of 6 | trial 4: 1.25× (0.001 s, 977 KiB, 80% of the usual rate) | stopped late |"))
        let method = try #require(report.range(of: "## Method")), table = try #require(report.range(of: "### Trials that overran"))
        #expect(method.lowerBound < table.lowerBound, "under the method")
    }

    @Test func trialsOnTimeGiveNoNote() {
        let p = profile(twoCopy: [1, 1.15, 1, 1, 1, 1], zeroCopy: [1, 1, 1, 1, 0.5, 1])
        #expect(Analysis(profile: p).overruns.isEmpty)
        #expect(!Report(profile: p, source: "p.json", chartFolder: "c").markdown.contains("overran"))
    }

    @Test func manyCellsAreFoldedBeyondTheFirstEight() {
        var p = profile(twoCopy: [2], zeroCopy: [2])
        p.cells = (1...10).map { n in
            var trial = SampleProfiles.trial(1, gbps: 8)
            trial.elapsedNs = UInt64(1e6 * (1.5 + Double(n) / 10))
            return CellRecord(key: CellKey(transport: .twoCopy, workload: .stream, messageSize: 64, connections: n), trials: [trial])
        }
        let report = Report(profile: p, source: "p.json", chartFolder: "c").markdown
        #expect(report.contains("| stream two-copy 64 B × 10 connections | 1 of 1 | trial 1: 2.5×"))
        #expect(report.contains("| no trial on time to compare |"), "no trial of the cell kept to time")
        #expect(report.contains("<details><summary>2 more cells</summary>"))
    }

    @Test func eventsACoreTypeRefusedAreListedAsCountedOnTheOthersOnly() {
        // Issue 21: on a hybrid CPU whose cpu_atom refuses the LLC events, their values are cpu_core's counts;
        // the report says so, and lists no event both core types counted.
        var environment = SampleProfiles.environment(cpu: "Hybrid CPU", pmu: true)
        environment.events = [
            EventProbeRecord(
                name: "cycles", kind: "hardware", summary: "", availability: AvailabilityRecord(state: .counted),
                pmus: ["cpu_core", "cpu_atom"]),
            EventProbeRecord(
                name: "LLC-loads", kind: "cache", summary: "",
                availability: AvailabilityRecord(state: .counted, reason: "counted on cpu_core only; cpu_atom refused it"),
                pmus: ["cpu_core"]),
            EventProbeRecord(name: "task-clock", kind: "software", summary: "", availability: AvailabilityRecord(state: .counted)),
        ]
        let report = Report(profile: SampleProfiles.make(throughput: [8, 8, 8], environment: environment), source: "p.json", chartFolder: "c").markdown
        #expect(report.contains(
            "Counted on some core types only (the others refused them; the values are those types' counts, not scaled "
                + "to the time on the others): `LLC-loads` (cpu_core)."))
        let plain = Report(profile: SampleProfiles.make(throughput: [8, 8, 8]), source: "p.json", chartFolder: "c").markdown
        #expect(!plain.contains("Counted on some core types only"))
    }
}
