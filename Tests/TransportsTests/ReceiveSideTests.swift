import CopyprofModel
import Glibc
import Synchronization
import SystemCalls
import Testing

@testable import Transports

/// The receivers beside `copy` (`discard`, `mmap`) and the senders beside the classic four (`io-uring-zc`,
/// `sendfile`), over real loopback sockets. Serialized for the same reason as ``TransportRunTests``.
@Suite(.serialized) struct ReceiveSideTests {
    /// Every path: each sender with each receiver, both workloads, small and large messages, 1 and 2 connections,
    /// full verification (which `discard` cannot do: its messages are counted, and say so).
    @Test(arguments: [ReceiverKind.discard, .mmap])
    func everySenderDeliversToEveryReceiver(receiver: ReceiverKind) throws {
        for transport in TransportKind.allCases {
            for workload in Workload.allCases {
                for size in [64, 65536] {
                    for connections in [1, 2] {
                        let configuration = RunConfiguration(
                            transport: transport, receiver: receiver, workload: workload, messageSize: size,
                            connections: connections, duration: 0.05, verification: .full)
                        let result = try runTransportInWindow(configuration) { _ in NoRegion() }
                        let cell = "\(transport.rawValue)+\(receiver.rawValue) \(workload.rawValue) \(size) B × \(connections)"
                        #expect(result.lateWorkers.isEmpty, "\(cell): \(result.lateWorkers) never ran within the window")
                        #expect(result.integrityErrors == 0, "\(cell): \(String(describing: result.firstMismatch))")
                        #expect(result.messagesVerified > 0, "\(cell)")
                        let sent = result.workers.reduce(0) { $0 + ($1.sent?.messages ?? 0) }
                        let drained = result.workers.reduce(0) { $0 + ($1.received?.drainedMessages ?? 0) }
                        #expect(sent == result.messagesVerified + drained, "\(cell): every message sent was received")
                        for worker in result.workers {
                            guard let received = worker.received else { continue }
                            #expect(received.verified == (receiver != .discard), "\(cell)")
                            #expect((received.zeroCopyReceive != nil) == (receiver == .mmap), "\(cell)")
                        }
                    }
                }
            }
        }
    }

    /// Loopback with a 64 KiB MTU (the host's default): the kernel copies a zero-copy sender's pages into fresh whole
    /// pages when it loops them (skb_copy_ubufs), and a `mmap` receiver can map most of them; full verification reads
    /// every mapped byte. Run in a private network namespace whose loopback has that MTU, whatever the host's.
    @Test(.privateNetworkNamespace, arguments: [TransportKind.zeroCopy, .ioUringZeroCopy])
    func zeroCopySenderToMmapReceiverMapsMostBytes(transport: TransportKind) throws {
        let result = try PrivateNetworkNamespace.run(loopbackMTU: 65536) {
            try runTransportInWindow(RunConfiguration(
                transport: transport, receiver: .mmap, messageSize: 65536, duration: 0.2, verification: .full)
            ) { _ in NoRegion() }
        }
        let mapping = try #require(result.workers.compactMap { $0.received?.zeroCopyReceive }.first as ZeroCopyReceiveStats?)
        let share = try #require(mapping.mappedShare)
        print("\(transport.rawValue) → mmap at 65536 B, lo MTU 65536: \(mapping.mappedBytes) B mapped, \(mapping.copiedBytes) "
              + "B copied (\(Int(share * 100))% mapped) in \(mapping.mapCalls) getsockopt and \(mapping.copyCalls) recv calls; "
              + "\(result.messagesVerified) messages verified")
        #expect(share > 0.5, "more than half of the bytes mapped")
        // The socket's path MTU: loopback's 65536, capped at IP_MAX_MTU (65535) as IPv4 caps every route's
        // (ipv4_mtu, net/ipv4/route.c).
        #expect(mapping.pathMTU == 65535, "the path's MTU, from the socket")
        #expect(result.integrityErrors == 0 && result.messagesVerified > 0)
    }

    /// A `mmap` receiver records the MTU of its own socket's path (`IP_MTU`), on which whether a segment can hold a
    /// whole page depends: in a namespace whose loopback has a 1500-byte MTU, 1500 — not the host's loopback (65536
    /// here), which is not the path. (Pages are mapped all the same on Linux 6.18: loopback passes the sender's GSO
    /// packets whole, unsegmented; printed, not asserted.)
    @Test(.privateNetworkNamespace)
    func mmapReceiverRecordsItsPathsMTU() throws {
        let mapping = try PrivateNetworkNamespace.run(loopbackMTU: 1500) {
            let result = try runTransportInWindow(RunConfiguration(
                transport: .zeroCopy, receiver: .mmap, messageSize: 65536, duration: 0.1, verification: .full)
            ) { _ in NoRegion() }
            return result.workers.compactMap { $0.received?.zeroCopyReceive }.first
        }
        let stats = try #require(mapping)
        print("zero-copy → mmap at 65536 B, lo MTU 1500: path MTU \(stats.pathMTU.map(String.init) ?? "?"), "
              + "\(stats.mappedBytes) B mapped, \(stats.copiedBytes) B copied")
        #expect(stats.pathMTU == 1500)
    }

    /// sendfile's fragments are the page cache's own pages, and with tcp_mmap.c's MTU — segments of 15 whole pages
    /// (61440 B plus 52 B of IPv4, TCP and timestamp headers) — a receiver could map them, and then read the very pages
    /// the sender writes its stamps in. Full verification shows no message rewritten under the receiver: the ring
    /// outlasts what is in flight. (On Linux 6.18 none of them is mapped, at any segment size tried — 1, 2 or 15 pages
    /// — from a memfd or an ext4 file; printed, not asserted: that is the kernel's choice to make.)
    @Test(.privateNetworkNamespace)
    func sendfileWithWholePageSegmentsPassesFullVerificationIntoMmap() throws {
        let outcome = try PrivateNetworkNamespace.run(loopbackMTU: 61440 + 52) {
            let result = try runTransportInWindow(RunConfiguration(
                transport: .sendfile, receiver: .mmap, messageSize: 65536, duration: 0.3, verification: .full)
            ) { _ in NoRegion() }
            let mapping = result.workers.compactMap { $0.received?.zeroCopyReceive }.first
            print("sendfile → mmap at 65536 B, lo MTU 61492: \(mapping?.mappedBytes ?? 0) B mapped, "
                  + "\(mapping?.copiedBytes ?? 0) B copied; \(result.messagesVerified) messages, \(result.integrityErrors) errors")
            return [Double(result.integrityErrors), Double(result.messagesVerified)]
        }
        #expect(outcome[0] == 0 && outcome[1] > 0)
    }

    /// What send() queues sits in the socket's page fragments at any offset (sk_page_frag), never in whole pages of
    /// their own, so a `mmap` receiver maps nothing of it and copies it all.
    @Test func twoCopySenderToMmapReceiverMapsNothing() throws {
        let result = try runTransportInWindow(RunConfiguration(
            transport: .twoCopy, receiver: .mmap, messageSize: 65536, duration: 0.1, verification: .full)
        ) { _ in NoRegion() }
        let mapping = try #require(result.workers.compactMap { $0.received?.zeroCopyReceive }.first as ZeroCopyReceiveStats?)
        print("two-copy → mmap at 65536 B: \(mapping.mappedBytes) B mapped, \(mapping.copiedBytes) B copied")
        #expect(mapping.mappedBytes == 0 && mapping.copiedBytes > 0)
        #expect(mapping.mappedShare == 0)
        #expect(result.integrityErrors == 0 && result.messagesVerified > 0)
    }

    /// A corrupted byte is found by the `mmap` receiver wherever it falls: in a mapped page or in copied bytes,
    /// within a message that spans both.
    @Test(arguments: [TransportKind.twoCopy, .zeroCopy])
    func mmapReceiverFindsACorruptedByte(transport: TransportKind) throws {
        for (size, offset) in [(512, 100), (65536, 65535), (65536, 8 * 1024 + 3)] {
            let result = try runTransportInWindow(RunConfiguration(
                transport: transport, receiver: .mmap, messageSize: size, duration: 0.1, verification: .full,
                faults: FaultInjection(corruption: Corruption(sequence: 5, offset: offset)))
            ) { _ in NoRegion() }
            #expect(result.integrityErrors == 1, "\(transport.rawValue) \(size) B at \(offset)")
            #expect(result.firstMismatch?.1 == IntegrityMismatch(sequence: 5, offset: offset), "\(transport.rawValue) \(size) B")
        }
    }

    /// A ping-pong echoer that sends with MSG_ZEROCOPY has completions waiting on its error queue, which make poll()
    /// report the socket ready at once: a `mmap` receiver that waited in poll() spun until the sender read them (8 ms
    /// per round trip). It waits in recv(MSG_PEEK): a few calls per message, whatever the machine's speed.
    @Test func mmapReceiverBesideAZeroCopySenderWaitsWithoutSpinning() throws {
        let result = try runTransportInWindow(RunConfiguration(
            transport: .zeroCopy, receiver: .mmap, workload: .pingpong, messageSize: 4096, duration: 0.2,
            verification: .full)
        ) { _ in NoRegion() }
        #expect(result.workers.count == 2, "one connection: a client and an echoer")
        for worker in result.workers {
            let received = try #require(worker.received)
            let mapping = try #require(received.zeroCopyReceive)
            let callsPerMessage = Double(mapping.mapCalls + mapping.copyCalls) / Double(max(1, received.messages))
            print("\(worker.identity): \(received.messages) messages, \(mapping.mapCalls) getsockopt and "
                  + "\(mapping.copyCalls) recv calls")
            #expect(received.messages > 0 && callsPerMessage < 5, "\(worker.identity): \(callsPerMessage) calls per message")
        }
        #expect(result.integrityErrors == 0)
    }

    /// On loopback every io_uring zero-copy notification says the kernel copied (IORING_NOTIF_USAGE_ZC_COPIED), as
    /// MSG_ZEROCOPY's completions do; every send gets exactly one notification.
    @Test func ioUringZeroCopyAccountsEveryNotification() throws {
        let result = try runTransportInWindow(RunConfiguration(
            transport: .ioUringZeroCopy, messageSize: 65536, duration: 0.2, verification: .full)
        ) { _ in NoRegion() }
        let zero = try #require(result.zeroCopy)
        print("loopback io-uring-zc: \(zero.sends) sends, \(zero.notifications) notifications, \(zero.completions) "
              + "completions, \(zero.copiedCompletions) copied, \(zero.reuseWaits) reuse waits")
        #expect(zero.sends > 0)
        #expect(zero.notifications == zero.sends && zero.completions == zero.sends, "one notification per send")
        #expect(zero.copiedShare == 1.0, "every loopback notification flagged copied")
        #expect(result.integrityErrors == 0 && result.messagesVerified > 0)
    }

    /// Back-pressure: a pool of 1 or 2 field sets and a 4 KiB send buffer. With one set every message must wait for
    /// the notification of the one before (with DEFER_TASKRUN a notification is posted only when the sender enters the
    /// ring again); with two, the notification of a set is reaped while the other is sent. Full verification finds no
    /// set rewritten before its notification.
    @Test(arguments: [1, 2])
    func ioUringZeroCopyNeverRewritesASetBeforeItsNotification(pool: Int) throws {
        for workload in Workload.allCases {
            let result = try runTransportInWindow(RunConfiguration(
                transport: .ioUringZeroCopy, workload: workload, messageSize: 65536, duration: 0.2, verification: .full,
                sendBufferSize: 4096, zeroCopyPoolSize: pool)
            ) { _ in NoRegion() }
            let zero = try #require(result.zeroCopy)
            print("io-uring-zc, pool \(pool), SO_SNDBUF 4096, \(workload.rawValue): \(zero.sends) sends for "
                  + "\(result.workers.reduce(0) { $0 + ($1.sent?.messages ?? 0) }) messages, \(zero.reuseWaits) reuse waits")
            if pool == 1 && workload == .stream { #expect(zero.reuseWaits > 0, "one set: every message waits") }
            #expect(zero.completions == zero.sends)
            #expect(result.integrityErrors == 0 && result.messagesVerified > 0, "\(workload): \(String(describing: result.firstMismatch))")
        }
    }

    /// sendfile from the page cache: full verification of every message, including with the ring's stamps written
    /// under a receiver that maps the page cache's pages.
    @Test(arguments: ReceiverKind.allCases)
    func sendfilePassesFullVerification(receiver: ReceiverKind) throws {
        for size in [64, 4096, 65536] {
            let result = try runTransportInWindow(RunConfiguration(
                transport: .sendfile, receiver: receiver, messageSize: size, connections: 2, duration: 0.2,
                verification: .full)
            ) { _ in NoRegion() }
            let mapping = result.workers.compactMap { $0.received?.zeroCopyReceive }.first
            print("sendfile → \(receiver.rawValue) at \(size) B: \(result.messagesVerified) messages"
                  + (mapping.map { ", \($0.mappedBytes) B mapped, \($0.copiedBytes) B copied" } ?? ""))
            #expect(result.integrityErrors == 0 && result.messagesVerified > 0, "\(size) B: \(String(describing: result.firstMismatch))")
        }
    }

    /// sendfile takes no MSG_NOSIGNAL: writing to a socket whose sending side is shut (or whose peer reset it) raises
    /// SIGPIPE, which would end the process — a test run, or a `copyprof serve` whose client vanished. The sender
    /// blocks SIGPIPE in its worker thread, so the write is an error, EPIPE, reported as the peer's reset.
    @Test func sendfileToAShutSocketIsAnErrorNotASignal() throws {
        let listener = try TCPSocket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
        defer { listener.close() }
        let sending = try TCPSocket.connect(to: try listener.localAddress())
        let receiving = try listener.accept()
        defer { sending.close(); receiving.close() }
        sending.shutdown(Int32(SHUT_WR))  // every further write: EPIPE, and SIGPIPE without MSG_NOSIGNAL
        let outcome = Mutex<TransportError.Kind?>(nil)
        let thread = try JoinableThread(name: "test-sendfile") {
            do throws(TransportError) {
                var sender = try SendfileSender(
                    io: SocketIO(fd: sending.fd, wait: .blocking, timeout: 1), layout: try MessageLayout(messageSize: 4096),
                    ringBytes: 4 * 4096, corruption: nil, nonblocking: false)
                if case .failure(let error) = sender.sendMessage(sequence: 0) { outcome.withLock { $0 = error.kind } }
            } catch {
                outcome.withLock { $0 = error.kind }
            }
        }
        thread.join()
        #expect(outcome.withLock { $0 } == .peerReset, "the process is alive, and the write failed as a reset")
    }

    @Test func discardCountsWholeMessagesWithoutReadingThem() throws {
        let result = try runTransportInWindow(RunConfiguration(
            transport: .twoCopy, receiver: .discard, messageSize: 4096, duration: 0.1,
            faults: FaultInjection(corruption: Corruption(sequence: 3, offset: 0)))
        ) { _ in NoRegion() }
        // The corrupted sequence number is never seen: nothing is read.
        #expect(result.integrityErrors == 0)
        #expect(result.messagesVerified > 3)
        let received = try #require(result.workers.compactMap(\.received).first)
        #expect(!received.verified)
    }

    /// Hosts without io_uring or zero-copy receive, simulated at the probe (a test may not switch
    /// `kernel.io_uring_disabled` for the whole host): the run fails at once with "not supported" and why.
    @Test func absentKernelFeaturesAreReportedAsNotSupported() throws {
        let cases: [(SimulatedAbsence, TransportKind, ReceiverKind, String)] = [
            (.ioUring(errno: EPERM), .ioUringZeroCopy, .copy, "io_uring is not allowed"),
            (.ioUring(errno: ENOSYS), .ioUringZeroCopy, .copy, "has no io_uring"),
            (.zeroCopyReceive(errno: ENOPROTOOPT), .twoCopy, .mmap, "no zero-copy TCP receive"),
        ]
        for (absence, transport, receiver, words) in cases {
            let start = monotonicNanoseconds()
            #expect {
                _ = try runTransport(RunConfiguration(
                    transport: transport, receiver: receiver, messageSize: 4096, duration: 0.1,
                    faults: FaultInjection(absence: absence))) { _ in NoRegion() }
            } throws: { error in
                let text = String(describing: error)
                print("\(absence): \(text)")
                return (error as? TransportError)?.notSupportedReason != nil && text.hasPrefix("not supported: ")
                    && text.contains(words)
            }
            #expect(Double(monotonicNanoseconds() - start) / 1e9 < 1, "said at once, before any connection")
        }
    }
}

