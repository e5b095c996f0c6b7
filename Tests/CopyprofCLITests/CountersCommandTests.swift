import Foundation
import TestSupport
import Testing

/// `copyprof counters` against this host's kernel.
@Suite struct CountersCommandTests {
    @Test func tableSaysWhatIsCountedAndWhyTheRestIsNot() throws {
        let result = try runProcess(copyprofBinary, ["counters"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("perf_event_paranoid: ") })
        for event in ["task-clock", "context-switches", "cpu-migrations", "page-faults"] {
            #expect(lines.contains { $0.hasPrefix(event + " ") && $0.hasSuffix("counted") }, "\(event)")
        }
        let pmu = lines.first { $0.hasPrefix("PMUs:") } ?? ""
        if pmu.contains("no hardware PMU") {
            let cycles = try #require(lines.first { $0.hasPrefix("cycles ") })
            #expect(cycles.contains("not-supported: ENOENT: no hardware PMU"))
        }
    }

    @Test func jsonListsEveryCatalogEvent() throws {
        let result = try runProcess(copyprofBinary, ["counters", "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let events = try #require(object["events"] as? [[String: Any]])
        #expect(events.count == 12)
        #expect(object["pmus"] is [String])
        let states = events.compactMap { ($0["availability"] as? [String: Any])?["state"] as? String }
        #expect(states.count == 12 && states.allSatisfy { ["counted", "user-only", "not-supported", "not-permitted", "failed"].contains($0) })
    }

    @Test func chosenEventsAndTheirErrors() throws {
        let unknown = try runProcess(copyprofBinary, ["counters", "--events", "task-clock,bogus"])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown event 'bogus'"))
        let missing = try runProcess(copyprofBinary, ["counters", "--events", "nosuch:tracepoint"])
        #expect(missing.status == 1)
        #expect(missing.stdout.contains("nosuch:tracepoint") && missing.stdout.contains("not-supported"))
        #expect(missing.stderr.contains("none of these events can be counted here"))
        let cost = try runProcess(copyprofBinary, ["counters", "--events", "task-clock", "--cost"])
        #expect(cost.status == 0 && cost.stdout.contains("ns per region"))
    }
}
