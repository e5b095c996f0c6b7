import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

@testable import CopyprofReport

/// Issue 21, item 9: which trials give which figure, no trial dropped silently, and ping-pong in round trips.
@Suite struct TruerFiguresTests {
    let two = CellKey(transport: .twoCopy, workload: .stream, messageSize: 4096, connections: 1)

    /// A counted trial with cycles and context switches from perf; a timing trial with neither.
    func trial(_ index: Int, kind: TrialKind, round: Int, cpu: Double, switches: UInt64, perfSwitches: Bool) -> TrialRecord {
        var t = SampleProfiles.trial(
            index, gbps: 8, cpuNsPerByte: cpu, extra: perfSwitches && kind == .counted ? ["cycles": 4e6, "context-switches": 200] : ["cycles": 4e6],
            kind: kind, round: round)
        for w in t.workers.indices { t.workers[w].usage.voluntarySwitches = switches }
        return t
    }

    @Test func cpuTimeFromTimingTrialsCountsFromCountedOnes() throws {
        func cell(perfSwitches: Bool) -> CellRecord {
            CellRecord(key: two, trials: (1...6).flatMap { r in
                [trial(2 * r - 1, kind: .timing, round: r, cpu: 2, switches: 10, perfSwitches: perfSwitches),
                 trial(2 * r, kind: .counted, round: r, cpu: 3, switches: 50, perfSwitches: perfSwitches)]
            })
        }
        let counted = cell(perfSwitches: true)
        // CPU ns/B and the kernel's share: the timing trials' thread CPU clocks and rusage.
        #expect(Metric.cpuNsPerByte.summary(of: counted)?.median == 2)
        #expect(Metric.cpuNsPerByte.trialKind == .timing && Metric.kernelCPUShare.trialKind == .timing)
        // Cycles: only the counted trials have them.
        #expect(Metric.cyclesPerByte.trialKind == .counted)
        let bytes = Double(counted.trials[1].bytes)
        #expect(abs(try #require(Metric.cyclesPerByte.summary(of: counted)).median - 4e6 / bytes) < 1e-9)
        // Context switches: getrusage's from the timing trials (10 + 10 switches), not the counted trials' (50 + 50 in
        // rusage, 200 from perf), whether or not perf counted them there: a counted trial's sampler adds switches.
        #expect(Metric.contextSwitchesPerMB.trialKind == .timing)
        for cell in [counted, cell(perfSwitches: false)] {
            let summary = try #require(Metric.contextSwitchesPerMB.summary(of: cell))
            #expect(summary.sources == [.getrusage])
            #expect(abs(summary.median - 20 / (Double(cell.trials[0].bytes) / 1e6)) < 1e-9)
        }
    }

    @Test func aTrialThatMovedNothingIsCountedWithItsReason() throws {
        var cell = SampleProfiles.roundsCell(two, timing: [8, 8, 8, 8, 8, 8], counted: [8, 8, 8, 8, 8, 8])
        cell.trials[2].bytes = 0  // round 2's timing trial
        cell.trials[2].messages = 0
        let throughput = try #require(Metric.throughput.summary(of: cell))
        #expect(throughput.values.count == 6 && throughput.values.contains(0), "in n, with a throughput of 0")
        let cpu = try #require(Metric.cpuNsPerByte.summary(of: cell))
        #expect(cpu.values.count == 5 && cpu.trialCount == 6)
        #expect(cpu.omitted == [Summary.Omission(reason: "moved 0 bytes", count: 1)])
        #expect(cpu.omissionNote == "5 of 6 (1 moved 0 bytes)")

        let profile = SampleProfiles.rounds([cell], controlMs: nil)
        let summary = SummaryTable.render(profile)
        #expect(summary.contains(" 6+6 "), "the summary's n counts it")
        #expect(summary.contains("n: stream two-copy 4096 B × 1 connection: 1 of 12 trials moved 0 bytes"))
        let report = Report(profile: profile, source: "p.json", chartFolder: "c").markdown
        #expect(report.contains("**Trials that moved no byte or failed**, in 1 cell"))
        #expect(report.contains("stream two-copy 4096 B × 1 connection (n 6+6): 1 timing trial moved 0 bytes"))
        #expect(report.contains("two-copy 4096 B × 1: n 5 of 6 (1 moved 0 bytes)"), "the CPU table's note")
        // Compare counts the same trials and says why one has no value.
        let comparison = Comparison(baseline: profile, candidate: profile, baselinePath: "a", candidatePath: "b")
        let row = try #require(comparison.rows.first { $0.metric == .cpuNsPerByte })
        #expect(Comparison.n(row.baseline, row.candidate) == "5+5 of 6+6 (baseline: 1 moved 0 bytes; candidate: 1 moved 0 bytes)")
    }

    @Test func theTrialAtWhichACellFailedIsCounted() throws {
        var cell = SampleProfiles.roundsCell(two, timing: [8, 8, 8], counted: [8, 8, 8])
        cell.trials.removeLast()  // round 3's counted trial failed: not recorded
        cell.error = "round 3 counted trial: connection 0 sender: the peer closed the connection"
        #expect(cell.failedTrialKind == .counted)
        let cpu = try #require(Metric.cyclesPerByte.summary(of: CellRecord(key: two, trials: cell.trials.map { t in
            var t = t
            for w in t.workers.indices where t.kind == .counted { t.workers[w].counters["cycles"] = CounterRecord(raw: 1, timeEnabled: 1, timeRunning: 1) }
            return t
        }, error: cell.error)))
        #expect(cpu.omitted.map(\.reason) == ["failed: round 3 counted trial: connection 0 sender: the peer closed the connection"])
        #expect(Metric.throughput.summary(of: cell)?.omitted.isEmpty == true, "the failed trial was a counted one")
        let summary = SummaryTable.render(SampleProfiles.rounds([cell], controlMs: nil))
        #expect(summary.contains("failed: stream two-copy 4096 B × 1 connection: round 3 counted trial: "))
        #expect(summary.contains("(n 3+2: the failed trial and the rounds after it did not run)"))
    }

    /// A ping-pong cell: round trips in place of Gbit/s wherever it stands beside stream.
    @Test func pingPongIsShownInRoundTripsPerSecond() throws {
        let key = CellKey(transport: .twoCopy, workload: .pingpong, messageSize: 64, connections: 1)
        var cell = SampleProfiles.roundsCell(key, timing: [8, 8, 8, 8, 8, 8], counted: [8, 8, 8, 8, 8, 8])
        for i in cell.trials.indices {
            cell.trials[i].rtt = RTTRecord(
                count: 20_000, minNs: 40_000, p50Ns: 50_000, p90Ns: 60_000, p99Ns: 70_000, p999Ns: 80_000, maxNs: 90_000,
                meanNs: 50_000, histogram: HistogramBuckets([(50_000, 20_000)]))
        }
        // 20,000 round trips in the trial's 1 ms (messageSize nil: exactly 1 ms).
        #expect(Metric.roundTripRate.summary(of: cell)?.median == 20_000 / 0.001)
        #expect(Metric.throughput.summary(of: cell) == nil, "no Gbit/s beside stream's")
        var profile = SampleProfiles.rounds([cell, SampleProfiles.roundsCell(two, timing: [8, 8, 8, 8, 8, 8])], controlMs: nil)
        profile.plan.workloads = [.stream, .pingpong]
        let summary = SummaryTable.render(profile)
        #expect(summary.contains(" rate "), "the column is a rate, not Gbit/s, with ping-pong rows")
        #expect(summary.contains("20000.0k"))
        #expect(summary.contains("rate: stream Gbit/s (one direction); ping-pong thousands of round trips/s (k)\n"))
        let csv = CSVExport.render(profile).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let header = try #require(csv.first).map(String.init)
        let gbps = try #require(header.firstIndex(of: "throughput_gbps")), trips = try #require(header.firstIndex(of: "round_trips_per_s"))
        let pingpongRow = try #require(csv.dropFirst().first { $0[1] == "pingpong" })
        #expect(pingpongRow[gbps].isEmpty && pingpongRow[trips] == "20000000")
        let streamRow = try #require(csv.dropFirst().first { $0[1] == "stream" })
        #expect(!streamRow[gbps].isEmpty && streamRow[trips].isEmpty)
        let report = Report(profile: profile, source: "p.json", chartFolder: "c").markdown
        #expect(report.contains("**round trips/s** (round trips/s, higher is better)"))
        #expect(report.contains("Ping-pong is shown in round trips per second"))
        let comparison = Comparison(baseline: profile, candidate: profile, baselinePath: "a", candidatePath: "b")
        #expect(!comparison.rows.contains { $0.cell.workload == .pingpong && $0.metric == .throughput })
        #expect(comparison.rows.contains { $0.cell.workload == .pingpong && $0.metric == .roundTripRate })
    }
}

/// Values that were not measured are absent, never 0.
@Suite struct NotMeasuredIsNotZeroTests {
    @Test func aTrialWithoutCPUTimeHasNoCostPerByte() throws {
        let cell = SampleProfiles.roundsCell(CellKey(transport: .twoCopy, workload: .stream, messageSize: 4096, connections: 1),
                                             timing: [8, 8, 8, 8], counted: [8, 8, 8, 8])
        var trial = try #require(cell.trials.first { $0.kind == .timing })
        #expect(Metric.cpuNsPerByte.value(of: trial) != nil)
        for w in trial.workers.indices {
            trial.workers[w].usage.cpuClockNs = 0
            trial.workers[w].counters = [:]
        }
        #expect(Metric.cpuNsPerByte.value(of: trial) == nil, "no worker recorded CPU time: n/a, not 0 ns/B")
        #expect(Metric.receiverCPUNsPerByte.value(of: trial) == nil)
        #expect(Metric.senderCPUShare.value(of: trial) == nil)
    }

    @Test func aTrialWhoseSamplesCarryNoWeightHasNoShareOfItsOwn() throws {
        let weighed = TrialAttribution(samples: [.copyFromUser: 5, .tcpIP: 5], weights: [.copyFromUser: 5e6, .tcpIP: 5e6])
        let weightless = TrialAttribution(samples: [.copyFromUser: 3], weights: [:])
        let shares = try #require(ShareEstimator.shares([weighed, weightless, weighed], categories: [.copyFromUser, .tcpIP]))
        #expect(shares[.copyFromUser]?.perTrial == [0.5, 0.5], "the weightless trial left out, not a 0")
        #expect(shares[.tcpIP]?.perTrial == [0.5, 0.5])
    }
}

/// compare says a value came from multiplexed (scaled) counters, as the report does.
@Suite struct ScaledInCompareTests {
    @Test func aScaledCounterIsSaidInCompare() throws {
        let key = CellKey(transport: .twoCopy, workload: .stream, messageSize: 4096, connections: 1)
        var cell = SampleProfiles.roundsCell(key, timing: [8, 8, 8, 8, 8, 8], counted: [8, 8, 8, 8, 8, 8])
        for t in cell.trials.indices where cell.trials[t].kind == .counted {
            for w in cell.trials[t].workers.indices {
                cell.trials[t].workers[w].counters["cycles"] = CounterRecord(raw: 1_000_000, timeEnabled: 2, timeRunning: 1)
            }
        }
        let profile = SampleProfiles.rounds([cell], controlMs: nil)
        let comparison = Comparison(baseline: profile, candidate: profile, baselinePath: "a", candidatePath: "b")
        let row = try #require(comparison.rows.first { $0.metric == .cyclesPerByte })
        #expect(row.baseline.scaled && row.candidate.scaled)
        #expect(comparison.markdown.contains("(scaled)"), "\(comparison.markdown)")
        let unscaled = try #require(comparison.rows.first { $0.metric == .throughput })
        #expect(!unscaled.baseline.scaled)
    }
}
