import CopyprofFiles
import Foundation
import TestSupport
import Testing

@testable import CopyprofProfile
@testable import copyprof

/// Outputs never destroy what was there and never lose data silently: devices and FIFOs written in place, symbolic
/// links followed, every write checked, the output location checked before a sweep, a fallback file at the end.
@Suite(.serialized) struct OutputTests {
    /// A tiny sweep: one cell, one trial.
    static let tinyRun = [
        "run", "--transports", "two-copy", "--sizes", "64", "--connections", "1", "--workloads", "stream", "--trials", "1",
        "--warmup", "0", "--duration", "0.01", "--events", "task-clock",
    ]

    func sampleProfile(in dir: String) throws -> String {
        let path = "\(dir)/sample.json"
        try SampleProfiles.make(throughput: [8.192, 8.192, 8.192, 8.192]).write(to: path)
        return path
    }

    func fileType(_ path: String) -> mode_t? {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mode & S_IFMT : nil
    }

    @Test func standardOutputOnAFullDeviceFailsForEveryCommand() throws {
        let dir = try temporaryDirectory()
        let profile = try sampleProfile(in: dir)
        for arguments in [
            Self.tinyRun + ["--output", "\(dir)/run.json", "--no-report"], ["report", profile, "--output", "-"],
            ["report", profile, "--output", "\(dir)/r.md"], ["compare", profile, profile], ["compare", profile, profile, "--json"],
            ["export", profile, "--csv"], ["counters"], ["counters", "--json"],
        ] {
            let result = try runProcess(copyprofBinary, arguments, in: dir, timeout: 60, standardOutput: "/dev/full")
            #expect(result.status == 1, "\(arguments): exit \(result.status)")
            #expect(result.stderr.contains("standard output: cannot write: No space left on device"), "\(arguments): \(result.stderr)")
        }
        // The run's profile was saved before standard output failed.
        #expect(try Profile.read(from: "\(dir)/run.json").cells.count == 1)
    }

    @Test(.enabled(if: geteuid() == 0, "creating a device node needs root"))
    func aCharacterDeviceStaysACharacterDevice() throws {
        let dir = try temporaryDirectory()
        let profile = try sampleProfile(in: dir)
        // A node of the null device (major 1, minor 3) in a temporary folder: the host's /dev/null is not touched.
        let null = "\(dir)/null"
        // glibc makedev(1, 3) (a macro Swift does not import): major << 8 | minor for small numbers.
        #expect(mknod(null, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0, "mknod: \(String(cString: strerror(errno)))")
        for arguments in [
            ["export", profile, "--csv", "--output", null], ["report", profile, "--output", null],
            ["compare", profile, profile, "--output", null], Self.tinyRun + ["--output", null],
        ] {
            let result = try runProcess(copyprofBinary, arguments, in: dir, timeout: 60)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(fileType(null) == S_IFCHR, "\(arguments) replaced the device")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["null", "sample.json"], "no charts, no temporary files beside a device")
    }

    @Test(.enabled(if: geteuid() == 0 && which("unshare") != nil, "needs root and unshare(1) for a private mount namespace"))
    func devNullInAPrivateMountNamespace() throws {
        let unshare = try #require(which("unshare"))
        let dir = try temporaryDirectory()
        let profile = try sampleProfile(in: dir)
        // A tmpfs over /dev in a private mount namespace, with its own null node: what copyprof does to "/dev/null"
        // there cannot reach the host's.
        let script = """
            set -e
            mount -t tmpfs copyprof-test /dev
            mknod -m 666 /dev/null c 1 3
            "$0" export "$1" --csv --output /dev/null
            "$0" report "$1" --output /dev/null 2>/dev/null
            stat -c %F /dev/null
            """
        let result = try runProcess(unshare, ["--mount", "--propagation", "private", "sh", "-c", script, copyprofBinary, profile], timeout: 60)
        if result.status != 0 && result.stderr.contains("unshare failed") {
            try Test.cancel("cannot create a mount namespace here: \(result.stderr)")
        }
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("character special file"), "\(result.stdout)")
        #expect(fileType("/dev/null") == S_IFCHR)
    }

    @Test func symbolicLinksAreFollowedAndFIFOsWrittenInPlace() throws {
        let dir = try temporaryDirectory()
        let profile = try sampleProfile(in: dir)
        try "old".write(toFile: "\(dir)/target.csv", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link.csv", withDestinationPath: "target.csv")
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/dangling.csv", withDestinationPath: "\(dir)/new.csv")
        // An existing file is replaced only with --force (see anExistingOutputIsKeptWithoutForce).
        for (output, force) in [("\(dir)/link.csv", ["--force"]), ("\(dir)/dangling.csv", [])] {
            let result = try runProcess(copyprofBinary, ["export", profile, "--csv", "--output", output] + force)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(fileType(output) == S_IFLNK, "\(output) is still a link")
        }
        #expect(try String(contentsOfFile: "\(dir)/target.csv", encoding: .utf8).hasPrefix("transport,"))
        #expect(try String(contentsOfFile: "\(dir)/new.csv", encoding: .utf8).hasPrefix("transport,"))

        let fifo = "\(dir)/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let received = ResultBox()
        let reader = Thread {
            // open blocks until the writer opens its end; read to the writer's close.
            let fd = open(fifo, O_RDONLY)
            var chunk = [UInt8](repeating: 0, count: 65536)
            while fd >= 0 {
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { break }
                received.data.append(contentsOf: chunk[0..<n])
            }
            close(fd)
        }
        reader.start()
        let result = try runProcess(copyprofBinary, ["export", profile, "--csv", "--output", fifo], timeout: 30)
        #expect(result.status == 0, "\(result.stderr)")
        while reader.isExecuting { Thread.sleep(forTimeInterval: 0.01) }
        #expect(String(decoding: received.data, as: UTF8.self).hasPrefix("transport,"))
        #expect(fileType(fifo) == S_IFIFO)
        // A directory is refused, and so is a block device (a disk).
        let refused = try runProcess(copyprofBinary, ["export", profile, "--csv", "--output", dir])
        #expect(refused.status == 1 && refused.stderr.contains("is a directory"), "\(refused.stderr)")
    }

    /// An output named on the command line that exists — a file, or a symbolic link to one — is refused with one
    /// line and left as it was, by every command that writes; `--force` replaces it (through the link).
    @Test func anExistingOutputIsKeptWithoutForce() throws {
        let dir = try temporaryDirectory()
        let profile = try sampleProfile(in: dir)
        let target = "\(dir)/elsewhere/kept.txt"
        try FileManager.default.createDirectory(atPath: "\(dir)/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/link.out", withDestinationPath: target)
        let file = "\(dir)/existing.out"
        let commands: [(name: String, arguments: (String) -> [String], written: String)] = [
            ("export", { ["export", profile, "--csv", "--output", $0] }, "transport,"),
            ("report", { ["report", profile, "--output", $0] }, "# "),
            ("compare", { ["compare", profile, profile, "--output", $0] }, "#"),
            ("run", { Self.tinyRun + ["--output", $0, "--no-report"] }, "{"),
            ("run --report", { Self.tinyRun + ["--output", "\(dir)/fresh-\(UUID().uuidString).json", "--report", $0] }, "# "),
        ]
        for command in commands {
            for (output, shown) in [(file, "\(file): exists; not replaced without --force"),
                                    ("\(dir)/link.out", "\(dir)/link.out: exists (a symbolic link to \(target)); not replaced without --force")] {
                try "precious".write(toFile: file, atomically: false, encoding: .utf8)
                try "precious".write(toFile: target, atomically: false, encoding: .utf8)
                let started = Date()
                let refused = try runProcess(copyprofBinary, command.arguments(output), in: dir, timeout: 60)
                #expect(refused.status == 1, "\(command.name) onto \(output): exit \(refused.status)")
                #expect(refused.stderr == "Error: \(shown)\n", "\(command.name) onto \(output): \(refused.stderr)")
                #expect(try String(contentsOfFile: file, encoding: .utf8) == "precious")
                #expect(try String(contentsOfFile: target, encoding: .utf8) == "precious")
                #expect(fileType("\(dir)/link.out") == S_IFLNK)
                if command.name.hasPrefix("run") {
                    #expect(!refused.stderr.contains("runs, about") && Date().timeIntervalSince(started) < 10, "refused before measuring")
                }

                let forced = try runProcess(copyprofBinary, command.arguments(output) + ["--force"], in: dir, timeout: 60)
                #expect(forced.status == 0, "\(command.name) --force onto \(output): \(forced.stderr)")
                let replaced = output == file ? file : target
                #expect(try String(contentsOfFile: replaced, encoding: .utf8).hasPrefix(command.written), "\(command.name) onto \(output)")
                #expect(fileType("\(dir)/link.out") == S_IFLNK, "the link stays a link")
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }.isEmpty)
    }

    /// A FIFO with its reader already waiting: the check before measuring does not open it (which would hand the
    /// reader an end of file, and leave the run blocked at the end), and the reader gets one whole profile.
    @Test func aFIFOWithItsReaderWaitingGetsOneWholeProfile() throws {
        let dir = try temporaryDirectory()
        let fifo = "\(dir)/profile.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let received = ResultBox()
        let opens = ResultBox()
        let reader = Thread {
            // Reads to end of file, again and again: every open by a writer is one round; the run must make one.
            for _ in 0..<3 {
                let fd = open(fifo, O_RDONLY)
                guard fd >= 0 else { return }
                var round = Data()
                var chunk = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = read(fd, &chunk, chunk.count)
                    if n <= 0 { break }
                    round.append(contentsOf: chunk[0..<n])
                }
                close(fd)
                opens.append(nil)
                received.data.append(round)
                if !round.isEmpty { return }
            }
        }
        reader.start()
        // The reader is waiting in open(2) before the run starts.
        Thread.sleep(forTimeInterval: 0.2)
        let result = try runProcess(copyprofBinary, Self.tinyRun + ["--output", fifo, "--no-report"], in: dir, timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let deadline = Date().addingTimeInterval(10)
        while reader.isExecuting && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if reader.isExecuting {
            // Still waiting for a writer: one that opens and closes lets it end.
            close(open(fifo, O_WRONLY | O_NONBLOCK))
        }
        #expect(opens.count == 1, "the reader saw \(opens.count) opens: the run opened the FIFO more than once")
        let profile = try Profile.decode(received.data, path: fifo)
        #expect(profile.cells.count == 1 && profile.cells[0].trials.count == 2)
        #expect(fileType(fifo) == S_IFIFO)
    }

    /// A FIFO nobody reads: `run` says it waits for a reader, and Ctrl-C then saves the profile in a fallback file.
    @Test(.timeLimit(.minutes(2))) func aFIFOWithoutAReaderWaitsAndCtrlCSavesTheProfileElsewhere() throws {
        let dir = try temporaryDirectory()
        let fifo = "\(dir)/profile.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: copyprofBinary)
        process.arguments = Self.tinyRun + ["--output", fifo, "--no-report"]
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // The note comes once the sweep is done and the open waits; only then is Ctrl-C sent.
        var stderr = Data()
        let deadline = Date().addingTimeInterval(60)
        let fd = err.fileHandleForReading.fileDescriptor
        while !String(decoding: stderr, as: UTF8.self).contains("waiting for a reader") && Date() < deadline {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 100) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            stderr.append(contentsOf: chunk[0..<n])
        }
        #expect(String(decoding: stderr, as: UTF8.self).contains("copyprof: waiting for a reader of \(fifo) to take the profile (Ctrl-C saves it in a file instead)"))
        process.interrupt()
        // A hang fails the test, not the suite.
        let pid = process.processIdentifier
        let watchdog = Thread {
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(pid, SIGKILL) }
        }
        watchdog.start()
        stderr.append(err.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        let text = String(decoding: stderr, as: UTF8.self)
        #expect(process.terminationStatus == 1, "\(text)")
        let line = try #require(text.split(separator: "\n").first { $0.contains("the measurements are saved in") }, "\(text)")
        #expect(line.contains("\(fifo): no reader opened it; the measurements are saved in"), "\(line)")
        let fallback = String(line.split(separator: " ").dropLast().last!)
        #expect(try Profile.read(from: fallback).cells.count == 1)
        try FileManager.default.removeItem(atPath: fallback)
        #expect(fileType(fifo) == S_IFIFO)
    }

    @Test func aRunChecksItsOutputBeforeMeasuring() throws {
        let dir = try temporaryDirectory()
        for (output, problem) in [
            ("", "no path given"), (dir, "is a directory"), ("/etc/passwd/profile.json", "Not a directory"),
            ("/proc/profile.json", "cannot create a file in /proc"),
        ] {
            let started = Date()
            let result = try runProcess(copyprofBinary, Self.tinyRun + ["--output", output, "--trials", "100", "--duration", "0.1"], timeout: 30)
            #expect(result.status == 1, "\(output)")
            #expect(result.stderr.contains(problem), "\(output): \(result.stderr)")
            #expect(!result.stderr.contains("runs, about"), "\(output): the sweep started")
            #expect(Date().timeIntervalSince(started) < 10, "failed before measuring 100 trials of 0.1 s")
        }
    }

    @Test func whenTheOutputFailsAtTheEndTheMeasurementsGoToAFallbackFile() throws {
        let dir = try temporaryDirectory()
        let result = try runProcess(copyprofBinary, Self.tinyRun + ["--output", "/dev/full"], in: dir, timeout: 60)
        #expect(result.status == 1)
        #expect(result.stdout.contains("Gbit/s"), "the summary table is printed anyway: \(result.stdout)")
        let line = try #require(result.stderr.split(separator: "\n").first { $0.contains("the measurements are saved in") })
        let fallback = String(line.split(separator: " ").dropLast().last!)
        let profile = try Profile.read(from: fallback)
        #expect(profile.cells.first?.trials.map(\.kind) == [.timing, .counted] || profile.cells.first?.trials.map(\.kind) == [.counted, .timing],
                "one round: a timing and a counted trial")
        try FileManager.default.removeItem(atPath: fallback)
    }

    @Test func twoRunsAtTheSameTimeKeepTwoProfiles() throws {
        let dir = try temporaryDirectory()
        let results = ResultBox()
        let threads = (0..<2).map { _ in
            Thread {
                let result = try? runProcess(copyprofBinary, Self.tinyRun + ["--label", "same", "--no-report"], in: dir, timeout: 60)
                results.append(result)
            }
        }
        threads.forEach { $0.start() }
        while threads.contains(where: \.isExecuting) || results.count < 2 { Thread.sleep(forTimeInterval: 0.05) }
        for result in results.outputs { #expect(result?.status == 0, "\(result?.stderr ?? "")") }
        let printed = Set(results.outputs.compactMap { $0?.stdout.split(separator: "\n").first { $0.hasPrefix("profile: ") } })
        #expect(printed.count == 2, "\(printed)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/profiles").count == 2)
        // The same name twice, in process: the second write takes the next name and the first file is kept.
        let candidates = ["\(dir)/x.json", "\(dir)/x-2.json"]
        #expect(try OutputFile.writeNew(Data("a".utf8), candidates: candidates) == candidates[0])
        #expect(try OutputFile.writeNew(Data("b".utf8), candidates: candidates) == candidates[1])
        #expect(try String(contentsOfFile: candidates[0], encoding: .utf8) == "a")
    }

    @Test func sigtermIsRecordedAsSigterm() throws {
        let dir = try temporaryDirectory()
        let path = "\(dir)/term.json"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: copyprofBinary)
        process.arguments = Self.tinyRun + ["--trials", "60", "--duration", "0.1", "--output", path, "--no-report"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: 1.5)
        process.terminate()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + SIGTERM, "\(stderr)")
        #expect(stderr.contains("interrupted (SIGTERM)"), "\(stderr)")
        let profile = try Profile.read(from: path)
        #expect(profile.status == .interrupted && profile.statusReason == "interrupted (SIGTERM)")
    }

    @Test func aSignalDuringAWriteRemovesTheTemporaryFile() throws {
        // A CSV of tens of MB, written to a temporary file beside the output and then renamed over it. The writer is
        // stopped (SIGSTOP) the moment inotify reports that file, sent SIGTERM while stopped, and continued: the signal
        // arrives while the temporary file exists, however quick the write.
        let dir = try temporaryDirectory()
        var profile = SampleProfiles.make(throughput: [8.192])
        let trial = profile.cells[0].trials[0]
        profile.cells[0].trials = (1...60_000).map { var t = trial; t.trial = $0; return t }
        profile.plan.trials = 60_000
        try profile.write(to: "\(dir)/big.json")
        var stopped: (writer: Process, output: String, temporary: String)?
        for attempt in 0..<5 where stopped == nil {
            let output = "\(dir)/out\(attempt).csv"
            stopped = try Self.exportStoppedWhileWriting("\(dir)/big.json", to: output).map { ($0.writer, output, $0.temporary) }
        }
        guard let stopped else {
            try Test.cancel("the writer renamed its temporary file before it could be stopped, 5 times (a machine this loaded cannot show it)")
        }
        kill(stopped.writer.processIdentifier, SIGTERM)
        kill(stopped.writer.processIdentifier, SIGCONT)
        stopped.writer.waitUntilExit()
        #expect(stopped.writer.terminationReason == .uncaughtSignal && stopped.writer.terminationStatus == SIGTERM)
        #expect(!FileManager.default.fileExists(atPath: stopped.temporary), "\(stopped.temporary) left behind")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        #expect(left.isEmpty, "temporary files left behind: \(left)")
        #expect(!FileManager.default.fileExists(atPath: stopped.output), "no partial output")
    }

    /// Starts `copyprof export PROFILE --csv --output OUTPUT` and stops it (SIGSTOP) as soon as its temporary file
    /// `OUTPUT.tmp-…` is created (inotify, IN_CREATE), then returns it stopped with that file's path. Nil when the file
    /// was already renamed by the time the writer stopped: the writer has then been continued and has ended.
    static func exportStoppedWhileWriting(_ profile: String, to output: String) throws -> (writer: Process, temporary: String)? {
        let folder = (output as NSString).deletingLastPathComponent
        let prefix = (output as NSString).lastPathComponent + ".tmp-"
        let watch = inotify_init1(Int32(IN_CLOEXEC))
        try #require(watch >= 0, "inotify_init1: \(String(cString: strerror(errno)))")
        defer { close(watch) }
        try #require(inotify_add_watch(watch, folder, UInt32(IN_CREATE)) >= 0, "inotify_add_watch: \(String(cString: strerror(errno)))")
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: copyprofBinary)
        writer.arguments = ["export", profile, "--csv", "--output", output]
        writer.standardError = FileHandle.nullDevice
        try writer.run()
        let pid = writer.processIdentifier
        var events = [UInt8](repeating: 0, count: 64 << 10)
        let deadline = Date().addingTimeInterval(60)
        while writer.isRunning && Date() < deadline {
            var ready = pollfd(fd: watch, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 100) > 0 else { continue }
            let count = read(watch, &events, events.count)
            // struct inotify_event: wd, mask, cookie, len (4 bytes each), then len bytes of NUL-padded name.
            var offset = 0
            while count > 0 && offset + 16 <= count {
                let length = Int(events[offset + 12..<offset + 16].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
                let name = String(decoding: events[offset + 16..<offset + 16 + length].prefix { $0 != 0 }, as: UTF8.self)
                offset += 16 + length
                guard name.hasPrefix(prefix) else { continue }
                kill(pid, SIGSTOP)
                // Stopped means stopped: a signal is taken only on the way back to user space (/proc/PID/stat: T).
                while writer.isRunning && processState(pid) != "T" { usleep(100) }
                let temporary = "\(folder)/\(name)"
                if writer.isRunning && access(temporary, F_OK) == 0 { return (writer, temporary) }
                kill(pid, SIGCONT)
            }
        }
        writer.waitUntilExit()
        return nil
    }

    /// The state letter of /proc/PID/stat (R, S, D, T, Z…), nil once the process is gone.
    static func processState(_ pid: pid_t) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].first { $0 != " " }
    }
}

/// Results handed back from other threads (the test waits for them before reading).
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    var data = Data()
    private(set) var outputs: [ProcessOutput?] = []
    var count: Int { lock.withLock { outputs.count } }
    func append(_ output: ProcessOutput?) { lock.withLock { outputs.append(output) } }
}
