/// The names a profile uses for what was run. They are the file format's own: the transports module has its own
/// enums with the same raw values, and the sweep module maps between them, so that renaming something in the
/// transports cannot silently change what a profile says.

/// How a sender moved the messages.
public enum TransportKind: String, Sendable, Codable, CaseIterable, Hashable {
    /// `send()` of a contiguous message.
    case twoCopy = "two-copy"
    /// `memcpy` of the 8 fields into a staging buffer, then `send()`.
    case marshal
    /// `sendmsg()` gathering the 8 fields.
    case oneCopy = "one-copy"
    /// `sendmsg(MSG_ZEROCOPY)`, a field set rewritten only after its completion.
    case zeroCopy = "zero-copy"
    /// io_uring `IORING_OP_SENDMSG_ZC` with `IORING_SEND_ZC_REPORT_USAGE`, a field set rewritten only after its
    /// notification.
    case ioUringZeroCopy = "io-uring-zc"
    /// `sendfile()` from a ring of messages in the page cache (a memfd).
    case sendfile

    /// The transports of the default sweep: the classic experiment's four.
    public static let classic: [TransportKind] = [.twoCopy, .marshal, .oneCopy, .zeroCopy]

    /// True for the transports whose sends complete later and say whether the kernel copied.
    public var reportsCompletions: Bool { self == .zeroCopy || self == .ioUringZeroCopy }
}

/// How the receivers took the bytes out of their sockets.
public enum ReceiverKind: String, Sendable, Codable, CaseIterable, Hashable {
    /// `recv()` into a buffer (the second copy), then verification. Profiles before receivers were recorded ran this.
    case copy
    /// `recv(MSG_TRUNC)`: the kernel dropped the bytes unread; the messages were counted, not verified.
    case discard
    /// `TCP_ZEROCOPY_RECEIVE`: whole pages mapped, the rest copied with `recv()`; both verified.
    case mmap

    /// False for `discard`, whose runs cannot verify the payload.
    public var verifiesPayload: Bool { self != .discard }
}

/// What the connections did.
public enum Workload: String, Sendable, Codable, CaseIterable, Hashable {
    /// Senders push for the duration: throughput.
    case stream
    /// A request and an echo of the same size: round-trip time.
    case pingpong
}

/// How much of each message the receivers checked.
public enum Verification: String, Sendable, Codable, CaseIterable, Hashable {
    /// The sequence number and length.
    case header
    /// Every byte.
    case full
}

/// Which thread of a connection a worker record belongs to.
public enum WorkerRole: String, Sendable, Codable, CaseIterable, Hashable {
    /// Sends messages (ping-pong: sends requests and times round trips).
    case sender
    /// Receives and verifies (ping-pong: echoes).
    case receiver
}
