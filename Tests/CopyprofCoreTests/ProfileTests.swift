import Foundation
import PerfCounters
import Testing
import Transports

@testable import CopyprofCore

@Suite struct ProfileFileTests {
    func write(_ text: String) throws -> String {
        let path = try temporaryDirectory() + "/p.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func problem(_ text: String) throws -> String {
        let path = try write(text)
        do {
            _ = try Profile.read(from: path)
            return "read without error"
        } catch {
            let message = error.description
            #expect(message.hasPrefix(path + ": "), "names the file: \(message)")
            #expect(!message.contains("\n"), "one line: \(message)")
            return message
        }
    }

    @Test func aProfileRoundTrips() throws {
        let profile = SampleProfiles.make(throughput: [10, 11, 12])
        let path = try temporaryDirectory() + "/round.json"
        try profile.write(to: path)
        let back = try Profile.read(from: path)
        #expect(back.cells.count == profile.cells.count)
        #expect(back.cells[0].trials.map(\.bytes) == profile.cells[0].trials.map(\.bytes))
        #expect(back.environment.hostname == profile.environment.hostname)
        #expect(try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent) == ["round.json"])
    }

    @Test func truncatedProfile() throws {
        let data = try SampleProfiles.make(throughput: [1]).jsonData()
        let text = String(decoding: data.prefix(data.count / 2), as: UTF8.self)
        #expect(try problem(text).contains("truncated or is not JSON"))
    }

    @Test func unknownSchemaVersion() throws {
        #expect(try problem(#"{"tool": "copyprof", "schemaVersion": 99}"#).contains("schema version 99 is not supported"))
    }

    @Test func foreignJSON() throws {
        #expect(try problem(#"{"name": "something else"}"#).contains("not a copyprof profile"))
        #expect(try problem("hello").contains("not JSON"))
    }

    @Test func wrongTypes() throws {
        var object = try JSONSerialization.jsonObject(with: SampleProfiles.make(throughput: [1]).jsonData()) as! [String: Any]
        var cells = object["cells"] as! [[String: Any]]
        var trials = cells[0]["trials"] as! [[String: Any]]
        trials[0]["bytes"] = "many"
        cells[0]["trials"] = trials
        object["cells"] = cells
        let text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        let message = try problem(text)
        #expect(message.contains("wrong type at cells[0].trials[0].bytes"), "\(message)")
    }

    @Test func missingFile() {
        #expect(throws: CopyprofError.self) { try Profile.read(from: "/nonexistent/x.json") }
    }

    @Test func csvHasTheDocumentedColumnsAndEmptyCellsForUncountedEvents() throws {
        let profile = SampleProfiles.make(throughput: [8, 9])
        let csv = CSVExport.render(profile)
        let lines = csv.split(separator: "\n")
        #expect(lines[0] == (CSVExport.columns + CSVExport.extraColumns).joined(separator: ","))
        #expect(lines.count == 3)
        let fields = lines[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let row = Dictionary(uniqueKeysWithValues: zip(CSVExport.columns, fields))
        #expect(row["transport"] == "two-copy" && row["mode"] == "stream" && row["message_size"] == "4096")
        #expect(row["cycles"] == "" && row["cycles_per_byte"] == "", "not counted is empty, never 0")
        #expect(row["task_clock_ns"] == "2000000")
        #expect(row["throughput_gbps"] == "8")
        #expect(row["cpu_ns_per_byte"] == "2")
    }
}

/// Hand-made profiles with known numbers.
enum SampleProfiles {
    static func environment(cpu: String = "Test CPU", pmu: Bool = false) -> EnvironmentInfo {
        EnvironmentInfo(
            hostname: "testhost", cpuModel: cpu, cpuCount: 2, virtualized: true, memoryBytes: 1 << 34,
            kernelRelease: "6.1.0", distribution: "Test", perfEventParanoid: 2,
            pmus: pmu ? ["cpu", "software"] : ["software", "tracepoint"], tracefs: nil,
            events: [
                HostCounters.Probe(name: "task-clock", kind: "software", summary: "", availability: .counted),
                HostCounters.Probe(
                    name: "cycles", kind: "hardware", summary: "",
                    availability: EventAvailability(state: .notSupported, reason: "ENOENT: no hardware PMU", errno: 2)),
            ],
            loopbackMTU: 65536, optmemMax: 131072, tcpWmem: "4096 16384 4194304", tcpRmem: "4096 131072 6291456",
            swiftVersion: "6.3", copyprofVersion: "test", commandLine: ["copyprof", "run"],
            startTime: "2026-11-25T00:00:00Z", endTime: "2026-11-25T00:01:00Z", label: nil)
    }

    /// A trial moving `gbps` for exactly 1 ms, with 1 ns of task-clock per byte split over sender and receiver.
    static func trial(_ index: Int, gbps: Double, cpuNsPerByte: Double = 2, extra: [String: Double] = [:]) -> TrialRecord {
        let elapsed: UInt64 = 1_000_000
        let bytes = UInt64(gbps * Double(elapsed) / 8)
        func worker(_ role: WorkerRole) -> WorkerRecord {
            var counters = ["task-clock": ScaledCount(raw: UInt64(cpuNsPerByte * Double(bytes) / 2), timeEnabled: 1, timeRunning: 1)]
            for (name, value) in extra { counters[name] = ScaledCount(raw: UInt64(value / 2), timeEnabled: 1, timeRunning: 1) }
            return WorkerRecord(
                connection: 0, role: role, wallNs: elapsed, sent: nil, received: nil, counters: counters,
                usage: ThreadUsage(userNs: 1, systemNs: 1, voluntarySwitches: 0, involuntarySwitches: 0, minorFaults: 0, cpuClockNs: 1))
        }
        return TrialRecord(
            trial: index, elapsedNs: elapsed, bytes: bytes, messages: bytes / 4096, integrityErrors: 0,
            firstMismatch: nil, partialWrites: 0, rtt: nil, zeroCopy: nil, workers: [worker(.sender), worker(.receiver)])
    }

    static func make(
        throughput: [Double], key: CellKey = CellKey(transport: .twoCopy, mode: .stream, messageSize: 4096, threads: 1),
        environment: EnvironmentInfo = environment()
    ) -> Profile {
        let trials = throughput.enumerated().map { trial($0.offset + 1, gbps: $0.element) }
        var plan = SweepPlan(transports: [key.transport], sizes: [key.messageSize], threads: [key.threads], modes: [key.mode])
        plan.trials = throughput.count
        return Profile(environment: environment, plan: plan, cells: [CellRecord(key: key, trials: trials)])
    }
}
