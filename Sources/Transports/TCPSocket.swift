#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// An IPv4 or IPv6 socket address.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    var storage: sockaddr_storage
    var length: socklen_t

    /// Parses a numeric IPv4 or IPv6 address (no name lookup) and a port.
    public init(host: String, port: UInt16) throws(TransportError) {
        var storage = sockaddr_storage()
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr = v4
            withUnsafeBytes(of: address) { raw in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) }
            }
            self.storage = storage
            self.length = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = v6
            withUnsafeBytes(of: address) { raw in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) }
            }
            self.storage = storage
            self.length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            throw TransportError(.invalidConfiguration("'\(host)' is not a numeric IPv4 or IPv6 address"))
        }
    }

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// A numeric IPv4 or IPv6 address, or else a host name looked up with `getaddrinfo` (its first TCP address, in
    /// the resolver's order: RFC 6724 as /etc/gai.conf adjusts it; `localhost` is usually `::1`, then `127.0.0.1`).
    /// The corresponding C function is `getaddrinfo`.
    public static func resolving(host: String, port: UInt16) throws(TransportError) -> SocketAddress {
        if let numeric = try? SocketAddress(host: host, port: port) { return numeric }
        guard !host.isEmpty else { throw TransportError(.invalidConfiguration("the host is empty")) }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let list else {
            let reason = status == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(status))
            throw TransportError(.invalidConfiguration("'\(host)' is not a numeric address and does not resolve (\(reason))"))
        }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let e = entry?.pointee {
            entry = e.ai_next
            guard let found = e.ai_addr, e.ai_family == AF_INET || e.ai_family == AF_INET6,
                Int(e.ai_addrlen) <= MemoryLayout<sockaddr_storage>.size
            else { continue }
            var storage = sockaddr_storage()
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: found, count: Int(e.ai_addrlen))) }
            withUnsafeMutableBytes(of: &storage) { raw in
                if e.ai_family == AF_INET {
                    raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port = port.bigEndian
                } else {
                    raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_port = port.bigEndian
                }
            }
            return SocketAddress(storage: storage, length: e.ai_addrlen)
        }
        throw TransportError(.invalidConfiguration("'\(host)' resolves to no IPv4 or IPv6 address"))
    }

    /// AF_INET or AF_INET6.
    public var family: Int32 { Int32(storage.ss_family) }

    /// The port, host byte order.
    public var port: UInt16 {
        withUnsafeBytes(of: storage) { raw in
            family == AF_INET
                ? UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
                : UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
        }
    }

    /// The numeric host.
    public var host: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        withUnsafeBytes(of: storage) { raw in
            if family == AF_INET {
                var a = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
            } else {
                var a = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
            }
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}

/// A TCP socket that owns its file descriptor and closes it once.
///
/// `@unchecked Sendable`: a socket is handed from the thread that connects it to exactly one worker thread,
/// which is joined before the socket is closed (or closes it itself, with `closeWithReset`, and stops using it);
/// `shutdown` from another thread is safe on a live descriptor.
public final class TCPSocket: @unchecked Sendable {
    /// The file descriptor, -1 once closed.
    private(set) var fd: Int32

    init(fd: Int32) { self.fd = fd }

    deinit { close() }

    /// A new TCP socket of the address's family.
    public static func make(family: Int32) throws(TransportError) -> TCPSocket {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .system("socket", errno) }
        return TCPSocket(fd: fd)
    }

    /// A listening socket bound to `address` (port 0: the kernel chooses).
    public static func listen(on address: SocketAddress, backlog: Int32 = 128) throws(TransportError) -> TCPSocket {
        let socket = try make(family: address.family)
        try socket.setOption(SOL_SOCKET, SO_REUSEADDR, 1, name: "SO_REUSEADDR")
        if address.withSockaddr({ bind(socket.fd, $0, $1) }) != 0 {
            throw .system("bind \(address)", errno)
        }
        if Glibc.listen(socket.fd, backlog) != 0 { throw .system("listen", errno) }
        return socket
    }

    /// A socket connected to `address`.
    public static func connect(to address: SocketAddress) throws(TransportError) -> TCPSocket {
        let socket = try make(family: address.family)
        if address.withSockaddr({ Glibc.connect(socket.fd, $0, $1) }) != 0 {
            var code = errno
            if code == EINTR { code = socket.finishInterruptedConnect() }
            if code != 0 { throw .system("connect to \(address)", code) }
        }
        return socket
    }

    /// A connect that a signal interrupted goes on in the background (connect(2), EINTR; a second connect would only
    /// say EALREADY): waits until the socket is writable, as after a non-blocking connect, and returns the outcome,
    /// 0 or the connection's error (SO_ERROR).
    private func finishInterruptedConnect() -> Int32 {
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        if retryingOnInterrupt({ poll(&pfd, 1, -1) }) < 0 { return errno }
        return option(SOL_SOCKET, SO_ERROR) ?? errno
    }

    /// Accepts one connection, whose descriptor is close-on-exec from the start (``acceptCloseOnExec(_:)``); a
    /// connection the client reset before it was accepted (ECONNABORTED) is passed over.
    public func accept() throws(TransportError) -> TCPSocket {
        while true {
            let fd = acceptCloseOnExec(self.fd)
            if fd >= 0 { return TCPSocket(fd: fd) }
            let code = errno
            if code == ECONNABORTED { continue }
            if code == EAGAIN { throw TransportError(.timedOut(seconds: 0), activity: "accepting a connection") }
            throw .system("accept4", code)
        }
    }

    /// The address the socket is bound to (`getsockname`).
    public func localAddress() throws(TransportError) -> SocketAddress {
        try address("getsockname") { getsockname($0, $1, $2) }
    }

    /// The address of the connected peer (`getpeername`).
    public func peerAddress() throws(TransportError) -> SocketAddress {
        try address("getpeername") { getpeername($0, $1, $2) }
    }

    private func address(
        _ call: String, _ get: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) throws(TransportError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { get(fd, $0, &length) }
        }
        if rc != 0 { throw .system(call, errno) }
        return SocketAddress(storage: storage, length: length)
    }

    /// setsockopt with an int value.
    public func setOption(_ level: Int32, _ option: Int32, _ value: Int32, name: String) throws(TransportError) {
        var value = value
        if setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            throw .system("setsockopt(\(name))", errno)
        }
    }

    /// getsockopt of an int value.
    public func option(_ level: Int32, _ option: Int32) -> Int32? { Self.option(of: fd, level, option) }

    /// An integer socket option of a descriptor; nil when the kernel will not say.
    static func option(of fd: Int32, _ level: Int32, _ option: Int32) -> Int32? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, level, option, &value, &length) == 0 ? value : nil
    }

    /// SO_RCVTIMEO and SO_SNDTIMEO: a blocked recv or send fails with EAGAIN after `seconds`.
    public func setIOTimeout(_ seconds: Double) throws(TransportError) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        for (option, name) in [(SO_RCVTIMEO, "SO_RCVTIMEO"), (SO_SNDTIMEO, "SO_SNDTIMEO")] {
            if setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size)) != 0 {
                throw .system("setsockopt(\(name))", errno)
            }
        }
    }

    /// TCP_NODELAY: send small segments at once (ping-pong).
    public func setNoDelay() throws(TransportError) {
        try setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1, name: "TCP_NODELAY")
    }

    /// SO_ZEROCOPY: without it, MSG_ZEROCOPY is silently ignored.
    public func enableZeroCopy() throws(TransportError) {
        try setOption(SOL_SOCKET, SO_ZEROCOPY, 1, name: "SO_ZEROCOPY")
    }

    /// shutdown(2); errors are ignored (the peer may be gone already).
    public func shutdown(_ how: Int32) {
        if fd >= 0 { _ = Glibc.shutdown(fd, how) }
    }

    /// Closes the descriptor so that the kernel resets the connection: SO_LINGER {on, 0 s}, then close(2). The
    /// kernel sends an RST whatever the state of the connection (`tcp_close` → `tcp_disconnect`), so the peer's
    /// next or pending send or recv fails with ECONNRESET or EPIPE at once — even when its window is closed and it
    /// is only probing, where a FIN from `shutdown` would leave it waiting for its I/O timeout.
    ///
    /// Only the thread that owns the socket may call this, and it must use neither the socket nor any copy of the
    /// descriptor afterwards: the number is free for the next socket or file the process opens.
    func closeWithReset() {
        guard fd >= 0 else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    /// Closes the descriptor once. close is never retried on EINTR: Linux has released the descriptor by then.
    public func close() {
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
    }
}

// MARK: - Operations for control connections and servers

extension TCPSocket {
    /// What ``wait(for:timeout:)`` waits for.
    public enum Readiness: Sendable {
        case readable
        case writable
    }

    /// Waits until the socket is readable or writable, at most `timeout` seconds (poll(2), EINTR retried within the
    /// same deadline). True when ready — an error or a hang-up counts as ready: the next operation reports it.
    public func wait(for readiness: Readiness, timeout: Double) -> Bool {
        !Self.ready([self], readiness, timeout: timeout).isEmpty
    }

    /// The indices of the sockets that are ready (readable: data, a connection to accept, an end or an error)
    /// within `timeout` seconds; empty when none is. The corresponding C function is `poll`.
    public static func ready(_ sockets: [TCPSocket], _ readiness: Readiness = .readable, timeout: Double) -> [Int] {
        let events = Int16(readiness == .readable ? POLLIN : POLLOUT)
        var fds = sockets.map { pollfd(fd: $0.fd, events: events, revents: 0) }
        let deadline = monotonicNanoseconds() &+ UInt64(max(0, min(timeout, 1e6)) * 1e9)
        // A signal restarts the wait with what is left of the timeout.
        let n = retryingOnInterrupt { () -> Int32 in
            let now = monotonicNanoseconds()
            let remainingMs = now >= deadline ? 0 : Int32(min(Double(deadline - now) / 1e6, 1e9).rounded(.up))
            return poll(&fds, nfds_t(fds.count), remainingMs)
        }
        return n > 0 ? fds.indices.filter { fds[$0].revents != 0 } : []
    }

    /// One send that does not wait (MSG_DONTWAIT | MSG_NOSIGNAL): the number of bytes queued, 0 when the socket's
    /// buffer is full. The corresponding C function is `send`.
    public func sendAvailable(_ bytes: UnsafeRawBufferPointer) throws(TransportError) -> Int {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        let n = retryingOnInterrupt { Glibc.send(fd, base, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        if n >= 0 { return n }
        if errno == EAGAIN { return 0 }
        throw .system("send", errno)
    }

    /// One receive that does not wait (MSG_DONTWAIT): the number of bytes read, 0 at the end of the stream, nil when
    /// nothing has arrived yet. The corresponding C function is `recv`.
    public func receiveAvailable(into buffer: UnsafeMutableRawBufferPointer) throws(TransportError) -> Int? {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return nil }
        let n = retryingOnInterrupt { recv(fd, base, buffer.count, Int32(MSG_DONTWAIT)) }
        if n >= 0 { return n }
        if errno == EAGAIN { return nil }
        throw .system("recv", errno)
    }

    /// Receives up to `count` bytes that have arrived, without waiting: nil when none has; an empty array at the end
    /// of the stream.
    public func receiveAvailable(upTo count: Int) throws(TransportError) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let result = bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(TransportError) -> Int? in try receiveAvailable(into: buffer) }
        }
        guard let n = try result.get() else { return nil }
        return Array(bytes[0..<n])
    }

    /// Makes accept, send and recv on this socket return at once instead of waiting (O_NONBLOCK).
    public func setNonBlocking() throws(TransportError) {
        let flags = fcntl(fd, F_GETFL)
        if flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 { throw .system("fcntl(O_NONBLOCK)", errno) }
    }
}
