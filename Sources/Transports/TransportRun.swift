import CopyprofModel
import Histogram
#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// Test-only switches that break a run on purpose, to show that verification and error paths work.
public struct FaultInjection: Sendable, Hashable {
    /// The sender flips one byte of one message.
    public var corruption: Corruption?
    /// The receiver of each connection closes its socket after this many messages (the peer goes away).
    public var closeReceiverAfter: UInt64?
    /// The receiver of each connection stops reading after this many messages (the peer is stuck).
    public var stallReceiverAfter: UInt64?
    /// A kernel feature the run's support check sees as absent (a host with io_uring disabled, an old kernel).
    public var absence: SimulatedAbsence?
    /// Every sender of the run copies a message-sized buffer this many extra times per message: a slower transport on
    /// purpose, through a wrapper chosen at set-up (`ExtraCopySender`), so the normal loops do not change.
    public var extraCopies = 0

    public init(
        corruption: Corruption? = nil, closeReceiverAfter: UInt64? = nil, stallReceiverAfter: UInt64? = nil,
        absence: SimulatedAbsence? = nil
    ) {
        self.corruption = corruption
        self.closeReceiverAfter = closeReceiverAfter
        self.stallReceiverAfter = stallReceiverAfter
        self.absence = absence
    }

    public static let none = FaultInjection()
}

/// One transport run: its cell (transport, receiver, workload, message size, connections), duration, verification,
/// and how the sockets are set up.
public struct RunConfiguration: Sendable, Hashable {
    /// What runs: the same ``CellKey`` the command line, the sweep, the control protocol and the profile use.
    public var cell: CellKey
    /// Seconds the timed loops run.
    public var duration: Double
    public var verification: Verification
    /// The numeric address to listen on and connect to.
    public var address: String
    /// Seconds a socket operation may wait before the run fails (SO_SNDTIMEO, SO_RCVTIMEO, poll).
    public var ioTimeout: Double
    public var sendWait: SendWait
    /// SO_SNDBUF for the sending sockets; nil keeps the kernel's default.
    public var sendBufferSize: Int?
    /// Field sets a zero-copy or io_uring zero-copy sender rotates through.
    public var zeroCopyPoolSize: Int
    /// The most bytes the receiving socket may hold unread — its `tcp_rmem` maximum — which bounds how long a sendfile
    /// sender's pages can stay in flight; nil: this host's (`/proc/sys/net/ipv4/tcp_rmem`). A two-host run sets the
    /// server's.
    public var peerReceiveBufferLimit: Int?
    public var faults: FaultInjection
    /// How the zero-copy sender lays out its field sets: 8 separate fields unless a benchmark asks otherwise through
    /// the environment (``FieldSetLayout/benchmarkEnvironmentVariable``); tests set it directly.
    var zeroCopyFieldSetLayout = FieldSetLayout.zeroCopyFromEnvironment()

    /// A run of `cell`.
    public init(
        _ cell: CellKey, duration: Double = 1, verification: Verification = .header, address: String = "127.0.0.1",
        ioTimeout: Double = 5, sendWait: SendWait = .blocking, sendBufferSize: Int? = nil,
        zeroCopyPoolSize: Int = RunLimits.defaultZeroCopyPoolSize, peerReceiveBufferLimit: Int? = nil,
        faults: FaultInjection = .none
    ) {
        self.cell = cell
        self.duration = duration
        self.verification = verification
        self.address = address
        self.ioTimeout = ioTimeout
        self.sendWait = sendWait
        self.sendBufferSize = sendBufferSize
        self.zeroCopyPoolSize = zeroCopyPoolSize
        self.peerReceiveBufferLimit = peerReceiveBufferLimit
        self.faults = faults
    }

    /// A run of the cell these name, as tests and benchmarks write it.
    public init(
        transport: TransportKind, receiver: ReceiverKind = .copy, workload: Workload = .stream, messageSize: Int,
        connections: Int = 1, duration: Double = 1, verification: Verification = .header, address: String = "127.0.0.1",
        ioTimeout: Double = 5, sendWait: SendWait = .blocking, sendBufferSize: Int? = nil,
        zeroCopyPoolSize: Int = RunLimits.defaultZeroCopyPoolSize, peerReceiveBufferLimit: Int? = nil,
        faults: FaultInjection = .none
    ) {
        self.init(
            CellKey(
                transport: transport, receiver: receiver, workload: workload, messageSize: messageSize,
                connections: connections),
            duration: duration, verification: verification, address: address, ioTimeout: ioTimeout, sendWait: sendWait,
            sendBufferSize: sendBufferSize, zeroCopyPoolSize: zeroCopyPoolSize,
            peerReceiveBufferLimit: peerReceiveBufferLimit, faults: faults)
    }

    /// The cell's transport.
    public var transport: TransportKind {
        get { cell.transport }
        set { cell.transport = newValue }
    }
    /// How the receivers (in ping-pong: both sides' receivers) take the bytes out of the socket.
    public var receiver: ReceiverKind {
        get { cell.receiver }
        set { cell.receiver = newValue }
    }
    /// The cell's workload.
    public var workload: Workload {
        get { cell.workload }
        set { cell.workload = newValue }
    }
    /// Bytes per message: a multiple of 64, at least 64.
    public var messageSize: Int {
        get { cell.messageSize }
        set { cell.messageSize = newValue }
    }
    /// Connections, each with a sender thread and a receiver thread.
    public var connections: Int {
        get { cell.connections }
        set { cell.connections = newValue }
    }

    func validate() throws(TransportError) -> MessageLayout {
        let layout = try MessageLayout(messageSize: messageSize)
        guard RunLimits.connections.contains(connections) else {
            throw TransportError(.invalidConfiguration("connections must be \(RunLimits.connections), not \(connections)"))
        }
        guard RunLimits.duration.contains(duration) else {
            throw TransportError(.invalidConfiguration("duration must be in \(RunLimits.duration) s, not \(duration)"))
        }
        guard RunLimits.ioTimeout.contains(ioTimeout) else {
            throw TransportError(.invalidConfiguration("the I/O timeout must be in \(RunLimits.ioTimeout) s, not \(ioTimeout)"))
        }
        guard RunLimits.zeroCopyPoolSize.contains(zeroCopyPoolSize) else {
            throw TransportError(.invalidConfiguration("the zero-copy pool must be \(RunLimits.zeroCopyPoolSize) sets, not \(zeroCopyPoolSize)"))
        }
        if let corruption = faults.corruption, !(0..<messageSize).contains(corruption.offset) {
            throw TransportError(.invalidConfiguration("corruption offset \(corruption.offset) is outside the message"))
        }
        if transport == .sendfile {
            let ring = SendfileSender.ringBytes(self) &* connections
            if ring > RunLimits.runMemory || ring < 0 {
                throw TransportError(.invalidConfiguration(
                    "the sendfile rings of \(connections) connection(s) would take \(formatBytes(ring)) of page "
                        + "cache (tcp_wmem and tcp_rmem maxima per connection); the limit is "
                        + "\(formatBytes(RunLimits.runMemory)): use fewer connections"))
            }
        }
        return layout
    }
}

/// A worker thread: its connection and role.
public struct WorkerIdentity: Sendable, Hashable, Codable, CustomStringConvertible {
    public var connection: Int
    public var role: WorkerRole

    public init(connection: Int, role: WorkerRole) {
        self.connection = connection
        self.role = role
    }

    public var description: String { "connection \(connection) \(role.rawValue)" }

    /// The name of the worker's thread, as `ps -L`, `top -H` and perf show it: `cp-send-0`, `cp-recv-0` (the
    /// ping-pong client and echoer are the sender and the receiver); within the kernel's 15 bytes for any
    /// connection count copyprof runs (``RunLimits/connections``).
    public var threadName: String { "cp-\(role == .sender ? "send" : "recv")-\(connection)" }
}

/// Code a worker runs on its own thread around its timed loop: made before the start barrier,
/// `begin()` just before the loop, `end()` just after. This is where counters open, enable and read.
public protocol WorkerRegion: AnyObject, SendableMetatype {
    associatedtype Measurement: Sendable
    func begin() throws
    func end() throws -> Measurement
}

/// Told when a run's timed loops start and end, from outside them: ``timedLoopsWillStart()`` on the coordinator just
/// before the workers are released, ``timedLoopsDidEnd()`` once every worker's loop has ended and its region was
/// read, before they wrap up. For a profiler outside the process that should count the loops and nothing else
/// (`copyprof run --perf-control` enables and disables `perf stat --control` there).
public protocol TimedLoopObserver: AnyObject, Sendable {
    func timedLoopsWillStart()
    func timedLoopsDidEnd()
}

/// A region that measures nothing.
public final class NoRegion: WorkerRegion {
    public init() {}
    public func begin() {}
    public func end() {}
}

/// What one worker did.
public struct WorkerResult<Measurement: Sendable>: Sendable {
    public var identity: WorkerIdentity
    /// The kernel thread id of the worker's thread (gettid): what `perf stat -t` and /proc/self/task/TID name.
    public var threadID: Int32
    /// `CLOCK_MONOTONIC` ns when its timed loop started and ended.
    public var startNs: UInt64
    public var endNs: UInt64
    /// What it sent (stream sender; both ping-pong sides).
    public var sent: SenderStats?
    /// What it received and verified (stream receiver; both ping-pong sides).
    public var received: ReceiverStats?
    /// Round-trip times in ns (ping-pong sender).
    public var roundTrips: Histogram<UInt64>?
    /// What the region measured.
    public var measurement: Measurement?
}

/// The outcome of a run.
public struct TransportRunResult<Measurement: Sendable>: Sendable {
    public var configuration: RunConfiguration
    /// Every worker, connection by connection, sender first.
    public var workers: [WorkerResult<Measurement>]
    /// `CLOCK_MONOTONIC` ns when the workers were released.
    public var startNs: UInt64
    /// From the release to the last worker's end, ns.
    public var elapsedNs: UInt64

    /// Bytes the receivers verified (in ping-pong: requests at the echoers plus echoes at the clients).
    public var bytesVerified: UInt64 { workers.reduce(0) { $0 + ($1.received?.bytes ?? 0) } }
    /// Messages the receivers verified (in ping-pong: both directions).
    public var messagesVerified: UInt64 { workers.reduce(0) { $0 + ($1.received?.messages ?? 0) } }
    /// Messages that differed from what was sent.
    public var integrityErrors: UInt64 { workers.reduce(0) { $0 + ($1.received?.integrityErrors ?? 0) } }
    /// The first integrity mismatch, with its connection.
    public var firstMismatch: (WorkerIdentity, IntegrityMismatch)? {
        for worker in workers { if let m = worker.received?.firstMismatch { return (worker.identity, m) } }
        return nil
    }
    /// Verified bits per second over the elapsed time, in Gbit/s.
    public var throughputGbps: Double { elapsedNs == 0 ? 0 : Double(bytesVerified) * 8 / Double(elapsedNs) }
    /// Zero-copy bookkeeping summed over the senders, or nil.
    public var zeroCopy: ZeroCopyStats? {
        let all = workers.compactMap { $0.sent?.zeroCopy }
        guard !all.isEmpty else { return nil }
        var sum = ZeroCopyStats()
        for z in all {
            sum.sends += z.sends
            sum.completions += z.completions
            sum.copiedCompletions += z.copiedCompletions
            sum.notifications += z.notifications
            sum.enobufs += z.enobufs
            sum.reuseWaits += z.reuseWaits
        }
        return sum
    }
    /// Every connection's round-trip times merged, ns (ping-pong).
    public var roundTrips: Histogram<UInt64>? {
        var merged: Histogram<UInt64>?
        for worker in workers {
            guard let h = worker.roundTrips else { continue }
            if merged == nil { merged = h } else { merged!.add(h) }
        }
        return merged
    }
    /// Partial writes summed over all senders.
    public var partialWrites: UInt64 { workers.reduce(0) { $0 + ($1.sent?.partialWrites ?? 0) } }
}

/// Runs one transport workload on loopback (or the configured address) and returns what every worker did.
///
/// Connections are opened first; each gets a sender thread and a receiver thread, which prepare their buffers
/// and their region, wait at a barrier, and start their timed loops together. The run stops after the duration;
/// a socket that makes no progress for `ioTimeout` seconds ends it with an error naming the connection and the
/// activity. Every socket is closed and every thread joined before this returns or throws.
public func runTransport<Region: WorkerRegion>(
    _ configuration: RunConfiguration,
    observer: (any TimedLoopObserver)? = nil,
    region makeRegion: @escaping @Sendable (WorkerIdentity) throws -> Region
) throws(TransportError) -> TransportRunResult<Region.Measurement> {
    let layout = try configuration.validate()
    if let why = KernelSupport.unsupportedReason(configuration, sends: true, receives: true) {
        throw TransportError(.notSupported(why))
    }
    let pairs = try openConnections(configuration)
    defer { for pair in pairs { pair.sending.close(); pair.receiving.close() } }
    var assignments: [(WorkerIdentity, TCPSocket)] = []
    for (index, pair) in pairs.enumerated() {
        assignments.append((WorkerIdentity(connection: index, role: .sender), pair.sending))
        assignments.append((WorkerIdentity(connection: index, role: .receiver), pair.receiving))
    }
    return try runWorkers(
        assignments, configuration: configuration, layout: layout, timed: true, observer: observer, makeRegion: makeRegion)
}

/// Runs one side of a transport run over sockets already connected to a peer in another process or host:
/// the senders (ping-pong: clients) or the receivers (ping-pong: echoers) of every connection, socket `i` being
/// connection `i`.
///
/// Senders run for the configured duration, then end their streams; receivers run until their peers end the streams
/// (or make no progress for the I/O timeout). `beforeStart` runs once every worker is ready and before they are
/// released: the place to synchronize with the peer. The sockets are configured here and closed by the caller.
public func runTransportSide<Region: WorkerRegion>(
    _ configuration: RunConfiguration,
    role: WorkerRole,
    sockets: [TCPSocket],
    beforeStart: () throws(TransportError) -> Void = {},
    region makeRegion: @escaping @Sendable (WorkerIdentity) throws -> Region
) throws(TransportError) -> TransportRunResult<Region.Measurement> {
    let layout = try configuration.validate()
    if let why = unsupportedReason(configuration, role: role) { throw TransportError(.notSupported(why)) }
    for socket in sockets { try configure(socket, as: role, configuration) }
    let assignments = sockets.enumerated().map { (WorkerIdentity(connection: $0.offset, role: role), $0.element) }
    return try runWorkers(
        assignments, configuration: configuration, layout: layout, timed: role == .sender, beforeStart: beforeStart,
        makeRegion: makeRegion)
}

/// Why this host cannot run `role`'s side of `configuration` at all (its sender, its receiver, or both in ping-pong):
/// io_uring missing or disabled, no zero-copy TCP receive; nil when it can. Asked before any connection or thread.
public func unsupportedReason(_ configuration: RunConfiguration, role: WorkerRole) -> String? {
    let pingpong = configuration.workload == .pingpong
    return KernelSupport.unsupportedReason(
        configuration, sends: role == .sender || pingpong, receives: role == .receiver || pingpong)
}

/// Spawns one worker thread per assignment, releases them together, stops them after the duration (`timed`) or
/// waits for them to end, and collects their results.
private func runWorkers<Region: WorkerRegion>(
    _ assignments: [(WorkerIdentity, TCPSocket)], configuration: RunConfiguration, layout: MessageLayout, timed: Bool,
    beforeStart: () throws(TransportError) -> Void = {}, observer: (any TimedLoopObserver)? = nil,
    makeRegion: @escaping @Sendable (WorkerIdentity) throws -> Region
) throws(TransportError) -> TransportRunResult<Region.Measurement> {
    let control = RunControl()
    if observer != nil { control.countFromOutside() }
    var slots: [ResultSlot<Region.Measurement>] = []
    var threads: [JoinableThread] = []
    for (identity, socket) in assignments {
        let slot = ResultSlot<Region.Measurement>()
        slots.append(slot)
        do {
            threads.append(try JoinableThread(name: identity.threadName) {
                runWorker(identity, socket: socket, configuration: configuration, layout: layout,
                          control: control, slot: slot, makeRegion: makeRegion)
            })
        } catch {
            control.fail(TransportError(.systemCall(error), worker: identity.description))
            break
        }
    }

    if !control.waitForArrivals(threads.count, timeout: configuration.ioTimeout) {
        control.fail(TransportError(.timedOut(seconds: configuration.ioTimeout), activity: "waiting for workers to start"))
    }
    if control.error == nil {
        do throws(TransportError) { try beforeStart() } catch { control.fail(error) }
    }
    if let observer {
        control.letArrivalsSleep()
        observer.timedLoopsWillStart()
    }
    control.go()
    let startNs = monotonicNanoseconds()
    if timed {
        control.sleep(until: startNs + UInt64(configuration.duration * 1e9))
        control.requestStop()
    }
    if let observer {
        control.waitForLoopEnds(threads.count, timeout: configuration.ioTimeout)
        observer.timedLoopsDidEnd()
    }
    for thread in threads { thread.join() }
    for slot in slots { slot.wrapUpThread?.join() }

    if let error = control.error { throw error }
    let workers = slots.compactMap(\.value)
    let lastEnd = workers.map(\.endNs).max() ?? startNs
    return TransportRunResult(
        configuration: configuration, workers: workers, startNs: startNs, elapsedNs: lastEnd &- startNs)
}

/// The result a worker leaves for the coordinator.
///
/// `@unchecked Sendable`: written once by its worker thread before the thread ends, read by the coordinator only
/// after `pthread_join`, which orders the two.
final class ResultSlot<Measurement: Sendable>: @unchecked Sendable {
    var value: WorkerResult<Measurement>?
    /// The thread that wraps up for the worker when an outside profiler counts it (``RunControl/countFromOutside()``):
    /// set before the worker's thread ends, joined by the coordinator after it.
    var wrapUpThread: JoinableThread?
}

/// A worker's wrap-up — a stream receiver's drain to the end, zero-copy's last completions, the round-trip
/// histogram — done by a thread of its own, so that the worker's thread ends with its measured region: an outside
/// profiler (`perf stat --control`) counts each thread until it ends, and would count the wrap-up that copyprof
/// does not. The thread is started before the start barrier (its stack's first touch is no page fault of the
/// worker's) and sleeps until the worker hands its result over, or lets it go.
///
/// `@unchecked Sendable`: `result` is written by the worker before the byte that wakes the wrap-up thread, read by
/// that thread after it; nothing else changes.
private final class WrapUpHandOff<Measurement: Sendable>: @unchecked Sendable {
    let loop: WorkerLoop
    let socket: TCPSocket
    let control: RunControl
    let slot: ResultSlot<Measurement>
    private var result: WorkerResult<Measurement>?
    private let wake: (read: Int32, write: Int32)

    /// Starts the wrap-up thread of worker `identity`, named `cp-wrap-s-N` or `cp-wrap-r-N`.
    init(
        _ identity: WorkerIdentity, loop: WorkerLoop, socket: TCPSocket, control: RunControl,
        slot: ResultSlot<Measurement>
    ) throws(TransportError) {
        do { wake = try makePipe() } catch { throw TransportError(.systemCall(error), activity: "preparing the wrap-up") }
        self.loop = loop
        self.socket = socket
        self.control = control
        self.slot = slot
        let name = "cp-wrap-\(identity.role == .sender ? "s" : "r")-\(identity.connection)"
        do { slot.wrapUpThread = try JoinableThread(name: name) { self.waitAndWrapUp() } } catch {
            throw TransportError(.systemCall(error), activity: "starting the wrap-up thread")
        }
    }

    deinit {
        close(wake.read)
        close(wake.write)
    }

    /// The worker's measured result: the wrap-up thread finishes it. Called once, at most.
    func handOver(_ result: WorkerResult<Measurement>) {
        self.result = result
        letGo()
    }

    /// Wakes the wrap-up thread; without a result handed over it ends at once.
    func letGo() {
        var byte: UInt8 = 1
        _ = retryingOnInterrupt { write(wake.write, &byte, 1) }
    }

    private func waitAndWrapUp() {
        var byte: UInt8 = 0
        _ = retryingOnInterrupt { read(wake.read, &byte, 1) }
        guard var result else { return }
        do throws(TransportError) {
            try loop.wrapUp()
            (result.sent, result.received, result.roundTrips) = loop.results()
            slot.value = result
        } catch {
            var annotated = error
            annotated.worker = result.identity.description
            control.fail(annotated)
            socket.shutdown(Int32(SHUT_RDWR))
        }
    }
}

/// A connection's two ends.
struct ConnectionPair {
    /// The connecting end: the sender (ping-pong client).
    var sending: TCPSocket
    /// The accepted end: the receiver (ping-pong echoer).
    var receiving: TCPSocket
}

/// Opens `connections` connections over one listener on an ephemeral port, one at a time so ends pair up.
func openConnections(_ configuration: RunConfiguration) throws(TransportError) -> [ConnectionPair] {
    let listener = try TCPSocket.listen(on: SocketAddress(host: configuration.address, port: 0))
    try listener.setIOTimeout(configuration.ioTimeout)
    let address = try listener.localAddress()
    var pairs: [ConnectionPair] = []
    for _ in 0..<configuration.connections {
        let sending = try TCPSocket.connect(to: address)
        let receiving = try listener.accept()
        pairs.append(ConnectionPair(sending: sending, receiving: receiving))
        try configure(sending, as: .sender, configuration)
        try configure(receiving, as: .receiver, configuration)
    }
    return pairs
}

/// Sets a connection end's options for its role: the I/O timeout; TCP_NODELAY for ping-pong; SO_SNDBUF and
/// SO_ZEROCOPY on every end that sends (the sender, and in ping-pong the echoer too).
public func configure(_ socket: TCPSocket, as role: WorkerRole, _ configuration: RunConfiguration) throws(TransportError) {
    try socket.setIOTimeout(configuration.ioTimeout)
    if configuration.workload == .pingpong { try socket.setNoDelay() }
    let sends = role == .sender || configuration.workload == .pingpong
    if sends, let size = configuration.sendBufferSize {
        try socket.setOption(SOL_SOCKET, SO_SNDBUF, Int32(clamping: size), name: "SO_SNDBUF")
    }
    if sends && configuration.transport == .zeroCopy { try socket.enableZeroCopy() }
}

/// One worker thread, from preparation to result. Errors go to `control`, annotated with the worker.
private func runWorker<Region: WorkerRegion>(
    _ identity: WorkerIdentity, socket: TCPSocket, configuration: RunConfiguration, layout: MessageLayout,
    control: RunControl, slot: ResultSlot<Region.Measurement>,
    makeRegion: @Sendable (WorkerIdentity) throws -> Region
) {
    var region: Region?
    var began = false
    var sends = false
    var handOff: WrapUpHandOff<Region.Measurement>?
    // Without a result handed over (the run failed), the wrap-up thread ends at once.
    defer { handOff?.letGo() }
    do throws(TransportError) {
        do { region = try makeRegion(identity) } catch {
            throw TransportError(.measurement(String(describing: error)))
        }
        let loop = try makeTransportLoop(
            identity, socket: socket, configuration: configuration, layout: layout, control: control)
        sends = loop.sends
        var result = WorkerResult<Region.Measurement>(
            identity: identity, threadID: currentThreadID(), startNs: 0, endNs: 0)
        // Counted from outside until it ends: this thread ends with its region, and another wraps up.
        if control.isCountedFromOutside {
            handOff = try WrapUpHandOff(identity, loop: loop, socket: socket, control: control, slot: slot)
        }

        control.arriveAndWait()
        if control.error != nil {
            // The run failed before it started: end the stream so the peer does not wait.
            if sends { socket.shutdown(Int32(SHUT_WR)) }
            return
        }
        do { try region!.begin() } catch { throw TransportError(.measurement(String(describing: error))) }
        began = true
        result.startNs = monotonicNanoseconds()
        try loop.run()
        result.endNs = monotonicNanoseconds()
        began = false
        do { result.measurement = try region!.end() } catch {
            throw TransportError(.measurement(String(describing: error)))
        }
        control.loopEnded()
        if let wrapUp = handOff {
            // One write wakes the wrap-up thread with the result; the deferred letGo() must not write a second.
            handOff = nil
            wrapUp.handOver(result)
            return
        }
        try loop.wrapUp()
        (result.sent, result.received, result.roundTrips) = loop.results()
        slot.value = result
    } catch {
        var annotated = error
        annotated.worker = identity.description
        control.fail(annotated)
        // Wake the peer thread, which may be blocked on this connection.
        socket.shutdown(Int32(SHUT_RDWR))
        if began { _ = try? region?.end() }
    }
}
