import CopyprofModel
import CopyprofProfile
import Foundation
import PerfCounters
import TestSupport
import Testing
@testable import Transports

@testable import CopyprofRemote
import CopyprofSweep

/// `copyprof serve` facing clients that lie, stall, flood, intrude or go away: it refuses, drops them within its
/// own deadlines, keeps serving, and holds nothing after they are gone.
@Suite(.serialized) struct ServerHardeningTests {
    @Test func hostileCellsAreRefusedAndTheServerGoesOn() throws {
        // --max-threads: the old name of --max-connections, still accepted.
        let server = try ServeProcess(arguments: ["--max-threads", "4", "--max-memory", "64M"])
        let client = try controlConnection(server.port)
        let (_, limits) = try greet(client)
        #expect(limits.maxConnections == 4 && limits.maxMemoryBytes == 64 << 20)
        let cases: [(RemoteCellSetup, String)] = [
            (cellSetup(size: 1 << 40), "not a multiple of 64 from 64 B to 16 MiB"),
            (cellSetup(size: 100), "not a multiple of 64"),
            (cellSetup(size: -64), "not a multiple of 64"),
            (cellSetup(connections: 0), "0 connections is not from 1 to 256"),
            (cellSetup(connections: 1 << 40), "is not from 1 to 256"),
            (cellSetup(connections: 8), "8 connections is over this server's --max-connections 4"),
            (cellSetup(.zeroCopy, .pingpong, pool: 1 << 62), "a zero-copy pool of 4611686018427387904 is not from 1 to 4096"),
            (cellSetup(.zeroCopy, .pingpong, size: 1 << 20, connections: 2, pool: 4096), "--max-memory is 64 MiB"),
            (cellSetup(size: 16 << 20, connections: 4), "needs 128 MiB of message buffers on the server"),
            (cellSetup(duration: -1), "a duration of -1.0 s is not from"),
            (cellSetup(duration: 1e300), "a duration of"),
            (cellSetup(ioTimeout: 1e9), "an I/O timeout of"),
            (cellSetup(trial: -5), "trial -5 is not from 0"),
            (cellSetup(events: (0..<1000).map { "e\($0)" }), "too many or too long event names"),
        ]
        for (setup, words) in cases {
            try client.send(.setup(setup))
            let reply = try client.receive(timeout: 5)
            guard case .refused(let text) = reply else {
                Issue.record("\(words): expected refused, got \(reply.name)")
                continue
            }
            #expect(text.contains(words), "\(text)")
        }
        // A number no field can hold is a malformed message: an error, and this session ends.
        let payload = Array(#"{"setup":{"_0":{"cell":{"transport":"two-copy","mode":"stream","messageSize":1e30,"threads":1}}}}"#.utf8)
        try client.write(ControlProtocol.header(length: payload.count) + payload)
        guard case .error(let text) = try client.receive(timeout: 5) else {
            Issue.record("no error for a malformed set-up")
            return
        }
        #expect(text.contains("not a control message"))
        #expect(secondsUntilClosed(client) < 5)
        // Still serving: a whole run.
        let dir = try temporaryDirectory()
        let run = try runProcess(copyprofBinary, [
            "run", "--connect", "127.0.0.1:\(server.port)", "--transports", "two-copy", "--sizes", "4096", "--connections", "1,2",
            "--workloads", "stream", "--trials", "2", "--warmup", "0", "--duration", "0.05", "--verify", "full",
            "--output", "\(dir)/after.json", "--no-report",
        ], timeout: 60)
        #expect(run.status == 0, "\(run.stderr)")
        // A plan the server would refuse fails before measuring, naming the cell.
        let refused = try runProcess(copyprofBinary, [
            "run", "--connect", "127.0.0.1:\(server.port)", "--transports", "two-copy", "--sizes", "4096", "--connections", "8",
            "--workloads", "stream", "--output", "\(dir)/refused.json", "--no-report",
        ], timeout: 60)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("would refuse stream two-copy 4096 B × 8 connections: 8 connections is over this server's --max-connections 4"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("runs, about"))
        #expect(server.stop().status == 0)
    }

    @Test func aThousandSessionsLeaveThreadsDescriptorsAndMemoryFlat() throws {
        let server = try ServeProcess()
        func session() throws {
            let channel = try controlConnection(server.port)
            defer { channel.socket.close() }
            try greet(channel)
            try channel.send(.bye)
            // The server closes after bye; waiting for that keeps the next client from finding it busy.
            _ = secondsUntilClosed(channel, limit: 5)
        }
        func trials(_ count: Int) throws {
            let client = try RemoteClient(server: SocketAddress(host: "127.0.0.1", port: server.port))
            defer { client.close() }
            let plan = SweepPlan(transports: [.twoCopy], sizes: [4096], connections: [2], workloads: [.stream], trials: count, duration: 0.02)
            for trial in 1...count {
                _ = try client.runTrial(
                    plan.cells[0], trial: trial, plan: plan, events: [try PerfEvent.named("task-clock")], ioTimeout: 5)
            }
        }
        // Warm up: allocator arenas, the route cache, the first trial's threads.
        for _ in 0..<50 { try session() }
        try trials(3)
        Thread.sleep(forTimeInterval: 0.5)
        let before = try server.footprint()
        let started = Date()
        for _ in 0..<1000 { try session() }
        try trials(10)
        Thread.sleep(forTimeInterval: 0.5)
        let after = try server.footprint()
        print("1000 sessions in \(String(format: "%.1f", Date().timeIntervalSince(started))) s: threads \(before.threads) → \(after.threads), "
              + "fds \(before.fds) → \(after.fds), VmRSS \(before.rssKB) → \(after.rssKB) kB")
        // Not one thread more (fewer may happen: a worker the runtime started during the first sessions can exit on
        // its own).
        #expect(after.threads <= before.threads)
        #expect(after.fds == before.fds)
        // Flat within the allocator's slack: 8 MiB (the old server grew by a thread stack, 8 MiB virtual, per session).
        #expect(after.rssKB - before.rssKB < 8 * 1024, "VmRSS \(before.rssKB) → \(after.rssKB) kB")
        #expect(server.stop().status == 0)
    }

    @Test func silentIdleAndDrippingClientsAreDroppedWithinTheDeadlines() throws {
        // Deadlines of this server: 1 s for a message (and a hello from connecting), 2 s of silence.
        let server = try ServeProcess(arguments: ["--message-timeout", "1", "--idle-timeout", "2"])
        // Each drop is checked against its deadline with 1.5 s of margin for a loaded machine, and not before it.
        func expectDropped(_ channel: ControlChannel, after deadline: Double, _ what: String) {
            let seconds = secondsUntilClosed(channel)
            #expect(seconds > deadline - 0.3 && seconds < deadline + 1.5, "\(what): dropped after \(seconds) s, deadline \(deadline) s")
        }
        func secondClientRuns(_ what: String) throws {
            let channel = try controlConnection(server.port)
            defer { channel.socket.close() }
            do { try greet(channel) } catch { Issue.record("\(what): the next client was not served: \(error)") }
            try? channel.send(.bye)
            _ = secondsUntilClosed(channel, limit: 5)
        }

        // Silent: never sends its hello. It holds nothing: another client is served meanwhile.
        let silent = try controlConnection(server.port)
        let other = try controlConnection(server.port)
        try greet(other)
        try other.send(.bye)
        _ = secondsUntilClosed(other, limit: 5)
        expectDropped(silent, after: 1, "silent")
        try secondClientRuns("after the silent client")

        // Idle after hello: holds the session, so others are told it is busy, until the idle deadline.
        let idle = try controlConnection(server.port)
        try greet(idle)
        let greeted = Date()
        let busy = try controlConnection(server.port)
        let answer = try busy.receive(timeout: 5)
        // Unless this thread was held off the CPU past the idle deadline (then the session is rightly gone).
        if case .busy = answer {} else if Date().timeIntervalSince(greeted) < 1.5 {
            Issue.record("a second client was not told busy: \(answer)\n\(server.log)")
        }
        expectDropped(idle, after: 2, "idle after hello")
        try secondClientRuns("after the idle client")

        // Dripping a set-up one byte every 0.25 s: dropped 1 s after its first byte.
        let dripping = try controlConnection(server.port)
        try greet(dripping)
        let frame = try { () throws -> [UInt8] in
            let payload = try JSONEncoder().encode(ControlMessage.setup(cellSetup()))
            return ControlProtocol.header(length: payload.count) + [UInt8](payload)
        }()
        let seconds = dripUntilDropped(dripping, frame)
        #expect(seconds > 0.7 && seconds < 2.5, "dripping set-up dropped after \(seconds) s, deadline 1 s")
        #expect(server.waitForLog("did not arrive whole within 1.0 s"))
        // The drip stops at the server's error frame; its session ends (and frees the server) just before the close.
        _ = secondsUntilClosed(dripping, limit: 5)
        try secondClientRuns("after the dripping client")

        // Dripping its hello: dropped 1 s after connecting, without ever holding the session.
        let slowHello = try controlConnection(server.port)
        let connected = Date()
        let hello = try JSONEncoder().encode(ControlMessage.hello(copyprofVersion: "test"))
        _ = dripUntilDropped(slowHello, ControlProtocol.header(length: hello.count) + [UInt8](hello))
        // The deadline runs from the connection (accepted after it), not from the first byte this thread got to send.
        let helloSeconds = Date().timeIntervalSince(connected)
        #expect(helloSeconds > 0.7 && helloSeconds < 2.5, "dripping hello dropped after \(helloSeconds) s, deadline 1 s")
        try secondClientRuns("after the dripping hello")
        #expect(server.stop().status == 0)
    }

    @Test func aStrangersDataConnectionIsClosedAndNeverCounted() throws {
        let server = try ServeProcess()
        let client = try RemoteClient(server: SocketAddress(host: "127.0.0.1", port: server.port))
        defer { client.close() }
        let strangers = StrangerLog()
        client.beforeDataConnections = { port in
            // From another address (whatever it sends), and from the client's own address without the token.
            if let other = try? connect(to: "127.0.0.1", port: port, from: "127.0.0.2") {
                _ = try? ControlChannel(socket: other).write([UInt8](repeating: 0xAB, count: 4096))
                strangers.keep(other)
            }
            if let same = try? connect(to: "127.0.0.1", port: port) {
                _ = try? ControlChannel(socket: same).write([UInt8](repeating: 0, count: ControlProtocol.tokenSize))
                strangers.keep(same)
            }
            Thread.sleep(forTimeInterval: 0.1)  // the server sees them before the client's own connections
        }
        var plan = SweepPlan(transports: [.twoCopy], sizes: [4096], connections: [2], workloads: [.stream], trials: 1, duration: 0.1)
        plan.verification = .full
        let record = try client.runTrial(
            plan.cells[0], trial: 1, plan: plan, events: [try PerfEvent.named("task-clock")], ioTimeout: 5)
        #expect(record.integrityErrors == 0)
        #expect(record.messages > 0)
        #expect(record.workers.filter { $0.role == .receiver }.count == 2, "only the client's two connections are workers")
        #expect(server.waitForLog("data connection from 127.0.0.2 closed: not the client's address (127.0.0.1); not counted"), "\(server.log)")
        #expect(server.waitForLog("data connection from 127.0.0.1 closed: wrong token"), "\(server.log)")
        strangers.closeAll()
    }

    /// Silent connections from the client's own address, opened before the client's, hold none of the cell's
    /// places: the trial runs. (With places held by any connection, the 17th silent one filled the data port and
    /// the trial failed: "0 of 1 data connections with the session's token arrived within 5.0 s".)
    @Test func twentyTokenlessConnectionsBeforeTheClientsDoNotFailItsTrial() throws {
        let server = try ServeProcess()
        let client = try RemoteClient(server: SocketAddress(host: "127.0.0.1", port: server.port))
        defer { client.close() }
        let silent = StrangerLog()
        client.beforeDataConnections = { port in
            for _ in 0..<20 {
                if let connection = try? connect(to: "127.0.0.1", port: port) { silent.keep(connection) }
            }
            Thread.sleep(forTimeInterval: 0.1)  // in the server's backlog before the client's own connection
        }
        let plan = SweepPlan(transports: [.twoCopy], sizes: [4096], connections: [1], workloads: [.stream], trials: 1, duration: 0.1)
        let record = try client.runTrial(plan.cells[0], trial: 1, plan: plan, events: [], ioTimeout: 5)
        #expect(record.messages > 0 && record.integrityErrors == 0)
        #expect(silent.count == 20, "the test's 20 connections were made")
        // The trial's line counts them: closed once the cell's one connection was in.
        #expect(server.waitForLog("trial 1: "), "\(server.log)")
        #expect(server.log.contains("20 data connections closed without a place: 20 still without a token when accepting ended"), "\(server.log)")
        silent.closeAll()
        #expect(server.stop().status == 0)
    }

    /// Connections with a wrong token, without one, or from another address are closed (the peer sees the end of
    /// the stream) and counted in the trial's line; the client's own connections run.
    @Test func wrongTokenConnectionsAreClosedAndCounted() throws {
        let server = try ServeProcess()
        let client = try RemoteClient(server: SocketAddress(host: "127.0.0.1", port: server.port))
        defer { client.close() }
        let strangers = StrangerLog()
        let wrongTokens = StrangerLog()
        client.beforeDataConnections = { port in
            for byte: UInt8 in [0x00, 0x5A, 0xFF] {
                guard let connection = try? connect(to: "127.0.0.1", port: port) else { continue }
                _ = try? ControlChannel(socket: connection).write([UInt8](repeating: byte, count: ControlProtocol.tokenSize))
                wrongTokens.keep(connection)
            }
            // Half a token, then the end of the stream.
            if let connection = try? connect(to: "127.0.0.1", port: port) {
                _ = try? ControlChannel(socket: connection).write([UInt8](repeating: 1, count: ControlProtocol.tokenSize / 2))
                connection.shutdown(Int32(SHUT_WR))
                strangers.keep(connection)
            }
            if let other = try? connect(to: "127.0.0.1", port: port, from: "127.0.0.2") { strangers.keep(other) }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let plan = SweepPlan(transports: [.twoCopy], sizes: [4096], connections: [2], workloads: [.stream], trials: 1, duration: 0.1)
        let record = try client.runTrial(plan.cells[0], trial: 1, plan: plan, events: [], ioTimeout: 5)
        #expect(record.messages > 0 && record.integrityErrors == 0)
        #expect(record.workers.filter { $0.role == .receiver }.count == 2)
        #expect(wrongTokens.count == 3 && strangers.count == 2, "the test's connections were made")
        // Each wrong-token connection was closed by the server: its read ends.
        for connection in wrongTokens.sockets {
            #expect(secondsUntilClosed(ControlChannel(socket: connection), limit: 5) < 5, "a wrong-token connection left open")
        }
        #expect(server.waitForLog("trial 1: "), "\(server.log)")
        #expect(server.log.contains(
            "5 data connections closed without a place: 1 from another address, 1 closed before their token, 3 with a wrong token"),
            "\(server.log)")
        #expect(server.log.components(separatedBy: "closed: wrong token").count - 1 == 3, "\(server.log)")
        strangers.closeAll()
        wrongTokens.closeAll()
        #expect(server.stop().status == 0)
    }

    /// A churn of 10,000 connections writes a few lines and the count of the others, not a line each (a
    /// 460,000-connection churn wrote 39 MB of log); every connection is accounted for, written or counted.
    @Test func theLogOfAConnectionChurnStaysSmallAndCountsWhatItDropped() throws {
        let server = try ServeProcess()
        let churn = 10_000
        let started = Date()
        for _ in 0..<churn {
            let connection = try connect(to: "127.0.0.1", port: server.port)
            connection.close()
        }
        let churnSeconds = Date().timeIntervalSince(started)
        // A session after them: the server accepts in order, so it has seen every one of them once it greets.
        let last = try controlConnection(server.port)
        try greet(last)
        try last.send(.bye)
        _ = secondsUntilClosed(last, limit: 5)
        Thread.sleep(forTimeInterval: 0.3)
        #expect(server.stop().status == 0)
        let log = server.log
        let lines = log.split(separator: "\n")
        let written = lines.filter { $0.contains("before its hello") || $0.contains("no whole hello") }.count
        let sessionLines = lines.filter { $0.contains("starts a session") || $0.contains("said bye") }.count
        // "N more lines about connections not written in S s (at most 10 per 5 s are)[; T in all]"
        let dropped = lines.compactMap { line -> Int? in
            guard let range = line.range(of: " more lines about connections not written") else { return nil }
            return Int(line[..<range.lowerBound].split(separator: " ").last ?? "")
        }.reduce(0, +)
        print("\(churn) connections in \(String(format: "%.1f", churnSeconds)) s: \(log.utf8.count) bytes of log, \(lines.count) lines, \(written) written, \(dropped) dropped")
        #expect(written + sessionLines + dropped == churn + 2, "\(written) + \(sessionLines) + \(dropped) lines\n\(log)")
        #expect(dropped > 0)
        #expect(log.utf8.count < 16 << 10, "\(log.utf8.count) bytes of log")
    }

    /// A frame whose reserved header bytes are not zero is refused, with one error line to the peer and one log line.
    @Test func nonZeroReservedHeaderBytesAreRefused() throws {
        let server = try ServeProcess()
        let hello = Array(#"{"hello":{"copyprofVersion":"test"}}"#.utf8)
        var header = ControlProtocol.header(length: hello.count)
        header[7] = 1
        let first = try controlConnection(server.port)
        try first.write(header + hello)
        guard case .error(let text) = try first.receive(timeout: 5) else {
            Issue.record("no error for reserved bytes 0 and 1")
            return
        }
        #expect(text == "malformed control message: reserved header bytes 6 and 7 are 0 and 1, not 0 (not a copyprof 4 frame)")
        #expect(secondsUntilClosed(first, limit: 5) < 5)
        // In a session too: its set-up is refused and the session ends.
        let client = try controlConnection(server.port)
        try greet(client)
        let setup = try JSONEncoder().encode(ControlMessage.setup(cellSetup()))
        var setupHeader = ControlProtocol.header(length: setup.count)
        setupHeader[6] = 0x80
        try client.write(setupHeader + [UInt8](setup))
        guard case .error(let sessionText) = try client.receive(timeout: 5) else {
            Issue.record("no error for a set-up with reserved bytes 128 and 0")
            return
        }
        #expect(sessionText.contains("reserved header bytes 6 and 7 are 128 and 0"), "\(sessionText)")
        #expect(secondsUntilClosed(client, limit: 5) < 5)
        #expect(server.stop().status == 0)
        #expect(server.log.components(separatedBy: "reserved header bytes").count - 1 == 2, "one line each\n\(server.log)")
    }

    /// A message that names a key twice is refused: the decoder would keep one value, a check before it might see
    /// the other. Escaped spellings of the same key are the same key.
    @Test func aControlMessageWithADuplicateKeyIsRefused() throws {
        let server = try ServeProcess()
        for (payload, key) in [
            (#"{"hello":{"copyprofVersion":"a","copyprofVersion":"b"}}"#, "copyprofVersion"),
            (#"{"hello":{"copyprofVersion":"a","copyprof\u0056ersion":"b"}}"#, "copyprofVersion"),
            (#"{"hello":{"copyprofVersion":"a"},"hello":{"copyprofVersion":"b"}}"#, "hello"),
        ] {
            let channel = try controlConnection(server.port)
            try channel.write(ControlProtocol.header(length: payload.utf8.count) + Array(payload.utf8))
            guard case .error(let text) = try channel.receive(timeout: 5) else {
                Issue.record("no error for \(payload)")
                continue
            }
            #expect(text == "malformed control message: the key \"\(key)\" appears twice in one object", "\(payload)")
            #expect(secondsUntilClosed(channel, limit: 5) < 5)
        }
        // Deep in a set-up: the cell key's transport twice.
        let client = try controlConnection(server.port)
        try greet(client)
        let setup = String(decoding: try JSONEncoder().encode(ControlMessage.setup(cellSetup())), as: UTF8.self)
        let twice = setup.replacingOccurrences(of: #""transport":"two-copy""#, with: #""transport":"two-copy","transport":"zero-copy""#)
        #expect(twice != setup)
        try client.write(ControlProtocol.header(length: twice.utf8.count) + Array(twice.utf8))
        guard case .error(let text) = try client.receive(timeout: 5) else {
            Issue.record("no error for a set-up with a duplicate key")
            return
        }
        #expect(text == "malformed control message: the key \"transport\" appears twice in one object")
        #expect(server.stop().status == 0)
    }

    @Test func ctrlCStopsTheServerWithinASecondInEveryState() throws {
        // Each state is set up, then SIGINT; the server must be gone within 1 s (its accepting thread checks every
        // 200 ms and ends the session by shutting down every socket it holds).
        func expectQuickStop(_ server: ServeProcess, _ state: String) {
            let (status, seconds) = server.stop()
            print("Ctrl-C \(state): exit \(status) after \(String(format: "%.3f", seconds)) s")
            #expect(status == 0, "\(state)")
            #expect(seconds < 1.0, "\(state): \(seconds) s")
        }
        do {
            let server = try ServeProcess()
            Thread.sleep(forTimeInterval: 0.3)
            expectQuickStop(server, "idle")
        }
        do {
            let server = try ServeProcess()
            let silent = try controlConnection(server.port)
            Thread.sleep(forTimeInterval: 0.3)
            expectQuickStop(server, "a connection without hello")
            silent.socket.close()
        }
        do {
            let server = try ServeProcess()
            let idle = try controlConnection(server.port)
            try greet(idle)
            expectQuickStop(server, "a session between cells")
            idle.socket.close()
        }
        do {
            let server = try ServeProcess(arguments: ["--idle-timeout", "600"])
            let waiting = try controlConnection(server.port)
            try greet(waiting)
            try waiting.send(.setup(cellSetup(ioTimeout: 600)))
            guard case .ready = try waiting.receive(timeout: 5) else { throw ControlError.unexpected("no ready") }
            expectQuickStop(server, "waiting for data connections")
            waiting.socket.close()
        }
        do {
            let server = try ServeProcess(arguments: ["--idle-timeout", "600"])
            let armed = try controlConnection(server.port)
            let (token, _) = try greet(armed)
            try armed.send(.setup(cellSetup(ioTimeout: 600)))
            guard case .ready(let port) = try armed.receive(timeout: 5) else { throw ControlError.unexpected("no ready") }
            let data = try connect(to: "127.0.0.1", port: port)
            try ControlChannel(socket: data).write(try #require(RemoteClient.bytes(hex: token)))
            guard case .armed = try armed.receive(timeout: 5) else { throw ControlError.unexpected("no armed") }
            expectQuickStop(server, "waiting for go")
            data.close()
            armed.socket.close()
        }
        do {
            // Receiving: a real client streaming a 30 s trial.
            let server = try ServeProcess()
            let client = try RemoteClient(server: SocketAddress(host: "127.0.0.1", port: server.port))
            let plan = SweepPlan(transports: [.twoCopy], sizes: [65536], connections: [2], workloads: [.stream], trials: 1, duration: 30)
            let finished = StrangerLog()
            // `@unchecked Sendable`: the client is used by this thread only until the test waits for it to end.
            final class ClientBox: @unchecked Sendable {
                let client: RemoteClient
                init(_ client: RemoteClient) { self.client = client }
            }
            let box = ClientBox(client)
            let sender = Thread {
                _ = try? box.client.runTrial(plan.cells[0], trial: 1, plan: plan, events: [], ioTimeout: 5)
                finished.markDone()
            }
            sender.start()
            #expect(server.waitForLog("starts a session"))
            Thread.sleep(forTimeInterval: 1)
            expectQuickStop(server, "receiving a trial")
            let deadline = Date().addingTimeInterval(30)
            while !finished.done && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            #expect(finished.done, "the client noticed the server was gone")
            client.close()
        }
        do {
            let server = try ServeProcess(arguments: ["--message-timeout", "60"])
            let dripping = try controlConnection(server.port)
            try greet(dripping)
            try dripping.write(Array(ControlProtocol.header(length: 100).prefix(6)))
            Thread.sleep(forTimeInterval: 0.3)
            expectQuickStop(server, "a message half sent")
            dripping.socket.close()
        }
    }

    @Test func onlyAllowedAddressesAreServed() throws {
        let server = try ServeProcess(arguments: ["--allow", "127.0.0.1,10.0.0.0/8"])
        let stranger = try controlConnection(server.port, from: "127.0.0.2")
        guard case .error(let text) = try stranger.receive(timeout: 5) else {
            Issue.record("no refusal for 127.0.0.2")
            return
        }
        #expect(text == "this copyprof serve does not accept clients from 127.0.0.2 (--allow)")
        #expect(secondsUntilClosed(stranger, limit: 5) < 5)
        let allowed = try controlConnection(server.port)
        try greet(allowed)
        try allowed.send(.bye)
        #expect(server.waitForLog("refused 127.0.0.2: not in --allow"))
        #expect(server.stop().status == 0)
        let bad = try runProcess(copyprofBinary, ["serve", "--allow", "10.0.0.0/33"])
        #expect(bad.status != 0 && bad.stderr.contains("--allow: '10.0.0.0/33' is not a numeric address"), "\(bad.stderr)")
    }

    @Test func theLimitsKnowTheTransportsDefaultPool() {
        // Plans and servers size zero-copy buffers with RunLimits' number; the transports use their own default.
        #expect(RunConfiguration(transport: .zeroCopy, messageSize: 64).zeroCopyPoolSize == RunLimits.defaultZeroCopyPoolSize)
    }

    @Test func addressRanges() throws {
        let v4 = try #require(AddressRange("10.1.0.0/16"))
        #expect(v4.contains("10.1.255.7") && !v4.contains("10.2.0.1") && !v4.contains("::1"))
        #expect(v4.contains("::ffff:10.1.2.3"), "an IPv4-mapped peer of a dual-stack listener")
        let v6 = try #require(AddressRange("fd00::/8"))
        #expect(v6.contains("fd12::1") && !v6.contains("fe80::1"))
        #expect(try #require(AddressRange("0.0.0.0/0")).contains("192.0.2.1"))
        #expect(AddressRange("10.0.0.0/33") == nil && AddressRange("host.example") == nil && AddressRange("1.2.3.4/x") == nil)
        #expect(try #require(AddressRange("10.1.2.3/12")).description == "10.1.2.3/12")
    }

    @Test func anOlderClientIsToldTheVersionsDiffer() throws {
        let server = try ServeProcess()
        let old = try controlConnection(server.port)
        let hello = Array(#"{"hello":{"copyprofVersion":"0.1.0"}}"#.utf8)
        try old.write(ControlProtocol.header(length: hello.count, version: 1) + hello)
        // The answer comes in the old client's own framing, so that it can show it.
        var header = [UInt8](repeating: 0, count: ControlProtocol.headerSize)
        #expect(recv(old.socket.fd, &header, header.count, Int32(MSG_WAITALL)) == header.count)
        #expect(header[4] == 0 && header[5] == 1, "version 1 framing")
        let length = Int(header[10]) << 8 | Int(header[11])
        var payload = [UInt8](repeating: 0, count: length)
        #expect(recv(old.socket.fd, &payload, length, Int32(MSG_WAITALL)) == length)
        let message = try JSONDecoder().decode(ControlMessage.self, from: Data(payload))
        guard case .error(let text) = message else {
            Issue.record("no error for version 1")
            return
        }
        #expect(text == "control protocol version 1 is not supported (this copyprof speaks \(ControlProtocol.version)); use the same copyprof version on both hosts")
        // Nothing of the environment before a valid hello.
        let kernel = ProcessInfo.processInfo.operatingSystemVersionString
        #expect(!String(decoding: payload, as: UTF8.self).contains("kernel") && !kernel.isEmpty)
        #expect(server.stop().status == 0)
    }

    @Test func aServerThatAnswersNonsenseFailsTheTrialAndKeepsTheFinishedOnes() throws {
        // A fake server: a valid first trial, then one whose receiver verified UInt64.max bytes.
        let fake = try FakeServer { trial in
            let (bytes, messages): (UInt64, UInt64) = trial == 1 ? (40960, 10) : (.max, .max)
            let worker = WorkerRecord(
                connection: 0, role: .receiver, wallNs: 1000, sent: nil,
                received: ReceiverRecord(messages: messages, bytes: bytes, recvCalls: 1, integrityErrors: 0, firstMismatch: nil, drainedMessages: 0),
                counters: [:], usage: UsageRecord(userNs: 1, systemNs: 1, voluntarySwitches: 0, involuntarySwitches: 0, minorFaults: 0, cpuClockNs: 1))
            return trial == 1 ? [worker] : [worker, worker]
        }
        let client = try RemoteClient(server: SocketAddress(host: "127.0.0.1", port: fake.port))
        var runner = SweepRunner(
            plan: SweepPlan(transports: [.twoCopy], sizes: [4096], connections: [1], workloads: [.stream], trials: 3, warmup: 0, duration: 0.02),
            events: [])
        runner.remote = client
        let profile = runner.run(environment: SampleProfiles.environment())
        client.close()
        let cell = try #require(profile.cells.first)
        #expect(cell.trials.count == 1, "the finished trial is kept")
        #expect(cell.error?.contains("the server's result does not add up") == true, "\(cell.error ?? "")")
        #expect(profile.status == .complete)
    }
}

/// The server's rate limit on lines, with a clock the test moves: lines within the burst written, the rest counted,
/// the count written once the interval is over (with or without a line after it) and when the server stops.
struct RateLimitedLogTests {
    final class Lines: @unchecked Sendable {  // guarded by its lock
        let lock = NSLock()
        var written: [String] = []
        var now = 100.0
        func append(_ line: String) { lock.withLock { written.append(line) } }
        var clock: Double { lock.withLock { now } }
        func advance(_ seconds: Double) { lock.withLock { now += seconds } }
        var all: [String] { lock.withLock { written } }
    }

    @Test func writesABurstPerIntervalAndCountsTheRest() {
        let lines = Lines()
        let log = RateLimitedLog(burst: 3, interval: 5, what: "lines about connections", clock: { lines.clock }, write: lines.append)
        for i in 0..<10 { log("line \(i)") }
        #expect(lines.all == ["line 0", "line 1", "line 2"])
        lines.advance(4.9)
        log.flush()
        #expect(lines.all.count == 3, "the interval is not over")
        lines.advance(0.1)
        log.flush()
        #expect(lines.all.last == "7 more lines about connections not written in 5 s (at most 3 per 5 s are)")
        log.flush()
        #expect(lines.all.count == 4, "a count is written once")
        // A new interval starts with the next line.
        lines.advance(60)
        for i in 10..<15 { log("line \(i)") }
        #expect(lines.all.suffix(3) == ["line 10", "line 11", "line 12"])
        lines.advance(2.5)
        log.finish()
        #expect(lines.all.last == "2 more lines about connections not written in 2.5 s (at most 3 per 5 s are); 9 in all")
        log.finish()
        #expect(lines.all.last == "9 lines about connections not written in all (at most 3 per 5 s are)")
        #expect(log.droppedInAll == 9)
    }

    @Test func writesNothingMoreWhenNothingWasDropped() {
        let lines = Lines()
        let log = RateLimitedLog(burst: 3, interval: 5, clock: { lines.clock }, write: lines.append)
        log("one")
        lines.advance(10)
        log.flush()
        log.finish()
        #expect(lines.all == ["one"])
    }
}

/// Sends `bytes` one every 0.25 s until the server answers or closes; returns the seconds from the first byte.
func dripUntilDropped(_ channel: ControlChannel, _ bytes: [UInt8], limit: Double = 10) -> Double {
    let started = Date()
    for byte in bytes {
        do { try channel.write([byte]) } catch { break }
        var pfd = pollfd(fd: channel.socket.fd, events: Int16(POLLIN), revents: 0)
        if poll(&pfd, 1, 250) > 0 { break }
        if Date().timeIntervalSince(started) > limit { break }
    }
    return Date().timeIntervalSince(started)
}

/// Sockets and flags handed between a test and the threads it starts.
final class StrangerLog: @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [TCPSocket] = []
    private var finished = false
    func keep(_ socket: TCPSocket) { lock.withLock { kept.append(socket) } }
    var sockets: [TCPSocket] { lock.withLock { kept } }
    var count: Int { lock.withLock { kept.count } }
    func closeAll() { lock.withLock { for socket in kept { socket.close() } } }
    func markDone() { lock.withLock { finished = true } }
    var done: Bool { lock.withLock { finished } }
}

/// Speaks the server's side of the protocol for one client, answering each trial with `workers(trial)`.
final class FakeServer: @unchecked Sendable {
    let port: UInt16
    private let listener: TCPSocket
    private var thread: Thread?

    init(workers: @escaping @Sendable (Int) -> [WorkerRecord]) throws {
        listener = try TCPSocket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
        port = try listener.localAddress().port
        let listener = self.listener
        let thread = Thread {
            guard let socket = try? listener.accept() else { return }
            let channel = ControlChannel(socket: socket)
            defer { socket.close() }
            do {
                guard case .hello = try channel.receive(timeout: 10) else { return }
                let token = String(repeating: "ab", count: ControlProtocol.tokenSize)
                try channel.send(.welcome(
                    environment: SampleProfiles.environment(), path: nil, token: token,
                    limits: ServerLimits(maxMemoryBytes: 1 << 30, maxConnections: 8, idleTimeout: 30, messageTimeout: 5)))
                while true {
                    guard case .setup(let setup) = try channel.receive(timeout: 10) else { return }
                    let data = try TCPSocket.listen(on: SocketAddress(host: "127.0.0.1", port: 0))
                    try channel.send(.ready(dataPort: try data.localAddress().port))
                    let connection = try data.accept()
                    try channel.send(.armed)
                    guard case .go = try channel.receive(timeout: 10) else { return }
                    var buffer = [UInt8](repeating: 0, count: 1 << 16)
                    while recv(connection.fd, &buffer, buffer.count, 0) > 0 {}
                    connection.close()
                    data.close()
                    try channel.send(.result(RemoteSideResult(workers: workers(setup.trial), error: nil)))
                }
            } catch {}
        }
        thread.start()
        self.thread = thread
    }
}
