import CopyprofModel
import CopyprofProfile
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
    private let log: @Sendable (String) -> Void
    /// Captured once: the same for every client, and no work a stranger can make the server repeat.
    private let environment: EnvironmentInfo
    private let countable: Set<String>
    /// The server's route toward each client address seen (a bounded cache: `ip route get` is a process).
    private let paths = Mutex<[String: NetworkPath]>([:])
    /// Handshakes read at once; beyond, the oldest is dropped.
    static let maxHandshakes = 32

    /// Binds the control listener (port 0: the kernel chooses) and captures this host's environment.
    public init(listen address: SocketAddress, options: ServerOptions = ServerOptions(), log: @escaping @Sendable (String) -> Void) throws(TransportError) {
        listener = try TCPSocket.listen(on: address)
        self.address = try listener.localAddress()
        try listener.setNonBlocking()
        self.options = options
        self.log = log
        environment = EnvironmentInfo.capture(
            events: PerfEvent.catalog, label: nil, commandLine: CommandLine.arguments, copyprofVersion: CopyprofVersion.current)
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
                log("client \(handshake.peer): no whole hello within \(options.messageTimeout) s; closed")
                refuse(handshake.socket, "no whole hello within \(options.messageTimeout) s")
            }
            handshakes.removeAll { now > $0.deadline }

            let wait = handshakes.map { $0.deadline - now }.min().map { min(0.2, max(0.001, $0)) } ?? 0.2
            let ready = Set(TCPSocket.ready([listener] + handshakes.map(\.socket), timeout: wait))
            guard !ready.isEmpty else { continue }
            // The handshakes polled; those accepted below are read in the next round.
            let polled = Array(handshakes)

            if ready.contains(0) {
                while let connection = try? listener.accept() {
                    let peer = (try? connection.peerAddress().host) ?? "?"
                    if !options.allows(peer) {
                        log("refused \(peer): not in --allow")
                        refuse(connection, "this copyprof serve does not accept clients from \(peer) (--allow)")
                        continue
                    }
                    if let (session, _) = current, !session.isFinished {
                        log("refused \(peer): busy with \(session.peer)")
                        refuse(connection, "this copyprof server is serving another client; try again when its run ends", busy: true)
                        continue
                    }
                    if handshakes.count >= Self.maxHandshakes {
                        let oldest = handshakes.removeFirst()
                        log("client \(oldest.peer): dropped before its hello (\(Self.maxHandshakes) connections waiting)")
                        oldest.socket.close()
                    }
                    handshakes.append(Handshake(socket: connection, peer: peer, deadline: monotonicSeconds() + options.messageTimeout))
                }
            }
            var done: Set<ObjectIdentifier> = []
            for (i, handshake) in polled.enumerated() where ready.contains(i + 1) {
                guard let version = read(handshake) else { continue }
                done.insert(ObjectIdentifier(handshake))
                guard let version = version else { continue }
                reap()
                if let (session, _) = current, !session.isFinished {
                    log("refused \(handshake.peer): busy with \(session.peer)")
                    refuse(handshake.socket, "this copyprof server is serving another client; try again when its run ends", busy: true)
                    continue
                }
                current = start(handshake, clientVersion: version)
            }
            handshakes.removeAll { done.contains(ObjectIdentifier($0)) }
        }
        for handshake in handshakes { handshake.socket.close() }
        if let (session, thread) = current {
            session.end()
            thread.join()
        }
        listener.close()
    }

    /// Reads what a handshake has sent. Returns nil while the hello is incomplete; `.some(nil)` when the connection
    /// was refused and closed; `.some(version)` for a whole, valid hello.
    private func read(_ handshake: Handshake) -> String?? {
        let chunk: [UInt8]?
        do { chunk = try handshake.socket.receiveAvailable(upTo: handshake.needed - handshake.bytes.count) } catch { chunk = [] }
        guard let chunk else { return nil }
        if chunk.isEmpty {
            log("client \(handshake.peer): closed before its hello")
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
                log("client \(handshake.peer): \(error)")
                var version = ControlProtocol.version
                if case .wrongVersion(let theirs) = error { version = ControlProtocol.replyVersion(to: theirs) }
                refuse(handshake.socket, error.description, version: version)
                return .some(nil)
            }
        }
        guard handshake.length != nil, handshake.bytes.count == handshake.needed else { return nil }
        let payload = Data(handshake.bytes[ControlProtocol.headerSize...])
        guard case .hello(let version)? = try? JSONDecoder().decode(ControlMessage.self, from: payload) else {
            log("client \(handshake.peer): the first message is not a hello")
            refuse(handshake.socket, ControlError.malformed("the payload is not a control message, or not a hello").description)
            return .some(nil)
        }
        guard !version.isEmpty, version.utf8.count <= 64, version.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline && $0.asciiValue! >= 0x21 }) else {
            log("client \(handshake.peer): a hello without a copyprof version")
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
        log("client \(handshake.peer) (copyprof \(clientVersion)) starts a session")
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
            log("client \(handshake.peer): cannot start a session thread: \(error)")
            refuse(handshake.socket, "the server cannot start a session now: \(error)")
            return nil
        }
    }

    private func path(toward peer: String) -> NetworkPath {
        if let known = paths.withLock({ $0[peer] }) { return known }
        let found = NetworkPath.toward(peer)
        paths.withLock { cache in
            if cache.count >= 256 { cache.removeAll() }
            cache[peer] = found
        }
        return found
    }

    /// One client: the welcome, then cells until bye. A malformed, oversized or wrong-version message, or one that
    /// misses its deadline, ends the session with an error; a cell the server will not run is refused and the
    /// session goes on.
    private func run(_ session: ServerSession, _ channel: ControlChannel) {
        let peer = session.peer
        do throws(ControlError) {
            try channel.send(.welcome(
                environment: environment, path: path(toward: peer),
                token: session.token.map { String(format: "%02x", $0) }.joined(), limits: options.limits))
            while !session.isEnded {
                let message = try channel.receive(
                    idle: options.idleTimeout, complete: options.messageTimeout, limit: ControlProtocol.maxRequestPayload)
                switch message {
                case .setup(let setup):
                    if let problem = setup.problem(limits: options.limits) {
                        log("client \(peer): refused a cell: \(problem)")
                        try channel.send(.refused(problem))
                        continue
                    }
                    try runTrial(setup, session: session, channel: channel)
                case .bye:
                    log("client \(peer) said bye")
                    return
                default:
                    log("client \(peer): unexpected \(message.name) between cells")
                    try? channel.send(.error("unexpected \(message.name) between cells"))
                    return
                }
            }
        } catch {
            if session.isEnded {
                log("client \(peer): session ended")
                return
            }
            log("client \(peer): \(error)")
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
            data = try TCPSocket.listen(on: SocketAddress(host: bindHost, port: 0), backlog: Int32(min(setup.cell.connections + 16, 512)))
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
        var (sockets, failure) = acceptDataConnections(data, count: setup.cell.connections, session: session, within: step)
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
            + (failure ?? "\(workers.reduce(UInt128(0)) { $0 + UInt128($1.received?.messages ?? 0) }) messages verified"))
    }

    /// Accepts `count` data connections from the session's client, each proving itself with the session's token
    /// first; anyone else's connection is closed and logged, never counted. Returns the connections in the order
    /// their tokens completed, or why there are not enough within `seconds`.
    private func acceptDataConnections(
        _ listener: TCPSocket, count: Int, session: ServerSession, within seconds: Double
    ) -> ([TCPSocket], String?) {
        let deadline = monotonicSeconds() + seconds
        var admitted: [TCPSocket] = []
        var waiting: [(socket: TCPSocket, token: [UInt8], deadline: Double)] = []
        defer {
            for entry in waiting {
                session.release(entry.socket)
                entry.socket.close()
            }
        }
        func drop(_ index: Int, _ why: String) {
            log("data connection from \(session.peer) closed: \(why)")
            session.release(waiting[index].socket)
            waiting[index].socket.close()
            waiting.remove(at: index)
        }
        while admitted.count < count {
            if session.isEnded { return (admitted, "the session ended") }
            let now = monotonicSeconds()
            if now >= deadline {
                return (admitted, "\(admitted.count) of \(count) data connections with the session's token arrived within \(seconds) s")
            }
            for i in waiting.indices.reversed() where now > waiting[i].deadline {
                drop(i, "no token within \(options.messageTimeout) s")
            }
            let ready = Set(TCPSocket.ready([listener] + waiting.map(\.socket), timeout: min(0.2, deadline - now)))
            guard !ready.isEmpty else { continue }
            var completed: [Int] = []
            for i in waiting.indices where ready.contains(i + 1) {
                let chunk: [UInt8]?
                do { chunk = try waiting[i].socket.receiveAvailable(upTo: ControlProtocol.tokenSize - waiting[i].token.count) } catch {
                    chunk = []
                }
                guard let chunk else { continue }
                if chunk.isEmpty {
                    completed.append(i)
                    continue
                }
                waiting[i].token += chunk
                if waiting[i].token.count == ControlProtocol.tokenSize { completed.append(i) }
            }
            // In accept order, which is the client's connection order (it connects and sends its token one
            // connection at a time), so that connection i is the same socket pair on both hosts.
            let done = Set(completed)
            var stillWaiting: [(socket: TCPSocket, token: [UInt8], deadline: Double)] = []
            for (i, entry) in waiting.enumerated() {
                guard done.contains(i) else {
                    stillWaiting.append(entry)
                    continue
                }
                // Compared in constant time: every byte, whatever the first difference.
                let matches = entry.token.count == session.token.count
                    && zip(entry.token, session.token).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
                if matches && admitted.count < count {
                    admitted.append(entry.socket)
                    continue
                }
                let why = matches ? "more connections than the cell has" : entry.token.count < ControlProtocol.tokenSize ? "closed before its token" : "wrong token"
                log("data connection from \(session.peer) closed: \(why)")
                session.release(entry.socket)
                entry.socket.close()
            }
            waiting = stillWaiting
            if ready.contains(0) {
                while admitted.count + waiting.count < count + 16, let connection = try? listener.accept() {
                    let peer = (try? connection.peerAddress().host) ?? "?"
                    guard peer == session.peer else {
                        log("data connection from \(peer) closed: not the client's address (\(session.peer)); not counted")
                        connection.close()
                        continue
                    }
                    guard session.hold(connection) else {
                        connection.close()
                        break
                    }
                    waiting.append((connection, [], monotonicSeconds() + options.messageTimeout))
                }
            }
        }
        return (admitted, nil)
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
