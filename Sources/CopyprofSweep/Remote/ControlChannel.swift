import CopyprofProfile
import Foundation
import Transports

/// The versioned, length-prefixed control protocol between `copyprof run --connect` and `copyprof serve`.
///
/// A frame is a 12-byte header — the magic `CPCT`, the protocol version (UInt16, big-endian), two zero bytes and the
/// payload length (UInt32, big-endian) — followed by that many bytes of JSON, at most ``maxPayload``. A frame with
/// another magic, another version or a larger length is refused with an ``ControlMessage/error(_:)`` reply and the
/// connection is closed.
public enum ControlProtocol {
    public static let version: UInt16 = 1
    public static let magic: [UInt8] = Array("CPCT".utf8)
    public static let headerSize = 12
    /// The largest payload accepted: results of 256 threads fit many times over.
    public static let maxPayload = 4 << 20

    /// The header of a payload of `length` bytes.
    public static func header(length: Int, version: UInt16 = version) -> [UInt8] {
        magic + [UInt8(version >> 8), UInt8(version & 0xFF), 0, 0]
            + [UInt8(length >> 24 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
    }

    /// Checks a header and returns the payload length, or why it is refused.
    public static func payloadLength(header bytes: [UInt8]) -> Result<Int, ControlError> {
        guard bytes.count == headerSize, Array(bytes[0..<4]) == magic else {
            return .failure(.malformed("not a copyprof control frame (bad magic)"))
        }
        let version = UInt16(bytes[4]) << 8 | UInt16(bytes[5])
        guard version == Self.version else {
            return .failure(.wrongVersion(version))
        }
        let length = Int(bytes[8]) << 24 | Int(bytes[9]) << 16 | Int(bytes[10]) << 8 | Int(bytes[11])
        guard length <= maxPayload else { return .failure(.oversized(length)) }
        return .success(length)
    }
}

/// What went wrong on a control connection.
public enum ControlError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case wrongVersion(UInt16)
    case oversized(Int)
    case closed
    case timedOut(Double)
    case system(String)
    /// The peer answered with an error message.
    case peer(String)
    case unexpected(String)

    public var description: String {
        switch self {
        case .malformed(let what): return "malformed control message: \(what)"
        case .wrongVersion(let v): return "control protocol version \(v) is not supported (this copyprof speaks \(ControlProtocol.version))"
        case .oversized(let n): return "control message of \(n) bytes is over the \(ControlProtocol.maxPayload)-byte limit"
        case .closed: return "the peer closed the control connection"
        case .timedOut(let s): return "no control message for \(String(format: "%.1f", s)) s"
        case .system(let what): return what
        case .peer(let what): return "the server said: \(what)"
        case .unexpected(let what): return "unexpected control message: \(what)"
        }
    }
}

/// One cell's set-up, as the client asks the server for it.
public struct RemoteCellSetup: Codable, Sendable, Hashable {
    public var transport: CopyprofProfile.TransportKind
    public var mode: CopyprofProfile.Workload
    public var messageSize: Int
    public var threads: Int
    public var trial: Int
    public var verification: CopyprofProfile.Verification
    public var ioTimeout: Double
    public var zeroCopyPoolSize: Int
    /// Events to count in the server's threads (those the server cannot count are left out there).
    public var events: [String]

    /// The cell this set-up runs.
    public var key: CellKey { CellKey(transport: transport, mode: mode, messageSize: messageSize, threads: threads) }
}

/// What the server measured in one trial.
public struct RemoteSideResult: Codable, Sendable {
    public var workers: [WorkerRecord]
    public var error: String?
}

/// The messages of the control protocol.
public enum ControlMessage: Codable, Sendable {
    case hello(copyprofVersion: String)
    case welcome(environment: EnvironmentInfo, path: NetworkPath?)
    case busy(String)
    case error(String)
    case setup(RemoteCellSetup)
    case ready(dataPort: UInt16)
    case armed
    case go
    case result(RemoteSideResult)
    case bye

    var name: String {
        switch self {
        case .hello: return "hello"
        case .welcome: return "welcome"
        case .busy: return "busy"
        case .error: return "error"
        case .setup: return "setup"
        case .ready: return "ready"
        case .armed: return "armed"
        case .go: return "go"
        case .result: return "result"
        case .bye: return "bye"
        }
    }
}

/// A control connection: whole frames in and out, with a timeout on every read.
///
/// `@unchecked Sendable`: used by one thread at a time (a session, or the sweep's thread).
public final class ControlChannel: @unchecked Sendable {
    public let socket: TCPSocket

    public init(socket: TCPSocket) { self.socket = socket }

    /// Sends one message.
    public func send(_ message: ControlMessage) throws(ControlError) {
        let payload: Data
        do { payload = try JSONEncoder().encode(message) } catch { throw .malformed("cannot encode \(message.name): \(error)") }
        guard payload.count <= ControlProtocol.maxPayload else { throw .oversized(payload.count) }
        try write(ControlProtocol.header(length: payload.count) + [UInt8](payload))
    }

    /// Sends raw bytes (tests of malformed input).
    public func write(_ bytes: [UInt8]) throws(ControlError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(socket.fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            throw .system("sending a control message: \(String(cString: strerror(errno)))")
        }
    }

    /// Receives one message, waiting at most `timeout` seconds.
    public func receive(timeout: Double) throws(ControlError) -> ControlMessage {
        let header = try read(ControlProtocol.headerSize, timeout: timeout)
        let length: Int
        switch ControlProtocol.payloadLength(header: header) {
        case .success(let n): length = n
        case .failure(let error): throw error
        }
        let payload = try read(length, timeout: timeout)
        do { return try JSONDecoder().decode(ControlMessage.self, from: Data(payload)) } catch {
            throw .malformed("the payload is not a control message")
        }
    }

    /// Receives one message and fails unless `accept` takes it; an `error` message from the peer becomes `.peer`.
    public func expect<T>(_ what: String, timeout: Double, _ accept: (ControlMessage) -> T?) throws(ControlError) -> T {
        let message = try receive(timeout: timeout)
        if let value = accept(message) { return value }
        if case .error(let text) = message { throw .peer(text) }
        if case .busy(let text) = message { throw .peer(text) }
        throw .unexpected("wanted \(what), got \(message.name)")
    }

    private func read(_ count: Int, timeout: Double) throws(ControlError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        let deadline = Date().addingTimeInterval(timeout)
        while got < count {
            var pfd = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { throw .timedOut(timeout) }
            let ready = poll(&pfd, 1, Int32(min(remaining * 1000, 1e9)))
            if ready < 0 {
                if errno == EINTR { continue }
                throw .system("poll: \(String(cString: strerror(errno)))")
            }
            if ready == 0 { throw .timedOut(timeout) }
            let n = bytes.withUnsafeMutableBytes { recv(socket.fd, $0.baseAddress! + got, count - got, 0) }
            if n == 0 { throw .closed }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET { throw .closed }
                throw .system("receiving a control message: \(String(cString: strerror(errno)))")
            }
            got += n
        }
        return bytes
    }
}
