import Foundation
import CopyprofProfile
import Testing
import TestSupport

/// A run as an unprivileged user at perf_event_paranoid 2, the default in containers: the kernel refuses kernel
/// counting; context switches come from getrusage (in every run: the timing trials'), say so, and are never a
/// user-only 0; comparing such a run with a root run compares them.
@Suite(.serialized) struct UnprivilegedRunTests {
    @Test(.canRunAsNobody, .unprivilegedCountingIsUserOnly)
    func asNobodyContextSwitchesComeFromRusageAndCompareComparesThemWithRoots() throws {
        let folder = try temporaryDirectory()
        let arguments = [
            "run", "--transports", "two-copy", "--sizes", "64", "--connections", "1", "--workloads", "pingpong", "--trials", "4",
            "--warmup", "0", "--duration", "0.05", "--no-report",
        ]
        let nobody = try runAsNobody(arguments + ["--output", "\(folder)/nobody.json"], in: folder)
        #expect(nobody.status == 0, "\(nobody.stderr)")
        #expect(nobody.stdout.contains("sw/MB from getrusage"), "the summary table says where they come from")
        let root = try runProcess(copyprofBinary, arguments + ["--output", "\(folder)/root.json"], in: folder)
        #expect(root.status == 0, "\(root.stderr)")

        // CSV: context_switches is voluntary + involuntary, from getrusage, and not 0 in a ping-pong run.
        let csv = try runProcess(copyprofBinary, ["export", "\(folder)/nobody.json", "--csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        let lines = csv.stdout.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = try #require(lines.first)
        func column(_ name: String) throws -> Int { try #require(header.firstIndex(of: name), "\(name)") }
        let (switches, voluntary, involuntary, source) = (
            try column("context_switches"), try column("voluntary_switches"), try column("involuntary_switches"),
            try column("context_switches_source"))
        // One row per trial: 4 rounds of a timing trial, and of a counted one when nobody may count any event.
        let trials = try Profile.read(from: "\(folder)/nobody.json").cells.reduce(0) { $0 + $1.trials.count }
        #expect(trials == 4 || trials == 8)
        #expect(lines.count == 1 + trials)
        for row in lines.dropFirst() {
            let count = try #require(Int(row[switches]))
            #expect(count > 0, "never a user-only 0")
            #expect(count == (Int(row[voluntary]) ?? -1) + (Int(row[involuntary]) ?? -1))
            #expect(row[source] == "getrusage")
        }

        // compare: context switches come from the timing trials' getrusage in both runs (perf's count in a counted
        // trial includes its sampler's switches), so root's run and nobody's are measured alike and compared.
        let compare = try runProcess(copyprofBinary, ["compare", "\(folder)/root.json", "\(folder)/nobody.json", "--json"])
        #expect(compare.status != 1, "\(compare.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(compare.stdout.utf8)) as? [String: Any])
        let differences = document["methodDifferences"] as? [String] ?? []
        #expect(!differences.contains { $0.hasPrefix("context switches/MB") }, "\(differences)")
        let rows = try #require(document["rows"] as? [[String: Any]])
        let switchRows = rows.filter { $0["metric"] as? String == "context-switches-per-mb" }
        #expect(!switchRows.isEmpty && switchRows.allSatisfy { $0["verdict"] as? String != "incomparable" }, "\(switchRows)")
    }
}
