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

/// Runs a program to its end and returns its exit status and output; with `timeout`, kills it (SIGKILL) if it runs
/// longer, so that a hang fails the test instead of holding the suite.
///
/// With `standardOutput`, the program's stdout is that file (opened for writing, e.g. /dev/full) instead of a pipe.
public func runProcess(
    _ path: String, _ arguments: [String], interruptAfter: Double? = nil, in directory: String? = nil, timeout: Double? = nil,
    standardOutput: String? = nil
) throws -> ProcessOutput {
    let process = Process()
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    if let standardOutput {
        guard let handle = FileHandle(forWritingAtPath: standardOutput) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: standardOutput])
        }
        process.standardOutput = handle
        try? out.fileHandleForWriting.close()
    } else {
        process.standardOutput = out
    }
    process.standardError = err
    try process.run()
    if let timeout {
        let pid = process.processIdentifier
        let watchdog = Thread {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(pid, SIGKILL) }
        }
        watchdog.start()
    }
    if let interruptAfter {
        Thread.sleep(forTimeInterval: interruptAfter)
        process.interrupt()
    }
    let stdout = standardOutput == nil ? out.fileHandleForReading.readDataToEndOfFile() : Data()
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
    ///
    /// With `messageSize`, the bytes are whole messages of that size, as a profile's reader requires, and the elapsed
    /// time is about 1 ms, chosen so that the throughput is `gbps` within 1 ppm.
    public static func trial(
        _ index: Int, gbps: Double, cpuNsPerByte: Double = 2, extra: [String: Double] = [:], messageSize: Int? = nil
    ) -> TrialRecord {
        var elapsed: UInt64 = 1_000_000
        let exact = UInt64(gbps * Double(elapsed) / 8)
        let size = UInt64(messageSize ?? 4096)
        let bytes = messageSize == nil ? exact : max(1, (exact + size / 2) / size) * size
        if messageSize != nil { elapsed = UInt64((Double(bytes) * 8 / gbps).rounded()) }
        func worker(_ role: WorkerRole) -> WorkerRecord {
            var counters = ["task-clock": CounterRecord(raw: UInt64(cpuNsPerByte * Double(bytes) / 2), timeEnabled: 1, timeRunning: 1)]
            for (name, value) in extra { counters[name] = CounterRecord(raw: UInt64(value / 2), timeEnabled: 1, timeRunning: 1) }
            return WorkerRecord(
                connection: 0, role: role, wallNs: elapsed, sent: nil, received: nil, counters: counters,
                usage: UsageRecord(userNs: 1, systemNs: 1, voluntarySwitches: 0, involuntarySwitches: 0, minorFaults: 0, cpuClockNs: 1))
        }
        return TrialRecord(
            trial: index, elapsedNs: elapsed, bytes: bytes, messages: bytes / size, integrityErrors: 0,
            firstMismatch: nil, partialWrites: 0, rtt: nil, zeroCopy: nil, workers: [worker(.sender), worker(.receiver)])
    }

    public static func make(
        throughput: [Double], key: CellKey = CellKey(transport: .twoCopy, mode: .stream, messageSize: 4096, threads: 1),
        environment: EnvironmentInfo = environment()
    ) -> Profile {
        let trials = throughput.enumerated().map { trial($0.offset + 1, gbps: $0.element, messageSize: key.messageSize) }
        var plan = SweepPlan(transports: [key.transport], sizes: [key.messageSize], threads: [key.threads], modes: [key.mode])
        plan.trials = throughput.count
        return Profile(environment: environment, plan: plan, cells: [CellRecord(key: key, trials: trials)])
    }
}
