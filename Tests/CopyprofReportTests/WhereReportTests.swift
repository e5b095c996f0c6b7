import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

#if canImport(FoundationXML)
import FoundationXML
#endif

@testable import CopyprofReport

@Suite struct WhereReportTests {
    @Test func aSampledProfileGetsTheSectionWithTablesChartsFindingsAndFlameGraphs() throws {
        let report = Report(profile: SampledSweep.profile(lost: [0, 0, 12, 0, 0, 0]), source: "sampled.json", chartFolder: "charts")
        let md = report.markdown
        // After the findings, before the environment.
        let section = try #require(md.range(of: "## Where the time goes"))
        #expect(md.range(of: "## Findings")!.lowerBound < section.lowerBound)
        #expect(section.upperBound < md.range(of: "## Environment")!.lowerBound)
        #expect(md.contains("`cpu-clock` at 999 Hz, user and kernel space, call chains up to 64 frames deep"))
        // The timer's skew explained once, with how much of each role landed on irq-enable-site.
        #expect(md.contains("can only fire while interrupts are enabled"))
        #expect(md.contains("NMI-based `cycles`"))
        #expect(md.contains("Here `irq-enable-site` holds"))
        // Tables: paths as rows, categories as columns; never-seen categories dropped.
        #expect(md.contains("**Sender threads** (% of their sampled time)"))
        #expect(md.contains("| path | copy-from-user | copy-to-user | user-memcpy | zerocopy-pinning |"))
        let twoCopyRow = try #require(md.split(separator: "\n").first { $0.hasPrefix("| two-copy | 41 [") })
        #expect(twoCopyRow.contains("| 0 [0, 0.1] |"), "user-memcpy is 0 with an interval from 0: \(twoCopyRow)")
        // Findings in words, with figures.
        #expect(md.contains("### What the samples say"))
        #expect(md.contains("two-copy's sender 41% ["))
        #expect(md.contains("user-space memcpy is 5% ["))
        #expect(md.contains("**zero-copy's sender**, stream at 65536 B × 1 connection: copying from user memory none seen (at most"))
        #expect(md.contains("pinning pages 3.9% [3.5, 4.5], completions 3% ["))
        #expect(md.contains("paid mostly by the receiver's thread, 47% ["))
        #expect(md.contains("two-copy+discard's receiver none seen"))
        // other's top functions, lost samples.
        #expect(md.contains("`other`'s top functions"))
        #expect(md.contains("`mystery_function_with_a_long_name_that_will_not_fit` 2%"))
        #expect(md.contains("⚠ Samples lost"))
        #expect(md.contains("zero-copy sender 12 ("))
        // The method, charts and flame graphs.
        #expect(md.contains("- Where the time goes: a category's share"))
        #expect(md.contains("![Where the time goes, stream 65536 B](charts/where-stream-65536.svg)"))
        #expect(md.contains("| zero-copy | [sender](charts/flame-stream-65536-1-zero-copy-sender.svg) | [receiver]"))
        let charts = report.whereCharts
        #expect(charts.map(\.name).contains("where-stream-65536.svg"))
        #expect(charts.filter { $0.name.hasPrefix("flame-") }.count == 10)
        for chart in charts {
            let parser = XMLParser(data: Data(chart.svg.utf8))
            #expect(parser.parse(), "\(chart.name) is not well-formed XML")
        }
        // Every linked chart is one the report writes.
        for match in md.matches(of: /\]\(charts\/([^)]+\.svg)\)/) {
            #expect(charts.contains { $0.name == String(match.1) } || report.charts.contains { $0.name == String(match.1) }, "\(match.1)")
        }
    }

    /// The saved sampled profile (this VM: cpu-clock without a PMU) carries the sampler's note, whose second clause
    /// explains the timer's skew as the section's own paragraph does: the section says it once, and keeps the note's
    /// reason for cpu-clock. No sentence of the section's prose is said twice.
    @Test func aTimerSampledProfileExplainsTheSkewOnce() throws {
        let profile = try Profile.decode(try Fixtures.data(Fixtures.schema3Sampled), path: Fixtures.schema3Sampled)
        let notes = try #require(profile.sampling?.notes)
        #expect(notes.contains { $0.contains("; an hrtimer, not an NMI: ") }, "the fixture's note explains the timer")
        let md = Report(profile: profile, source: "sampled.json", chartFolder: "charts").markdown
        let start = try #require(md.range(of: "## Where the time goes"))
        let end = try #require(md.range(of: "## Environment"))
        let section = String(md[start.lowerBound..<end.lowerBound])
        #expect(section.components(separatedBy: "does not have this skew").count == 2, "\(section)")
        #expect(section.components(separatedBy: "interrupts are enabled").count == 2)
        #expect(section.contains("Note: cpu-clock, not cycles: no hardware PMU offers this event: a virtual machine"))
        // Prose only (not the tables, their role headings or chart links): every sentence once.
        var seen: Set<Substring> = []
        for line in section.split(separator: "\n") where !line.hasPrefix("|") && !line.hasPrefix("**") && !line.hasPrefix("!") {
            for sentence in line.split(separator: ". ") where sentence.count > 20 {
                #expect(seen.insert(sentence).inserted, "said twice: \(sentence)")
            }
        }
    }

    @Test func userOnlySamplingSaysSoAndNeverShowsKernelCategoriesAsZero() throws {
        let report = Report(profile: SampledSweep.profile(userOnly: true), source: "sampled.json", chartFolder: "charts")
        let md = report.markdown
        #expect(md.contains("**user space only**"))
        #expect(md.contains("are n/a — not permitted: user-only sampling (perf_event_paranoid 2"))
        #expect(md.contains("**Sender threads** (% of their sampled time, user space only)"))
        #expect(md.contains("| path | user-memcpy | user-loop | other |"))
        #expect(!md.contains("| copy-from-user"))
        #expect(md.contains("**Only user space was sampled**"))
        #expect(md.contains("(user space only)"))
        let chart = try #require(report.whereCharts.first { $0.name == "where-stream-65536.svg" })
        #expect(chart.svg.contains("(user space only)"))
        #expect(!chart.svg.contains("copy-from-user"))
    }

    @Test func anUnsampledProfileGetsNoSectionAndNoCharts() throws {
        let saved = try Profile.decode(try Fixtures.data(Fixtures.schema2Sweep), path: Fixtures.schema2Sweep)
        let report = Report(profile: saved, source: "x", chartFolder: "c")
        #expect(!report.markdown.contains("Where the time goes"))
        #expect(report.whereCharts.isEmpty)
    }

    @Test func flameGraphBoxesAreSharesOfTheSamplesWithTitlesAndTruncatedNames() throws {
        let graph = FlameGraph(title: "t", stacks: [
            .init(frames: ["main", "send", "_copy_from_iter"], category: .copyFromUser, samples: 60),
            .init(frames: ["main", "send", "tcp_write_xmit"], category: .tcpIP, samples: 30),
            .init(frames: ["main", "a_function_whose_name_is_much_too_long_for_its_box"], category: .other, samples: 10),
        ])
        let nodes = graph.tree()
        #expect(nodes[0].name == "all" && nodes[0].samples == 100)
        let send = try #require(nodes.first { $0.name == "send" })
        #expect(send.samples == 90 && send.dominant == .copyFromUser && send.depth == 2)
        let svg = graph.svg()
        #expect(XMLParser(data: Data(svg.utf8)).parse())
        #expect(svg.contains("<title>send (90 samples, 90%), mostly copy-from-user</title>"))
        #expect(svg.contains("<title>_copy_from_iter (60 samples, 60%), copy-from-user</title>"))
        // 10% of 1176 px is about 118 px: the long name is cut with "..".
        #expect(svg.contains(">a_function_whose_name_is..</text>") || svg.contains(".."), "truncated")
        #expect(!svg.contains(">a_function_whose_name_is_much_too_long_for_its_box</text>"))
        let fitted = try #require(FlameGraph.fit("a_function_whose_name_is_much_too_long_for_its_box", width: 100, size: 11))
        #expect(fitted.hasSuffix("..") && TextMetrics.width(fitted, size: 11) <= 100)
        #expect(FlameGraph.fit("abc", width: 5, size: 11) == nil)
        #expect(FlameGraph.fit("abc", width: 100, size: 11) == "abc")
        // Boxes: x widths proportional to samples. _copy_from_iter's box is 60% of the width minus the 0.5 px gap.
        #expect(svg.contains("width=\"705.1\""))
    }
}

/// The attribution's readers must not trap on extreme records (a profile built in code, a reader that lets more
/// through): counts at UInt64's limits, weights without samples, empty and huge stacks, frames outside the table.
@Suite struct ExtremeAttributionTests {
    @Test(.timeLimit(.minutes(2))) func extremeAttributionRecordsDoNotTrap() throws {
        let base = SampledSweep.profile()
        var rng = SeededGenerator(state: 20)
        let big: [UInt64] = [0, 1, UInt64.max, UInt64.max - 1, 1 << 63, 1 << 53]
        for _ in 0..<60 {
            var profile = base
            for _ in 0..<Int.random(in: 1...5, using: &rng) {
                let c = Int.random(in: 0..<profile.cells.count, using: &rng)
                let t = Int.random(in: 0..<profile.cells[c].trials.count, using: &rng)
                let w = Int.random(in: 0..<profile.cells[c].trials[t].workers.count, using: &rng)
                let category = AttributionCategory.allCases.randomElement(using: &rng)!
                let value = big.randomElement(using: &rng)!
                switch Int.random(in: 0..<9, using: &rng) {
                case 0: profile.cells[c].trials[t].workers[w].attribution?.samples[category] = value
                case 1: profile.cells[c].trials[t].workers[w].attribution?.weights[category] = value
                case 2: profile.cells[c].trials[t].workers[w].attribution = AttributionRecord(samples: [category: value], weights: [:], lost: value)
                case 3: profile.cells[c].trials[t].workers[w].attribution = AttributionRecord(samples: [:], weights: [category: value], throttled: value)
                case 4: profile.cells[c].stacks = [StackSummary(role: .sender, stacks: [StackRecord(frames: [], category: category, samples: value, weight: value)], omittedSamples: value)]
                case 5: profile.cells[c].stacks = [StackSummary(role: .receiver, stacks: [StackRecord(frames: [Int.max, -1, 0], category: .other, samples: value, weight: 0)])]
                case 6: profile.cells[c].stacks = [StackSummary(role: .sender, stacks: [StackRecord(frames: Array(repeating: 0, count: 300), category: category, samples: 5, weight: 5)])]
                case 7: profile.frameNames = [String(repeating: "é", count: 2000)]
                default: profile.sampling?.callchainDepth = Int.min
                }
            }
            let report = Report(profile: profile, source: "extreme.json", chartFolder: "charts")
            _ = report.markdown
            _ = report.whereCharts
            let analysis = AttributionAnalysis(profile: profile)
            _ = AttributionCSV.render(analysis)
            _ = analysis.foldedExport(cell: nil, role: nil).text
            let comparison = Comparison(baseline: base, candidate: profile, baselinePath: "a", candidatePath: "b")
            _ = comparison.markdown
            _ = try comparison.json()
            for cell in analysis.cells {
                for role in WorkerRole.allCases {
                    for share in analysis.role(role, in: cell)?.shares.values.map({ $0 }) ?? [] {
                        #expect(share.low >= 0 && share.low <= share.share && share.share <= share.high && share.high <= 1, "\(share)")
                    }
                }
            }
        }
    }
}
