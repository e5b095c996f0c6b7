import CopyprofProfile
import Foundation
import Testing

/// The copyprof binary SwiftPM built beside this test bundle.
public let copyprofBinary: String = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundle, bundle.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("copyprof").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return ".build/debug/copyprof"
}()

public struct ProcessOutput {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs a program to its end and returns its exit status and output.
public func runProcess(_ path: String, _ arguments: [String], interruptAfter: Double? = nil, in directory: String? = nil) throws -> ProcessOutput {
    let process = Process()
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    if let interruptAfter {
        Thread.sleep(forTimeInterval: interruptAfter)
        process.interrupt()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessOutput(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self))
}

/// A fresh temporary folder.
public func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "copyprof-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

public func which(_ program: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(dir)/\(program)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// Hand-made profiles with known numbers.
public enum SampleProfiles {
    public static func environment(cpu: String = "Test CPU", pmu: Bool = false) -> EnvironmentInfo {
        EnvironmentInfo(
            hostname: "testhost", cpuModel: cpu, cpuCount: 2, virtualized: true, memoryBytes: 1 << 34,
            kernelRelease: "6.1.0", distribution: "Test", perfEventParanoid: 2,
            pmus: pmu ? ["cpu", "software"] : ["software", "tracepoint"], tracefs: nil,
            events: [
                EventProbeRecord(name: "task-clock", kind: "software", summary: "", availability: AvailabilityRecord(state: .counted)),
                EventProbeRecord(
                    name: "cycles", kind: "hardware", summary: "",
                    availability: AvailabilityRecord(state: .notSupported, reason: "ENOENT: no hardware PMU", errno: 2)),
            ],
            loopbackMTU: 65536, optmemMax: 131072, tcpWmem: "4096 16384 4194304", tcpRmem: "4096 131072 6291456",
            swiftVersion: "6.3", copyprofVersion: "test", commandLine: ["copyprof", "run"],
            startTime: "2026-11-25T00:00:00Z", endTime: "2026-11-25T00:01:00Z", label: nil)
    }

    /// A trial moving `gbps` for exactly 1 ms, with 1 ns of task-clock per byte split over sender and receiver.
    public static func trial(
        _ index: Int, gbps: Double, cpuNsPerByte: Double = 2, extra: [String: Double] = [:], kind: TrialKind? = nil,
        round: Int? = nil
    ) -> TrialRecord {
        let elapsed: UInt64 = 1_000_000
        let bytes = UInt64(gbps * Double(elapsed) / 8)
        func worker(_ role: WorkerRole) -> WorkerRecord {
            var counters = ["task-clock": CounterRecord(raw: UInt64(cpuNsPerByte * Double(bytes) / 2), timeEnabled: 1, timeRunning: 1)]
            for (name, value) in extra { counters[name] = CounterRecord(raw: UInt64(value / 2), timeEnabled: 1, timeRunning: 1) }
            return WorkerRecord(
                connection: 0, role: role, wallNs: elapsed, sent: nil, received: nil, counters: counters,
                usage: UsageRecord(userNs: 1, systemNs: 1, voluntarySwitches: 0, involuntarySwitches: 0, minorFaults: 0, cpuClockNs: 1))
        }
        return TrialRecord(
            trial: index, elapsedNs: elapsed, bytes: bytes, messages: bytes / 4096, integrityErrors: 0,
            firstMismatch: nil, partialWrites: 0, rtt: nil, zeroCopy: nil, workers: [worker(.sender), worker(.receiver)],
            kind: kind, round: round)
    }

    /// A control record with these wall times per round (ms), all of it on a CPU unless `cpuMs` says otherwise.
    public static func control(wallMs: [Double], cpuMs: [Double]? = nil) -> ControlRecord {
        ControlRecord(
            copyBufferBytes: 256 << 10, copyRepetitions: 512, syscalls: 10_000,
            samples: wallMs.enumerated().map { round, ms in
                let cpu = cpuMs?[round] ?? ms
                return ControlSample(round: round + 1, copyNs: UInt64(ms * 5e5), syscallNs: UInt64(ms * 5e5), cpuNs: UInt64(cpu * 1e6))
            })
    }

    /// A stream cell measured in rounds: round k has a timing trial of `timing[k]` Gbit/s and, when given, a counted
    /// trial of `counted[k]` Gbit/s with `cpuNsPerByte[k]` CPU ns per byte (2 when not given).
    public static func roundsCell(
        _ key: CellKey, timing: [Double], counted: [Double]? = nil, cpuNsPerByte: [Double]? = nil
    ) -> CellRecord {
        var trials: [TrialRecord] = []
        for (round, gbps) in timing.enumerated() {
            trials.append(trial(trials.count + 1, gbps: gbps, kind: .timing, round: round + 1))
            if let counted {
                trials.append(trial(
                    trials.count + 1, gbps: counted[round], cpuNsPerByte: cpuNsPerByte?[round] ?? 2, kind: .counted,
                    round: round + 1))
            }
        }
        return CellRecord(key: key, trials: trials)
    }

    /// A profile of stream cells measured in rounds, with a control.
    public static func rounds(_ cells: [CellRecord], controlMs: [Double]?, environment: EnvironmentInfo = environment()) -> Profile {
        let keys = cells.map(\.key)
        var plan = SweepPlan(
            transports: TransportKind.allCases.filter { t in keys.contains { $0.transport == t } },
            sizes: Array(Set(keys.map(\.messageSize))).sorted(), threads: Array(Set(keys.map(\.threads))).sorted(),
            modes: [.stream])
        plan.trials = cells.map { $0.trials.filter { $0.kind == .timing }.count }.max() ?? 0
        var profile = Profile(environment: environment, plan: plan, cells: cells)
        profile.control = controlMs.map { control(wallMs: $0) }
        return profile
    }

    public static func make(
        throughput: [Double], key: CellKey = CellKey(transport: .twoCopy, mode: .stream, messageSize: 4096, threads: 1),
        environment: EnvironmentInfo = environment()
    ) -> Profile {
        let trials = throughput.enumerated().map { trial($0.offset + 1, gbps: $0.element) }
        var plan = SweepPlan(transports: [key.transport], sizes: [key.messageSize], threads: [key.threads], modes: [key.mode])
        plan.trials = throughput.count
        return Profile(environment: environment, plan: plan, cells: [CellRecord(key: key, trials: trials)])
    }
}

/// Profiles kept under Tests/TestSupport/Fixtures: real profiles of this project's machine, each written by the
/// schema version its name says, read by the golden-file and findings tests.
public enum Fixtures {
    /// A sweep written with schema 2: every transport, 64 and 4096 B, 1 and 2 connections, stream and ping-pong,
    /// 6 rounds of a timing and a counted trial of 0.02 s each, with the control
    /// (`copyprof run --sizes 64,4096 --threads 1,2 --trials 6 --warmup 0 --duration 0.02 --label fixture`; then
    /// `copyprof report` it into schema2-sweep-report.md, as `FindingsTests.savedSweepReportIsUnchanged` says).
    public static let schema2Sweep = "schema2-sweep.json"
    /// The 64 B, 1-connection cells of a sweep written with schema 1 (copyprof 0.1), RTT histograms as arrays.
    public static let schema1Sweep = "schema1-sweep.json"

    /// The path of a fixture file.
    public static func path(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path
    }

    /// The bytes of a fixture file.
    public static func data(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: path(name)))
    }
}
