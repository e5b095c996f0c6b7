import CopyprofModel
import CopyprofProfile
import Foundation
import Transports
import SystemCalls

/// The versioned, length-prefixed control protocol between `copyprof run --connect` and `copyprof serve`.
///
/// A frame is a 12-byte header — the magic `CPCT`, the protocol version (UInt16, big-endian), two reserved bytes that
/// must be zero and the payload length (UInt32, big-endian) — followed by that many bytes of JSON, at most
/// ``maxPayload``: one object, no key twice in any object. A frame with another magic, another version, reserved
/// bytes that are not zero or a larger length, or a payload that repeats a key or is not a control message, is refused
/// with an ``ControlMessage/error(_:)`` reply and the connection is closed.
///
/// Version 2 added the session token a client sends first on each data connection, the server's limits in the
/// welcome, the trial's duration in a set-up, and the `refused` answer to a cell the server will not run. Version 3
/// adds the receiver to a set-up (a version 2 server would run `copy` whatever was asked) and a result's
/// `notSupported`. Version 4 (this one) sends a set-up's cell as one cell key, the one type the command line, the
/// sweep, the transports and the profile use, and names the server's connection limit `maxConnections`. A version 4
/// reader now also refuses reserved header bytes that are not zero and a payload that repeats a key; no version 4
/// writer ever sent either, so the bytes on the wire are unchanged and so is the version.
public enum ControlProtocol {
    public static let version: UInt16 = 4
    public static let magic: [UInt8] = Array("CPCT".utf8)
    public static let headerSize = 12
    /// The largest payload accepted: results of 256 threads fit many times over.
    public static let maxPayload = 4 << 20
    /// The largest payload a server accepts from a client: a hello or a set-up is a few hundred bytes.
    public static let maxRequestPayload = 64 << 10
    /// The largest hello a server reads before the client has said who it is.
    public static let maxHelloPayload = 4 << 10
    /// Bytes of the session token, sent raw first on every data connection.
    public static let tokenSize = 32

    /// The header of a payload of `length` bytes.
    public static func header(length: Int, version: UInt16 = version) -> [UInt8] {
        magic + [UInt8(version >> 8), UInt8(version & 0xFF), 0, 0]
            + [UInt8(length >> 24 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
    }

    /// Checks a header and returns the payload length, or why it is refused.
    public static func payloadLength(header bytes: [UInt8], limit: Int = maxPayload) -> Result<Int, ControlError> {
        guard bytes.count == headerSize, Array(bytes[0..<4]) == magic else {
            return .failure(.malformed("not a copyprof control frame (bad magic)"))
        }
        let version = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        guard version == Self.version else {
            return .failure(.wrongVersion(version))
        }
        // After the version: a later version may give these bytes a meaning, and its peer is told the versions differ.
        guard bytes[6] == 0 && bytes[7] == 0 else {
            return .failure(.malformed(
                "reserved header bytes 6 and 7 are \(bytes[6]) and \(bytes[7]), not 0 (not a copyprof \(Self.version) frame)"))
        }
        let length = Int(bytes[8]) << 24 | Int(bytes[9]) << 16 | Int(bytes[10]) << 8 | Int(bytes[11])
        guard length <= limit else { return .failure(.oversized(length, limit: limit)) }
        return .success(length)
    }

    /// The header version to answer a wrong-version frame in: an older client's own (version 1 decodes an `error`
    /// message exactly as this one does, so it can show why), else this one.
    public static func replyVersion(to version: UInt16) -> UInt16 { version >= 1 && version < Self.version ? version : Self.version }
}

/// What went wrong on a control connection.
public enum ControlError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case wrongVersion(UInt16)
    case oversized(Int, limit: Int)
    case closed
    /// Nothing arrived for this many seconds.
    case timedOut(Double)
    /// A message started but did not arrive whole within this many seconds (a client sending one byte at a time).
    case incomplete(Double)
    case system(String)
    /// The peer answered with an error message.
    case peer(String)
    case unexpected(String)

    public var description: String {
        switch self {
        case .malformed(let what): return "malformed control message: \(what)"
        case .wrongVersion(let v):
            return "control protocol version \(v) is not supported (this copyprof speaks \(ControlProtocol.version)); "
                + "use the same copyprof version on both hosts"
        case .oversized(let n, let limit): return "control message of \(n) bytes is over the \(limit)-byte limit"
        case .closed: return "the peer closed the control connection"
        case .timedOut(let s): return "no control message for \(String(format: "%.1f", s)) s"
        case .incomplete(let s): return "a control message did not arrive whole within \(String(format: "%.1f", s)) s"
        case .system(let what): return what
        case .peer(let what): return "the server said: \(what)"
        case .unexpected(let what): return "unexpected control message: \(what)"
        }
    }
}

/// What a server allows one cell, sent in its welcome so that a client can check its plan before measuring.
public struct ServerLimits: Codable, Sendable, Hashable {
    /// Bytes of message buffers one cell may take on the server (``RunLimits/runMemoryBytes(messageSize:connections:zeroCopyPoolSize:)``).
    public var maxMemoryBytes: Int
    /// Connections (receiver threads on the server) of one cell.
    public var maxConnections: Int
    /// Seconds the server waits for a client's next message, a cell's data connections or its start.
    public var idleTimeout: Double
    /// Seconds a message may take to arrive once its first byte has.
    public var messageTimeout: Double

    public init(maxMemoryBytes: Int, maxConnections: Int, idleTimeout: Double, messageTimeout: Double) {
        self.maxMemoryBytes = maxMemoryBytes
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.messageTimeout = messageTimeout
    }
}

/// One cell's set-up, as the client asks the server for it.
public struct RemoteCellSetup: Codable, Sendable, Hashable {
    /// The cell to run; its receiver is how the server's receivers (in ping-pong: its echoers' receivers) take the
    /// bytes.
    public var cell: CellKey
    public var trial: Int
    public var verification: Verification
    /// Seconds of the client's timed loop (the server bounds the trial by it).
    public var duration: Double
    public var ioTimeout: Double
    public var zeroCopyPoolSize: Int
    /// Events to count in the server's threads (those the server cannot count are left out there).
    public var events: [String]

    public init(
        cell: CellKey, trial: Int, verification: Verification, duration: Double, ioTimeout: Double,
        zeroCopyPoolSize: Int, events: [String]
    ) {
        self.cell = cell
        self.trial = trial
        self.verification = verification
        self.duration = duration
        self.ioTimeout = ioTimeout
        self.zeroCopyPoolSize = zeroCopyPoolSize
        self.events = events
    }

    /// Bytes of message buffers the server's side of this cell takes: receivers only in a stream; in ping-pong the
    /// echoers also send (a zero-copy pool, a sendfile ring of 4 messages, or up to 2 messages). A `mmap` receiver
    /// also holds a buffer for the bytes it cannot map.
    public var serverMemoryBytes: Int {
        let transport = cell.transport
        let pool = cell.workload == .stream ? 0 : transport.reportsCompletions ? zeroCopyPoolSize : transport == .sendfile ? 4 : 2
        let buffers = RunLimits.runMemoryBytes(
            messageSize: cell.messageSize, connections: cell.connections, zeroCopyPoolSize: pool)
        let (mapping, overflow) = cell.connections.multipliedReportingOverflow(by: cell.receiver == .mmap ? 64 << 10 : 0)
        let (total, overflow2) = buffers.addingReportingOverflow(mapping)
        return overflow || overflow2 ? Int.max : total
    }

    /// Why a server with `limits` will not run this cell, or nil: every field against ``RunLimits`` (the limits the
    /// command line enforces) and the server's own caps, before anything is allocated.
    public func problem(limits: ServerLimits) -> String? {
        if let problem = RunLimits.messageSizeProblem(cell.messageSize) { return "message size: \(problem)" }
        let connections = cell.connections
        if !RunLimits.connections.contains(connections) {
            return "\(connections) connections is not from \(RunLimits.connections.lowerBound) to \(RunLimits.connections.upperBound)"
        }
        if connections > limits.maxConnections {
            return "\(connections) connections is over this server's --max-connections \(limits.maxConnections)"
        }
        if !RunLimits.trials.contains(trial) && trial != 0 { return "trial \(trial) is not from 0 to \(RunLimits.trials.upperBound)" }
        if !RunLimits.duration.contains(duration) {
            return "a duration of \(duration) s is not from \(RunLimits.duration.lowerBound) to \(Int(RunLimits.duration.upperBound)) s"
        }
        if !RunLimits.ioTimeout.contains(ioTimeout) {
            return "an I/O timeout of \(ioTimeout) s is not from \(RunLimits.ioTimeout.lowerBound) to \(Int(RunLimits.ioTimeout.upperBound)) s"
        }
        if !RunLimits.zeroCopyPoolSize.contains(zeroCopyPoolSize) {
            return "a zero-copy pool of \(zeroCopyPoolSize) is not from \(RunLimits.zeroCopyPoolSize.lowerBound) to \(RunLimits.zeroCopyPoolSize.upperBound)"
        }
        if events.count > 64 || events.contains(where: { $0.utf8.count > 128 }) { return "too many or too long event names" }
        let bytes = serverMemoryBytes
        if bytes > limits.maxMemoryBytes {
            return "\(cell) needs \(formatBytes(bytes)) of message buffers on the server; "
                + "its --max-memory is \(formatBytes(limits.maxMemoryBytes))"
        }
        return nil
    }
}

/// What the server measured in one trial.
public struct RemoteSideResult: Codable, Sendable {
    public var workers: [WorkerRecord]
    public var error: String?
    /// Why the server cannot run the cell at all (its kernel, its io_uring setting): the client records the cell as
    /// not supported.
    public var notSupported: String?
}

/// The messages of the control protocol.
public enum ControlMessage: Codable, Sendable {
    case hello(copyprofVersion: String)
    /// The server's environment, its route to the client, the session's data-connection token (hex) and its limits.
    case welcome(environment: EnvironmentInfo, path: NetworkPath?, token: String, limits: ServerLimits)
    case busy(String)
    case error(String)
    case setup(RemoteCellSetup)
    /// The server will not run this cell (it says why); the session goes on.
    case refused(String)
    case ready(dataPort: UInt16)
    case armed
    case go
    case result(RemoteSideResult)
    case bye

    /// Reads a frame's payload: one JSON object that names no key twice (``JSONLayout/firstDuplicateKey(_:)``), decoded
    /// as a message.
    public static func decode(_ payload: [UInt8]) throws(ControlError) -> ControlMessage {
        if let key = payload.withUnsafeBytes({ JSONLayout.firstDuplicateKey($0) }) {
            throw .malformed("the key \"\(abbreviated(key, limit: 60))\" appears twice in one object")
        }
        do { return try JSONDecoder().decode(ControlMessage.self, from: Data(payload)) } catch {
            throw .malformed("the payload is not a control message")
        }
    }

    var name: String {
        switch self {
        case .hello: return "hello"
        case .welcome: return "welcome"
        case .busy: return "busy"
        case .error: return "error"
        case .setup: return "setup"
        case .refused: return "refused"
        case .ready: return "ready"
        case .armed: return "armed"
        case .go: return "go"
        case .result: return "result"
        case .bye: return "bye"
        }
    }
}

/// A control connection: whole frames in and out, each with a deadline.
///
/// `@unchecked Sendable`: one thread uses a channel at a time (the session or the client); another thread may only
/// shut its socket down, which is safe on a live descriptor.
public final class ControlChannel: @unchecked Sendable {
    public let socket: TCPSocket
    /// Seconds a message may take to go out (a peer that does not read cannot block the sender longer).
    public var sendTimeout: Double

    public init(socket: TCPSocket, sendTimeout: Double = 10) {
        self.socket = socket
        self.sendTimeout = sendTimeout
    }

    /// Sends one message, in a frame of `version` (another than this protocol's only to refuse an older peer).
    public func send(_ message: ControlMessage, version: UInt16 = ControlProtocol.version) throws(ControlError) {
        let payload: Data
        do { payload = try JSONEncoder().encode(message) } catch { throw .malformed("cannot encode \(message.name): \(error)") }
        guard payload.count <= ControlProtocol.maxPayload else { throw .oversized(payload.count, limit: ControlProtocol.maxPayload) }
        try write(ControlProtocol.header(length: payload.count, version: version) + [UInt8](payload))
    }

    /// Sends raw bytes (the data-connection token; tests of malformed input), within ``sendTimeout``.
    public func write(_ bytes: [UInt8]) throws(ControlError) {
        let deadline = monotonicSeconds() + sendTimeout
        var offset = 0
        while offset < bytes.count {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 { throw .system("sending a control message: the peer did not read it for \(sendTimeout) s") }
            guard socket.wait(for: .writable, timeout: remaining) else { continue }
            let sent = bytes.withUnsafeBytes { all in
                Result { () throws(TransportError) -> Int in try socket.sendAvailable(UnsafeRawBufferPointer(rebasing: all[offset...])) }
            }
            do { offset += try sent.get() } catch { throw .system("sending a control message: \(error)") }
        }
    }

    /// Receives one message, waiting at most `timeout` seconds for it to start and as long again for the rest.
    public func receive(timeout: Double) throws(ControlError) -> ControlMessage {
        try receive(idle: timeout, complete: timeout, limit: ControlProtocol.maxPayload)
    }

    /// Receives one message: its first byte within `idle` seconds, all of it within `complete` seconds of that byte
    /// (a peer sending a byte now and then cannot hold the reader longer), a payload of at most `limit` bytes.
    public func receive(idle: Double, complete: Double, limit: Int) throws(ControlError) -> ControlMessage {
        try waitForData(timeout: idle)
        let deadline = monotonicSeconds() + complete
        let header = try read(ControlProtocol.headerSize, until: deadline, allowed: complete)
        let length: Int
        switch ControlProtocol.payloadLength(header: header, limit: limit) {
        case .success(let n): length = n
        case .failure(let error): throw error
        }
        return try ControlMessage.decode(try read(length, until: deadline, allowed: complete))
    }

    /// Receives one message and fails unless `accept` takes it; an `error` message from the peer becomes `.peer`.
    public func expect<T>(_ what: String, timeout: Double, _ accept: (ControlMessage) -> T?) throws(ControlError) -> T {
        try expect(what, idle: timeout, complete: timeout, limit: ControlProtocol.maxPayload, accept)
    }

    /// ``expect(_:timeout:_:)`` with the deadlines of ``receive(idle:complete:limit:)``.
    public func expect<T>(
        _ what: String, idle: Double, complete: Double, limit: Int, _ accept: (ControlMessage) -> T?
    ) throws(ControlError) -> T {
        let message = try receive(idle: idle, complete: complete, limit: limit)
        if let value = accept(message) { return value }
        if case .error(let text) = message { throw .peer(text) }
        if case .busy(let text) = message { throw .peer(text) }
        throw .unexpected("wanted \(what), got \(message.name)")
    }

    private func waitForData(timeout: Double) throws(ControlError) {
        if !socket.wait(for: .readable, timeout: timeout) { throw .timedOut(timeout) }
    }

    private func read(_ count: Int, until deadline: Double, allowed: Double) throws(ControlError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 { throw .incomplete(allowed) }
            guard socket.wait(for: .readable, timeout: remaining) else { continue }
            let chunk: [UInt8]?
            do { chunk = try socket.receiveAvailable(upTo: count - bytes.count) } catch {
                if error.kind == .peerReset { throw .closed }
                throw .system("receiving a control message: \(error)")
            }
            guard let chunk else { continue }
            if chunk.isEmpty { throw .closed }
            bytes += chunk
        }
        return bytes
    }
}

