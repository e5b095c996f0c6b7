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
}
