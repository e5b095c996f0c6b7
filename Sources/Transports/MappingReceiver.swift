import CopyprofModel
import CLinuxNet
#if canImport(Glibc)
import Glibc
#endif

/// `mmap`: zero-copy TCP receive, as the kernel's `tools/testing/selftests/net/tcp_mmap.c` does it. The receiver maps
/// a window of its socket (`mmap(PROT_READ, MAP_SHARED)`); each `getsockopt(TCP_ZEROCOPY_RECEIVE)` asks the kernel to
/// put the receive queue's next whole pages there instead of copying them, and says how many bytes that follow cannot
/// be mapped (`recv_skip_hint`), which it reads with `recv()` into a buffer. Mapped bytes and copied bytes are
/// verified in place, message by message, wherever the stream's message boundaries fall; a consumed window is
/// released with `madvise(MADV_DONTNEED)`.
///
/// A page is mapped only when a received segment holds it whole, at offset 0 of a fragment of the skb
/// (`can_map_frag`): with a page-sized MTU or larger, from a sender whose data the kernel holds in whole pages (on
/// loopback: MSG_ZEROCOPY and io_uring zero-copy sends, whose pages the kernel copies into fresh whole pages; the page
/// cache of `sendfile`). Data that `send()` copied into the socket's page fragments is never mappable.
/// ``ZeroCopyReceiveStats`` counts both kinds of bytes.
struct MappingReceiver: MessageReceiver, ~Copyable {
    /// Bytes of the mapping the kernel maps into per call (tcp_mmap.c's default chunk).
    static let windowSize = 512 << 10
    /// Bytes of the buffer for what cannot be mapped.
    static let copyCapacity = 64 << 10

    private let fd: Int32
    private let layout: MessageLayout
    private let verification: Verification
    private let timeout: Double
    /// A message of any sequence: the pattern that full verification compares with.
    private let template: UnsafeMutableRawPointer
    /// The mapping of the socket.
    private let window: UnsafeMutableRawPointer
    private let copyBuffer: UnsafeMutableRawPointer
    /// The received bytes not yet consumed, in the window or in the copy buffer.
    private var chunk: UnsafeRawPointer
    private var chunkRemaining = 0
    /// Bytes mapped into the window by the last call, to release once consumed; 0 while reading the copy buffer.
    private var mappedChunk = 0
    /// Bytes the kernel said to read with recv() before the next mappable page.
    private var pendingCopy = 0
    /// Bytes of message `expected` consumed so far (its earlier pieces).
    private var messageOffset = 0
    /// Whether a piece of message `expected` did not match.
    private var messageBad = false
    private(set) var expected: UInt64 = 0
    private var tally = ReceiverStats()
    private var zeroCopy = ZeroCopyReceiveStats()
    /// `expected` and the mapping counts when the timed loop ended and the drain began, if it did.
    private var measured: (messages: UInt64, zeroCopy: ZeroCopyReceiveStats)?
    private(set) var sawEndOfStream = false

    var stats: ReceiverStats {
        var stats = tally
        stats.messages = measured?.messages ?? expected
        stats.bytes = stats.messages &* UInt64(layout.messageSize)
        stats.zeroCopyReceive = measured?.zeroCopy ?? zeroCopy
        return stats
    }

    /// Maps the window of the socket `fd`.
    ///
    /// - Throws: when the socket cannot be mapped (a kernel without TCP mmap says ENODEV).
    init(fd: Int32, layout: MessageLayout, verification: Verification, timeout: Double) throws(TransportError) {
        guard let mapping = mmap(nil, Self.windowSize, PROT_READ, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            let code = errno
            if code == ENODEV || code == EOPNOTSUPP {
                throw TransportError(.notSupported("mmap() of a TCP socket failed: \(KernelSupport.errnoText(code))"))
            }
            throw .system("mmap of the TCP socket (TCP_ZEROCOPY_RECEIVE)", code, activity: "preparing the receiver")
        }
        self.fd = fd
        self.layout = layout
        self.verification = verification
        self.timeout = timeout
        window = mapping
        copyBuffer = .allocate(byteCount: Self.copyCapacity, alignment: 4096)
        chunk = UnsafeRawPointer(copyBuffer)
        template = .allocate(byteCount: layout.messageSize, alignment: 64)
        MessageLayout.fillPattern(template, count: layout.messageSize, messageOffset: 0)
        zeroCopy.pathMTU = Self.pathMTU(of: fd)
    }

    /// The MTU of a connected socket's path: `getsockopt(IP_MTU)` (`IPV6_MTU` on an IPv6 socket), the kernel's
    /// `dst_mtu` of the socket's route (ip(7), ipv6(7)); nil when the socket has no route or will not say.
    static func pathMTU(of fd: Int32) -> Int? {
        guard let domain = TCPSocket.option(of: fd, SOL_SOCKET, SO_DOMAIN) else { return nil }
        let (level, option) = domain == AF_INET6 ? (Int32(IPPROTO_IPV6), IPV6_MTU) : (Int32(IPPROTO_IP), IP_MTU)
        guard let mtu = TCPSocket.option(of: fd, level, option), mtu > 0 else { return nil }
        return Int(mtu)
    }

    deinit {
        munmap(window, Self.windowSize)
        copyBuffer.deallocate()
        template.deallocate()
    }

    @inline(__always)
    mutating func receiveMessage() -> Result<Bool, TransportError> {
        // The common case — the whole message within what was mapped or copied — inline.
        let size = layout.messageSize
        if messageOffset != 0 || chunkRemaining < size { return receivePieces() }
        if let offset = layout.firstMismatch(
            in: chunk, sequence: expected, verification: verification, template: template)
        {
            recordMismatch(at: offset)
        }
        chunk += size
        chunkRemaining &-= size
        if chunkRemaining == 0 { release() }
        expected &+= 1
        return .success(true)
    }

    /// Receives the next message in pieces: the rest of the chunk, then as many more chunks as it takes.
    @inline(never)
    private mutating func receivePieces() -> Result<Bool, TransportError> {
        let size = layout.messageSize
        while true {
            if chunkRemaining == 0 {
                release()
                switch refill() {
                case .success(true): break
                case .success(false):
                    sawEndOfStream = true
                    if messageOffset == 0 { return .success(false) }
                    return .failure(FailurePath.receiveFailed(
                        0, timeout: timeout, sequence: expected, got: messageOffset, size: size))
                case .failure(let error): return .failure(error)
                }
            }
            let count = min(chunkRemaining, size - messageOffset)
            if !messageBad, let offset = layout.firstMismatch(
                inPiece: chunk, count: count, at: messageOffset, sequence: expected, verification: verification,
                template: template)
            {
                recordMismatch(at: offset)
            }
            chunk += count
            chunkRemaining -= count
            messageOffset += count
            if messageOffset == size {
                messageOffset = 0
                messageBad = false
                if chunkRemaining == 0 { release() }
                expected &+= 1
                return .success(true)
            }
        }
    }

    @inline(never)
    private mutating func recordMismatch(at offset: Int) {
        messageBad = true
        tally.integrityErrors &+= 1
        if tally.firstMismatch == nil { tally.firstMismatch = IntegrityMismatch(sequence: expected, offset: offset) }
    }

    /// Gives the pages of a consumed mapped chunk back (`madvise(MADV_DONTNEED)`): sooner than the next call's own
    /// zap, as tcp_mmap.c does.
    @inline(never)
    private mutating func release() {
        if mappedChunk > 0 {
            madvise(window, mappedChunk, MADV_DONTNEED)
            mappedChunk = 0
        }
    }

    /// Gets the next chunk of the stream: mapped pages, or bytes read with recv(). True, or false at the end of the
    /// stream.
    @inline(never)
    private mutating func refill() -> Result<Bool, TransportError> {
        while true {
            if pendingCopy > 0 {
                let n = recv(fd, copyBuffer, min(pendingCopy, Self.copyCapacity), 0)
                tally.recvCalls &+= 1
                zeroCopy.copyCalls &+= 1
                if n > 0 {
                    chunk = UnsafeRawPointer(copyBuffer)
                    chunkRemaining = n
                    pendingCopy -= min(n, pendingCopy)
                    zeroCopy.copiedBytes &+= UInt64(n)
                    return .success(true)
                }
                if n == 0 { return .success(false) }
                let code = errno
                if code == EINTR { continue }
                return .failure(FailurePath.receiveFailed(
                    code, timeout: timeout, sequence: expected, got: messageOffset, size: layout.messageSize))
            }
            var request = CLinuxNet_ZeroCopyReceive()
            request.address = UInt64(UInt(bitPattern: window))
            request.length = UInt32(Self.windowSize)
            let result = CLinuxNet_zerocopy_receive(fd, &request)
            zeroCopy.mapCalls &+= 1
            if result != 0 {
                let code = errno
                if code == EINTR { continue }
                // EIO: nothing is left and the peer ended the stream.
                if code == EIO { return .success(false) }
                return .failure(FailurePath.receiveFailed(
                    code, timeout: timeout, sequence: expected, got: messageOffset, size: layout.messageSize,
                    call: "getsockopt(TCP_ZEROCOPY_RECEIVE)"))
            }
            if request.length > 0 {
                chunk = UnsafeRawPointer(window)
                chunkRemaining = Int(request.length)
                mappedChunk = Int(request.length)
                pendingCopy = Int(request.recv_skip_hint)
                zeroCopy.mappedBytes &+= UInt64(request.length)
                return .success(true)
            }
            if request.recv_skip_hint > 0 {
                pendingCopy = Int(request.recv_skip_hint)
                continue
            }
            // Nothing queued yet: wait for data, or the end of the stream, in a blocking recv(MSG_PEEK) of one byte,
            // which leaves it queued and honours SO_RCVTIMEO. Not poll(): on a socket that also sends with
            // MSG_ZEROCOPY (a ping-pong echoer) pending completions make poll report POLLERR at once, and the
            // receiver would spin until the sender reads them.
            let peeked = recv(fd, copyBuffer, 1, Int32(MSG_PEEK))
            if peeked == 0 { return .success(false) }
            if peeked < 0 {
                let code = errno
                if code == EINTR { continue }
                return .failure(FailurePath.receiveFailed(
                    code, timeout: timeout, sequence: expected, got: messageOffset, size: layout.messageSize,
                    call: "recv(MSG_PEEK)"))
            }
        }
    }

    /// Receives the rest of the stream as in the loop (every chunk must be read through anyway), verifying it as
    /// configured.
    mutating func drainToEnd() throws(TransportError) {
        measured = (expected, zeroCopy)
        let start = expected
        do { while try receive() {} } catch {
            // A reset after the measured loop ended costs nothing that was measured.
            if error.kind != .peerReset { throw error }
        }
        tally.drainedMessages = expected - start
    }
}
