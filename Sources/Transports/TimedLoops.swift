import CopyprofModel
import Histogram
#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

// The timed loops. Each is generic over the sender's and the receiver's types and is specialized for each
// concrete pair: the sender's and receiver's per-message work is inlined into the loop, which then holds no
// protocol witness call, no dynamic exclusivity check, no reference counting and no allocation — only the
// system calls, the stamps and verification, and the transport's own bookkeeping (zero-copy: its ledger).
// `Benchmarks/hot-loops.sh` checks that in the disassembly of the release build: it looks for these functions
// by name (`streamSend`, `streamReceive`, `pingPongClient`, `echo`), so keep the names.

/// Stream sender: sends messages until told to stop, then waits until the kernel holds none of its buffers.
@inline(never)
func streamSend<Sender: MessageSender & ~Copyable>(_ sender: inout Sender, control: RunControl) throws(TransportError) {
    var sequence: UInt64 = 0
    while !control.stopRequested {
        try sender.send(sequence: sequence)
        sequence &+= 1
    }
    try sender.finish()
}

/// Stream receiver: reads and verifies messages until the run stops (or the sender ends the stream).
/// What the sender queued before it saw the stop is drained afterwards, outside the timed loop.
@inline(never)
func streamReceive<Receiver: MessageReceiver & ~Copyable>(
    _ receiver: inout Receiver, faultAfter: UInt64, control: RunControl
) throws(TransportError) -> FaultDue {
    while !control.stopRequested {
        guard try receiver.receive() else { return .no }
        if receiver.expected == faultAfter { return .yes }
    }
    return .no
}

/// Ping-pong client: a request, then its echo, timed, until told to stop.
@inline(never)
func pingPongClient<Sender: MessageSender & ~Copyable, Receiver: MessageReceiver & ~Copyable>(
    _ sender: inout Sender, _ receiver: inout Receiver, roundTrips: inout RoundTripCounts, control: RunControl
) throws(TransportError) {
    var sequence: UInt64 = 0
    while !control.stopRequested {
        let start = monotonicNanoseconds()
        try sender.send(sequence: sequence)
        guard try receiver.receive() else { throw FailurePath.noEcho(sequence: sequence) }
        roundTrips.record(monotonicNanoseconds() &- start)
        sequence &+= 1
    }
    try sender.finish()
}

/// Ping-pong echoer: answers each request with a message of the same sequence, until the client ends.
@inline(never)
func echo<Sender: MessageSender & ~Copyable, Receiver: MessageReceiver & ~Copyable>(
    _ sender: inout Sender, _ receiver: inout Receiver, faultAfter: UInt64
) throws(TransportError) -> FaultDue {
    while try receiver.receive() {
        if receiver.expected == faultAfter { return .yes }
        try sender.send(sequence: receiver.expected &- 1)
    }
    try sender.finish()
    return .no
}

/// Whether a receiving loop stopped because its injected fault is due.
enum FaultDue {
    case no, yes
}

/// Round-trip times counted in HdrHistogram's buckets (lowest discernible value 1 ns, 3 significant digits) in a
/// flat array allocated before the timed loop: recording is a few arithmetic instructions and one increment,
/// where `Histogram.record` would check its array's uniqueness (a runtime call) on every round trip.
/// ``histogram()`` turns the counts into the same `Histogram` after the loop.
struct RoundTripCounts: ~Copyable {
    /// The histogram's parameters: values from 1 ns to 60 s with 3 significant digits: 2048 sub-buckets.
    static let highestTrackableValue: UInt64 = 60_000_000_000
    private static let subBucketHalfCountMagnitude = 10
    private static let subBucketHalfCount = 1 << subBucketHalfCountMagnitude
    private static let subBucketMask: UInt64 = 2047
    /// 64 - unit magnitude (0) - sub-bucket count magnitude (11).
    private static let leadingZeroCountBase = 53

    private let counts: UnsafeMutablePointer<UInt64>
    let length: Int
    /// Values above the highest trackable one (not recorded, as `Histogram.record` returns false for them).
    private(set) var overflows: UInt64 = 0
    /// The exact extremes, which the histogram reports as they were recorded (`min`, `maxRecorded`, p100).
    private var minNonZero: UInt64 = .max
    private var maxValue: UInt64 = 0

    init() {
        // Buckets needed to cover the highest value, as HdrHistogram's bucketsNeededToCoverValue.
        var smallestUntrackable: UInt64 = 2048
        var buckets = 1
        while smallestUntrackable <= Self.highestTrackableValue {
            smallestUntrackable <<= 1
            buckets += 1
        }
        length = (buckets + 1) << Self.subBucketHalfCountMagnitude
        counts = .allocate(capacity: length)
        counts.initialize(repeating: 0, count: length)
    }

    deinit { counts.deallocate() }

    /// The index of `value`'s bucket, as HdrHistogram's countsIndexForValue.
    @inline(__always)
    static func index(of value: UInt64) -> Int {
        let bucket = leadingZeroCountBase - (value | subBucketMask).leadingZeroBitCount
        let subBucket = Int(truncatingIfNeeded: value >> UInt64(bucket))
        return ((bucket + 1) << subBucketHalfCountMagnitude) + subBucket - subBucketHalfCount
    }

    /// The lowest value of bucket `index`, as HdrHistogram's valueFromIndex.
    static func value(at index: Int) -> UInt64 {
        var bucket = (index >> subBucketHalfCountMagnitude) - 1
        var subBucket = (index & (subBucketHalfCount - 1)) + subBucketHalfCount
        if bucket < 0 {
            subBucket -= subBucketHalfCount
            bucket = 0
        }
        return UInt64(subBucket) << UInt64(bucket)
    }

    @inline(__always)
    mutating func record(_ value: UInt64) {
        let index = Self.index(of: value)
        if index < length {
            counts[index] &+= 1
            if value > maxValue { maxValue = value }
            if value < minNonZero && value != 0 { minNonZero = value }
        } else {
            overflows &+= 1
        }
    }

    /// The counts as a `Histogram`, the same as recording every value into it: each bucket's count is recorded at
    /// the bucket's lowest value (which lands in the same bucket), except the exact smallest non-zero and largest
    /// values, recorded as such.
    func histogram() -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: Self.highestTrackableValue,
            numberOfSignificantValueDigits: .three)
        let minIndex = minNonZero == .max ? -1 : Self.index(of: minNonZero)
        let maxIndex = maxValue == 0 ? -1 : Self.index(of: maxValue)
        for index in 0..<length where counts[index] != 0 {
            var remaining = counts[index]
            if index == minIndex {
                _ = histogram.record(minNonZero)
                remaining -= 1
            }
            if index == maxIndex && remaining > 0 {
                _ = histogram.record(maxValue)
                remaining -= 1
            }
            if remaining > 0 { _ = histogram.record(Self.value(at: index), count: remaining) }
        }
        return histogram
    }
}

/// One worker's timed loop, as the worker drives it without knowing the transport's types: closures made where
/// the types are concrete (``makeTransportLoop``), so that each calls the loop specialized for them.
struct WorkerLoop {
    /// Runs the timed loop of the worker's role.
    let run: () throws(TransportError) -> Void
    /// After the measured region: ends the stream (senders) or drains what the peer sent after the stop
    /// (stream receivers).
    let wrapUp: () throws(TransportError) -> Void
    /// What the sender and the receiver did, and the round-trip times (ping-pong client).
    let results: () -> (sent: SenderStats?, received: ReceiverStats?, roundTrips: Histogram<UInt64>?)
    /// True when the worker sends (stream sender; both ping-pong sides).
    let sends: Bool

    init<Sender: MessageSender & ~Copyable, Receiver: MessageReceiver & ~Copyable>(
        _ loop: TransportLoop<Sender, Receiver>
    ) {
        // Made in a specialized context: these call the specialized methods of `loop` directly.
        run = { () throws(TransportError) in try loop.run() }
        wrapUp = { () throws(TransportError) in try loop.wrapUp() }
        results = { (loop.sent, loop.received, loop.roundTrips) }
        sends = loop.sends
    }
}

/// A worker's sender and receiver (whichever its role uses), owned for the run, and its timed loop specialized
/// for their concrete types: no protocol witness or closure call per message.
final class TransportLoop<Sender: MessageSender & ~Copyable, Receiver: MessageReceiver & ~Copyable> {
    private var sender: Sender?
    private var receiver: Receiver?
    private var counts: RoundTripCounts?
    private let workload: Workload
    private let role: WorkerRole
    private let socket: TCPSocket
    private let faults: FaultInjection
    private let control: RunControl

    init(
        sender: consuming Sender?, receiver: consuming Receiver?, workload: Workload, role: WorkerRole,
        socket: TCPSocket, faults: FaultInjection, control: RunControl
    ) {
        self.sender = sender
        self.receiver = receiver
        self.counts = workload == .pingpong && role == .sender ? RoundTripCounts() : nil
        self.workload = workload
        self.role = role
        self.socket = socket
        self.faults = faults
        self.control = control
    }

    var sends: Bool { sender != nil }

    func run() throws(TransportError) {
        let faultAfter = faults.closeReceiverAfter ?? faults.stallReceiverAfter ?? .max
        let due: FaultDue
        switch (workload, role) {
        case (.stream, .sender):
            try streamSend(&sender!, control: control)
            due = .no
        case (.stream, .receiver):
            due = try streamReceive(&receiver!, faultAfter: faultAfter, control: control)
        case (.pingpong, .sender):
            try pingPongClient(&sender!, &receiver!, roundTrips: &counts!, control: control)
            due = .no
        case (.pingpong, .receiver):
            due = try echo(&sender!, &receiver!, faultAfter: faultAfter)
        }
        if case .yes = due { injectReceiverFault(faults, socket: socket, control: control) }
    }

    func wrapUp() throws(TransportError) {
        if sender != nil {
            // Tell the peer the stream is over, at a message boundary.
            socket.shutdown(Int32(SHUT_WR))
        } else if receiver?.sawEndOfStream == false, faults.closeReceiverAfter == nil {
            // Let the sender finish its last sends and see the stream end; these bytes are not measured.
            try receiver!.drainToEnd()
        }
    }

    var sent: SenderStats? { sender?.stats }
    var received: ReceiverStats? { receiver?.stats }
    var roundTrips: Histogram<UInt64>? { counts?.histogram() }
}

/// Makes a worker's loop with the configured transport's concrete sender type and the configured receiver's: one
/// specialization of the timed loops per pair. Senders and receivers that need the kernel's help (a ring, a mapping,
/// a memfd) set it up here, on the worker's thread, before the start barrier; their failures end the run.
func makeTransportLoop(
    _ identity: WorkerIdentity, socket: TCPSocket, configuration: RunConfiguration, layout: MessageLayout,
    control: RunControl
) throws(TransportError) -> WorkerLoop {
    let sends = identity.role == .sender || configuration.workload == .pingpong
    let receives = identity.role == .receiver || configuration.workload == .pingpong
    let io = SocketIO(fd: socket.fd, wait: configuration.sendWait, timeout: configuration.ioTimeout)
    // Only the sender role corrupts, so a ping-pong echo carries no second fault.
    let corruption = identity.role == .sender ? configuration.faults.corruption : nil
    let fd = socket.fd, verification = configuration.verification, timeout = configuration.ioTimeout

    func pair<Sender: MessageSender & ~Copyable, Receiver: MessageReceiver & ~Copyable>(
        _ sender: consuming Sender?, _ receiver: consuming Receiver?
    ) -> WorkerLoop {
        WorkerLoop(TransportLoop(
            sender: sender, receiver: receiver, workload: configuration.workload, role: identity.role, socket: socket,
            faults: configuration.faults, control: control))
    }

    func loop<Sender: MessageSender & ~Copyable>(_ sender: consuming Sender?) throws(TransportError) -> WorkerLoop {
        switch configuration.receiver {
        case .copy:
            return pair(sender, receives ? VerifyingReceiver(fd: fd, layout: layout, verification: verification, timeout: timeout) : nil)
        case .discard:
            return pair(sender, receives ? DiscardingReceiver(fd: fd, layout: layout, timeout: timeout) : nil)
        case .mmap:
            let receiver = receives
                ? try MappingReceiver(fd: fd, layout: layout, verification: verification, timeout: timeout) : nil
            return pair(sender, receiver)
        }
    }

    // Test-only (`FaultInjection.extraCopies`): the same sender wrapped in extra copies per message, a separate
    // specialization of the loops; without it the loops below are the normal ones. With the copy receiver only, so
    // that the wrapper adds one pair of loops per sender rather than one per receiver.
    let copies = configuration.faults.extraCopies
    func chosen<Sender: MessageSender & ~Copyable>(_ sender: consuming Sender?) throws(TransportError) -> WorkerLoop {
        guard copies > 0 else { return try loop(sender) }
        guard configuration.receiver == .copy else {
            throw TransportError(.invalidConfiguration("extra copies (a test's slower sender) run with the copy receiver only"))
        }
        let receiver = receives ? VerifyingReceiver(fd: fd, layout: layout, verification: verification, timeout: timeout) : nil
        switch consume sender {
        case .some(let base): return pair(ExtraCopySender(base, copies: copies, layout: layout), receiver)
        case .none: return pair(ExtraCopySender<Sender>?.none, receiver)
        }
    }

    switch configuration.transport {
    case .twoCopy: return try chosen(sends ? TwoCopySender(io: io, layout: layout, corruption: corruption) : nil)
    case .marshal: return try chosen(sends ? MarshalSender(io: io, layout: layout, corruption: corruption) : nil)
    case .oneCopy: return try chosen(sends ? OneCopySender(io: io, layout: layout, corruption: corruption) : nil)
    case .zeroCopy:
        return try chosen(
            sends
                ? ZeroCopySender(
                    io: io, layout: layout, poolSize: configuration.zeroCopyPoolSize, corruption: corruption,
                    fieldSetLayout: configuration.zeroCopyFieldSetLayout) : nil)
    case .ioUringZeroCopy:
        let sender = sends
            ? try IOUringZeroCopySender(
                io: io, layout: layout, poolSize: configuration.zeroCopyPoolSize, corruption: corruption) : nil
        return try chosen(sender)
    case .sendfile:
        let sender = sends
            ? try SendfileSender(
                io: io, layout: layout, ringBytes: SendfileSender.ringBytes(configuration), corruption: corruption,
                nonblocking: configuration.sendWait == .poll && configuration.workload == .stream) : nil
        return try chosen(sender)
    }
}

/// A test-only fault: the receiver closes its socket (the peer sees a reset) or stops reading until the run stops.
@inline(never)
private func injectReceiverFault(_ faults: FaultInjection, socket: TCPSocket, control: RunControl) {
    if faults.closeReceiverAfter != nil {
        // A reset at once: the peer sees ECONNRESET or EPIPE, even when its window is closed (issue 15).
        // Only this thread uses the socket until the run's end, when closing it again does nothing.
        socket.closeWithReset()
    } else {
        while !control.stopRequested { usleep(5_000) }
    }
}
