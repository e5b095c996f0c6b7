import Foundation
import Synchronization
import Testing
import TestSupport

/// `run --perf-control CTL,ACK` drives a `perf stat --control fifo:CTL,ACK` session: this test plays perf's part
/// (tools/perf/util/evlist.c: both FIFOs opened read-write, a command per line, `ack\n` after each) and reads what
/// copyprof tells it; `counters --perf-events` prints the groups in perf's syntax.
@Suite(.serialized) struct PerfControlTests {
    /// perf's side of the FIFOs: every command copyprof writes, each answered `ack`.
    final class FakePerf: @unchecked Sendable {
        // @unchecked: the descriptors never change; the commands are behind a mutex.
        let control: Int32
        let acknowledgement: Int32
        let commands = Mutex<[String]>([])
        let done = Atomic<Bool>(false)

        init(control path: String, acknowledgement ackPath: String) {
            control = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
            acknowledgement = open(ackPath, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        }

        deinit {
            close(control)
            close(acknowledgement)
        }

        func serve() {
            var pending: [UInt8] = []
            while !done.load(ordering: .acquiring) {
                var pfd = pollfd(fd: control, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 50) > 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 256)
                let count = read(control, &buffer, buffer.count)
                guard count > 0 else { continue }
                pending += buffer[..<count]
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let command = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    commands.withLock { $0.append(command) }
                    _ = "ack\n".withCString { write(acknowledgement, $0, 4) }
                }
            }
        }
    }

    @Test func everyTimedLoopIsBracketedByEnableAndDisable() throws {
        let folder = try temporaryDirectory()
        let ctl = folder + "/ctl", ack = folder + "/ack"
        #expect(mkfifo(ctl, 0o600) == 0 && mkfifo(ack, 0o600) == 0)
        let perf = FakePerf(control: ctl, acknowledgement: ack)
        try #require(perf.control >= 0 && perf.acknowledgement >= 0)
        let server = Thread { perf.serve() }
        server.start()
        defer { perf.done.store(true, ordering: .releasing) }
        let result = try runProcess(
            copyprofBinary,
            [
                "run", "--perf-control", "\(ctl),\(ack)", "--transports", "two-copy,zero-copy", "--sizes", "4096",
                "--connections", "1", "--workloads", "stream", "--trials", "2", "--warmup", "1", "--duration", "0.02",
                "--events", "task-clock", "--no-report", "--output", "\(folder)/profile.json",
            ], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let commands = perf.commands.withLock { $0 }
        // 2 cells × (1 warm-up + 2 rounds × 2 kinds) = 10 timed loops, each enabled and then disabled.
        #expect(commands == Array(repeating: ["enable", "disable"], count: 10).flatMap { $0 }, "\(commands)")
        let profile = try String(contentsOfFile: "\(folder)/profile.json", encoding: .utf8)
        #expect(profile.contains("\"tid\":"), "each worker's thread id, to match perf's threads")
    }

    @Test func aControlFIFOThatCannotBeUsedIsOneLine() throws {
        let folder = try temporaryDirectory()
        let fifo = folder + "/ctl"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(FileManager.default.createFile(atPath: folder + "/file", contents: Data()))
        for (argument, message) in [
            (folder + "/none", "cannot open \(folder)/none for writing: ENOENT (make it with mkfifo"),
            (fifo, "cannot open \(fifo) for writing: ENXIO (no perf reads it: start perf stat --control fifo:"),
            (folder + "/file", "\(folder)/file is not a FIFO (make it with mkfifo)"),
            ("", "--perf-control takes CTL[,ACK]"),
            ("a,b,c", "--perf-control takes CTL[,ACK]"),
        ] {
            let result = try runProcess(
                copyprofBinary, ["run", "--perf-control", argument, "--output", "\(folder)/never.json", "--no-report"], timeout: 60)
            #expect(result.status != 0, "\(argument)")
            #expect(result.stderr.contains(message), "\(argument): \(result.stderr)")
        }
        let remote = try runProcess(
            copyprofBinary, ["run", "--perf-control", fifo, "--connect", "127.0.0.1:1", "--output", "\(folder)/never.json", "--no-report"])
        #expect(remote.status != 0 && remote.stderr.contains("--perf-control runs locally only"), "\(remote.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(folder)/never.json"))
    }

    /// The groups a run opens, in perf's syntax, as root on a host without a PMU: one software group.
    @Test(.enabled(if: mayCountTheKernel, "unprivileged at paranoid 2, context switches are not counted"))
    func perfEventsPrintsTheGroupsInPerfsSyntax() throws {
        let result = try runProcess(
            copyprofBinary, ["counters", "--events", "task-clock,context-switches,page-faults", "--perf-events"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "{task-clock,context-switches,page-faults}\n", "\(result.stdout)")
    }
}
