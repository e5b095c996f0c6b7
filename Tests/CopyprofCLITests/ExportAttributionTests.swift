import CopyprofModel
import CopyprofProfile
import Foundation
import TestSupport
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

@testable import CopyprofReport

/// `copyprof export --attribution --csv`, `--folded` and `--flamegraph` on a hand-made sampled profile (issue 20,
/// item 7), and what they say of a profile without samples.
@Suite struct ExportAttributionTests {
    static func sampledProfile(in dir: String, userOnly: Bool = false) throws -> String {
        let path = "\(dir)/sampled\(userOnly ? "-user" : "").json"
        try SampledSweep.profile(userOnly: userOnly).write(to: path)
        return path
    }

    @Test func attributionCSVHasARowPerCellRoleAndCategoryWhoseSharesSumToOne() throws {
        let dir = try temporaryDirectory()
        let result = try runProcess(copyprofBinary, ["export", try Self.sampledProfile(in: dir), "--attribution", "--csv"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == AttributionCSV.columns.joined(separator: ","))
        #expect(lines.first?.hasPrefix("transport,receiver,workload,message_size,connections,role,category,share,low,high,samples,sampling_mode") == true)
        let rows = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        // 5 cells × 2 roles × 13 categories.
        #expect(rows.count == 5 * 2 * AttributionCategory.allCases.count)
        var sums: [String: Double] = [:]
        for row in rows {
            #expect(row.count == AttributionCSV.columns.count)
            let share = try #require(Double(row[7]), "\(row)")
            let low = try #require(Double(row[8])), high = try #require(Double(row[9]))
            #expect(low <= share && share <= high && low >= 0 && high <= 1, "\(row)")
            #expect(row[11] == "user+kernel" && row[12] == "6")
            sums[row[0...5].joined(separator: ","), default: 0] += share
        }
        #expect(sums.count == 10)
        for (role, sum) in sums { #expect(abs(sum - 1) < 1e-5, "\(role): shares sum to \(sum)") }
        let copy = try #require(rows.first { $0[0] == "two-copy" && $0[1] == "copy" && $0[5] == "sender" && $0[6] == "copy-from-user" })
        #expect(copy[2] == "stream" && copy[3] == "65536" && copy[4] == "1")
        #expect(abs((Double(copy[7]) ?? 0) - 0.41) < 0.02)
    }

    @Test func userOnlyCSVLeavesKernelCategoriesEmptyNotZero() throws {
        let dir = try temporaryDirectory()
        let result = try runProcess(copyprofBinary, ["export", try Self.sampledProfile(in: dir, userOnly: true), "--attribution", "--csv"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(!rows.isEmpty)
        for row in rows {
            let kernel = AttributionCategory(rawValue: row[6])?.isKernel ?? false
            #expect(row[7].isEmpty == kernel && row[10].isEmpty == kernel, "\(row)")
            #expect(row[11] == "user-only")
        }
    }

    @Test func foldedOutputParsesAsFoldedStacks() throws {
        let dir = try temporaryDirectory()
        let profilePath = try Self.sampledProfile(in: dir)
        let profile = try Profile.read(from: profilePath)
        let stackSamples = profile.cells.flatMap { $0.stacks ?? [] }.reduce(UInt64(0)) { sum, summary in
            sum + summary.omittedSamples + summary.stacks.reduce(0) { $0 + $1.samples }
        }
        // Every cell and role: each stack starts with its cell and role.
        let all = try runProcess(copyprofBinary, ["export", profilePath, "--folded"])
        #expect(all.status == 0, "\(all.stderr)")
        let everything = try FoldedStacks.parse(all.stdout)
        #expect(everything.total == stackSamples)
        #expect(everything.counts.keys.allSatisfy { $0.count >= 3 && $0[0].hasPrefix("stream ") && ["sender", "receiver"].contains($0[1]) })
        #expect(everything.counts[["stream two-copy 65536 B × 1 connection", "sender", "copyprof-sender", "__libc_send", "tcp_sendmsg", "_copy_from_iter"]] != nil)

        // One cell's senders, in either cell syntax: the stacks alone, root first.
        for cell in ["two-copy,stream,65536,1", "stream two-copy 65536 B × 1 connection"] {
            let one = try runProcess(copyprofBinary, ["export", profilePath, "--folded", "--cell", cell, "--role", "sender"])
            #expect(one.status == 0, "\(one.stderr)")
            let stacks = try FoldedStacks.parse(one.stdout)
            let summary = try #require(profile.cells.first { $0.key == SampledSweep.key(.twoCopy) }?.stacks?.first { $0.role == .sender })
            #expect(stacks.total == summary.omittedSamples + summary.stacks.reduce(0) { $0 + $1.samples })
            #expect(stacks.counts.keys.allSatisfy { $0[0] == "copyprof-sender" || $0 == [AttributionAnalysis.omittedFrame] })
            #expect(one.stdout.contains("copyprof-sender;__libc_send;tcp_sendmsg;_copy_from_iter "))
        }
        // A receiver other than copy, and the receivers of every cell.
        let mmap = try runProcess(copyprofBinary, ["export", profilePath, "--folded", "--cell", "two-copy+discard,stream,65536,1"])
        #expect(mmap.status == 0, "\(mmap.stderr)")
        #expect(try FoldedStacks.parse(mmap.stdout).counts.keys.allSatisfy { ["sender", "receiver"].contains($0[0]) })
        let receivers = try runProcess(copyprofBinary, ["export", profilePath, "--folded", "--role", "receiver"])
        #expect(try FoldedStacks.parse(receivers.stdout).counts.keys.allSatisfy { $0[0].hasPrefix("stream ") && $0[1].hasPrefix("copyprof-receiver") || $0[1] == AttributionAnalysis.omittedFrame })
    }

    @Test func flameGraphOfACellsRoleIsAnSVG() throws {
        let dir = try temporaryDirectory()
        let profilePath = try Self.sampledProfile(in: dir)
        let output = "\(dir)/flame.svg"
        let result = try runProcess(copyprofBinary, [
            "export", profilePath, "--flamegraph", "--cell", "zero-copy,stream,65536,1", "--role", "receiver", "--output", output,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: output))
        #expect(XMLParser(data: data).parse())
        let svg = String(decoding: data, as: UTF8.self)
        #expect(svg.contains("stream zero-copy 65536 B × 1 connection — receiver threads"))
        #expect(svg.contains("skb_copy_ubufs"))
    }

    @Test func aCellThatDoesNotMatchIsOneLineListingTheCells() throws {
        let dir = try temporaryDirectory()
        let profilePath = try Self.sampledProfile(in: dir)
        let result = try runProcess(copyprofBinary, ["export", profilePath, "--folded", "--cell", "two-copy,stream,4096,1"])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("--cell 'two-copy,stream,4096,1': the profile has no such sampled cell; its sampled cells: two-copy,stream,65536,1 two-copy+discard,stream,65536,1 marshal,stream,65536,1"))
        let bad = try runProcess(copyprofBinary, ["export", profilePath, "--flamegraph", "--cell", "two_copy,stream,65536,1", "--role", "sender"])
        #expect(bad.status == 1 && bad.stderr.split(separator: "\n").count == 1)
        #expect(bad.stderr.contains("'two_copy' is not a transport"))
    }

    @Test func badCombinationsAreRefusedWithWhatToDo() throws {
        let dir = try temporaryDirectory()
        let profilePath = try Self.sampledProfile(in: dir)
        let cases: [([String], String)] = [
            (["--attribution"], "--attribution is written as CSV: add --csv"),
            (["--flamegraph", "--role", "sender"], "--flamegraph draws one cell's role: give --cell"),
            (["--csv", "--cell", "two-copy,stream,65536,1"], "--cell and --role choose the stacks of --folded and --flamegraph"),
            (["--csv", "--folded"], "choose one format"),
            ([], "choose a format: --csv, --attribution --csv, --folded or --flamegraph"),
            (["--folded", "--role", "both"], "--role"),
        ]
        for (arguments, message) in cases {
            let result = try runProcess(copyprofBinary, ["export", profilePath] + arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    /// Profiles of schema 1 and 2 predate sampling: their attribution is n/a, and the exports say why.
    @Test func olderProfilesHaveNoAttributionToExport() throws {
        for fixture in [Fixtures.schema1Sweep, Fixtures.schema2Sweep] {
            for format in [["--attribution", "--csv"], ["--folded"]] {
                let result = try runProcess(copyprofBinary, ["export", Fixtures.path(fixture)] + format)
                #expect(result.status == 1, "\(fixture) \(format)")
                #expect(result.stderr.contains(": no attribution to export, not sampled: the profile predates sampling (schema "), "\(result.stderr)")
                #expect(result.stderr.split(separator: "\n").count == 1)
            }
            // Their trial CSV is as before.
            #expect(try runProcess(copyprofBinary, ["export", Fixtures.path(fixture), "--csv"]).status == 0)
        }
    }
}

/// `copyprof report` of a sampled profile writes the section's charts and flame graphs beside the others.
@Suite struct SampledReportCommandTests {
    @Test func everyChartAndFlameGraphTheReportLinksIsWritten() throws {
        let dir = try temporaryDirectory()
        let profilePath = try ExportAttributionTests.sampledProfile(in: dir)
        let result = try runProcess(copyprofBinary, ["report", profilePath, "--output", "\(dir)/r.md"])
        #expect(result.status == 0, "\(result.stderr)")
        let markdown = try String(contentsOfFile: "\(dir)/r.md", encoding: .utf8)
        #expect(markdown.contains("## Where the time goes"))
        let links = markdown.matches(of: /\]\((r-charts\/[^)]+\.svg)\)/).map { String($0.1) }
        #expect(links.contains("r-charts/where-stream-65536.svg"))
        #expect(links.filter { $0.contains("/flame-") }.count == 10)
        for link in links {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(link)"))
            #expect(XMLParser(data: data).parse(), "\(link)")
        }
    }
}
