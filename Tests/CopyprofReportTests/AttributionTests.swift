import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

@testable import CopyprofReport

/// The shares of a role's time per category and their intervals (issue 20, item 6).
@Suite struct ShareEstimatorTests {
    @Test func studentTQuantilesMatchTheTables() {
        // scipy.stats.t.ppf(0.975, df).
        let expected: [(Double, Double)] = [
            (1, 12.706204736174698), (2, 4.302652729749464), (3, 3.182446305284263), (5, 2.570581835636314),
            (10, 2.228138851986274), (30, 2.042272456301238),
        ]
        for (df, t) in expected {
            #expect(abs(Statistics.studentTQuantile(0.975, degreesOfFreedom: df) - t) < 1e-9, "df \(df)")
        }
        #expect(abs(Statistics.studentTQuantile(0.025, degreesOfFreedom: 5) + 2.570581835636314) < 1e-9)
        #expect(abs(Statistics.studentTQuantile(0.975, degreesOfFreedom: 1e7) - 1.959963984540054) < 1e-5)
    }

    @Test func wilsonIntervalMatchesTheFormula() {
        // 81 of 263 (Wilson 1927's form; computed independently).
        let w = ShareEstimator.wilsonInterval(81.0 / 263, n: 263)
        #expect(abs(w.low - 0.2552885198782742) < 1e-12 && abs(w.high - 0.36620957698280004) < 1e-12)
        // None of n: from 0 to z²/(n + z²), never a zero-width interval at 0.
        let none = ShareEstimator.wilsonInterval(0, n: 100)
        let z2 = 1.959963984540054 * 1.959963984540054
        #expect(none.low == 0 && abs(none.high - z2 / (100 + z2)) < 1e-12)
    }

    /// Trials that agree exactly: the trials add nothing, the interval is the binomial (Wilson) interval of the pooled
    /// samples.
    @Test func identicalTrialsGiveTheBinomialInterval() throws {
        let trial = TrialAttribution(
            samples: [.copyFromUser: 40, .tcpIP: 60], weights: [.copyFromUser: 40_000, .tcpIP: 60_000])
        let shares = try #require(ShareEstimator.shares(Array(repeating: trial, count: 6), categories: [.copyFromUser, .tcpIP, .other]))
        let copy = try #require(shares[.copyFromUser])
        let wilson = ShareEstimator.wilsonInterval(0.4, n: 600)
        #expect(abs(copy.share - 0.4) < 1e-12)
        #expect(abs(copy.low - wilson.low) < 1e-12 && abs(copy.high - wilson.high) < 1e-12)
        #expect(abs(copy.low - 0.3615565979992341) < 1e-12 && abs(copy.high - 0.4397157422035062) < 1e-12)
        #expect(copy.samples == 240 && copy.perTrial == Array(repeating: 0.4, count: 6))
        // A category never sampled: 0 with an interval from 0, not n/a.
        let other = try #require(shares[.other])
        #expect(other.share == 0 && other.low == 0 && other.high > 0 && !other.isPresent)
        #expect(copy.isPresent)
    }

    /// Trials that disagree: the cluster interval (Student's t, k − 1 degrees of freedom) is wider than the binomial
    /// one, and it is what the interval shows.
    @Test func trialsThatDisagreeWidenTheInterval() throws {
        let trials = [30.0, 50, 40, 60].map {
            TrialAttribution(samples: [.copyFromUser: $0, .tcpIP: 100 - $0], weights: [.copyFromUser: $0 * 1000, .tcpIP: (100 - $0) * 1000])
        }
        let copy = try #require(ShareEstimator.shares(trials, categories: [.copyFromUser])?[.copyFromUser])
        // p = 180/400; V = 4/3 · Σ(yₜ − p·xₜ)² / (Σxₜ)²; p ± t(0.975, 3)·√V, computed independently.
        #expect(abs(copy.share - 0.45) < 1e-12)
        #expect(abs(copy.low - 0.24457397432391212) < 1e-9 && abs(copy.high - 0.6554260256760879) < 1e-9)
        let wilson = ShareEstimator.wilsonInterval(0.45, n: 400)
        #expect(copy.low < wilson.low && copy.high > wilson.high)
        #expect(copy.perTrial == [0.3, 0.5, 0.4, 0.6])
    }

    /// The estimate weighs by period: a category whose samples weigh more takes more of the time than of the samples.
    @Test func sharesAreOfWeightNotOfSampleCounts() throws {
        let trial = TrialAttribution(samples: [.copyFromUser: 50, .tcpIP: 50], weights: [.copyFromUser: 3_000, .tcpIP: 1_000])
        let shares = try #require(ShareEstimator.shares([trial, trial], categories: [.copyFromUser, .tcpIP]))
        #expect(shares[.copyFromUser]?.share == 0.75 && shares[.tcpIP]?.share == 0.25)
        // Without any weight (periods of 0), the samples are the weights.
        let unweighted = TrialAttribution(samples: [.copyFromUser: 30, .tcpIP: 10])
        #expect(ShareEstimator.shares([unweighted], categories: [.copyFromUser])?[.copyFromUser]?.share == 0.75)
        // Trials without samples say nothing: left out, and none at all is no estimate.
        #expect(ShareEstimator.shares([TrialAttribution(), trial], categories: [.tcpIP])?[.tcpIP]?.perTrial == [0.25])
        #expect(ShareEstimator.shares([TrialAttribution()], categories: [.tcpIP]) == nil)
    }
}

/// Attribution read from hand-made schema-3 profiles.
@Suite struct AttributionAnalysisTests {
    static let twoCopy = CellKey(transport: .twoCopy, workload: .stream, messageSize: 65536, connections: 2)

    @Test func sharesPoolTheRolesThreadsAndTrials() throws {
        let cell = SampleProfiles.attributedCell(
            Self.twoCopy, sender: Array(repeating: [.copyFromUser: 41, .tcpIP: 59], count: 6),
            receiver: Array(repeating: [.copyToUser: 20, .scheduler: 30], count: 6), lost: [0, 0, 3, 0, 0, 0])
        let analysis = AttributionAnalysis(profile: SampleProfiles.sampled([cell]))
        #expect(analysis.unavailableReason == nil && analysis.cells == [Self.twoCopy])
        let sender = try #require(analysis.role(.sender, in: Self.twoCopy))
        // 2 connections × 6 trials × 100 samples.
        #expect(sender.samples == 1200 && sender.trials == 6)
        #expect(abs((sender.share(.copyFromUser)?.share ?? 0) - 0.41) < 1e-12)
        #expect(sender.shares.count == AttributionCategory.allCases.count)
        let sum = sender.shares.values.reduce(0) { $0 + $1.share }
        #expect(abs(sum - 1) < 1e-12)
        let receiver = try #require(analysis.role(.receiver, in: Self.twoCopy))
        #expect(abs((receiver.share(.copyToUser)?.share ?? 0) - 0.4) < 1e-12)
        // 3 lost in each of 2 threads of one trial, against 600 kept.
        #expect(receiver.lost == 6 && abs((receiver.lostFraction ?? 0) - 6.0 / 606) < 1e-12)
        #expect(sender.lost == 6)
    }

    @Test func userOnlySamplingLeavesKernelCategoriesNotPermitted() throws {
        let cell = SampleProfiles.attributedCell(
            Self.twoCopy, sender: Array(repeating: [.userLoop: 70, .userMemcpy: 30], count: 4),
            receiver: Array(repeating: [.userLoop: 100], count: 4))
        let analysis = AttributionAnalysis(profile: SampleProfiles.sampled([cell], sampling: SampleProfiles.sampling(userOnly: true)))
        let sender = try #require(analysis.role(.sender, in: Self.twoCopy))
        #expect(sender.userOnly && analysis.userOnly)
        for category in AttributionCategory.allCases {
            #expect((sender.share(category) == nil) == category.isKernel, "\(category)")
        }
        #expect(abs((sender.share(.userMemcpy)?.share ?? 0) - 0.3) < 1e-12)
        #expect(analysis.notPermittedReason.hasPrefix("not permitted: user-only sampling (perf_event_paranoid 2"))
        #expect(analysis.visibleCategories == [.userMemcpy, .userLoop, .other])
    }

    @Test func olderProfilesHaveNoAttributionAndSayWhy() throws {
        let schema2 = try Profile.decode(try Fixtures.data(Fixtures.schema2Sweep), path: Fixtures.schema2Sweep)
        #expect(AttributionAnalysis(profile: schema2).unavailableReason == "not sampled: the profile predates sampling (schema 2)")
        let schema1 = try Profile.decode(try Fixtures.data(Fixtures.schema1Sweep), path: Fixtures.schema1Sweep)
        #expect(AttributionAnalysis(profile: schema1).unavailableReason == "not sampled: the profile predates sampling (schema 1)")
        let off = SampleProfiles.make(throughput: [1, 2])
        #expect(AttributionAnalysis(profile: off).unavailableReason == "not sampled: the sweep ran without sampling (`--sample off`)")
        #expect(AttributionAnalysis(profile: off).cells.isEmpty)
    }

    @Test func otherFunctionsAreTheLeavesOfOthersStacks() throws {
        var frames = SampleProfiles.FrameTable()
        let stacks = StackSummary(role: .sender, stacks: [
            frames.stack(["copyprof-sender", "__libc_send", "_copy_from_iter"], .copyFromUser, samples: 50),
            frames.stack(["copyprof-sender", "mystery_a"], .other, samples: 20),
            frames.stack(["copyprof-sender", "__libc_send", "mystery_b"], .other, samples: 5),
            frames.stack(["copyprof-sender", "x", "mystery_a"], .other, samples: 5),
        ], omittedSamples: 20)
        let cell = SampleProfiles.attributedCell(
            Self.twoCopy, sender: [[.copyFromUser: 50, .other: 30]], receiver: [[.copyToUser: 1]], stacks: [stacks])
        let analysis = AttributionAnalysis(profile: SampleProfiles.sampled([cell], frames: frames))
        let top = analysis.otherFunctions(.sender, in: Self.twoCopy, limit: 5)
        #expect(top.map(\.name) == ["mystery_a", "mystery_b"])
        #expect(top.map(\.samples) == [25, 5] && abs(top[0].fraction - 0.25) < 1e-12)
        #expect(analysis.otherFunctions(.receiver, in: Self.twoCopy, limit: 5).isEmpty)
        // Folded: every stack root first, the samples left out as one stack, and the whole parses back.
        let folded = analysis.folded(.sender, in: Self.twoCopy)
        #expect(folded.total == 100)
        #expect(try FoldedStacks.parse(folded.text) == folded)
        #expect(folded.counts[["copyprof-sender", "__libc_send", "_copy_from_iter"]] == 50)
        #expect(folded.counts[[AttributionAnalysis.omittedFrame]] == 20)
    }

    @Test func aFrameIndexOutsideTheTableIsNamedNotATrap() {
        let stacks = StackSummary(role: .sender, stacks: [StackRecord(frames: [0, 7], category: .other, samples: 3, weight: 3)])
        let cell = SampleProfiles.attributedCell(Self.twoCopy, sender: [[.other: 3]], receiver: [[.other: 1]], stacks: [stacks])
        var profile = SampleProfiles.sampled([cell])
        profile.frameNames = ["root"]
        let analysis = AttributionAnalysis(profile: profile)
        #expect(analysis.otherFunctions(.sender, in: Self.twoCopy, limit: 1).first?.name == "[frame 7: not in the profile's frame names]")
    }
}

/// One parser for the cells the command line names.
@Suite struct CellSelectorTests {
    static let cells = [
        CellKey(transport: .twoCopy, workload: .stream, messageSize: 65536, connections: 1),
        CellKey(transport: .zeroCopy, receiver: .mmap, workload: .pingpong, messageSize: 4096, connections: 2),
    ]

    @Test func bothSyntaxesNameTheSameCell() throws {
        for text in ["two-copy,stream,65536,1", "stream two-copy 65536 B × 1 connection", " two-copy, stream, 65536B, 1 ",
                     Self.cells[0].description, CellSelector.text(Self.cells[0])] {
            #expect(try CellSelector.parse(text, among: Self.cells) == Self.cells[0], "\(text)")
        }
        for text in ["zero-copy+mmap,ping-pong,4096,2", "zero-copy+mmap,pingpong,4096,2", Self.cells[1].description] {
            #expect(try CellSelector.parse(text, among: Self.cells) == Self.cells[1], "\(text)")
        }
        #expect(CellSelector.text(Self.cells[1]) == "zero-copy+mmap,ping-pong,4096,2")
    }

    @Test func errorsSayWhatIsWrongAndListTheCells() {
        let cases: [(String, String)] = [
            ("two-copy,stream,64,1", "--cell 'two-copy,stream,64,1': the profile has no such sampled cell; its sampled cells: two-copy,stream,65536,1 zero-copy+mmap,ping-pong,4096,2"),
            ("two-copy,stream,65536", "--cell 'two-copy,stream,65536' is not a cell: write TRANSPORT[+RECEIVER],WORKLOAD,SIZE,CONNECTIONS"),
            ("copy,stream,65536,1", "--cell 'copy,stream,65536,1': 'copy' is not a transport (two-copy, marshal, one-copy, zero-copy, io-uring-zc, sendfile)"),
            ("two-copy+tee,stream,65536,1", "'tee' is not a receiver (copy, discard, mmap)"),
        ]
        for (text, message) in cases {
            #expect { try CellSelector.parse(text, among: Self.cells) } throws: { "\($0)".hasPrefix(message) || "\($0)".contains(message) }
        }
        let many = (1...20).map { CellKey(transport: .twoCopy, workload: .stream, messageSize: 64 * $0, connections: 1) }
        #expect { try CellSelector.parse("marshal,stream,64,1", among: many) } throws: {
            "\($0)".hasSuffix("its 20 sampled cells span paths two-copy; workloads stream; sizes 64, 128, 192, 256, 320, 384, 448, 512, 576, 640, 704, 768, 832, 896, 960, 1024, 1088, 1152, 1216, 1280; connections 1")
        }
    }
}

/// compare: shifts in the shares between two sampled profiles (issue 20, item 8).
@Suite struct AttributionComparisonTests {
    static let cell = SampledSweep.key(.twoCopy)

    @Test func aProfileAgainstItselfHasNoShift() throws {
        let profile = SampledSweep.profile()
        let c = try #require(AttributionComparison(baseline: profile, candidate: profile))
        #expect(c.notCompared == nil && !c.rows.isEmpty)
        #expect(c.rows.allSatisfy { $0.verdict == .unchanged && $0.change == 0 && $0.changeLow <= 0 && $0.changeHigh >= 0 })
        #expect(c.shifts.isEmpty)
        // Only categories with time on a side: two-copy's sender never pins pages.
        #expect(!c.rows.contains { $0.cell == Self.cell && $0.role == .sender && $0.category == .zerocopyPinning })
    }

    @Test func aShiftOfTheCopyCountsWithItsIntervalInPoints() throws {
        let baseline = SampledSweep.profile()
        let candidate = SampledSweep.profile(twoCopySenderShift: [.copyFromUser: -0.11, .tcpIP: 0.11])
        let c = try #require(AttributionComparison(baseline: baseline, candidate: candidate))
        let copy = try #require(c.rows.first { $0.cell == Self.cell && $0.role == .sender && $0.category == .copyFromUser })
        #expect(copy.verdict == .decreased)
        #expect(abs(copy.change + 11) < 1 && copy.changeLow < copy.change && copy.change < copy.changeHigh && copy.changeHigh < -1.5)
        #expect((copy.p ?? 1) < 0.01)
        // Newcombe's interval from both shares' intervals.
        let b = copy.baseline, n = copy.candidate
        let expectedLow = (n.share - b.share) - ((n.share - n.low) * (n.share - n.low) + (b.high - b.share) * (b.high - b.share)).squareRoot()
        #expect(abs(copy.changeLow - expectedLow * 100) < 1e-9)
        let tcp = try #require(c.rows.first { $0.cell == Self.cell && $0.role == .sender && $0.category == .tcpIP })
        #expect(tcp.verdict == .increased)
        // Nothing else moved: the other cells are as they were.
        #expect(c.shifts.allSatisfy { $0.cell == Self.cell && $0.role == .sender })
        let comparison = Comparison(baseline: baseline, candidate: candidate, baselinePath: "a.json", candidatePath: "b.json")
        let md = comparison.markdown
        #expect(md.contains("## Where the time goes"))
        #expect(md.contains("**2 shifts** of"))
        #expect(md.contains("| stream two-copy 65536 B × 1 connection | sender | copy-from-user | 41% ["))
        #expect(md.contains("<details><summary>Shares unchanged or untestable ("))
        let json = try #require(try JSONSerialization.jsonObject(with: comparison.json()) as? [String: Any])
        let shifts = try #require(json["attributionShifts"] as? [String: Any])
        #expect((shifts["rows"] as? [[String: Any]])?.contains { $0["verdict"] as? String == "decreased" } == true)
    }

    @Test func fewerThanFourTrialsAreUntestable() throws {
        let baseline = SampledSweep.profile(trials: 3)
        let candidate = SampledSweep.profile(trials: 3, twoCopySenderShift: [.copyFromUser: -0.2, .tcpIP: 0.2])
        let c = try #require(AttributionComparison(baseline: baseline, candidate: candidate))
        #expect(c.rows.allSatisfy { $0.verdict == .untestable })
        #expect(c.markdown.contains("untestable (n < 4)"))
    }

    @Test func profilesSampledDifferentlyOrNotAtAllAreNotCompared() throws {
        let sampled = SampledSweep.profile(), userOnly = SampledSweep.profile(userOnly: true)
        let mixed = try #require(AttributionComparison(baseline: sampled, candidate: userOnly))
        #expect(mixed.rows.isEmpty)
        #expect(mixed.notCompared == "sampled differently: `cpu-clock` (user+kernel) in the baseline, `cpu-clock:u` (user-only) in the candidate; shares of different things")
        let bothUser = try #require(AttributionComparison(baseline: userOnly, candidate: userOnly))
        #expect(bothUser.userOnly && !bothUser.rows.isEmpty && bothUser.rows.allSatisfy { !$0.category.isKernel })
        #expect(bothUser.markdown.contains("**User space only** in both profiles"))
        #expect(!(try #require(AttributionComparison(baseline: sampled, candidate: sampled))).markdown.contains("User space only"))
        let old = try Profile.decode(try Fixtures.data(Fixtures.schema2Sweep), path: Fixtures.schema2Sweep)
        let oneSided = try #require(AttributionComparison(baseline: old, candidate: sampled))
        #expect(oneSided.notCompared == "the baseline has no attribution (not sampled: the profile predates sampling (schema 2))")
        #expect(oneSided.markdown.contains("Not compared: the baseline has no attribution"))
        // Neither sampled: nothing to say, and compare's output is as it was.
        #expect(AttributionComparison(baseline: old, candidate: old) == nil)
        let comparison = Comparison(baseline: old, candidate: old, baselinePath: "a", candidatePath: "b")
        #expect(!comparison.markdown.contains("Where the time goes"))
        #expect(!String(decoding: try comparison.json(), as: UTF8.self).contains("attributionShifts"))
    }
}
