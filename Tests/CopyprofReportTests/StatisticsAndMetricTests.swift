import CopyprofModel
import Foundation
import Testing

import CopyprofProfile
@testable import CopyprofReport
import TestSupport

@Suite struct StatisticsTests {
    // Reference values from scipy 1.17.1:
    //   scipy.stats.mannwhitneyu(x, y, alternative='two-sided')  (method='auto': exact without ties when a sample
    //   has at most 8 values, otherwise the normal approximation with tie and continuity corrections).
    @Test func mannWhitneyMatchesScipyExact() throws {
        let a = try #require(Statistics.mannWhitneyU([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]))
        #expect(a.u == 0)
        #expect(abs(a.p - 0.0021645021645021645) < 1e-12)
        let b = try #require(Statistics.mannWhitneyU([1.1, 2.3, 3.5, 4.2, 5.9, 6.1], [3.0, 4.4, 5.1, 6.6, 7.2, 8.9]))
        #expect(b.u == 8)
        #expect(abs(b.p - 0.13203463203463203) < 1e-12)
        let c = try #require(Statistics.mannWhitneyU([5, 6, 7], [1, 2, 3, 4]))
        #expect(c.u == 12)
        #expect(abs(c.p - 0.05714285714285714) < 1e-12)
    }

    @Test func mannWhitneyMatchesScipyAsymptotic() throws {
        // Ties: normal approximation with tie correction.
        let ties = try #require(Statistics.mannWhitneyU([1, 2, 2, 3, 4, 5, 5, 6, 7, 9], [3, 4, 4, 5, 6, 8, 8, 9, 10, 11]))
        #expect(ties.u == 26.5)
        #expect(abs(ties.p - 0.08060326308811272) < 1e-9)
        // Ten values a side: normal approximation with continuity correction.
        let big = try #require(Statistics.mannWhitneyU(Array(10...19).map(Double.init), Array(20...29).map(Double.init)))
        #expect(big.u == 0)
        #expect(abs(big.p - 0.00018267179110955002) < 1e-9)
    }

    @Test func exactDistributionMatchesCountingEveryArrangement() {
        // Count U over every way to place n1 x's among n1 + n2 positions (x beats every y before it).
        func brute(_ n1: Int, _ n2: Int) -> [Double] {
            var counts = [Double](repeating: 0, count: n1 * n2 + 1)
            for mask in 0..<(1 << (n1 + n2)) where mask.nonzeroBitCount == n1 {
                var u = 0, ys = 0
                for bit in 0..<(n1 + n2) {
                    if mask & (1 << bit) != 0 { u += ys } else { ys += 1 }
                }
                counts[u] += 1
            }
            return counts
        }
        for n1 in 1...6 {
            for n2 in 1...7 {
                #expect(Statistics.exactUDistribution(n1, n2) == brute(n1, n2), "\(n1) vs \(n2)")
            }
        }
    }

    @Test func mannWhitneyMemoryStaysLinearWithOneSmallSample() throws {
        // 6 trials against 3,000 and 100,000: the exact table of the textbook recursion would take 767 MB and 80 GB;
        // the exact distribution (6 · 3000 + 1 values) is small enough here, and beyond its limit the normal
        // approximation answers.
        let six = (0..<6).map { Double($0) + 0.5 }
        let many = (0..<3000).map { Double($0) * 0.01 + 0.001 }
        let started = Date()
        let a = try #require(Statistics.mannWhitneyU(six, many))
        let b = try #require(Statistics.mannWhitneyU(six, (0..<100_000).map { Double($0) * 0.001 + 0.0001 }))
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(a.p > 0 && a.p <= 1 && b.p > 0 && b.p <= 1)
        // Exact where small: six values all below 34 others, U = 0, p = 2 / C(40, 6).
        let small = try #require(Statistics.mannWhitneyU([0.5, 1.5, 2.5, 3.5, 4.5, 5.5], (6..<40).map(Double.init)))
        #expect(small.u == 0 && abs(small.p - 2.0 / 3_838_380) < 1e-15)
    }

    @Test func medianConfidenceIntervalsFromOrderStatistics() throws {
        #expect(Statistics.median([3, 1, 2]) == 2)
        #expect(Statistics.median([4, 1, 3, 2]) == 2.5)
        #expect(Statistics.median([]) == nil)
        // n = 6: [min, max] covers 1 - 2/64 = 96.9%.
        let six = try #require(Statistics.medianConfidenceInterval([6, 1, 5, 2, 4, 3]))
        #expect(six.low == 1 && six.high == 6)
        #expect(abs(six.coverage - 0.96875) < 1e-12)
        // n = 5: even [min, max] covers only 93.75%: no interval.
        #expect(Statistics.medianConfidenceInterval([1, 2, 3, 4, 5]) == nil)
        // n = 10: [x(2), x(9)] covers 1 - 2·11/1024 = 97.85%; [x(3), x(8)] only 89%.
        let ten = try #require(Statistics.medianConfidenceInterval((1...10).map(Double.init)))
        #expect(ten.low == 2 && ten.high == 9)
        #expect(abs(ten.coverage - (1 - 22.0 / 1024)) < 1e-12)
    }

    @Test func geometricMean() {
        #expect(abs(Statistics.geometricMean([1, 4])! - 2) < 1e-12)
        #expect(Statistics.geometricMean([]) == nil)
    }
}

@Suite struct MetricTests {
    @Test func metricsOnAHandMadeTrial() throws {
        let trial = SampleProfiles.trial(1, gbps: 8, cpuNsPerByte: 2, extra: [
            "cycles": 3_000_000, "instructions": 6_000_000, "L1-dcache-load-misses": 1000, "L1-dcache-loads": 100_000,
            "context-switches": 40, "skb:skb_copy_datagram_iovec": 244,
        ])
        // 8 Gbit/s for 1 ms = 1,000,000 bytes.
        #expect(trial.bytes == 1_000_000)
        #expect(Metric.throughput.value(of: trial) == 8)
        #expect(Metric.cpuNsPerByte.value(of: trial) == 2)
        #expect(Metric.cyclesPerByte.value(of: trial) == 3)
        #expect(Metric.ipc.value(of: trial) == 2)
        #expect(abs(Metric.l1dMissesPerKB.value(of: trial)! - 1000 / (1_000_000 / 1024.0)) < 1e-9)
        #expect(Metric.l1dMissRatio.value(of: trial) == 1)
        #expect(Metric.contextSwitchesPerMB.value(of: trial) == 40)
        #expect(Metric.contextSwitchesPerSecond.value(of: trial) == 40_000)
        #expect(Metric.receiveCopyHitsPerMessage.value(of: trial) == 1)
        #expect(Metric.senderCPUShare.value(of: trial) == 50)
    }

    @Test func uncountedInputsAreNotAvailableNeverZero() {
        let trial = SampleProfiles.trial(1, gbps: 8)
        for metric in [Metric.cyclesPerByte, .instructionsPerByte, .ipc, .l1dMissesPerKB, .llcMissesPerKB, .llcMissRatio,
                       .receiveCopyHitsPerMessage, .rttP50, .zeroCopyCopiedShare] {
            #expect(metric.value(of: trial) == nil, "\(metric)")
        }
        // Context switches fall back to getrusage (voluntary + involuntary), never to a user-only perf count, and say so.
        var switched = trial
        switched.workers[0].usage.voluntarySwitches = 30
        switched.workers[1].usage.involuntarySwitches = 10
        #expect(Metric.contextSwitchesPerMB.value(of: switched) == 40 / (Double(trial.bytes) / 1e6))
        #expect(Metric.contextSwitchesPerMB.source(in: switched) == .getrusage)
        switched.workers[0].counters["context-switches"] = CounterRecord(raw: 0, timeEnabled: 1, timeRunning: 1, mode: .userOnly)
        switched.workers[1].counters["context-switches"] = CounterRecord(raw: 0, timeEnabled: 1, timeRunning: 1, mode: .userOnly)
        #expect(Metric.contextSwitchesPerMB.value(of: switched) == 40 / (Double(trial.bytes) / 1e6), "a user-only 0 is ignored")
        #expect(!Metric.contextSwitchesPerMB.isUserOnly(in: switched))
        // CPU time per byte falls back from task-clock to the threads' CPU clock (1 ns each here), never to n/a or 0.
        var uncounted = trial
        for i in uncounted.workers.indices {
            uncounted.workers[i].counters["task-clock"] = nil
            uncounted.workers[i].usage.cpuClockNs = 1
        }
        #expect(Metric.cpuNsPerByte.value(of: uncounted) == 2 / Double(trial.bytes))
        #expect(Metric.cpuNsPerByte.source(in: uncounted) == .threadCPUClock)
        // One thread without the counter makes the sum unknown.
        var partial = SampleProfiles.trial(1, gbps: 8, extra: ["cycles": 100])
        partial.workers[1].counters["cycles"] = nil
        #expect(Metric.cyclesPerByte.value(of: partial) == nil)
        // A group that never ran is not counted either.
        var unscheduled = SampleProfiles.trial(1, gbps: 8, extra: ["cycles": 100])
        unscheduled.workers[0].counters["cycles"] = CounterRecord(raw: 0, timeEnabled: 10, timeRunning: 0)
        #expect(Metric.cyclesPerByte.value(of: unscheduled) == nil)
    }

    @Test func scaledCountersAreMarked() throws {
        var trial = SampleProfiles.trial(1, gbps: 8, extra: ["cycles": 1000])
        trial.workers[0].counters["cycles"] = CounterRecord(raw: 250, timeEnabled: 100, timeRunning: 50)
        #expect(Metric.cyclesPerByte.isScaled(in: trial))
        #expect(Metric.cyclesPerByte.value(of: trial) == 1000.0 / 1_000_000)
        let cell = CellRecord(key: CellKey(transport: .twoCopy, workload: .stream, messageSize: 4096, connections: 1), trials: [trial])
        #expect(try #require(Metric.cyclesPerByte.summary(of: cell)).warnings.contains { $0.contains("multiplexed") })
    }
}

@Suite struct ComparisonTests {
    func profile(_ values: [Double], cpu: String = "Test CPU", key: CellKey? = nil) -> Profile {
        key.map { SampleProfiles.make(throughput: values, key: $0, environment: SampleProfiles.environment(cpu: cpu)) }
            ?? SampleProfiles.make(throughput: values, environment: SampleProfiles.environment(cpu: cpu))
    }

    @Test func noChange() {
        let c = Comparison(baseline: profile([10, 10.1, 9.9, 10, 10.2, 9.8]), candidate: profile([10, 9.9, 10.1, 10.05, 9.95, 10]),
                           baselinePath: "a", candidatePath: "b")
        #expect(c.exitCode == 0)
        #expect(!c.rows.isEmpty && c.rows.allSatisfy { $0.verdict == .unchanged })
        #expect(c.markdown.contains("| ~ |"))
        #expect(c.environmentDifferences.isEmpty)
    }

    @Test func clearRegression() throws {
        let c = Comparison(baseline: profile([10, 10.1, 9.9, 10, 10.2, 9.8]), candidate: profile([5, 5.1, 4.9, 5, 5.2, 4.8]),
                           baselinePath: "a", candidatePath: "b")
        #expect(c.exitCode == 2)
        let row = try #require(c.rows.first { $0.metric == .throughput })
        #expect(row.verdict == .regression)
        #expect(abs(row.change + 50) < 1)
        // scipy.stats.mannwhitneyu(candidate, baseline): ties within the samples, so the normal approximation.
        #expect(abs(row.p! - 0.00492203567532315) < 1e-9)
        // CPU ns/B did not change (same per byte), so only throughput regressed.
        #expect(c.rows.first { $0.metric == .cpuNsPerByte }?.verdict == .unchanged)
        let md = c.markdown
        #expect(md.contains("## Regressions"))
        #expect(md.range(of: "## Regressions")!.lowerBound < md.range(of: "<details>")!.lowerBound)
        #expect(md.contains("-50"))
        #expect(c.geomeans.first { $0.metric == .throughput }.map { abs($0.change + 50) < 1 } == true)
    }

    @Test func improvementOnly() {
        let c = Comparison(baseline: profile([10, 10.1, 9.9, 10, 10.2, 9.8]), candidate: profile([12, 12.1, 11.9, 12, 12.2, 11.8]),
                           baselinePath: "a", candidatePath: "b")
        #expect(c.exitCode == 4)
        #expect(c.improvements.count == 1 && c.regressions.isEmpty)
    }

    @Test func smallSignificantChangeBelowTheThresholdDoesNotCount() {
        let c = Comparison(baseline: profile([10, 10.01, 9.99, 10, 10.02, 9.98]), candidate: profile([10.3, 10.31, 10.29, 10.3, 10.32, 10.28]),
                           baselinePath: "a", candidatePath: "b", threshold: 5)
        #expect(c.exitCode == 0)
        #expect(c.rows.first { $0.metric == .throughput }?.verdict == .unchanged)
    }

    @Test func differingEnvironmentsAndMissingCellsAreWarned() {
        let other = CellKey(transport: .oneCopy, workload: .stream, messageSize: 64, connections: 2)
        var candidate = profile([10, 10, 10, 10, 10, 10], cpu: "Other CPU")
        candidate.cells += profile([10, 10, 10, 10, 10, 10], key: other).cells
        let c = Comparison(baseline: profile([10, 10, 10, 10, 10, 10]), candidate: candidate, baselinePath: "a", candidatePath: "b")
        #expect(c.environmentDifferences.contains { $0.contains("CPU: Test CPU vs Other CPU") })
        #expect(c.onlyInBaseline.isEmpty && c.onlyInCandidate == [other])
        #expect(c.markdown.contains("The environments differ"))
        #expect(c.markdown.contains("1 cell (stream × one-copy × 64 B × 2 connections) only in the candidate"))
    }

    @Test func tooFewTrialsAreUntestable() {
        let c = Comparison(baseline: profile([10, 10, 10]), candidate: profile([5, 5, 5]), baselinePath: "a", candidatePath: "b")
        #expect(!c.rows.isEmpty && c.rows.allSatisfy { $0.verdict == .untestable })
        #expect(c.exitCode == 3, "not 0: nothing was found because nothing could be tested")
        let markdown = c.markdown
        #expect(markdown.contains("This comparison cannot tell whether anything changed"))
        // The untestable rows show why, and neither `~` nor a p-value.
        let rows = markdown.split(separator: "\n").filter { $0.hasPrefix("| stream") }
        #expect(!rows.isEmpty && rows.allSatisfy { $0.contains("untestable (n < 4)") && !$0.contains("| ~ |") })
    }

    @Test func cellsInOneProfileAreListedCompactlyAndNoiseIsEstimated() {
        var base = profile([10, 10.1, 10.2, 10.3, 10.4, 10.5])
        var extra = base.cells[0]
        for size in [64, 512, 1024] {
            extra.key.messageSize = size
            base.cells.append(extra)
        }
        let c = Comparison(baseline: base, candidate: profile([10, 10.1, 10.2, 10.3, 10.4, 10.5]), baselinePath: "a", candidatePath: "b")
        #expect(c.onlyInBaseline.count == 3)
        #expect(c.markdown.contains("3 cells (stream × two-copy × 64, 512, 1024 B × 1 connections) only in the baseline"))
        #expect(c.markdown.contains("Noise within these runs"))
        #expect(c.exitCode == 0)
    }
}

@Suite struct EveryMetricTests {
    /// One hand-made trial with every input, and the value each metric must derive from it.
    @Test func everyDerivedMetricOnAHandMadeTrial() throws {
        var trial = SampleProfiles.trial(1, gbps: 8, cpuNsPerByte: 2, extra: [
            "cycles": 4_000_000, "instructions": 2_000_000, "L1-dcache-loads": 200_000, "L1-dcache-load-misses": 2_000,
            "LLC-loads": 10_000, "LLC-load-misses": 2_500, "context-switches": 20, "skb:skb_copy_datagram_iovec": 488,
        ])
        // 1,000,000 bytes in 1 ms; 244 messages of 4096 B.
        trial.rtt = RTTRecord(count: 10, minNs: 1_000, p50Ns: 50_000, p90Ns: 90_000, p99Ns: 99_000, p999Ns: 99_900,
                              maxNs: 100_000, meanNs: 52_000, histogram: HistogramBuckets([(50_000, 10)]))
        var zero = ZeroCopyRecord()
        zero.sends = 10
        zero.completions = 10
        zero.copiedCompletions = 4
        trial.zeroCopy = zero
        trial.workers[0].usage.userNs = 300
        trial.workers[0].usage.systemNs = 700
        trial.workers[1].usage.userNs = 100
        trial.workers[1].usage.systemNs = 900
        // A mmap receiver that got 3 of every 4 bytes mapped.
        trial.workers[1].received = ReceiverRecord(
            messages: trial.messages, bytes: trial.bytes, recvCalls: 1, integrityErrors: 0, firstMismatch: nil,
            drainedMessages: 0,
            zeroCopyReceive: ZeroCopyReceiveRecord(mappedBytes: 750, copiedBytes: 250, mapCalls: 1, copyCalls: 1))
        let kb = 1_000_000 / 1024.0
        let expected: [Metric: Double] = [
            .throughput: 8, .messageRate: 244_000, .roundTripRate: 10_000, .rttP50: 50, .rttP90: 90, .rttP99: 99, .rttP999: 99.9,
            .cyclesPerByte: 4, .instructionsPerByte: 2, .ipc: 0.5, .cpuNsPerByte: 2,
            .l1dMissesPerKB: 2_000 / kb, .llcMissesPerKB: 2_500 / kb, .l1dMissRatio: 1, .llcMissRatio: 25,
            .contextSwitchesPerMB: 20, .contextSwitchesPerSecond: 20_000, .kernelCPUShare: 80, .senderCPUShare: 50,
            .zeroCopyCopiedShare: 40, .receiveCopyHitsPerMessage: 2, .receiverCPUNsPerByte: 1, .mappedShare: 75,
        ]
        #expect(Set(expected.keys) == Set(Metric.allCases), "every metric is checked")
        for metric in Metric.allCases {
            let value = try #require(metric.value(of: trial), "\(metric) is n/a")
            #expect(abs(value - expected[metric]!) < 1e-9 * max(1, abs(value)), "\(metric): \(value)")
            #expect(!metric.unit.isEmpty && !metric.title.isEmpty)
        }
        #expect(Metric.throughput.higherIsBetter == true && Metric.cpuNsPerByte.higherIsBetter == false)
        #expect(Metric.kernelCPUShare.higherIsBetter == nil)
    }
}

@Suite struct CSVTests {
    @Test func csvHasTheDocumentedColumnsAndEmptyCellsForUncountedEvents() throws {
        let profile = SampleProfiles.make(throughput: [8, 9])
        let csv = CSVExport.render(profile)
        let lines = csv.split(separator: "\n")
        #expect(lines[0] == (CSVExport.columns + CSVExport.extraColumns).joined(separator: ","))
        #expect(lines.count == 3)
        let fields = lines[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let row = Dictionary(uniqueKeysWithValues: zip(CSVExport.columns, fields))
        #expect(row["transport"] == "two-copy" && row["workload"] == "stream" && row["message_size"] == "4096")
        #expect(row["cycles"] == "" && row["cycles_per_byte"] == "", "not counted is empty, never 0")
        #expect(row["task_clock_ns"] == String(2 * profile.cells[0].trials[0].bytes))
        #expect(row["throughput_gbps"] == "8")
        #expect(row["cpu_ns_per_byte"] == "2")
    }
}
