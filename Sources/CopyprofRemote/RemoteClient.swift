import CopyprofModel
import CopyprofProfile
import CopyprofSweep
import Foundation
import PerfCounters
import Transports

/// A control connection to a `copyprof serve`, and the client side of each remote trial: a sweep runs its trials
/// through it (``RemoteTrialRunner``).
public final class RemoteClient: RemoteTrialRunner {
    public let server: SocketAddress
    private let channel: ControlChannel
    public let info: RemoteInfo
    /// What the server allows one cell.
    public let limits: ServerLimits
    /// The session's token, sent first on every data connection.
    private let token: [UInt8]
    /// Tests: called with the data port of each trial before this client connects to it.
    var beforeDataConnections: ((UInt16) -> Void)?

    /// Connects and greets the server. Fails with a one-line reason when it is unreachable, busy or incompatible.
    public init(server: SocketAddress, timeout: Double = 10) throws(CopyprofError) {
        self.server = server
        do {
            channel = ControlChannel(socket: try TCPSocket.connect(to: server))
        } catch {
            throw .remote("cannot connect to copyprof serve at \(server): \(error)")
        }
        do {
            try channel.send(.hello(copyprofVersion: CopyprofVersion.current))
            let (environment, path, token, limits) = try channel.expect("welcome", timeout: timeout) {
                message -> (EnvironmentInfo, NetworkPath?, String, ServerLimits)? in
                if case .welcome(let environment, let path, let token, let limits) = message { return (environment, path, token, limits) }
                return nil
            }
            guard let bytes = Self.bytes(hex: token), bytes.count == ControlProtocol.tokenSize else {
                throw ControlError.malformed("the welcome's session token is not \(ControlProtocol.tokenSize) bytes of hex")
            }
            self.token = bytes
            self.limits = limits
            // The route toward the server from this end of the control connection: the data connections' route too.
            let clientPath = NetworkPath.toward(server.host, from: (try? channel.socket.localAddress())?.host)
            info = RemoteInfo(
                server: server.description, serverEnvironment: environment, clientPath: clientPath, serverPath: path)
        } catch {
            channel.socket.close()
            throw .remote("copyprof serve at \(server): \(error)")
        }
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }

    /// Fails before anything is measured when the server would refuse a cell of the plan (its --max-connections or
    /// --max-memory), naming the first such cell.
    public func checkPlan(_ plan: SweepPlan) throws(CopyprofError) {
        for key in plan.cells {
            let setup = RemoteCellSetup(
                cell: key, trial: 1,
                verification: plan.verification, duration: plan.duration, ioTimeout: RunLimits.ioTimeout.lowerBound,
                zeroCopyPoolSize: RunLimits.defaultZeroCopyPoolSize, events: [])
            if let problem = setup.problem(limits: limits) {
                throw .invalidArgument("copyprof serve at \(server) would refuse \(key): \(problem)")
            }
        }
    }

    /// Says bye and closes the control connection.
    public func close() {
        try? channel.send(.bye)
        channel.socket.close()
    }

    /// Runs one trial: the server receives (ping-pong: echoes) with its counters, this process sends. With no
    /// `events` (a timing trial) neither side opens counters.
    ///
    /// - Throws: ``CopyprofError/remote(_:)`` when the control connection fails (the server is gone: the sweep
    ///   must stop), or the trial's own error otherwise.
    public func runTrial(
        _ key: CellKey, trial: Int, plan: SweepPlan, events: [PerfEvent], ioTimeout: Double, faults: FaultInjection = .none
    ) throws -> TrialRecord {
        // A sendfile sender's ring must outlast what the server's sockets may hold unread.
        let serverReceiveMaximum = info.serverEnvironment.tcpRmem?.split(separator: " ").last.flatMap { Int($0) }
        let configuration = plan.configuration(
            key, address: server.host, ioTimeout: ioTimeout, peerReceiveBufferLimit: serverReceiveMaximum, faults: faults)
        // This side's sender (and in ping-pong its receiver) first: a cell this host cannot run is not sent.
        if let why = unsupportedReason(configuration, role: .sender) { throw TransportError(.notSupported(why)) }
        let setup = RemoteCellSetup(
            cell: key, trial: trial,
            verification: plan.verification, duration: plan.duration, ioTimeout: ioTimeout,
            zeroCopyPoolSize: configuration.zeroCopyPoolSize,
            events: events.isEmpty ? [] : plan.events)  // a timing trial: no counters on either side
        enum Answer { case ready(UInt16), refused(String), notSupported(String) }
        let answer: Answer
        do {
            try channel.send(.setup(setup))
            answer = try channel.expect("ready", timeout: ioTimeout) { message -> Answer? in
                if case .ready(let port) = message { return .ready(port) }
                if case .refused(let why) = message { return .refused(why) }
                if case .result(let result) = message, let why = result.notSupported { return .notSupported(why) }
                return nil
            }
        } catch {
            throw lost(error)
        }
        // A cell the server will not or cannot run fails alone; the session and the sweep go on.
        let port: UInt16
        switch answer {
        case .ready(let p): port = p
        case .refused(let why): throw TransportError(.measurement("the server refused the cell: \(why)"))
        case .notSupported(let why): throw TransportError(.notSupported("on the server: \(why)"))
        }
        beforeDataConnections?(port)
        var sockets: [TCPSocket] = []
        defer { for socket in sockets { socket.close() } }
        let dataAddress = try SocketAddress(host: server.host, port: port)
        var runError: Error?
        var result: TransportRunResult<RegionMeasurement>?
        do {
            // Each data connection proves it belongs to this session: the token, first thing.
            for _ in 0..<key.connections {
                let socket = try TCPSocket.connect(to: dataAddress)
                sockets.append(socket)
                do { try ControlChannel(socket: socket, sendTimeout: ioTimeout).write(token) } catch {
                    throw TransportError(.measurement("sending the session token on a data connection: \(error)"))
                }
            }
            let channel = self.channel
            result = try runTransportSide(
                configuration, role: .sender, sockets: sockets,
                beforeStart: { () throws(TransportError) in
                    do throws(ControlError) {
                        _ = try channel.expect("armed", timeout: ioTimeout) { message -> Bool? in
                            if case .armed = message { return true }
                            return nil
                        }
                        try channel.send(.go)
                    } catch {
                        throw TransportError(.measurement("control: \(error)"))
                    }
                },
                region: { _ in try CountedRegion(events: events) })
        } catch {
            runError = error
        }
        for socket in sockets { socket.shutdown(Int32(SHUT_WR)) }
        // The server always answers a set-up with a result, even after a failure: read it to stay in step.
        let remote: RemoteSideResult
        do {
            remote = try channel.expect("result", timeout: ioTimeout + 5) { message -> RemoteSideResult? in
                if case .result(let result) = message { return result }
                return nil
            }
        } catch {
            throw lost(error)
        }
        if let runError { throw runError }
        if let error = remote.error { throw TransportError(.measurement("server side: \(error)")) }
        guard let result else { throw TransportError(.measurement("no result")) }
        var record = TrialRecord(result, trial: trial)
        let local = (try? channel.socket.localAddress().host) ?? "?"
        let host = "\(ProcessInfo.processInfo.hostName)@\(local)"
        for i in record.workers.indices { record.workers[i].host = host }
        record.workers += remote.workers
        // The server's numbers are another process's word: summed with overflow checks and validated like a
        // profile's, so that a wrong answer fails this trial and keeps the ones already finished.
        func sum(_ value: (ReceiverRecord) -> UInt64) throws(TransportError) -> UInt64 {
            var total: UInt64 = 0
            for worker in record.workers {
                let (next, overflow) = total.addingReportingOverflow(worker.received.map(value) ?? 0)
                if overflow { throw TransportError(.measurement("the server's result does not add up (counts beyond 2^64)")) }
                total = next
            }
            return total
        }
        record.bytes = try sum(\.bytes)
        record.messages = try sum(\.messages)
        record.integrityErrors = try sum(\.integrityErrors)
        record.firstMismatch = record.workers.compactMap { $0.received?.firstMismatch }.first
        var checked = record
        checked.trial = max(1, trial)  // a warm-up is trial 0, which no profile holds
        if let problem = checked.problem(at: "result", key: key) {
            throw TransportError(.measurement("the server's result is inconsistent: \(problem)"))
        }
        return record
    }

    private func lost(_ error: Error) -> CopyprofError {
        .remote("lost copyprof serve at \(server): \(error)")
    }
}
