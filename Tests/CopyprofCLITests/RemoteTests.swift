import Foundation
import TestSupport
import Testing
import Transports

import CopyprofProfile
import CopyprofReport
@testable import CopyprofSweep

/// `copyprof serve` and `copyprof run --connect`, with real processes: on loopback, and across two network
/// namespaces joined by a veth pair.
@Suite(.serialized) struct RemoteTests {
    /// A running `copyprof serve`, stopped with SIGINT.
    final class Server {
        let process = Process()
        let port: UInt16
        let output = Pipe()

        init(listen: String, namespace: String? = nil) throws {
            if let namespace {
                process.executableURL = URL(fileURLWithPath: which("ip") ?? "/usr/sbin/ip")
                process.arguments = ["netns", "exec", namespace, copyprofBinary, "serve", "--listen", listen]
            } else {
                process.executableURL = URL(fileURLWithPath: copyprofBinary)
                process.arguments = ["serve", "--listen", listen]
            }
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            // The first line says where it listens: "copyprof serve: listening on HOST:PORT".
            var line = Data()
            let handle = output.fileHandleForReading
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                line.append(chunk)
            }
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix("copyprof serve: listening on "), let colon = text.lastIndex(of: ":"),
                let port = UInt16(text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines))
            else { throw TransportError(.invalidConfiguration("server said: \(text)")) }
            self.port = port
        }

        func stop() -> Int32 {
            process.interrupt()
            process.waitUntilExit()
            return process.terminationStatus
        }

        /// A test that fails early leaves no server behind.
        deinit {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    func control(_ port: UInt16, host: String = "127.0.0.1") throws -> ControlChannel {
        ControlChannel(socket: try TCPSocket.connect(to: SocketAddress(host: host, port: port)))
    }

    func expectRefusal(_ port: UInt16, sending bytes: [UInt8], _ words: String) throws {
        let channel = try control(port)
        defer { channel.socket.close() }
        try channel.write(bytes)
        let reply = try channel.receive(timeout: 5)
        guard case .error(let text) = reply else {
            Issue.record("expected an error reply, got \(reply.name)")
            return
        }
        #expect(text.contains(words), "\(text)")
        #expect(throws: ControlError.closed) { try channel.receive(timeout: 5) }
    }

    @Test func serverRefusesGarbageThenServesANormalRun() throws {
        let server = try Server(listen: "127.0.0.1:0")
        // Garbage, an oversized length, a wrong version: each answered with an error, and the connection closed.
        try expectRefusal(server.port, sending: Array("GET / HTTP/1.0\r\n\r\n".utf8), "bad magic")
        try expectRefusal(server.port, sending: ControlProtocol.magic + [0, 1, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF], "over the")
        try expectRefusal(server.port, sending: ControlProtocol.header(length: 2, version: 99) + Array("{}".utf8), "version 99")
        try expectRefusal(server.port, sending: ControlProtocol.header(length: 7) + Array("[1,2,3]".utf8), "not a control message")

        // One controlling client at a time.
        let first = try control(server.port)
        try first.send(.hello(copyprofVersion: "test"))
        guard case .welcome(let environment, let path) = try first.receive(timeout: 10) else {
            Issue.record("no welcome")
            return
        }
        #expect(!environment.kernelRelease.isEmpty)
        #expect(path?.kind == .loopback)
        let second = try control(server.port)
        guard case .busy(let text) = try second.receive(timeout: 5) else {
            Issue.record("the second client was not told the server is busy")
            return
        }
        #expect(text.contains("serving another client"))
        second.socket.close()

        // A client that vanishes mid-cell frees the server within its I/O timeout.
        try first.send(.setup(RemoteCellSetup(
            transport: .twoCopy, mode: .stream, messageSize: 4096, threads: 1, trial: 1, verification: .full,
            ioTimeout: 1, zeroCopyPoolSize: 64, events: ["task-clock"])))
        guard case .ready(let dataPort) = try first.receive(timeout: 5) else {
            Issue.record("no ready")
            return
        }
        let data = try TCPSocket.connect(to: SocketAddress(host: "127.0.0.1", port: dataPort))
        data.close()
        first.socket.close()
        var freed = false
        for _ in 0..<40 where !freed {
            Thread.sleep(forTimeInterval: 0.1)
            let probe = try control(server.port)
            try probe.send(.hello(copyprofVersion: "test"))
            if case .welcome = try probe.receive(timeout: 10) { freed = true }
            try? probe.send(.bye)
            probe.socket.close()
        }
        #expect(freed, "the server was still busy 4 s after its client vanished")

        // And a normal run, with counters from both processes in one profile.
        let dir = try temporaryDirectory()
        let path2 = "\(dir)/remote.json"
        let run = try runProcess(copyprofBinary, [
            "run", "--connect", "127.0.0.1:\(server.port)", "--transports", "two-copy,zero-copy", "--sizes", "4096",
            "--threads", "1,2", "--modes", "stream,pingpong", "--trials", "2", "--warmup", "0", "--duration", "0.05",
            "--verify", "full", "--output", path2, "--no-report",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let profile = try Profile.read(from: path2)
        try checkTwoSidedProfile(profile, cells: 8, hosts: 1)  // both ends are 127.0.0.1
        #expect(profile.remote?.clientPath.kind == .loopback)
        #expect(server.stop() == 0)
    }

    @Test func serverThatDiesMidSweepLeavesAnIncompleteProfile() throws {
        let server = try Server(listen: "127.0.0.1:0")
        let dir = try temporaryDirectory()
        let path = "\(dir)/lost.json"
        let pid = server.process.processIdentifier
        let killer = Thread {
            Thread.sleep(forTimeInterval: 1.5)
            kill(pid, SIGKILL)
        }
        killer.start()
        let run = try runProcess(copyprofBinary, [
            "run", "--connect", "127.0.0.1:\(server.port)", "--transports", "two-copy", "--sizes", "512", "--threads", "1",
            "--modes", "stream", "--trials", "40", "--warmup", "0", "--duration", "0.1", "--output", path, "--no-report",
        ])
        server.process.waitUntilExit()
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("lost copyprof serve"), "\(run.stderr)")
        let profile = try Profile.read(from: path)
        #expect(profile.status == .interrupted)
        #expect(profile.statusReason?.contains("lost copyprof serve") == true)
        #expect((profile.cells.first?.trials.count ?? 0) >= 1)
    }

    @Test func twoHostsOverAVethPairInTwoNamespaces() throws {
        guard getuid() == 0, let ip = which("ip") else {
            print("skipped: needs root and iproute2 to create network namespaces")
            return
        }
        let tag = String(getpid() % 100_000)
        let (a, b) = ("cpA\(tag)", "cpB\(tag)")
        func sh(_ arguments: [String]) throws {
            let result = try runProcess(ip, arguments)
            if result.status != 0 { throw TransportError(.invalidConfiguration("ip \(arguments.joined(separator: " ")): \(result.stderr)")) }
        }
        defer {
            _ = try? runProcess(ip, ["netns", "del", a])
            _ = try? runProcess(ip, ["netns", "del", b])
        }
        do {
            try sh(["netns", "add", a])
            try sh(["netns", "add", b])
            try sh(["link", "add", "va\(tag)", "type", "veth", "peer", "name", "vb\(tag)"])
            try sh(["link", "set", "va\(tag)", "netns", a])
            try sh(["link", "set", "vb\(tag)", "netns", b])
            // TEST-NET-1 (RFC 5737) addresses, on this test's own hosts only.
            try sh(["-n", a, "addr", "add", "192.0.2.1/24", "dev", "va\(tag)"])
            try sh(["-n", b, "addr", "add", "192.0.2.2/24", "dev", "vb\(tag)"])
            for (ns, dev) in [(a, "va\(tag)"), (b, "vb\(tag)")] {
                try sh(["-n", ns, "link", "set", dev, "up"])
                try sh(["-n", ns, "link", "set", "lo", "up"])
            }
        } catch {
            print("skipped: cannot create network namespaces here: \(error)")
            return
        }
        let server = try Server(listen: "192.0.2.1:0", namespace: a)
        let dir = try temporaryDirectory()
        let path = "\(dir)/veth.json"
        let run = try runProcess(ip, [
            "netns", "exec", b, copyprofBinary, "run", "--connect", "192.0.2.1:\(server.port)",
            "--transports", "two-copy,one-copy,zero-copy", "--sizes", "512,65536", "--threads", "1,2",
            "--modes", "stream,pingpong", "--trials", "2", "--warmup", "0", "--duration", "0.05", "--verify", "full",
            "--output", path, "--no-report",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(server.stop() == 0)
        let profile = try Profile.read(from: path)
        try checkTwoSidedProfile(profile, cells: 24, hosts: 2)
        let remote = try #require(profile.remote)
        #expect(remote.clientPath.kind == .veth && remote.clientPath.interface == "vb\(tag)")
        #expect(remote.serverPath?.kind == .veth && remote.serverPath?.interface == "va\(tag)")
        // veth loops packets inside the kernel too: zero-copy completions come back copied.
        let zero = profile.cells.filter { $0.key.transport == .zeroCopy }.flatMap(\.trials).compactMap(\.zeroCopy)
        #expect(!zero.isEmpty && zero.allSatisfy { $0.completions == $0.sends })
        print("veth zero-copy copied share: \(zero.map { $0.copiedShare ?? -1 })")
    }

    func checkTwoSidedProfile(_ profile: Profile, cells: Int, hosts hostCount: Int) throws {
        #expect(profile.status == .complete)
        #expect(profile.cells.count == cells)
        #expect(profile.remote != nil)
        for cell in profile.cells {
            #expect(cell.error == nil, "\(cell.key): \(cell.error ?? "")")
            #expect(cell.trials.count == 4, "two rounds of a timing and a counted trial")
            // A 0.05 s trial can verify nothing when its receiver gets no CPU for that long on a loaded machine:
            // every cell moves bytes in some trial, not necessarily in each.
            #expect(cell.trials.contains { $0.bytes > 0 }, "\(cell.key)")
            for trial in cell.trials {
                #expect(trial.integrityErrors == 0, "\(cell.key)")
                let hosts = Set(trial.workers.compactMap(\.host))
                #expect(hosts.count == hostCount, "workers marked by host: \(hosts)")
                let senders = trial.workers.filter { $0.role == .sender }
                let receivers = trial.workers.filter { $0.role == .receiver }
                #expect(senders.count == cell.key.threads && receivers.count == cell.key.threads)
                for worker in senders + receivers {
                    if trial.kind == .counted {
                        #expect(worker.counters["task-clock"] != nil, "\(cell.key) \(worker.role): both sides count")
                    } else {
                        #expect(worker.counters.isEmpty, "\(cell.key) \(worker.role): neither side counts in a timing trial")
                    }
                    #expect(worker.host != nil)
                }
                #expect(receivers.allSatisfy { $0.received != nil })
            }
            #expect(cell.trials.contains { $0.workers.filter { $0.role == .receiver }.allSatisfy { ($0.received?.messages ?? 0) > 0 } })
        }
    }
}
