import Foundation
import PerfCounters
import TestSupport
import Testing

/// `copyprof counters` against this host's kernel.
@Suite struct CountersCommandTests {
    @Test func tableSaysWhatIsCountedAndWhyTheRestIsNot() throws {
        let result = try runProcess(copyprofBinary, ["counters"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("perf_event_paranoid: ") })
        // Counted; or, for a user who may count user space only, user-only, or not permitted with a note.
        func row(_ event: String) -> String? { lines.first { $0.hasPrefix(event + " ") } }
        #expect(row("task-clock")?.contains(" counted") == true, "\(row("task-clock") ?? "missing")")
        let faults = mayCountTheKernel ? #/ counted$/# : #/ user-only \[\d\]$/#
        #expect(row("page-faults")?.contains(faults) == true, "\(row("page-faults") ?? "missing")")
        for event in ["context-switches", "cpu-migrations"] {
            let status = mayCountTheKernel ? #/ counted$/# : #/ not-permitted: EACCES \[\d\]$/#
            #expect(row(event)?.contains(status) == true, "\(row(event) ?? "missing")")
        }
        // Whether this host has a hardware PMU, from sysfs's PMU names, and what the table says of it agree.
        let pmu = try #require(lines.first { $0.hasPrefix("PMUs:") })
        let hardwarePMU = HostCounters.hasHardwarePMU(HostCounters.pmuNames)
        #expect(pmu.contains("no hardware PMU") == !hardwarePMU, "\(pmu)")
        if !hardwarePMU {
            // The row keeps the state and the error; the reason is a note below the table, given once.
            let cycles = try #require(lines.first { $0.hasPrefix("cycles ") })
            #expect(cycles.hasSuffix("not-supported: ENOENT [1]"))
            let note = try #require(lines.first { $0.hasPrefix("[1] ") })
            #expect(note.contains("no hardware PMU offers this event"))
            #expect(lines.filter { $0.hasPrefix("[1] ") }.count == 1)
        }
        // An 80-column terminal shows it without wrapping.
        #expect(lines.allSatisfy { $0.count <= 80 }, "\(lines.filter { $0.count > 80 })")
    }

    @Test func jsonListsEveryCatalogEvent() throws {
        let result = try runProcess(copyprofBinary, ["counters", "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let events = try #require(object["events"] as? [[String: Any]])
        #expect(events.count == 12)
        #expect(object["pmus"] is [String])
        let states = events.compactMap { ($0["availability"] as? [String: Any])?["state"] as? String }
        #expect(states.count == 12 && states.allSatisfy {
            ["counted", "user-only", "not-supported", "not-permitted", "failed", "not-counted"].contains($0)
        })
        let taskClock = try #require(events.first { $0["name"] as? String == "task-clock" })
        #expect(taskClock["mode"] as? String == "user+kernel")
    }

    @Test func chosenEventsAndTheirErrors() throws {
        let unknown = try runProcess(copyprofBinary, ["counters", "--events", "task-clock,bogus"])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown event 'bogus'"))
        let missing = try runProcess(copyprofBinary, ["counters", "--events", "nosuch:tracepoint"])
        #expect(missing.status == 1)
        // No such tracepoint; or, where tracefs is readable by root only, no way to look it up.
        let unreadable: Bool
        if case .permissionDenied = Tracefs.status { unreadable = true } else { unreadable = false }
        #expect(missing.stdout.contains("nosuch:tracepoint") && missing.stdout.contains(unreadable ? "not-permitted" : "not-supported"),
                "\(missing.stdout)")
        #expect(missing.stderr.contains("none of these events can be counted here"))
        let cost = try runProcess(copyprofBinary, ["counters", "--events", "task-clock", "--cost"])
        #expect(cost.status == 0 && cost.stdout.contains("ns per region"))
        let workload = try runProcess(copyprofBinary, ["counters", "--workload", "bogus"])
        #expect(workload.status != 0 && workload.stderr.contains("unknown workload 'bogus'"))
    }

    @Test func checkPassesEverySoftwareEventAndSaysWhyEachHardwareEventIsSkipped() throws {
        let result = try runProcess(copyprofBinary, ["counters", "--check"])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        func line(_ event: String) -> String? { lines.first { $0.dropFirst(6).hasPrefix(event + " ") } }
        for event in ["task-clock", "context switches (getrusage)", "page-faults"] {
            #expect(line(event)?.hasPrefix("PASS") == true, "\(event): \(line(event) ?? "missing")")
        }
        // perf's figure passes where the kernel may be counted; elsewhere it is skipped, and getrusage's is the figure.
        let switches = line("context-switches")
        let verdict = mayCountTheKernel ? #/^PASS /# : #/^skip .* not-permitted: EACCES/#
        #expect(switches?.contains(verdict) == true, "\(switches ?? "missing")")
        // Passes, or is skipped with why where this thread may run on one CPU only: never fails.
        let migrations = try #require(line("cpu-migrations"))
        #expect(migrations.hasPrefix("PASS") || migrations.hasPrefix("skip "), "\(migrations)")
        // Passes where tracefs can be read (this test runs as the user the binary runs as), else is skipped with why.
        let tracepoint = try #require(line("skb:skb_copy_datagram_iovec"))
        #expect(tracepoint.hasPrefix(Tracefs.mountPoint != nil ? "PASS" : "skip "), "\(tracepoint); tracefs: \(Tracefs.status.description)")
        #expect(lines.last?.hasPrefix("checks: ") == true && lines.last?.contains(" 0 fail") == true)
        // Without a core PMU (HostFacts reads them from sysfs) each hardware event is skipped with the kernel's ENOENT.
        let noCorePMU = HostFacts.current().corePMUs.isEmpty
        #expect(result.stdout.contains("core PMUs: none") == noCorePMU)
        if noCorePMU {
            for event in ["cycles", "instructions", "L1-dcache-loads", "L1-dcache-load-misses", "LLC-loads", "LLC-load-misses", "branch-misses"] {
                let text = try #require(line(event))
                #expect(text.hasPrefix("skip ") && text.contains("ENOENT"), "\(text)")
            }
        }
    }

    @Test func checkAsJSON() throws {
        let result = try runProcess(copyprofBinary, ["counters", "--check", "--json", "--events", "task-clock,page-faults"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.map { $0["event"] as? String } == ["task-clock", "page-faults"])
        #expect(checks.allSatisfy { $0["verdict"] as? String == "pass" && $0["measuredValue"] is Double })
    }

    @Test(.canRunAsNobody, .unprivilegedCountingIsUserOnly)
    func asNobodyContextSwitchesAreNotPermittedNotZeroAndComeFromRusage() throws {
        let probe = try runAsNobody(["counters", "--json"])
        #expect(probe.status == 0, "\(probe.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(probe.stdout.utf8)) as? [String: Any])
        let events = try #require(object["events"] as? [[String: Any]])
        func state(_ name: String) -> (state: String?, reason: String?, mode: String?) {
            let event = events.first { $0["name"] as? String == name }
            let availability = event?["availability"] as? [String: Any]
            return (availability?["state"] as? String, availability?["reason"] as? String, event?["mode"] as? String)
        }
        #expect(state("context-switches").state == "not-permitted")
        #expect(state("context-switches").reason?.contains("getrusage") == true)
        #expect(state("cpu-migrations").state == "not-permitted")
        #expect(state("task-clock").state == "counted" && state("task-clock").mode == "user+kernel")
        #expect(state("page-faults").state == "user-only" && state("page-faults").mode == "user-only")
        let tracepoint = state("skb:skb_copy_datagram_iovec")
        #expect(tracepoint.state == "not-permitted" || tracepoint.state == "not-supported")
        #expect(tracepoint.reason?.contains("is not mounted") == false || !FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events"),
                "a tracefs this user may not read is not called unmounted: \(tracepoint.reason ?? "")")

        let check = try runAsNobody(["counters", "--check", "--json", "--events", "context-switches,task-clock,page-faults"])
        #expect(check.status == 0, "\(check.stdout)\n\(check.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])
        let checks = try #require(report["checks"] as? [[String: Any]])
        let perf = try #require(checks.first { $0["event"] as? String == "context-switches" })
        #expect(perf["verdict"] as? String == "skipped" && perf["measuredValue"] == nil, "never a counted 0")
        #expect((perf["note"] as? String)?.contains("not-permitted") == true)
        let rusage = try #require(checks.first { $0["event"] as? String == "context switches (getrusage)" })
        #expect(rusage["verdict"] as? String == "pass" && rusage["source"] as? String == "getrusage")
        #expect(((rusage["measuredValue"] as? Double) ?? 0) > 0)
        let faults = try #require(checks.first { $0["event"] as? String == "page-faults" })
        #expect(faults["verdict"] as? String == "pass" && faults["mode"] as? String == "user-only")
    }
}
