import CopyprofLimits
import CopyprofProfile
import Foundation
import PerfCounters
import Synchronization
import Transports

/// `copyprof serve`: the receiving side of two-host runs. One controlling client at a time; a second one is told the
/// server is busy. Each cell's receivers (ping-pong: echoers) run in this process with their own counters, and their
/// measurements go back to the client.
public final class RemoteServer: Sendable {
    /// Where control connections are accepted.
    public let address: SocketAddress
    private let listener: TCPSocket
    private let busy = Mutex(false)
    /// The control connection of the session in progress, shut down on stop so the session ends at once.
    private let active = Mutex<TCPSocket?>(nil)
    private let log: @Sendable (String) -> Void
    /// Seconds a control connection may stay silent between messages of a session.
    public let idleTimeout: Double

    /// Binds the control listener (port 0: the kernel chooses).
    public init(listen address: SocketAddress, idleTimeout: Double = 60, log: @escaping @Sendable (String) -> Void) throws(TransportError) {
        listener = try TCPSocket.listen(on: address)
        self.address = try listener.localAddress()
        self.idleTimeout = idleTimeout
        self.log = log
    }

    /// Accepts control connections until `shouldStop` says so (checked every 200 ms), serving one at a time.
    public func serve(shouldStop: @escaping @Sendable () -> Bool) {
        var sessions: [WorkerThread] = []
        while !shouldStop() {
            var pfd = pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 200) > 0 else { continue }
            guard let connection = try? listener.accept() else { continue }
            let channel = ControlChannel(socket: connection)
            let claimed = busy.withLock { taken -> Bool in
                if taken { return false }
                taken = true
                return true
            }
            guard claimed else {
                try? channel.send(.busy("this copyprof server is serving another client; try again when its run ends"))
                connection.close()
                log("refused a second client: busy")
                continue
            }
            active.withLock { $0 = connection }
            do {
                sessions.append(try WorkerThread { [self] in
                    session(channel, shouldStop: shouldStop)
                    active.withLock { $0 = nil }
                    // Free the server before the client can see the close, so that it may connect again at once.
                    busy.withLock { $0 = false }
                    channel.socket.close()
                })
            } catch {
                busy.withLock { $0 = false }
            }
        }
        active.withLock { $0?.shutdown(Int32(SHUT_RDWR)) }
        for session in sessions { session.join() }
        listener.close()
    }

    /// One client: hello, then cells until bye. A malformed, oversized or wrong-version message is answered with an
    /// error and ends the session; the server goes on with the next client.
    private func session(_ channel: ControlChannel, shouldStop: @Sendable () -> Bool) {
        let peer = (try? channel.socket.peerAddress().host) ?? "?"
        log("client \(peer) connected")
        do throws(ControlError) {
            let clientVersion = try channel.expect("hello", timeout: 10) { message -> String? in
                if case .hello(let version) = message { return version }
                return nil
            }
            let environment = EnvironmentInfo.capture(
                events: PerfEvent.catalog, label: nil, commandLine: CommandLine.arguments, copyprofVersion: CopyprofVersion.current)
            try channel.send(.welcome(environment: environment, path: NetworkPath.toward(peer)))
            log("client \(peer) speaks copyprof \(clientVersion)")
            let countable = Set(environment.countedEvents)
            while !shouldStop() {
                let message = try channel.receive(timeout: idleTimeout)
                switch message {
                case .setup(let setup):
                    try runCell(setup, channel: channel, bindHost: address.host, countable: countable)
                case .bye:
                    log("client \(peer) said bye")
                    return
                default:
                    try? channel.send(.error("unexpected \(message.name) between cells"))
                    return
                }
            }
        } catch {
            log("client \(peer): \(error)")
            switch error {
            case .malformed, .wrongVersion, .oversized, .unexpected:
                try? channel.send(.error(error.description))
            default:
                break
            }
        }
    }

    /// One trial of a cell: a data listener, the client's connections, the receivers, the result.
    private func runCell(_ setup: RemoteCellSetup, channel: ControlChannel, bindHost: String, countable: Set<String>) throws(ControlError) {
        // Receivers run until the client ends its streams: the duration is the client's and unused here.
        let configuration = runConfiguration(
            setup.key, duration: 1, verification: setup.verification, address: bindHost, ioTimeout: setup.ioTimeout,
            zeroCopyPoolSize: setup.zeroCopyPoolSize)
        guard RunLimits.connections.contains(setup.threads), RunLimits.messageSizeProblem(setup.messageSize) == nil,
            RunLimits.ioTimeout.contains(setup.ioTimeout), RunLimits.zeroCopyPoolSize.contains(setup.zeroCopyPoolSize)
        else {
            try channel.send(.error("invalid cell set-up"))
            throw .malformed("invalid cell set-up")
        }
        let data: TCPSocket
        do {
            data = try TCPSocket.listen(on: SocketAddress(host: bindHost, port: 0))
            try data.setIOTimeout(setup.ioTimeout)
            try channel.send(.ready(dataPort: try data.localAddress().port))
        } catch let error as TransportError {
            try channel.send(.error("cannot open a data listener: \(error)"))
            return
        } catch let error as ControlError {
            throw error
        } catch {
            return
        }
        defer { data.close() }
        var sockets: [TCPSocket] = []
        defer { for socket in sockets { socket.close() } }
        var failure: String?
        for _ in 0..<setup.threads {
            do { sockets.append(try data.accept()) } catch {
                failure = "accepting data connection \(sockets.count): \(error)"
                break
            }
        }
        let events = setup.events.filter { countable.contains($0) }.compactMap { try? PerfEvent.named($0) }
        var workers: [WorkerRecord] = []
        if failure == nil {
            do {
                let result = try runTransportSide(
                    configuration, role: .receiver, sockets: sockets,
                    beforeStart: { () throws(TransportError) in
                        do throws(ControlError) {
                            try channel.send(.armed)
                            _ = try channel.expect("go", timeout: setup.ioTimeout) { message -> Bool? in
                                if case .go = message { return true }
                                return nil
                            }
                        } catch {
                            throw TransportError(.measurement("control: \(error)"))
                        }
                    },
                    region: { _ in try CountedRegion(events: events) })
                workers = TrialRecord(result, trial: setup.trial).workers
            } catch {
                failure = "\(error)"
            }
        }
        let host = "\(ProcessInfo.processInfo.hostName)@\(bindHost)"
        for i in workers.indices { workers[i].host = host }
        try channel.send(.result(RemoteSideResult(workers: workers, error: failure)))
        log("\(setup.mode.rawValue) \(setup.transport.rawValue) \(setup.messageSize) B × \(setup.threads) trial \(setup.trial): "
            + (failure ?? "\(workers.reduce(0) { $0 + ($1.received?.messages ?? 0) }) messages verified"))
    }
}
