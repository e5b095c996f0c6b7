import CopyprofModel
import CopyprofProfile
import CopyprofSweep
import Foundation
import PerfCounters
import Synchronization
import Transports
import SystemCalls

/// What a `copyprof serve` accepts and for how long: the caps on one cell and the deadlines of every wait, all the
/// server's own, whatever a client asks for.
public struct ServerOptions: Sendable {
    /// Client addresses or networks allowed to connect; empty: any.
    public var allow: [AddressRange]
    /// Bytes of message buffers one cell may take here.
    public var maxMemoryBytes: Int
    /// Connections (receiver threads here) of one cell.
    public var maxConnections: Int
    /// Seconds a client may stay silent between messages, and a cell may wait for its data connections or its start.
    public var idleTimeout: Double
    /// Seconds a message may take once its first byte arrived; also the time from connecting to a whole hello, and
    /// from a data connection to its token.
    public var messageTimeout: Double
    /// Seconds one client may hold the server; nil: as long as it keeps working.
    public var maxSession: Double?

    public static let defaultMaxConnections = 64
    public static let defaultIdleTimeout = 30.0
    public static let defaultMessageTimeout = 5.0

    public init(
        allow: [AddressRange] = [], maxMemoryBytes: Int = ServerOptions.defaultMaxMemoryBytes(),
        maxConnections: Int = ServerOptions.defaultMaxConnections, idleTimeout: Double = ServerOptions.defaultIdleTimeout,
        messageTimeout: Double = ServerOptions.defaultMessageTimeout, maxSession: Double? = nil
    ) {
        self.allow = allow
        self.maxMemoryBytes = maxMemoryBytes
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.messageTimeout = messageTimeout
        self.maxSession = maxSession
    }

    /// A quarter of this host's memory, at most ``RunLimits/runMemory``.
    public static func defaultMaxMemoryBytes() -> Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, pageSize > 0 else { return 256 << 20 }
        let (physical, overflow) = pages.multipliedReportingOverflow(by: pageSize)
        return overflow ? RunLimits.runMemory : min(RunLimits.runMemory, physical / 4)
    }

    /// The limits a client is told in the welcome.
    var limits: ServerLimits {
        ServerLimits(maxMemoryBytes: maxMemoryBytes, maxConnections: maxConnections, idleTimeout: idleTimeout, messageTimeout: messageTimeout)
    }

    /// True when `host` may connect.
    func allows(_ host: String) -> Bool { allow.isEmpty || allow.contains { $0.contains(host) } }
}

/// `copyprof serve`: the receiving side of two-host runs, for a network that may be hostile.
///
/// One client's session at a time; a second one is told the server is busy. Until a client has sent a whole, valid
/// hello it holds nothing: handshakes are read by the accepting thread, many at once, each within
/// ``ServerOptions/messageTimeout``, so a silent or slow client cannot keep others out. A session then runs on its own
/// thread: each message within the idle and message deadlines, each cell checked against ``RunLimits`` and the
/// server's caps before anything is allocated (a refused cell is answered and the session goes on), data connections
/// admitted only from the client's address and with the session's token, each trial bounded by its duration plus
/// the deadlines. Everything a session holds — its sockets and its thread — is released when it ends; stopping the
/// server ends the session at once.
public final class RemoteServer: Sendable {
    /// Where control connections are accepted.
    public let address: SocketAddress
    private let listener: TCPSocket
    private let options: ServerOptions
    /// Lines about the server's work: sessions ending on a deadline, one line per trial.
    private let log: @Sendable (String) -> Void
    /// Lines a stranger can make the server write, one per connection that never becomes a session (refused,
    /// dropped, a bad hello, a data connection closed): at most 10 per 5 s, and a count of the rest.
    private let connectionLog: RateLimitedLog
    /// Lines about sessions (one starting, ending, a cell refused): at most 20 per 5 s, and a count of the rest. A
    /// session costs a client a whole hello; a churn of them still must not write a line each.
    private let sessionLog: RateLimitedLog
    /// Captured once: the same for every client, and no work a stranger can make the server repeat.
    private let environment: EnvironmentInfo
    private let countable: Set<String>
    /// Handshakes read at once; beyond, the oldest is dropped.
    static let maxHandshakes = 32
    /// Connections the kernel queues on the control port until they are accepted (capped by `net.core.somaxconn`).
    static let controlBacklog: Int32 = 1024

    /// Binds the control listener (port 0: the kernel chooses) and captures this host's environment.
    public init(listen address: SocketAddress, options: ServerOptions = ServerOptions(), log: @escaping @Sendable (String) -> Void) throws(TransportError) {
        // A backlog that a churn of connections does not fill while this thread waits for a CPU (128 filled here on a
        // loaded machine: the kernel then drops the SYN, and a client waits a second for its retransmission).
        listener = try TCPSocket.listen(on: address, backlog: Self.controlBacklog)
        self.address = try listener.localAddress()
        try listener.setNonBlocking()
        self.options = options
        self.log = log
        connectionLog = RateLimitedLog(write: log)
        sessionLog = RateLimitedLog(burst: 20, what: "lines about sessions", write: log)
        environment = EnvironmentInfo.capture(
            events: PerfEvent.catalog, label: nil, commandLine: CommandLine.arguments, copyprofVersion: CopyprofVersion.current,
            twoHost: true)
        countable = Set(environment.countedEvents)
    }

    /// A client that has connected and not yet sent a whole hello.
    private final class Handshake {
        let socket: TCPSocket
        let peer: String
        let deadline: Double
        var bytes: [UInt8] = []
        var needed = ControlProtocol.headerSize
        var length: Int?

        init(socket: TCPSocket, peer: String, deadline: Double) {
            self.socket = socket
            self.peer = peer
            self.deadline = deadline
        }
    }

    /// Accepts clients until `shouldStop` says so (checked at least every 200 ms); then ends the session in progress
    /// and returns once its thread has.
    public func serve(shouldStop: @escaping @Sendable () -> Bool) {
        var handshakes: [Handshake] = []
        var current: (session: ServerSession, thread: JoinableThread)?
        func reap() {
            if let (session, thread) = current, session.isFinished {
                thread.join()
                current = nil
            }
        }
        while !shouldStop() {
            reap()
            connectionLog.flush()
            sessionLog.flush()
            let now = monotonicSeconds()
            if let (session, _) = current, !session.isFinished {
                if let deadline = session.trialDeadline, now > deadline {
                    log("client \(session.peer): the trial went past its deadline (its duration plus the server's timeouts); ending the session")
                    session.end()
                } else if let limit = options.maxSession, now - session.startedAt > limit {
                    log("client \(session.peer): the session went past --max-session \(limit) s; ending it")
                    session.end()
                }
            }
            for handshake in handshakes where now > handshake.deadline {
                connectionLog("client \(handshake.peer): no whole hello within \(options.messageTimeout) s; closed")
                refuse(handshake.socket, "no whole hello within \(options.messageTimeout) s")
            }
            handshakes.removeAll { now > $0.deadline }

            let wait = handshakes.map { $0.deadline - now }.min().map { min(0.2, max(0.001, $0)) } ?? 0.2
            let ready = Set(TCPSocket.ready([listener] + handshakes.map(\.socket), timeout: wait))
            guard !ready.isEmpty else { continue }
            // The handshakes polled first, so that a flood of new connections cannot push out a hello that has
            // arrived; those accepted below are read on the next turn.
            var done: Set<ObjectIdentifier> = []
            for (i, handshake) in handshakes.enumerated() where ready.contains(i + 1) {
                guard let version = read(handshake) else { continue }
                done.insert(ObjectIdentifier(handshake))
                guard let version = version else { continue }
                reap()
                if let (session, _) = current, !session.isFinished {
                    connectionLog("refused \(handshake.peer): busy with \(session.peer)")
                    refuse(handshake.socket, "this copyprof server is serving another client; try again when its run ends", busy: true)
                    continue
                }
                current = start(handshake, clientVersion: version)
            }
            handshakes.removeAll { done.contains(ObjectIdentifier($0)) }

            if ready.contains(0) {
                // At most a turn's worth, so that a flood cannot keep the handshakes unread.
                var accepted = 0
                while accepted < Self.maxHandshakes, let connection = try? listener.accept() {
                    accepted += 1
                    let peer = (try? connection.peerAddress().host) ?? "?"
                    if !options.allows(peer) {
                        connectionLog("refused \(peer): not in --allow")
                        refuse(connection, "this copyprof serve does not accept clients from \(peer) (--allow)")
                        continue
                    }
                    if let (session, _) = current, !session.isFinished {
                        connectionLog("refused \(peer): busy with \(session.peer)")
                        refuse(connection, "this copyprof server is serving another client; try again when its run ends", busy: true)
                        continue
                    }
                    if handshakes.count >= Self.maxHandshakes {
                        let oldest = handshakes.removeFirst()
                        connectionLog("client \(oldest.peer): dropped before its hello (\(Self.maxHandshakes) connections waiting)")
                        oldest.socket.close()
                    }
                    handshakes.append(Handshake(socket: connection, peer: peer, deadline: monotonicSeconds() + options.messageTimeout))
                }
            }
        }
        for handshake in handshakes { handshake.socket.close() }
        if let (session, thread) = current {
            session.end()
            thread.join()
        }
        listener.close()
        connectionLog.finish()
        sessionLog.finish()
    }

    /// Reads what a handshake has sent. Returns nil while the hello is incomplete; `.some(nil)` when the connection
    /// was refused and closed; `.some(version)` for a whole, valid hello.
    private func read(_ handshake: Handshake) -> String?? {
        let chunk: [UInt8]?
        do { chunk = try handshake.socket.receiveAvailable(upTo: handshake.needed - handshake.bytes.count) } catch { chunk = [] }
        guard let chunk else { return nil }
        if chunk.isEmpty {
            connectionLog("client \(handshake.peer): closed before its hello")
            handshake.socket.close()
            return .some(nil)
        }
        handshake.bytes += chunk
        if handshake.length == nil && handshake.bytes.count == ControlProtocol.headerSize {
            switch ControlProtocol.payloadLength(header: handshake.bytes, limit: ControlProtocol.maxHelloPayload) {
            case .success(let length):
                handshake.length = length
                handshake.needed += length
            case .failure(let error):
                connectionLog("client \(handshake.peer): \(error)")
                var version = ControlProtocol.version
                if case .wrongVersion(let theirs) = error { version = ControlProtocol.replyVersion(to: theirs) }
                refuse(handshake.socket, error.description, version: version)
                return .some(nil)
            }
        }
        guard handshake.length != nil, handshake.bytes.count == handshake.needed else { return nil }
        let message: ControlMessage
        do { message = try ControlMessage.decode(Array(handshake.bytes[ControlProtocol.headerSize...])) } catch {
            connectionLog("client \(handshake.peer): \(error)")
            refuse(handshake.socket, error.description)
            return .some(nil)
        }
        guard case .hello(let version) = message else {
            connectionLog("client \(handshake.peer): the first message is not a hello")
            refuse(handshake.socket, ControlError.malformed("the first message is not a hello").description)
            return .some(nil)
        }
        guard !version.isEmpty, version.utf8.count <= 64, version.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline && $0.asciiValue! >= 0x21 }) else {
            connectionLog("client \(handshake.peer): a hello without a copyprof version")
            refuse(handshake.socket, ControlError.malformed("hello: not a copyprof version").description)
            return .some(nil)
        }
        return .some(version)
    }

    /// Answers with an error (or busy) without waiting on the client, and closes.
    private func refuse(_ socket: TCPSocket, _ text: String, busy: Bool = false, version: UInt16 = ControlProtocol.version) {
        let channel = ControlChannel(socket: socket, sendTimeout: 0.05)
        try? channel.send(busy ? .busy(text) : .error(text), version: version)
        socket.close()
    }

    /// Starts a client's session on its own thread.
    private func start(_ handshake: Handshake, clientVersion: String) -> (ServerSession, JoinableThread)? {
        var random = SystemRandomNumberGenerator()
        let token = (0..<ControlProtocol.tokenSize).map { _ in UInt8.random(in: 0...255, using: &random) }
        let session = ServerSession(peer: handshake.peer, token: token)
        let channel = ControlChannel(socket: handshake.socket, sendTimeout: options.messageTimeout)
        _ = session.hold(handshake.socket)
        sessionLog("client \(handshake.peer) (copyprof \(clientVersion)) starts a session")
        do {
            let thread = try JoinableThread(name: "cp-session") { [self] in
                run(session, channel)
                // Free the server before the client can see the close, so that it may connect again at once.
                session.release(channel.socket)
                session.finish()
                channel.socket.close()
            }
            return (session, thread)
        } catch {
            sessionLog("client \(handshake.peer): cannot start a session thread: \(error)")
            refuse(handshake.socket, "the server cannot start a session now: \(error)")
            return nil
        }
    }

    /// One client: the welcome, then cells until bye. A malformed, oversized or wrong-version message, or one that
    /// misses its deadline, ends the session with an error; a cell the server will not run is refused and the
    /// session goes on.
    private func run(_ session: ServerSession, _ channel: ControlChannel) {
        let peer = session.peer
        do throws(ControlError) {
            // The route toward the client from the address it reached: the one its data connections take too.
            let path = NetworkPath.toward(peer, from: (try? channel.socket.localAddress())?.host)
            try channel.send(.welcome(
                environment: environment, path: path,
                token: session.token.map { String(format: "%02x", $0) }.joined(), limits: options.limits))
            while !session.isEnded {
                let message = try channel.receive(
                    idle: options.idleTimeout, complete: options.messageTimeout, limit: ControlProtocol.maxRequestPayload)
                switch message {
                case .setup(let setup):
                    if let problem = setup.problem(limits: options.limits) {
                        sessionLog("client \(peer): refused a cell: \(problem)")
                        try channel.send(.refused(problem))
                        continue
                    }
                    try runTrial(setup, session: session, channel: channel)
                case .bye:
                    sessionLog("client \(peer) said bye")
                    return
                default:
                    sessionLog("client \(peer): unexpected \(message.name) between cells")
                    try? channel.send(.error("unexpected \(message.name) between cells"))
                    return
                }
            }
        } catch {
            if session.isEnded {
                sessionLog("client \(peer): session ended")
                return
            }
            sessionLog("client \(peer): \(error)")
            switch error {
            case .malformed, .oversized, .unexpected, .timedOut, .incomplete:
                try? channel.send(.error(error.description))
            case .wrongVersion(let theirs):
                try? channel.send(.error(error.description), version: ControlProtocol.replyVersion(to: theirs))
            default:
                break
            }
        }
    }

    /// One trial of a cell: a data listener, the client's connections (its address, its token), the receivers, the
    /// result. Every wait is at most the server's idle timeout (or the client's shorter I/O timeout), and the whole
    /// trial at most its duration plus those waits: past that the accepting thread ends the session.
    private func runTrial(_ setup: RemoteCellSetup, session: ServerSession, channel: ControlChannel) throws(ControlError) {
        let step = min(setup.ioTimeout, options.idleTimeout)
        session.trialDeadline = monotonicSeconds() + setup.duration + 4 * step + options.messageTimeout + 1
        defer { session.trialDeadline = nil }
        let bindHost = address.host
        let configuration = RunConfiguration(
            setup.cell, duration: setup.duration, verification: setup.verification, address: bindHost, ioTimeout: step,
            zeroCopyPoolSize: setup.zeroCopyPoolSize)
        // A cell this host cannot run at all (its kernel, its io_uring setting) is answered at once, without a listener.
        if let why = unsupportedReason(configuration, role: .receiver) {
            log("client \(session.peer): \(setup.cell) is not supported here: \(why)")
            try channel.send(.result(RemoteSideResult(workers: [], error: nil, notSupported: why)))
            return
        }
        let data: TCPSocket
        let port: UInt16
        do {
            // Room in the backlog for the cell's connections and as many strangers as may be pending: everything is
            // accepted at once, so the backlog holds only what arrives between two turns of the accepting loop.
            data = try TCPSocket.listen(
                on: SocketAddress(host: bindHost, port: 0),
                backlog: Int32(setup.cell.connections + Self.maxPendingDataConnections))
            port = try data.localAddress().port
        } catch {
            try channel.send(.refused("the server cannot open a data listener: \(error)"))
            return
        }
        guard session.hold(data) else { return }
        defer {
            session.release(data)
            data.close()
        }
        do { try data.setNonBlocking() } catch {
            try channel.send(.refused("the server cannot set up its data listener: \(error)"))
            return
        }
        try channel.send(.ready(dataPort: port))
        var refusals = DataConnectionRefusals()
        var (sockets, failure) = acceptDataConnections(
            data, count: setup.cell.connections, session: session, within: step, refusals: &refusals)
        // No more connections: those that come now are reset by the kernel, not queued for the rest of the trial.
        session.release(data)
        data.close()
        defer {
            for socket in sockets {
                session.release(socket)
                socket.close()
            }
        }
        let events = setup.events.filter { countable.contains($0) }.compactMap { try? PerfEvent.named($0) }
        var workers: [WorkerRecord] = []
        if failure == nil {
            let messageTimeout = options.messageTimeout
            do {
                let result = try runTransportSide(
                    configuration, role: .receiver, sockets: sockets,
                    beforeStart: { () throws(TransportError) in
                        do throws(ControlError) {
                            try channel.send(.armed)
                            _ = try channel.expect("go", idle: step, complete: messageTimeout, limit: ControlProtocol.maxRequestPayload) {
                                message -> Bool? in
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
        if session.isEnded { throw .closed }
        let host = "\(environment.hostname)@\(bindHost)"
        for i in workers.indices { workers[i].host = host }
        try channel.send(.result(RemoteSideResult(workers: workers, error: failure)))
        log("\(setup.cell) trial \(setup.trial): "
            + (failure ?? "\(workers.reduce(UInt128(0)) { $0 + UInt128($1.received?.messages ?? 0) }) messages verified")
            + (refusals.total > 0 && failure?.contains(refusals.description) != true ? "; \(refusals)" : ""))
    }

    /// Accepts `count` data connections from the session's client, each proving itself with the session's token
    /// first. Returns the connections in the order they were accepted (the client's order: it connects and sends its
    /// token one connection at a time, so that connection i is the same socket pair on both hosts), or why there are
    /// not enough within `seconds`.
    ///
    /// A connection takes one of the cell's places only once it has shown the whole, right token. Until then it is
    /// one of many pending connections, all accepted at once (the listener's backlog never fills) and read together
    /// with poll, none waited on: a connection from another address is closed at once; one that sends the wrong token,
    /// closes, or has not sent its token within ``tokenTimeout`` is closed; when ``maxPendingDataConnections`` are
    /// pending, the oldest is closed to make room. Each is counted in `refusals`, and logged through the rate limit.
    /// So strangers, even from the client's own address, cannot crowd the client's connections out: 17 silent
    /// connections before the client's made its trial fail when a pending connection held a place.
    private func acceptDataConnections(
        _ listener: TCPSocket, count: Int, session: ServerSession, within seconds: Double,
        refusals: inout DataConnectionRefusals
    ) -> ([TCPSocket], String?) {
        let deadline = monotonicSeconds() + seconds
        let tokenSeconds = min(options.messageTimeout, Self.tokenTimeout)
        var admitted: [TCPSocket] = []
        var pending: [PendingDataConnection] = []
        func close(_ connection: PendingDataConnection, _ why: DataConnectionRefusals.Reason) {
            refusals.count(why)
            connectionLog("data connection from \(session.peer) closed: \(why.text(tokenSeconds: tokenSeconds))")
            session.release(connection.socket)
            connection.socket.close()
        }
        /// Closes the connections still pending, and says why accepting failed, if it did, with what was closed.
        func end(_ failure: String?) -> ([TCPSocket], String?) {
            for connection in pending { close(connection, .leftWaiting) }
            pending = []
            return (admitted, failure.map { $0 + (refusals.total > 0 ? " (\(refusals))" : "") })
        }
        while admitted.count < count {
            if session.isEnded { return end("the session ended") }
            let now = monotonicSeconds()
            if now >= deadline {
                return end("\(admitted.count) of \(count) data connections with the session's token arrived within \(seconds) s")
            }
            pending.removeAll { connection in
                guard now > connection.deadline else { return false }
                close(connection, .noToken)
                return true
            }
            let wait = min(0.2, deadline - now, pending.map { $0.deadline - now }.min() ?? 0.2)
            let ready = Set(TCPSocket.ready([listener] + pending.map(\.socket), timeout: max(0.001, wait)))
            guard !ready.isEmpty else { continue }
            // Tokens first, in accept order; the connections accepted below are read on the next turn (at once: poll
            // finds their bytes waiting).
            var stillPending: [PendingDataConnection] = []
            for (i, var connection) in pending.enumerated() {
                guard ready.contains(i + 1) else {
                    stillPending.append(connection)
                    continue
                }
                switch connection.readToken() {
                case .incomplete:
                    stillPending.append(connection)
                case .closed:
                    close(connection, .closedEarly)
                case .complete(let token):
                    // Compared in constant time: every byte, whatever the first difference.
                    let matches = token.count == session.token.count
                        && zip(token, session.token).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
                    if !matches {
                        close(connection, .wrongToken)
                    } else if admitted.count < count {
                        admitted.append(connection.socket)
                    } else {
                        close(connection, .surplus)
                    }
                }
            }
            pending = stillPending
            if ready.contains(0) {
                // Everything waiting (up to a turn's worth, so that a flood cannot keep the tokens unread), so that
                // the backlog never fills; the room for pending connections is made by closing the oldest, which had
                // the longest time to show a token.
                var accepted = 0
                while accepted < Self.maxPendingDataConnections, let connection = try? listener.accept() {
                    accepted += 1
                    let peer = (try? connection.peerAddress().host) ?? "?"
                    guard peer == session.peer else {
                        refusals.count(.otherAddress)
                        connectionLog("data connection from \(peer) closed: not the client's address (\(session.peer)); not counted")
                        connection.close()
                        continue
                    }
                    guard session.hold(connection) else {
                        connection.close()
                        break
                    }
                    if pending.count >= Self.maxPendingDataConnections { close(pending.removeFirst(), .crowded) }
                    pending.append(PendingDataConnection(socket: connection, deadline: monotonicSeconds() + tokenSeconds))
                }
            }
        }
        return end(nil)
    }

    /// Seconds a data connection has to send its whole token once accepted (at most the message timeout): the
    /// client sends it as soon as it has connected, 32 bytes in one segment.
    static let tokenTimeout = 2.0
    /// Data connections accepted and not yet admitted, at most; beyond, the oldest is closed.
    static let maxPendingDataConnections = 128
}

/// A data connection accepted, waiting for its token: it holds none of the cell's places.
private struct PendingDataConnection {
    let socket: TCPSocket
    /// When it must have sent its whole token (`CLOCK_MONOTONIC` seconds).
    let deadline: Double
    var token: [UInt8] = []

    enum TokenRead {
        case incomplete
        case complete([UInt8])
        /// The peer closed (or reset) the connection before its whole token.
        case closed
    }

    /// Reads what has arrived of the token, without waiting.
    mutating func readToken() -> TokenRead {
        let chunk: [UInt8]?
        do { chunk = try socket.receiveAvailable(upTo: ControlProtocol.tokenSize - token.count) } catch { return .closed }
        guard let chunk else { return .incomplete }
        if chunk.isEmpty { return .closed }
        token += chunk
        return token.count == ControlProtocol.tokenSize ? .complete(token) : .incomplete
    }
}

/// The data connections of a trial that were closed without taking a place, by why.
struct DataConnectionRefusals: CustomStringConvertible {
    enum Reason: CaseIterable {
        case otherAddress, noToken, closedEarly, wrongToken, surplus, crowded, leftWaiting

        func text(tokenSeconds: Double) -> String {
            switch self {
            case .otherAddress: return "not the client's address"
            case .noToken: return "no token within \(tokenSeconds) s"
            case .closedEarly: return "closed before its token"
            case .wrongToken: return "wrong token"
            case .surplus: return "more connections than the cell has"
            case .crowded: return "\(RemoteServer.maxPendingDataConnections) connections were waiting for their tokens"
            case .leftWaiting: return "no token yet when accepting ended"
            }
        }

        /// In the trial's summary: "3 with a wrong token".
        var summary: String {
            switch self {
            case .otherAddress: return "from another address"
            case .noToken: return "without a token in time"
            case .closedEarly: return "closed before their token"
            case .wrongToken: return "with a wrong token"
            case .surplus: return "beyond the cell's connections"
            case .crowded: return "crowded out before their token"
            case .leftWaiting: return "still without a token when accepting ended"
            }
        }
    }

    private(set) var counts: [Reason: Int] = [:]

    mutating func count(_ reason: Reason) { counts[reason, default: 0] += 1 }

    var total: Int { counts.values.reduce(0, +) }

    /// "20 data connections closed without a place: 17 without a token in time, 3 with a wrong token".
    var description: String {
        let parts = Reason.allCases.compactMap { reason in counts[reason].map { "\($0) \(reason.summary)" } }
        return "\(total) data connection\(total == 1 ? "" : "s") closed without a place: \(parts.joined(separator: ", "))"
    }
}

/// One client's session: what it holds, so that the server can end it at once from another thread.
final class ServerSession: Sendable {
    let peer: String
    /// Sent (hex) in the welcome; the client sends it first on every data connection.
    let token: [UInt8]
    /// `CLOCK_MONOTONIC` seconds.
    let startedAt: Double = monotonicSeconds()
    private let sockets = Mutex<[ObjectIdentifier: TCPSocket]>([:])
    private let ended = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    /// When the trial in flight must be over (`CLOCK_MONOTONIC` seconds, as a bit pattern; 0: no trial).
    private let deadlineBits = Atomic<UInt64>(0)

    init(peer: String, token: [UInt8]) {
        self.peer = peer
        self.token = token
    }

    var trialDeadline: Double? {
        get {
            let bits = deadlineBits.load(ordering: .acquiring)
            return bits == 0 ? nil : Double(bitPattern: bits)
        }
        set { deadlineBits.store(newValue?.bitPattern ?? 0, ordering: .releasing) }
    }

    /// Records a socket the session uses; false (and the socket shut down) when the session has ended.
    func hold(_ socket: TCPSocket) -> Bool {
        sockets.withLock { held in
            if ended.load(ordering: .acquiring) {
                socket.shutdown(Int32(SHUT_RDWR))
                return false
            }
            held[ObjectIdentifier(socket)] = socket
            return true
        }
    }

    /// Forgets a socket before it is closed (so that `end` never shuts down a reused descriptor).
    func release(_ socket: TCPSocket) {
        _ = sockets.withLock { $0.removeValue(forKey: ObjectIdentifier(socket)) }
    }

    /// Ends the session now: every socket it holds is shut down, which wakes every wait of its thread.
    func end() {
        sockets.withLock { held in
            ended.store(true, ordering: .releasing)
            for socket in held.values { socket.shutdown(Int32(SHUT_RDWR)) }
        }
    }

    var isEnded: Bool { ended.load(ordering: .acquiring) }

    /// The session's thread is done with everything but closing its control connection.
    func finish() { finished.store(true, ordering: .releasing) }

    var isFinished: Bool { finished.load(ordering: .acquiring) }
}
