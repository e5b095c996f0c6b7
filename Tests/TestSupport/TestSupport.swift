import CopyprofModel
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

/// The folder every temporary folder of this test process is made in, removed when the process exits.
private let temporaryRoot: String = {
    let path = NSTemporaryDirectory() + "copyprof-tests-\(getpid())-\(UUID().uuidString.prefix(8))"
    atexit { try? FileManager.default.removeItem(atPath: temporaryRoot) }
    return path
}()

/// A fresh temporary folder, removed with the others when the test process exits.
public func temporaryDirectory() throws -> String {
    let path = temporaryRoot + "/\(UUID().uuidString)"
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

    /// A trial moving `gbps` for exactly 1 ms, with `cpuNsPerByte` of CPU time per byte split over sender and
    /// receiver: as each thread's CPU clock, and — unless it is a timing trial, which opens no counter, as a real
    /// sweep's do not — as task-clock and the `extra` counters too.
    ///
    /// With `messageSize`, the bytes are whole messages of that size, as a profile's reader requires, and the elapsed
    /// time is about 1 ms, chosen so that the throughput is `gbps` within 1 ppm.
    public static func trial(
        _ index: Int, gbps: Double, cpuNsPerByte: Double = 2, extra: [String: Double] = [:], messageSize: Int? = nil,
        kind: TrialKind? = nil, round: Int? = nil
    ) -> TrialRecord {
        var elapsed: UInt64 = 1_000_000
        let exact = UInt64(gbps * Double(elapsed) / 8)
        let size = UInt64(messageSize ?? 4096)
        let bytes = messageSize == nil ? exact : max(1, (exact + size / 2) / size) * size
        if messageSize != nil { elapsed = UInt64((Double(bytes) * 8 / gbps).rounded()) }
        func worker(_ role: WorkerRole) -> WorkerRecord {
            let cpuNs = UInt64(cpuNsPerByte * Double(bytes) / 2)
            var counters = ["task-clock": CounterRecord(raw: cpuNs, timeEnabled: 1, timeRunning: 1)]
            for (name, value) in extra { counters[name] = CounterRecord(raw: UInt64(value / 2), timeEnabled: 1, timeRunning: 1) }
            return WorkerRecord(
                connection: 0, role: role, wallNs: elapsed, sent: nil, received: nil, counters: kind == .timing ? [:] : counters,
                usage: UsageRecord(userNs: 1, systemNs: 1, voluntarySwitches: 0, involuntarySwitches: 0, minorFaults: 0, cpuClockNs: cpuNs))
        }
        return TrialRecord(
            trial: index, elapsedNs: elapsed, bytes: bytes, messages: bytes / size, integrityErrors: 0,
            firstMismatch: nil, partialWrites: 0, rtt: nil, zeroCopy: nil, workers: [worker(.sender), worker(.receiver)],
            kind: kind, round: round)
    }

    /// A control record with these wall times per round (ms), all of it on a CPU unless `cpuMs` says otherwise; its
    /// 100 wake-up round trips take `wakeUs` µs each (20 when not given), half of it on a CPU.
    public static func control(wallMs: [Double], cpuMs: [Double]? = nil, wakeUs: [Double]? = nil) -> ControlRecord {
        ControlRecord(
            copyBufferBytes: 256 << 10, copyRepetitions: 512, syscalls: 10_000, wakeRoundTrips: 100,
            samples: wallMs.enumerated().map { round, ms in
                let cpu = cpuMs?[round] ?? ms
                let wake = wakeUs?[round] ?? 20
                return ControlSample(
                    round: round + 1, copyNs: UInt64(ms * 5e5), syscallNs: UInt64(ms * 5e5), cpuNs: UInt64(cpu * 1e6),
                    wakeNs: UInt64(wake * 100e3), wakeCPUNs: UInt64(wake * 50e3))
            })
    }

    /// A stream cell measured in rounds: round k has a timing trial of `timing[k]` Gbit/s with `timingCPUNsPerByte[k]`
    /// CPU ns per byte and, when given, a counted trial of `counted[k]` Gbit/s with `cpuNsPerByte[k]` (each 2 when not
    /// given).
    public static func roundsCell(
        _ key: CellKey, timing: [Double], counted: [Double]? = nil, cpuNsPerByte: [Double]? = nil,
        timingCPUNsPerByte: [Double]? = nil
    ) -> CellRecord {
        var trials: [TrialRecord] = []
        for (round, gbps) in timing.enumerated() {
            trials.append(trial(
                trials.count + 1, gbps: gbps, cpuNsPerByte: timingCPUNsPerByte?[round] ?? 2, kind: .timing, round: round + 1))
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
            sizes: Array(Set(keys.map(\.messageSize))).sorted(), connections: Array(Set(keys.map(\.connections))).sorted(),
            workloads: [.stream])
        plan.trials = cells.map { $0.trials.filter { $0.kind == .timing }.count }.max() ?? 0
        var profile = Profile(environment: environment, plan: plan, cells: cells)
        profile.control = controlMs.map { control(wallMs: $0) }
        return profile
    }

    public static func make(
        throughput: [Double], key: CellKey = CellKey(transport: .twoCopy, workload: .stream, messageSize: 4096, connections: 1),
        environment: EnvironmentInfo = environment()
    ) -> Profile {
        let trials = throughput.enumerated().map { trial($0.offset + 1, gbps: $0.element, messageSize: key.messageSize) }
        var plan = SweepPlan(transports: [key.transport], sizes: [key.messageSize], connections: [key.connections], workloads: [key.workload])
        plan.trials = throughput.count
        return Profile(environment: environment, plan: plan, cells: [CellRecord(key: key, trials: trials)])
    }
}

/// Profiles kept under Tests/TestSupport/Fixtures: real profiles of this project's machine, each written by the
/// schema version its name says, read by the golden-file and findings tests.
public enum Fixtures {
    /// A sweep written with schema 2: the classic four transports with the copy receiver, 64 and 4096 B, 1 and 2
    /// connections, stream and ping-pong, 6 rounds of a timing and a counted trial of 0.02 s each, with the control
    /// (`copyprof run --sizes 64,4096 --threads 1,2 --trials 6 --warmup 0 --duration 0.02 --label fixture`; then
    /// `copyprof report` it into schema2-sweep-report.md, as `FindingsTests.savedSweepReportIsUnchanged` says). When the
    /// schema gained the receivers (before its release), the file was decoded and encoded again by
    /// `Profile.jsonData()`, which added `"receiver":"copy"` to each cell's key and `"receivers":["copy"]` to the plan
    /// and changed nothing else.
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

/// What a test helper cannot do on this host, and why.
public struct UnavailableHere: Error, CustomStringConvertible {
    public var description: String
}

/// Why ``runAsNobody(_:in:)`` cannot run here, or nil when it can: dropping to uid 65534 needs root, and setpriv.
public let runAsNobodyUnavailable: String? = {
    if geteuid() != 0 { return "dropping to uid 65534 needs root" }
    if which("setpriv") == nil { return "setpriv (util-linux) is not installed" }
    return nil
}()

/// /proc/sys/kernel/perf_event_paranoid, or nil when it cannot be read.
public var perfEventParanoid: Int? {
    (try? String(contentsOfFile: "/proc/sys/kernel/perf_event_paranoid", encoding: .utf8))
        .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}

/// True when this process, and the copyprof it starts, may count kernel events: as root, or at perf_event_paranoid 1
/// or less (`perf_allow_kernel`, include/linux/perf_event.h). Otherwise context switches, CPU migrations and
/// tracepoints are not permitted and other software events are counted for user space only.
public var mayCountTheKernel: Bool { geteuid() == 0 || (perfEventParanoid ?? 2) <= 1 }

extension Trait where Self == ConditionTrait {
    /// Runs the test only where ``runAsNobody(_:in:)`` can: as root, with setpriv (util-linux) installed.
    public static var canRunAsNobody: Self {
        .enabled(if: runAsNobodyUnavailable == nil, Comment(rawValue: runAsNobodyUnavailable ?? ""))
    }

    /// Runs the test only where an unprivileged user may count user space only: perf_event_paranoid 2 or more (the
    /// kernel's default, and containers'). Unreadable counts as 2.
    public static var unprivilegedCountingIsUserOnly: Self {
        let paranoid = perfEventParanoid ?? 2
        return .enabled(
            if: paranoid >= 2,
            Comment(rawValue: "perf_event_paranoid is \(paranoid): unprivileged users may count the kernel here"))
    }
}

/// Runs the copyprof binary as uid/gid 65534 (nobody) with setpriv: unprivileged at the host's perf_event_paranoid,
/// the way a new user meets it. The binary is copied into `folder` (or a fresh one), which nobody may write to.
/// A test that calls it is enabled by ``Testing/Trait/canRunAsNobody``; elsewhere it throws.
public func runAsNobody(_ arguments: [String], in folder: String? = nil) throws -> ProcessOutput {
    guard runAsNobodyUnavailable == nil, let setpriv = which("setpriv") else {
        throw UnavailableHere(description: runAsNobodyUnavailable ?? "setpriv (util-linux) is not installed")
    }
    // A copy nobody can reach: the build folder may sit below folders only root may enter.
    let folder = try folder ?? temporaryDirectory()
    let binary = folder + "/copyprof-as-nobody"
    if !FileManager.default.fileExists(atPath: binary) {
        try FileManager.default.copyItem(atPath: copyprofBinary, toPath: binary)
    }
    try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: folder)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
    return try runProcess(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", binary] + arguments, in: folder)
}

extension TrialRecord {
    /// Workers whose timed loop ran no iteration: a sender (ping-pong client) that sent nothing, or a stream receiver
    /// that verified nothing before the stop and drained everything after it. Each loop checks the stop flag before
    /// every message and never stops within one, so such a worker first looked at the flag after it was set: the
    /// scheduler did not run it within the trial's window (on this shared 2-vCPU machine a released thread has waited
    /// up to 60 ms, against windows of 20 to 100 ms here). `TransportRunTests` shows from the workers' start times that
    /// an empty connection always had a worker that began after the window closed (947 of 947 in 0.5 ms windows).
    public var idleWorkers: [WorkerRecord] {
        workers.filter { worker in
            if let sent = worker.sent, worker.role == .sender { return sent.messages == 0 }
            guard worker.role == .receiver, let received = worker.received else { return false }
            return received.messages == 0 && received.drainedMessages > 0
        }
    }

    /// Per connection, what the receiving ends verified (measured and drained) against what the sending end sent:
    /// equal in every trial, whatever the timing. Ping-pong: the echoer's requests and the client's echoes both equal
    /// the client's requests.
    public func deliveryMismatches(mode: Workload) -> [String] {
        var problems: [String] = []
        for connection in Set(workers.map(\.connection)).sorted() {
            let ends = workers.filter { $0.connection == connection }
            guard let client = ends.first(where: { $0.role == .sender }), let server = ends.first(where: { $0.role == .receiver }),
                let sent = client.sent?.messages
            else {
                problems.append("connection \(connection): a sender and a receiver expected")
                continue
            }
            let atServer = (server.received?.messages ?? 0) + (server.received?.drainedMessages ?? 0)
            if atServer != sent { problems.append("connection \(connection): \(sent) sent, \(atServer) received") }
            if mode == .pingpong, let echoes = client.received?.messages, echoes != sent {
                problems.append("connection \(connection): \(sent) requests, \(echoes) echoes")
            }
        }
        return problems
    }
}

/// Hand-made schema-3 profiles: sampled workers with attribution, and call stacks.
extension SampleProfiles {
    /// How the sweep samples on this VM: `cpu-clock` at 999 Hz (a timer), user and kernel, 64-frame call chains; or
    /// user space only, as an unprivileged user at perf_event_paranoid 2.
    public static func sampling(userOnly: Bool = false, timerBased: Bool = true) -> SamplingRecord {
        SamplingRecord(
            event: timerBased ? (userOnly ? "cpu-clock:u" : "cpu-clock") : "cycles:ppp", timerBased: timerBased,
            mode: userOnly ? .userOnly : .userAndKernel,
            modeReason: userOnly ? "perf_event_paranoid 2: kernel samples need CAP_PERFMON" : nil, frequency: 999,
            callchainDepth: 64)
    }

    /// A thread's attribution: `samples` per category, each sample weighing `period` (ns of `cpu-clock`).
    public static func attribution(
        _ samples: [AttributionCategory: UInt64], period: UInt64 = 1_001_001, lost: UInt64 = 0, throttled: UInt64? = nil
    ) -> AttributionRecord {
        AttributionRecord(
            samples: samples.filter { $0.value > 0 }, weights: samples.filter { $0.value > 0 }.mapValues { $0 * period },
            lost: lost, throttled: throttled)
    }

    /// A cell measured in rounds, each a timing trial and a counted trial whose workers were sampled: in round k every
    /// sender thread has `sender[k]`'s samples and every receiver thread `receiver[k]`'s (one thread of each per
    /// connection), `lost[k]` of them lost per thread. Its stacks are `stacks`.
    public static func attributedCell(
        _ key: CellKey, sender: [[AttributionCategory: UInt64]], receiver: [[AttributionCategory: UInt64]],
        lost: [UInt64]? = nil, stacks: [StackSummary]? = nil, gbps: Double = 10
    ) -> CellRecord {
        var trials: [TrialRecord] = []
        for round in sender.indices {
            trials.append(trial(trials.count + 1, gbps: gbps, messageSize: key.messageSize, kind: .timing, round: round + 1))
            var counted = trial(trials.count + 1, gbps: gbps, messageSize: key.messageSize, kind: .counted, round: round + 1)
            let template = counted.workers
            counted.workers = (0..<key.connections).flatMap { connection in
                template.map { worker in
                    var w = worker
                    w.connection = connection
                    w.attribution = attribution(
                        w.role == .sender ? sender[round] : receiver[round], lost: lost?[round] ?? 0)
                    return w
                }
            }
            trials.append(counted)
        }
        return CellRecord(key: key, trials: trials, stacks: stacks)
    }

    /// A sampled profile of `cells`, with the frame names their stacks use.
    public static func sampled(
        _ cells: [CellRecord], sampling: SamplingRecord = sampling(), frames: FrameTable = FrameTable()
    ) -> Profile {
        let keys = cells.map(\.key)
        var plan = SweepPlan(
            transports: TransportKind.allCases.filter { t in keys.contains { $0.transport == t } },
            sizes: Array(Set(keys.map(\.messageSize))).sorted(), connections: Array(Set(keys.map(\.connections))).sorted(),
            workloads: Workload.allCases.filter { w in keys.contains { $0.workload == w } })
        plan.receivers = ReceiverKind.allCases.filter { r in keys.contains { $0.receiver == r } }
        plan.trials = cells.map { $0.trials.filter { $0.kind == .timing }.count }.max() ?? 0
        var profile = Profile(environment: environment(), plan: plan, cells: cells)
        profile.sampling = sampling
        profile.frameNames = frames.names
        return profile
    }

    /// The frame names of a hand-made profile's stacks, each stored once.
    public struct FrameTable: Sendable {
        public private(set) var names: [String] = []
        private var indices: [String: Int] = [:]

        public init() {}

        /// A stack of these frames, root first, its samples each weighing `period`.
        public mutating func stack(
            _ frames: [String], _ category: AttributionCategory, samples: UInt64, period: UInt64 = 1_001_001
        ) -> StackRecord {
            let indexes = frames.map { name in
                if let index = indices[name] { return index }
                names.append(name)
                indices[name] = names.count - 1
                return names.count - 1
            }
            return StackRecord(frames: indexes, category: category, samples: samples, weight: samples * period)
        }
    }
}
