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
}

/// What the connections do during a run.
public enum Workload: String, Sendable, Codable, CaseIterable, Hashable {
    /// Senders push messages for the duration; receivers verify them. Measures throughput.
    case stream
    /// A request of the message size and an echo of the same size, both through the transport under test,
    /// with TCP_NODELAY. Measures round-trip time.
    case pingpong
}

/// How much of each received message the receiver checks.
public enum Verification: String, Sendable, Codable, CaseIterable, Hashable {
    /// The sequence number in the first field and the length: cheap, the default for profiling.
    case header
    /// Every byte: the stamp of each field and the pattern in between.
    case full
}

/// How a blocked sender waits for room in the socket buffer.
public enum SendWait: String, Sendable, Codable, CaseIterable, Hashable {
    /// Blocking sockets: the kernel sleeps inside send until all bytes are queued (or SO_SNDTIMEO expires).
    case blocking
    /// `MSG_DONTWAIT` and `poll(POLLOUT)` on EAGAIN: partial writes happen and are finished by the sender.
    case poll
}
