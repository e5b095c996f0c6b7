import Foundation
import TestSupport
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

import CopyprofModel
import CopyprofProfile
import CopyprofReport
@testable import CopyprofSweep

/// A report generated from a real profile of this machine.
@Suite(.serialized) struct ReportTests {
    @Test func reportOfARealProfileHasEverySectionValidChartsAndFindingsThatCiteItsTables() throws {
        let dir = try temporaryDirectory()
        let profilePath = "\(dir)/real.json"
        let run = try runProcess(copyprofBinary, [
            "run", "--sizes", "64,4096", "--connections", "1,2", "--trials", "6", "--warmup", "0", "--duration", "0.03",
            "--output", profilePath, "--no-report",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let reportPath = "\(dir)/reports/real.md"
        let report = try runProcess(copyprofBinary, ["report", profilePath, "--output", reportPath])
        #expect(report.status == 0, "\(report.stderr)")
        let markdown = try String(contentsOfFile: reportPath, encoding: .utf8)

        for section in ["## Findings", "### Crossover sizes", "### What zero-copy avoided", "### Which cache level gains",
                        "### Scaling with connections", "## Environment", "## Counters", "## Method", "## Stream results",
                        "## Ping-pong results", "## Charts", "**throughput**", "**RTT p50**", "**CPU ns/byte**"] {
            #expect(markdown.contains(section), "missing \(section)")
        }
        // Charts: linked relatively, present, and well-formed XML that rsvg-convert and browsers accept.
        let links = markdown.matches(of: /!\[[^\]]*\]\(([^)]+\.svg)\)/).map { String($0.1) }
        // The five charts of every report, and a stacked-bar chart per workload and size when the run sampled.
        #expect(links.filter { !$0.contains("/where-") }.count == 5)
        for link in links {
            #expect(!link.hasPrefix("/"), "relative link: \(link)")
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/reports/\(link)"))
            let parser = XMLParser(data: data)
            #expect(parser.parse(), "\(link) is not well-formed XML: \(String(describing: parser.parserError))")
            let text = String(decoding: data, as: UTF8.self)
            #expect(text.contains("<svg") && text.contains("<text"))
        }
        // Every median a finding cites is a number that stands in the report's tables.
        let parts = markdown.components(separatedBy: "## Environment")
        let findings = parts[0], tables = parts[1]
        var cited: [String] = []
        for match in findings.matches(of: /(\d+\.\d+) vs (\d+\.\d+) (?:Gbit\/s|µs)/) { cited += [String(match.1), String(match.2)] }
        for match in findings.matches(of: /(\d+\.\d+) (?:CPU )?ns\/B/) { cited.append(String(match.1)) }
        for match in findings.matches(of: /(\d+\.\d+)(?= →| Gbit\/s at)/) { cited.append(String(match.1)) }
        #expect(cited.count >= 8, "findings cite numbers: \(cited)")
        for number in cited {
            #expect(tables.contains(" \(number) ") || tables.contains(" \(number) ["), "finding cites \(number), which is in no table")
        }
        #expect(findings.contains("SO_EE_CODE_ZEROCOPY_COPIED"))
    }

    @Test func compareExitCodesFromTheBinary() throws {
        let dir = try temporaryDirectory()
        let base = SampleProfiles.make(throughput: [10, 10.1, 9.9, 10, 10.2, 9.8])
        let worse = SampleProfiles.make(throughput: [5, 5.1, 4.9, 5, 5.2, 4.8])
        let better = SampleProfiles.make(throughput: [12, 12.1, 11.9, 12, 12.2, 11.8])
        try base.write(to: "\(dir)/base.json")
        try worse.write(to: "\(dir)/worse.json")
        try better.write(to: "\(dir)/better.json")
        #expect(try runProcess(copyprofBinary, ["compare", "\(dir)/base.json", "\(dir)/base.json"]).status == 0)
        let regression = try runProcess(copyprofBinary, ["compare", "\(dir)/base.json", "\(dir)/worse.json"])
        #expect(regression.status == 2)
        #expect(regression.stdout.contains("## Regressions"))
        let improvement = try runProcess(copyprofBinary, ["compare", "\(dir)/base.json", "\(dir)/better.json", "--json"])
        #expect(improvement.status == 4)
        let json = try JSONSerialization.jsonObject(with: Data(improvement.stdout.utf8)) as? [String: Any]
        #expect(json?["exitCode"] as? Int == 4)
        try "{".write(toFile: "\(dir)/broken.json", atomically: true, encoding: .utf8)
        let broken = try runProcess(copyprofBinary, ["compare", "\(dir)/base.json", "\(dir)/broken.json"])
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("broken.json: not a copyprof profile"))
        #expect(broken.stderr.split(separator: "\n").count == 1)
    }

    /// Issue 23: "1 vs 4 connections" is answered along the one dimension that differs; profiles that share nothing
    /// and differ in more get exit status 3 and one line, not "0 regressions of 0 comparisons".
    @Test func compareAcrossADimensionAndOfDisjointProfilesFromTheBinary() throws {
        let dir = try temporaryDirectory()
        let one = CellKey(transport: .twoCopy, workload: .stream, messageSize: 4096, connections: 1)
        var four = one
        four.connections = 4
        var big = four
        big.messageSize = 65536
        try SampleProfiles.make(throughput: [10, 10.1, 9.9, 10, 10.2, 9.8], key: one).write(to: "\(dir)/one.json")
        try SampleProfiles.make(throughput: [20, 20.1, 19.9, 20, 20.2, 19.8], key: four).write(to: "\(dir)/four.json")
        try SampleProfiles.make(throughput: [20, 20.1, 19.9, 20, 20.2, 19.8], key: big).write(to: "\(dir)/big.json")
        let paired = try runProcess(copyprofBinary, ["compare", "\(dir)/one.json", "\(dir)/four.json"])
        #expect(paired.status == 4, "\(paired.stderr)")
        #expect(paired.stdout.contains("**comparing 1 → 4 connections**"))
        let disjoint = try runProcess(copyprofBinary, ["compare", "\(dir)/one.json", "\(dir)/big.json"])
        #expect(disjoint.status == 3)
        #expect(disjoint.stdout.isEmpty)
        #expect(disjoint.stderr == "copyprof: no cell in common: the profiles differ in message size (4096 vs 65536) and connections "
            + "(1 vs 4); compare pairs cells along one dimension when the profiles differ in it alone, with one value each\n")
        let json = try runProcess(copyprofBinary, ["compare", "\(dir)/one.json", "\(dir)/big.json", "--json"])
        #expect(json.status == 3 && json.stdout.contains("\"nothingInCommon\""))
    }

    /// Runs of a side separated by commas are pooled and compared with the run as the unit; runs of different
    /// options are refused with one line naming them; a path with a comma that exists is one profile.
    @Test func severalRunsASideFromTheBinary() throws {
        let dir = try temporaryDirectory()
        for (name, level) in [("a1", 10.0), ("a2", 10.6), ("b1", 5.0), ("b2", 5.3)] {
            try SampleProfiles.make(throughput: [level, level * 1.01, level * 0.99, level, level * 1.02, level * 0.98])
                .write(to: "\(dir)/\(name).json")
        }
        let pooled = try runProcess(copyprofBinary, ["compare", "\(dir)/a1.json,\(dir)/a2.json", "\(dir)/b1.json,\(dir)/b2.json"])
        #expect(pooled.status == 2, "\(pooled.stderr)")
        #expect(pooled.stdout.contains("baseline `\(dir)/a1.json, \(dir)/a2.json (2 runs pooled)`"))
        #expect(pooled.stdout.contains("**The run is the unit**: 2 baseline and 2 candidate runs"))
        let json = try runProcess(copyprofBinary, ["compare", "\(dir)/a1.json,\(dir)/a2.json", "\(dir)/b1.json,\(dir)/b2.json", "--json"])
        let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((document?["runs"] as? [String: Int]) == ["baseline": 2, "candidate": 2])
        var other = SampleProfiles.make(throughput: [10, 10.1, 9.9, 10, 10.2, 9.8])
        other.plan.sizes = [65536]
        try other.write(to: "\(dir)/other.json")
        let refused = try runProcess(copyprofBinary, ["compare", "\(dir)/a1.json,\(dir)/other.json", "\(dir)/b1.json"])
        #expect(refused.status == 1 && refused.stdout.isEmpty)
        #expect(refused.stderr.hasSuffix("\(dir)/other.json was run with other options than \(dir)/a1.json (its sweep plan differs): "
            + "pool only runs made with the same options\n"))
        #expect(refused.stderr.split(separator: "\n").count == 1)
        let twice = try runProcess(copyprofBinary, ["compare", "\(dir)/a1.json,\(dir)/../\(URL(fileURLWithPath: dir).lastPathComponent)/a1.json", "\(dir)/b1.json,\(dir)/b2.json"])
        #expect(twice.status == 1 && twice.stderr.contains("the baseline names one run twice (\(dir)/a1.json and "))
        try SampleProfiles.make(throughput: [10, 10.1, 9.9, 10, 10.2, 9.8]).write(to: "\(dir)/with,comma.json")
        #expect(try runProcess(copyprofBinary, ["compare", "\(dir)/with,comma.json", "\(dir)/a1.json"]).status == 0)
    }
}
