import Foundation
import TestSupport
import Testing
import Transports

import CopyprofProfile
import CopyprofReport
@testable import CopyprofRemote
import CopyprofSweep

/// `copyprof serve` and `copyprof run --connect`, with real processes: on loopback, and across two network
/// namespaces joined by a veth pair.
@Suite(.serialized) struct RemoteTests {
    typealias Server = ServeProcess

    func control(_ port: UInt16, host: String = "127.0.0.1") throws -> ControlChannel {
        try controlConnection(port, to: host)
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
        try expectRefusal(server.port, sending: ControlProtocol.magic + [0, UInt8(ControlProtocol.version), 0, 0, 0xFF, 0xFF, 0xFF, 0xFF], "over the")
        try expectRefusal(server.port, sending: ControlProtocol.header(length: 2, version: 99) + Array("{}".utf8), "version 99")
        try expectRefusal(server.port, sending: ControlProtocol.header(length: 7) + Array("[1,2,3]".utf8), "not a control message")

        // One controlling client at a time.
        let first = try control(server.port)
        try first.send(.hello(copyprofVersion: "test"))
        guard case .welcome(let environment, let path, _, _) = try first.receive(timeout: 10) else {
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
        try first.send(.setup(cellSetup(ioTimeout: 1)))
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
            "--connections", "1,2", "--workloads", "stream,pingpong", "--trials", "2", "--warmup", "0", "--duration", "0.05",
            "--verify", "full", "--output", path2, "--no-report",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let profile = try Profile.read(from: path2)
        try checkTwoSidedProfile(profile, cells: 8, hosts: 1)  // both ends are 127.0.0.1
        #expect(profile.remote?.clientPath.kind == .loopback)
        #expect(server.stop().status == 0)
    }

    /// The receiver goes to the server with each cell: its receivers map (`mmap`) or discard (`discard`) as asked, and
    /// their records say so.
    @Test func theServerRunsTheReceiverTheClientAsksFor() throws {
        let server = try Server(listen: "127.0.0.1:0")
        let dir = try temporaryDirectory()
        let path = "\(dir)/receivers.json"
        let run = try runProcess(copyprofBinary, [
            "run", "--connect", "127.0.0.1:\(server.port)", "--transports", "zero-copy", "--receivers", "copy,discard,mmap",
            "--sizes", "65536", "--connections", "1", "--workloads", "stream,pingpong", "--trials", "2", "--warmup", "0",
            "--duration", "0.1", "--verify", "full", "--output", path, "--no-report",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let profile = try Profile.read(from: path)
        #expect(profile.cells.count == 6)
        for cell in profile.cells {
            // 2 rounds of a timing and a counted trial.
            #expect(cell.error == nil && cell.trials.count == 4, "\(cell.key): \(cell.error ?? "")")
            for trial in cell.trials {
                // In a stream the server's threads are the receivers; in ping-pong both sides receive.
                let serverReceivers = trial.workers.filter { $0.role == .receiver }.compactMap(\.received)
                #expect(!serverReceivers.isEmpty)
                for received in serverReceivers {
                    #expect((received.verified == false) == (cell.key.receiver == .discard), "\(cell.key)")
                    #expect((received.zeroCopyReceive != nil) == (cell.key.receiver == .mmap), "\(cell.key)")
                }
                #expect(trial.integrityErrors == 0, "\(cell.key)")
            }
        }
        #expect(server.stop().status == 0)
    }

    @Test func serverThatDiesMidSweepLeavesAnIncompleteProfile() throws {
        let server = try Server(listen: "127.0.0.1:0")
        let dir = try temporaryDirectory()
        let path = "\(dir)/lost.json"
        let pid = server.process.processIdentifier
        // Margins: a one-trial remote run of this cell takes 0.25 s end to end here, so a trial is kept 1.25 s before
        // the kill; the 40 trials would take 4 s, 2.5 s after it.
        let killer = Thread {
            Thread.sleep(forTimeInterval: 1.5)
            kill(pid, SIGKILL)
        }
        killer.start()
        let run = try runProcess(copyprofBinary, [
            "run", "--connect", "127.0.0.1:\(server.port)", "--transports", "two-copy", "--sizes", "512", "--connections", "1",
            "--workloads", "stream", "--trials", "40", "--warmup", "0", "--duration", "0.1", "--output", path, "--no-report",
        ])
        server.process.waitUntilExit()
        #expect(run.status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("lost copyprof serve"), "\(run.stderr)")
        let profile = try Profile.read(from: path)
        #expect(profile.status == .interrupted)
        #expect(profile.statusReason?.contains("lost copyprof serve") == true)
        #expect((profile.cells.first?.trials.count ?? 0) >= 1)
    }

    @Test(.enabled(if: getuid() == 0 && which("ip") != nil, "needs root and iproute2 to create network namespaces"))
    func twoHostsOverAVethPairInTwoNamespaces() throws {
        let ip = try #require(which("ip"))
        let hosts: TwoHosts
        do { hosts = try TwoHosts(ip: ip) } catch {
            try Test.cancel("cannot create network namespaces here: \(error)")
        }
        defer { hosts.remove() }
        let (a, b, tag) = (hosts.a, hosts.b, hosts.tag)
        let server = try Server(listen: "192.0.2.1:0", namespace: a)
        let dir = try temporaryDirectory()
        let path = "\(dir)/veth.json"
        let run = try runProcess(ip, [
            "netns", "exec", b, copyprofBinary, "run", "--connect", "192.0.2.1:\(server.port)",
            "--transports", "two-copy,one-copy,zero-copy", "--sizes", "512,65536", "--connections", "1,2",
            "--workloads", "stream,pingpong", "--trials", "2", "--warmup", "0", "--duration", "0.05", "--verify", "full",
            "--output", path, "--no-report",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(server.stop().status == 0)
        let profile = try Profile.read(from: path)
        try checkTwoSidedProfile(profile, cells: 24, hosts: 2)
        // Each side records the route its data took, as `ip route get` answers: the veth's interface; the server
        // its interface's MTU, the client its route's (`mtu 8000`), neither loopback's.
        let remote = try #require(profile.remote)
        #expect(remote.clientPath.kind == .veth && remote.clientPath.interface == "vb\(tag)")
        #expect(remote.serverPath?.kind == .veth && remote.serverPath?.interface == "va\(tag)")
        #expect(remote.clientPath.mtu == TwoHosts.clientRouteMTU, "\(remote.clientPath)")
        #expect(remote.serverPath?.mtu == TwoHosts.vethMTU, "\(remote.serverPath?.description ?? "no server path")")
        // Loopback's MTU is neither side's path: the environments leave it out, and so does the report.
        #expect(profile.environment.loopbackMTU == nil && remote.serverEnvironment.loopbackMTU == nil)
        let report = Report(profile: profile, source: path, chartFolder: "charts").markdown
        let environment = report.components(separatedBy: "## Environment").last?.components(separatedBy: "\n## ").first ?? ""
        #expect(!environment.contains("loopback"), "\(environment)")
        #expect(environment.contains("| path, client → server | vb\(tag) (veth, MTU \(TwoHosts.clientRouteMTU)) toward 192.0.2.1 |"))
        // veth loops packets inside the kernel too: zero-copy completions come back copied.
        let zero = profile.cells.filter { $0.key.transport == .zeroCopy }.flatMap(\.trials).compactMap(\.zeroCopy)
        #expect(!zero.isEmpty && zero.allSatisfy { $0.completions == $0.sends })
        print("veth zero-copy copied share: \(zero.map { $0.copiedShare ?? -1 })")
        hosts.remove()
        #expect(hosts.remaining().isEmpty, "namespaces left behind: \(hosts.remaining())")
    }

    /// Two network namespaces joined by a veth pair: 192.0.2.1 in `a`, 192.0.2.2 in `b` (TEST-NET-1, RFC 5737). The
    /// veth has an MTU of 9000 (not the default 1500, nor loopback's 65536), and `b`'s route to `a` an MTU of its
    /// own, 8000 (`ip route … mtu 8000`), so that a path read from the wrong place shows.
    ///
    /// The veth pair is made inside the namespaces (`ip -n a link add … peer … netns b`), so it never exists in the
    /// host's namespace, and deleting the namespaces deletes it. `remove()` runs on every way out of the test (defer,
    /// deinit, a failed set-up); the names carry the test process's pid, so namespaces a killed test run left behind
    /// are removed by the next run, with any process still in them (`ip netns list | grep copyprof-test` shows them
    /// meanwhile).
    final class TwoHosts {
        static let prefix = "copyprof-test-"
        static let vethMTU = 9000
        static let clientRouteMTU = 8000
        let ip: String
        let a: String
        let b: String
        /// A short suffix for interface names (at most 15 characters).
        let tag: String
        private var removed = false

        init(ip: String) throws {
            self.ip = ip
            let pid = getpid()
            (a, b, tag) = ("\(Self.prefix)\(pid)-a", "\(Self.prefix)\(pid)-b", String(pid % 100_000))
            Self.removeLeftovers(ip: ip)
            do {
                try sh(["netns", "add", a])
                try sh(["netns", "add", b])
                try sh(["-n", a, "link", "add", "va\(tag)", "type", "veth", "peer", "name", "vb\(tag)", "netns", b])
                try sh(["-n", a, "addr", "add", "192.0.2.1/24", "dev", "va\(tag)"])
                try sh(["-n", b, "addr", "add", "192.0.2.2/24", "dev", "vb\(tag)"])
                for (ns, dev) in [(a, "va\(tag)"), (b, "vb\(tag)")] {
                    try sh(["-n", ns, "link", "set", dev, "mtu", String(Self.vethMTU), "up"])
                    try sh(["-n", ns, "link", "set", "lo", "up"])
                }
                try sh(["-n", b, "route", "replace", "192.0.2.0/24", "dev", "vb\(tag)", "mtu", String(Self.clientRouteMTU)])
            } catch {
                remove()
                throw error
            }
        }

        deinit { remove() }

        private func sh(_ arguments: [String]) throws {
            let result = try runProcess(ip, arguments)
            if result.status != 0 {
                throw TransportError(.invalidConfiguration("ip \(arguments.joined(separator: " ")): \(result.stderr)"))
            }
        }

        /// Deletes both namespaces, and with them the veth pair. Safe to call more than once.
        func remove() {
            guard !removed else { return }
            removed = true
            for ns in [a, b] where Self.names(ip: ip).contains(ns) { _ = try? runProcess(ip, ["netns", "del", ns]) }
        }

        /// This test's namespaces that still exist.
        func remaining() -> [String] { Self.names(ip: ip).filter { $0 == a || $0 == b } }

        static func names(ip: String) -> [String] {
            let list = (try? runProcess(ip, ["netns", "list"]))?.stdout ?? ""
            return list.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        }

        /// Namespaces of earlier test processes that no longer run (killed before their clean-up).
        static func removeLeftovers(ip: String) {
            for name in names(ip: ip) where name.hasPrefix(prefix) {
                let pidText = name.dropFirst(prefix.count).split(separator: "-").first ?? ""
                guard let pid = pid_t(pidText), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
                // A `copyprof serve` may still run in it, orphaned when its test process was killed.
                let orphans = ((try? runProcess(ip, ["netns", "pids", name]))?.stdout ?? "").split(separator: "\n")
                    .compactMap { pid_t($0) }
                print("removing network namespace \(name) and \(orphans.count) processes in it, left by test process \(pid)")
                for orphan in orphans { kill(orphan, SIGKILL) }
                _ = try? runProcess(ip, ["netns", "del", name])
            }
        }
    }

    /// On one host: the route toward a local address is loopback's, with loopback's MTU (read here from the host's
    /// own sysfs, which is this test process's namespace); an address that is not numeric has no known path.
    @Test func thePathTowardThisHostIsLoopback() throws {
        let path = NetworkPath.toward("127.0.0.1", from: "127.0.0.1")
        let mtu = try String(contentsOfFile: "/sys/class/net/lo/mtu", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(path.interface == "lo" && path.kind == .loopback && path.mtu == Int(mtu), "\(path)")
        #expect(NetworkPath.toward("::1").kind == .loopback)
        let unknown = NetworkPath.toward("server.example")
        #expect(unknown.interface == nil && unknown.mtu == nil && unknown.kind == .unknown)
    }

    func checkTwoSidedProfile(_ profile: Profile, cells: Int, hosts hostCount: Int) throws {
        #expect(profile.status == .complete)
        #expect(profile.cells.count == cells)
        #expect(profile.remote != nil)
        var trials = 0
        var whole = 0
        for cell in profile.cells {
            #expect(cell.error == nil, "\(cell.key): \(cell.error ?? "")")
            #expect(cell.trials.count == 4, "two rounds of a timing and a counted trial")
            for trial in cell.trials {
                trials += 1
                #expect(trial.integrityErrors == 0, "\(cell.key)")
                #expect(trial.deliveryMismatches(mode: cell.key.workload).isEmpty, "\(cell.key): \(trial.deliveryMismatches(mode: cell.key.workload))")
                let hosts = Set(trial.workers.compactMap(\.host))
                #expect(hosts.count == hostCount, "workers marked by host: \(hosts)")
                let senders = trial.workers.filter { $0.role == .sender }
                let receivers = trial.workers.filter { $0.role == .receiver }
                #expect(senders.count == cell.key.connections && receivers.count == cell.key.connections)
                for worker in senders + receivers {
                    if trial.kind == .counted {
                        #expect(worker.counters["task-clock"] != nil, "\(cell.key) \(worker.role): both sides count")
                    } else {
                        #expect(worker.counters.isEmpty, "\(cell.key) \(worker.role): neither side counts in a timing trial")
                    }
                    #expect(worker.host != nil)
                }
                let idle = trial.idleWorkers
                if idle.isEmpty {
                    whole += 1
                    #expect(trial.bytes > 0, "\(cell.key) trial \(trial.trial)")
                    #expect(receivers.allSatisfy { ($0.received?.messages ?? 0) > 0 }, "\(cell.key) trial \(trial.trial)")
                } else {
                    print("\(cell.key) trial \(trial.trial): \(idle.map { "connection \($0.connection) \($0.role)" }) "
                          + "ran no iteration (not scheduled within the window)")
                }
            }
        }
        // Under the heaviest load seen, 1 trial in 48 had an idle worker; a sweep in which most trials moved nothing
        // would be a fault, not the scheduler.
        #expect(whole * 4 >= trials * 3, "\(whole) of \(trials) trials moved data in every connection")
    }
}
