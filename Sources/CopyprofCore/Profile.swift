import Foundation
import PerfCounters
import Transports

/// Everything one `copyprof run` measured, as stored in a JSON file under profiles/.
///
/// Raw per-trial, per-thread values are kept, not only aggregates, so statistics can be recomputed.
public struct Profile: Codable, Sendable {
    /// The schema this build writes and reads.
    public static let currentSchemaVersion = 1

    public var schemaVersion: Int
    /// Always "copyprof": tells a profile from other JSON.
    public var tool: String
    /// `complete`, or `interrupted` when Ctrl-C ended the sweep early.
    public var status: Status
    /// Why the sweep ended early, when it did (Ctrl-C, a lost server).
    public var statusReason: String?
    public var environment: EnvironmentInfo
    /// The server's side of a two-host run (`run --connect`); nil for a local run.
    public var remote: RemoteInfo?
    public var plan: SweepPlan
    /// The cells in the order they ran; an interrupted profile may have fewer than the plan.
    public var cells: [CellRecord]

    public enum Status: String, Codable, Sendable {
        case complete
        case interrupted
    }

    public init(environment: EnvironmentInfo, plan: SweepPlan, cells: [CellRecord] = [], status: Status = .complete) {
        self.schemaVersion = Self.currentSchemaVersion
        self.tool = "copyprof"
        self.status = status
        self.environment = environment
        self.plan = plan
        self.cells = cells
    }

    /// The cell with this key, if it ran.
    public func cell(_ key: CellKey) -> CellRecord? { cells.first { $0.key == key } }
}

/// One cell: its recorded trials, or the error that ended it.
public struct CellRecord: Codable, Sendable {
    public var key: CellKey
    public var trials: [TrialRecord]
    /// Why the cell has fewer trials than planned (a failed run), if it does.
    public var error: String?

    public init(key: CellKey, trials: [TrialRecord] = [], error: String? = nil) {
        self.key = key
        self.trials = trials
        self.error = error
    }
}

/// One recorded trial of a cell.
public struct TrialRecord: Codable, Sendable {
    /// 1-based.
    public var trial: Int
    /// From the release of the workers to the last one's end, ns.
    public var elapsedNs: UInt64
    /// Bytes the receivers verified (ping-pong: both directions).
    public var bytes: UInt64
    /// Messages the receivers verified (ping-pong: both directions).
    public var messages: UInt64
    public var integrityErrors: UInt64
    public var firstMismatch: IntegrityMismatch?
    public var partialWrites: UInt64
    /// Ping-pong round-trip times.
    public var rtt: RTTRecord?
    /// Zero-copy sends, completions and copied completions.
    public var zeroCopy: ZeroCopyStats?
    /// Every worker thread.
    public var workers: [WorkerRecord]

    /// Verified throughput, Gbit/s.
    public var throughputGbps: Double { elapsedNs == 0 ? 0 : Double(bytes) * 8 / Double(elapsedNs) }
    public var durationSeconds: Double { Double(elapsedNs) / 1e9 }
}

/// One worker thread's measurement in a trial.
public struct WorkerRecord: Codable, Sendable {
    public var connection: Int
    public var role: WorkerRole
    /// The host the thread ran on, when a run spans two hosts; nil for a local run.
    public var host: String?
    /// Wall time of its timed loop, ns.
    public var wallNs: UInt64
    public var sent: SenderStats?
    public var received: ReceiverStats?
    /// Counter deltas of the opened events, by event name, with their group's times.
    public var counters: [String: ScaledCount]
    /// Events the profile counts that this thread could not open, with the reason.
    public var unavailable: [String: String]?
    /// rusage and CPU clock deltas.
    public var usage: ThreadUsage

    public init(
        connection: Int, role: WorkerRole, host: String? = nil, wallNs: UInt64, sent: SenderStats?,
        received: ReceiverStats?, counters: [String: ScaledCount], unavailable: [String: String]? = nil,
        usage: ThreadUsage
    ) {
        self.connection = connection
        self.role = role
        self.host = host
        self.wallNs = wallNs
        self.sent = sent
        self.received = received
        self.counters = counters
        self.unavailable = unavailable
        self.usage = usage
    }
}

/// Round-trip times of a ping-pong trial: percentiles and the recorded histogram.
public struct RTTRecord: Codable, Sendable {
    public var count: UInt64
    public var minNs: UInt64
    public var p50Ns: UInt64
    public var p90Ns: UInt64
    public var p99Ns: UInt64
    public var p999Ns: UInt64
    public var maxNs: UInt64
    public var meanNs: Double
    /// `[value ns, count]` for every non-empty bucket (HdrHistogram, 3 significant digits).
    public var histogram: [[UInt64]]
}

extension TrialRecord {
    /// The sum of an event's scaled values over the workers (all roles), or nil when any worker did not count it.
    public func counterSum(_ event: String, role: WorkerRole? = nil) -> Double? {
        var sum = 0.0
        var any = false
        for worker in workers where role == nil || worker.role == role {
            guard let value = worker.counters[event]?.value else { return nil }
            sum += value
            any = true
        }
        return any ? sum : nil
    }

    /// True when any worker's value of the event was scaled for multiplexing.
    public func counterIsScaled(_ event: String) -> Bool {
        workers.contains { $0.counters[event]?.isScaled == true }
    }

    /// CPU time over the workers, ns: task-clock where counted, else CLOCK_THREAD_CPUTIME_ID.
    public func cpuNs(role: WorkerRole? = nil) -> Double {
        if let taskClock = counterSum(PerfEvent.taskClock.name, role: role) { return taskClock }
        return workers.filter { role == nil || $0.role == role }.reduce(0) { $0 + Double($1.usage.cpuClockNs) }
    }
}

// MARK: - Reading and writing

extension Profile {
    /// Encodes the profile as compact JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    /// Writes the profile atomically: a temporary file beside `path`, fsync, then rename.
    public func write(to path: String) throws(CopyprofError) {
        let data: Data
        do { data = try jsonData() } catch { throw .io(path: path, problem: "cannot encode the profile: \(error)") }
        try AtomicFile.write(data, to: path)
    }

    /// Reads a profile; every problem becomes one line naming the file.
    public static func read(from path: String) throws(CopyprofError) -> Profile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadableProfile(path: path, problem: "cannot read: \(Self.reason(error))")
        }
        return try decode(data, path: path)
    }

    /// Decodes profile JSON; `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws(CopyprofError) -> Profile {
        struct Header: Decodable {
            var tool: String?
            var schemaVersion: Int?
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let header: Header
        do { header = try decoder.decode(Header.self, from: data) } catch {
            throw .unreadableProfile(path: path, problem: "not a copyprof profile: the file is truncated or is not JSON")
        }
        guard header.tool == "copyprof", let version = header.schemaVersion else {
            throw .unreadableProfile(path: path, problem: "not a copyprof profile (no \"tool\": \"copyprof\" and schemaVersion)")
        }
        guard version == currentSchemaVersion else {
            throw .unreadableProfile(
                path: path,
                problem: "schema version \(version) is not supported by this copyprof (it reads version \(currentSchemaVersion)); "
                    + "use the copyprof that wrote it")
        }
        do { return try decoder.decode(Profile.self, from: data) } catch let error as DecodingError {
            throw .unreadableProfile(path: path, problem: describe(error))
        } catch {
            throw .unreadableProfile(path: path, problem: "\(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "the top level" : path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "wrong type at \(at(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "missing value at \(at(context.codingPath)): expected \(type)"
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(at(context.codingPath))"
        case .dataCorrupted(let context):
            return "bad value at \(at(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "does not decode: \(error)"
        }
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSCocoaErrorDomain && ns.code == NSFileReadNoSuchFileError { return "no such file" }
        return ns.localizedDescription
    }
}

/// Writes files so that a reader sees the old content or the new, never a part.
public enum AtomicFile {
    /// Writes `data` to a temporary file in the same folder, flushes it to disk, and renames it over `path`.
    public static func write(_ data: Data, to path: String) throws(CopyprofError) {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .io(path: directory, problem: "cannot create the folder: \(Profile.reason(error))")
            }
        }
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw .io(path: path, problem: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw .io(path: path, problem: "cannot write: \(failure)")
        }
    }
}
