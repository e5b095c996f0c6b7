import CopyprofProfile
import Foundation
import PerfCounters
import Transports

/// A control connection to a `copyprof serve`, and the client side of each remote trial.
public final class RemoteClient {
    public let server: SocketAddress
    private let channel: ControlChannel
    public let info: RemoteInfo

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
            let (environment, path) = try channel.expect("welcome", timeout: timeout) { message -> (EnvironmentInfo, NetworkPath?)? in
                if case .welcome(let environment, let path) = message { return (environment, path) }
                return nil
            }
            info = RemoteInfo(
                server: server.description, serverEnvironment: environment, clientPath: NetworkPath.toward(server.host),
                serverPath: path)
        } catch {
            channel.socket.close()
            throw .remote("copyprof serve at \(server): \(error)")
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
    func runTrial(_ key: CellKey, trial: Int, plan: SweepPlan, events: [PerfEvent], ioTimeout: Double) throws -> TrialRecord {
        let configuration = plan.configuration(key, address: server.host, ioTimeout: ioTimeout)
        let setup = RemoteCellSetup(
            transport: key.transport, mode: key.mode, messageSize: key.messageSize, threads: key.threads, trial: trial,
            verification: plan.verification, ioTimeout: ioTimeout, zeroCopyPoolSize: configuration.zeroCopyPoolSize,
            events: events.isEmpty ? [] : plan.events)  // a timing trial: no counters on either side
        let port: UInt16
        do {
            try channel.send(.setup(setup))
            port = try channel.expect("ready", timeout: ioTimeout) { message -> UInt16? in
                if case .ready(let port) = message { return port }
                return nil
            }
        } catch {
            throw lost(error)
        }
        var sockets: [TCPSocket] = []
        defer { for socket in sockets { socket.close() } }
        let dataAddress = try SocketAddress(host: server.host, port: port)
        var runError: Error?
        var result: TransportRunResult<RegionMeasurement>?
        do {
            for _ in 0..<key.threads { sockets.append(try TCPSocket.connect(to: dataAddress)) }
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
        record.bytes = record.workers.reduce(0) { $0 + ($1.received?.bytes ?? 0) }
        record.messages = record.workers.reduce(0) { $0 + ($1.received?.messages ?? 0) }
        record.integrityErrors = record.workers.reduce(0) { $0 + ($1.received?.integrityErrors ?? 0) }
        record.firstMismatch = record.workers.compactMap { $0.received?.firstMismatch }.first
        return record
    }

    private func lost(_ error: Error) -> CopyprofError {
        .remote("lost copyprof serve at \(server): \(error)")
    }
}
