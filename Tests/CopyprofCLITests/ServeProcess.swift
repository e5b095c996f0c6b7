import CopyprofModel
import CopyprofProfile
import Foundation
import TestSupport
import Testing
@testable import Transports

@testable import CopyprofRemote
import CopyprofSweep

/// A running `copyprof serve`, its log read as it comes (so that a long test never fills the pipe), stopped with
/// SIGINT (or killed if a test fails early).
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let port: UInt16
    private let output = Pipe()
    private let errors = Pipe()
    /// What the server wrote to stderr; shared with the reader thread, which must not hold the ServeProcess itself
    /// (else the object never deinitializes and a test that fails before `stop()` leaves the server running).
    private let logBox = LogBox()
    private var reader: Thread?

    final class LogBox: @unchecked Sendable {  // guarded by its lock
        let lock = NSLock()
        var text = ""
    }

    init(listen: String = "127.0.0.1:0", arguments: [String] = [], namespace: String? = nil) throws {
        if let namespace {
            process.executableURL = URL(fileURLWithPath: which("ip") ?? "/usr/sbin/ip")
            process.arguments = ["netns", "exec", namespace, copyprofBinary, "serve", "--listen", listen] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: copyprofBinary)
            process.arguments = ["serve", "--listen", listen] + arguments
        }
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // The first line says where it listens: "copyprof serve: listening on HOST:PORT".
        var line = Data()
        let handle = output.fileHandleForReading
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("copyprof serve: listening on "), let colon = text.lastIndex(of: ":"),
            let port = UInt16(text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            // deinit does not run for an object whose init failed: stop the server here.
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            throw TransportError(.invalidConfiguration("server said: \(text)"))
        }
        self.port = port
        let errorHandle = errors.fileHandleForReading
        let box = logBox
        let reader = Thread {
            while true {
                let chunk = errorHandle.availableData
                if chunk.isEmpty { break }
                box.lock.withLock { box.text += String(decoding: chunk, as: UTF8.self) }
            }
        }
        reader.start()
        self.reader = reader
    }

    var pid: Int32 { process.processIdentifier }

    /// What the server has logged so far.
    var log: String { logBox.lock.withLock { logBox.text } }

    /// Waits up to `seconds` for the log to contain `text`.
    func waitForLog(_ text: String, seconds: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if log.contains(text) { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return log.contains(text)
    }

    /// SIGINT, then waits; returns the exit status and the seconds it took to exit.
    @discardableResult
    func stop() -> (status: Int32, seconds: Double) {
        let started = Date()
        process.interrupt()
        process.waitUntilExit()
        return (process.terminationStatus, Date().timeIntervalSince(started))
    }

    /// Threads, open descriptors and resident memory of the server process, from /proc.
    func footprint() throws -> (threads: Int, fds: Int, rssKB: Int) {
        let threads = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } } ?? -1
        return (threads, fds, rss)
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// A control connection from a test, optionally from another loopback address (127.0.0.2: a stranger).
func controlConnection(_ port: UInt16, from source: String? = nil, to host: String = "127.0.0.1") throws -> ControlChannel {
    ControlChannel(socket: try connect(to: host, port: port, from: source))
}

/// A TCP connection, bound first to `source` when given.
func connect(to host: String, port: UInt16, from source: String? = nil) throws -> TCPSocket {
    guard let source else { return try TCPSocket.connect(to: SocketAddress(host: host, port: port)) }
    let socket = try TCPSocket.make(family: AF_INET)
    var local = sockaddr_in()
    local.sin_family = sa_family_t(AF_INET)
    inet_pton(AF_INET, source, &local.sin_addr)
    var remote = sockaddr_in()
    remote.sin_family = sa_family_t(AF_INET)
    remote.sin_port = port.bigEndian
    inet_pton(AF_INET, host, &remote.sin_addr)
    let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard bound == 0 else { throw TransportError.system("bind \(source)", errno) }
    let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard connected == 0 else { throw TransportError.system("connect \(host):\(port)", errno) }
    return socket
}

/// Hello and welcome; returns the welcome's token and limits.
@discardableResult
func greet(_ channel: ControlChannel) throws -> (token: String, limits: ServerLimits) {
    try channel.send(.hello(copyprofVersion: "test"))
    let reply = try channel.receive(timeout: 10)
    guard case .welcome(_, _, let token, let limits) = reply else {
        throw ControlError.unexpected("wanted welcome, got \(reply.name)")
    }
    return (token, limits)
}

/// Seconds until the server closes `channel` (reading and dropping anything it sends), at most `limit`.
func secondsUntilClosed(_ channel: ControlChannel, limit: Double = 30) -> Double {
    let started = Date()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while Date().timeIntervalSince(started) < limit {
        var pfd = pollfd(fd: channel.socket.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 50) > 0 else { continue }
        let n = recv(channel.socket.fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
    }
    return Date().timeIntervalSince(started)
}

/// A cell set-up with every field given.
func cellSetup(
    _ transport: TransportKind = .twoCopy, _ workload: Workload = .stream, size: Int = 4096,
    connections: Int = 1, trial: Int = 1, duration: Double = 0.05, ioTimeout: Double = 2, pool: Int = 64,
    events: [String] = ["task-clock"]
) -> RemoteCellSetup {
    RemoteCellSetup(
        cell: CellKey(transport: transport, workload: workload, messageSize: size, connections: connections), trial: trial,
        verification: .full, duration: duration, ioTimeout: ioTimeout, zeroCopyPoolSize: pool, events: events)
}
