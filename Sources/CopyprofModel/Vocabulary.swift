/// The run vocabulary: what was run, in the names every layer uses — the command line, the transports' hot loops,
/// the sweep, the control protocol, the profile and the report. Declared once, here; the raw values are the names a
/// profile records on disk, pinned by the golden-profile tests (Tests/CopyprofProfileTests/GoldenProfileTests.swift).

/// How a sender moves a message of 8 separately allocated fields into a TCP socket.
public enum TransportKind: String, Sendable, Codable, CaseIterable, Hashable {
    /// The message is already contiguous in one buffer: `send()`. The kernel copies it once; `recv()` copies again.
    case twoCopy = "two-copy"
    /// The naive sender: `memcpy` of the 8 fields into a staging buffer, then `send()`.
    /// The extra user-space copy is what one-copy removes.
    case marshal
    /// `sendmsg()` gathering the 8 fields through an 8-entry `iovec`: no assembly copy.
    case oneCopy = "one-copy"
    /// `sendmsg()` with `MSG_ZEROCOPY`: the kernel pins the fields' pages; a field set is rewritten only
    /// after its completions arrive on the socket's error queue.
    case zeroCopy = "zero-copy"
    /// io_uring `IORING_OP_SENDMSG_ZC` of the 8 fields with `IORING_SEND_ZC_REPORT_USAGE`: a field set is rewritten only
    /// after its notification (`IORING_CQE_F_NOTIF`), which says whether the kernel copied after all.
    case ioUringZeroCopy = "io-uring-zc"
    /// `sendfile()` from a file in the page cache (a memfd) that holds a ring of messages: no user-space source buffer
    /// (iperf3's `-Z`). The stamps are written into the page cache through a shared mapping.
    case sendfile

    /// The transports of the default sweep: the four of the classic experiment.
    public static let classic: [TransportKind] = [.twoCopy, .marshal, .oneCopy, .zeroCopy]

    /// True for the transports whose sends complete later and say whether the kernel copied (zero-copy completions,
    /// io_uring notifications).
    public var reportsCompletions: Bool { self == .zeroCopy || self == .ioUringZeroCopy }
}

/// How a receiver takes the bytes out of its socket.
public enum ReceiverKind: String, Sendable, Codable, CaseIterable, Hashable {
    /// `recv()` into the receiver's buffer — the second copy — then verification. The default, and what profiles
    /// written before receivers were recorded ran.
    case copy
    /// `recv(MSG_TRUNC)`: the kernel frees the bytes without copying them out, which isolates the receive copy's cost.
    /// The messages are counted, not verified: nothing of them reaches the process.
    case discard
    /// `TCP_ZEROCOPY_RECEIVE`: the kernel maps whole pages of the receive queue into a mapping of the socket; what
    /// cannot be mapped is read with `recv()`. Both are verified in place.
    case mmap

    /// False for `discard`, which never sees the bytes.
    public var verifiesPayload: Bool { self != .discard }
}

/// What the connections do during a run.
public enum Workload: String, Sendable, Codable, CaseIterable, Hashable, CustomStringConvertible {
    /// Senders push messages for the duration; receivers verify them. Measures throughput.
    case stream
    /// A request of the message size and an echo of the same size, both through the transport under test,
    /// with TCP_NODELAY. Measures round-trip time. Written `pingpong` in profiles; shown and accepted as `ping-pong`.
    case pingpong

    /// The name a person reads and types: `stream`, `ping-pong`.
    public var name: String { self == .pingpong ? "ping-pong" : rawValue }

    public var description: String { name }

    /// The workload a person named: `stream`, `ping-pong` or `pingpong`.
    public init?(name: String) {
        switch name {
        case "stream": self = .stream
        case "ping-pong", "pingpong": self = .pingpong
        default: return nil
        }
    }
}

/// How much of each received message the receiver checks.
public enum Verification: String, Sendable, Codable, CaseIterable, Hashable {
    /// The sequence number in the first field and the length: cheap, the default for profiling.
    case header
    /// Every byte: the stamp of each field and the pattern in between.
    case full
}

/// Which thread of a connection: every connection has one of each.
public enum WorkerRole: String, Sendable, Codable, CaseIterable, Hashable {
    /// Sends messages (ping-pong: sends requests and times round trips).
    case sender
    /// Receives and verifies (ping-pong: echoes).
    case receiver
}

/// How a blocked sender waits for room in the socket buffer.
public enum SendWait: String, Sendable, Codable, CaseIterable, Hashable {
    /// Blocking sockets: the kernel sleeps inside send until all bytes are queued (or SO_SNDTIMEO expires).
    case blocking
    /// `MSG_DONTWAIT` and `poll(POLLOUT)` on EAGAIN: partial writes happen and are finished by the sender.
    case poll
}

/// A choice a person names on the command line and reads in reports: its name is its raw value unless the type says
/// otherwise (``Workload/pingpong`` is `ping-pong`).
public protocol NamedChoice: CaseIterable, Hashable, Sendable {
    /// The name a person reads and types.
    var name: String { get }
    /// The choice a person named, or nil.
    init?(name: String)
}

extension NamedChoice where Self: RawRepresentable, RawValue == String {
    public var name: String { rawValue }
    public init?(name: String) { self.init(rawValue: name) }
}

extension TransportKind: NamedChoice {}
extension ReceiverKind: NamedChoice {}
extension Verification: NamedChoice {}
extension WorkerRole: NamedChoice {}
extension SendWait: NamedChoice {}
extension Workload: NamedChoice {}
