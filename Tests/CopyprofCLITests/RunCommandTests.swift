import CopyprofModel
import Foundation
import PerfCounters
import TestSupport
import Testing
import Transports

import CopyprofProfile
import CopyprofReport
@testable import CopyprofSweep
@testable import copyprof

/// End-to-end runs of the copyprof binary on loopback, reading back what it wrote.
@Suite(.serialized) struct RunCommandTests {
    @Test func smallSweepWritesACompleteProfileAndCSV() throws {
        let dir = try temporaryDirectory()
        let path = "\(dir)/sweep.json"
        let run = try runProcess(copyprofBinary, [
            "run", "--transports", "two-copy,marshal,one-copy,zero-copy", "--sizes", "64,4096", "--connections", "1,2",
            "--workloads", "stream,pingpong", "--trials", "2", "--warmup", "0", "--duration", "0.05", "--verify", "full",
            "--label", "e2e", "--output", path, "--no-report",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("profile: \(path)"))
        #expect(run.stdout.contains("Gbit/s"))

        let profile = try Profile.read(from: path)
        #expect(profile.status == .complete)
        // The CPU's vendor and family, as /proc/cpuinfo gives them (issue 21: what the cache events count depends on it).
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        if let vendor = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("vendor_id") }) {
            #expect(profile.environment.cpuVendor == vendor.split(separator: ":").last?.trimmingCharacters(in: .whitespaces))
            #expect(profile.environment.cpuFamily != nil)
        } else {
            #expect(profile.environment.cpuFamily == nil)
        }
        #expect(profile.cells.count == 4 * 2 * 2 * 2)
        #expect(Set(profile.cells.map(\.key)) == Set(profile.plan.cells))
        var idleTrials: Set<String> = []  // "workload size connections transport trial", as the CSV rows say
        for cell in profile.cells {
            #expect(cell.error == nil, "\(cell.key): \(cell.error ?? "")")
            // Two rounds, each with a timing and a counted trial.
            #expect(cell.trials.map(\.kind).filter { $0 == .timing }.count == 2, "\(cell.key)")
            #expect(cell.trials.map(\.kind).filter { $0 == .counted }.count == 2, "\(cell.key)")
            #expect(cell.trials.compactMap(\.round).sorted() == [1, 1, 2, 2])
            for trial in cell.trials {
                #expect(trial.integrityErrors == 0, "\(cell.key)")
                #expect(trial.deliveryMismatches(mode: cell.key.workload).isEmpty, "\(cell.key): \(trial.deliveryMismatches(mode: cell.key.workload))")
                #expect(trial.elapsedNs > 0)
                if trial.idleWorkers.isEmpty {
                    #expect(trial.bytes > 0, "\(cell.key) trial \(trial.trial)")
                } else {
                    // A worker the scheduler did not run within the 0.05 s window (see `idleWorkers`).
                    print("\(cell.key) trial \(trial.trial): \(trial.idleWorkers.map { "connection \($0.connection) \($0.role)" }) "
                          + "ran no iteration (not scheduled within the window)")
                    idleTrials.insert("\(cell.key.workload.rawValue) \(cell.key.messageSize) \(cell.key.connections) \(cell.key.transport.rawValue) \(trial.trial)")
                }
                #expect(trial.workers.count == 2 * cell.key.connections)
                // Each worker's own thread, by its kernel id (what perf stat -t takes).
                #expect(Set(trial.workers.compactMap(\.tid)).count == trial.workers.count, "\(cell.key)")
                for worker in trial.workers {
                    if trial.kind == .counted {
                        #expect(worker.counters["task-clock"]?.value != nil, "\(cell.key) \(worker.role)")
                        // Not permitted where this user may count user space only: absent then, never a 0.
                        #expect((worker.counters["context-switches"] != nil) == mayCountTheKernel, "\(cell.key) \(worker.role)")
                    } else {
                        #expect(worker.counters.isEmpty, "a timing trial opens no counters")
                    }
                    #expect(worker.usage.cpuClockNs > 0)
                }
                #expect((trial.rtt != nil) == (cell.key.workload == .pingpong))
                #expect((trial.zeroCopy != nil) == (cell.key.transport == .zeroCopy))
                if let zero = trial.zeroCopy { #expect(zero.completions == zero.sends) }
            }
        }
        // The control ran once per recorded round.
        #expect(profile.control?.samples.map(\.round) == [1, 2])
        #expect(profile.control?.samples.allSatisfy { $0.copyNs > 0 && $0.syscallNs > 0 && $0.cpuNs > 0 && $0.wakeNs > 0 } == true)
        #expect(idleTrials.count * 4 <= profile.cells.count * 2, "\(idleTrials.count) idle trials: most should move data")
        // Every catalog event has a status, counted or with a reason.
        let env = profile.environment
        #expect(env.events.map(\.name) == PerfEvent.catalog.map(\.name))
        #expect(env.events.allSatisfy { $0.availability.isOpen || $0.availability.reason != nil })
        #expect(!env.kernelRelease.isEmpty && env.cpuCount > 0 && env.memoryBytes > 0)
        #expect(env.loopbackMTU != nil && env.optmemMax != nil && env.tcpWmem != nil && env.tcpRmem != nil)
        #expect(env.perfEventParanoid != nil && !env.pmus.isEmpty)
        #expect(env.label == "e2e" && env.endTime != nil && env.commandLine.contains("--label"))

        let csvPath = "\(dir)/sweep.csv"
        let export = try runProcess(copyprofBinary, ["export", path, "--csv", "--output", csvPath])
        #expect(export.status == 0, "\(export.stderr)")
        let lines = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n")
        #expect(lines.first.map(String.init)?.hasPrefix(CSVExport.columns.joined(separator: ",")) == true)
        #expect(lines.count == 1 + profile.cells.reduce(0) { $0 + $1.trials.count })
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false)
        for line in lines.dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            #expect(fields.count == header.count)
            let row = Dictionary(uniqueKeysWithValues: zip(header.map(String.init), fields.map(String.init)))
            #expect(row["integrity_errors"] == "0")
            #expect(row["kind"] == "timing" || row["kind"] == "counted")
            #expect(Double(row["task_clock_ns"] ?? "") != nil || row["kind"] == "timing", "task-clock is counted on every host")
            let trial = ["workload", "message_size", "connections", "transport", "trial"].map { row[$0] ?? "" }.joined(separator: " ")
            if !idleTrials.contains(trial) {  // an idle trial may have no byte or round trip to divide by
                #expect(Double(row["cpu_ns_per_byte"] ?? "") != nil, "\(trial)")
                if row["workload"] == "pingpong" { #expect(Double(row["rtt_p50_us"] ?? "") != nil, "\(trial)") }
            }
            if row["workload"] != "pingpong" { #expect(row["rtt_p50_us"] == "") }
            if !profile.environment.hasHardwarePMU { #expect(row["cycles"] == "" && row["cycles_per_byte"] == "") }
        }
    }

    @Test func runWritesItsProfileAndReportUnderTheWorkingDirectory() throws {
        let dir = try temporaryDirectory()
        let run = try runProcess(copyprofBinary, [
            "run", "--transports", "two-copy", "--sizes", "64", "--connections", "1", "--workloads", "stream", "--trials", "1",
            "--warmup", "0", "--duration", "0.02", "--label", "here",
        ], in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        let profiles = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/profiles")
        let profile = try #require(profiles.first { $0.hasSuffix("-here.json") })
        let name = String(profile.dropLast(".json".count))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/reports/\(name).md"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/reports/\(name)-charts/throughput-vs-connections.svg"))
        #expect(run.stdout.contains("report: reports/\(name).md"))
    }

    /// `--output` elsewhere: the report's path is said before measuring, and `--report` puts it where asked.
    @Test func runSaysWhereTheReportGoesBeforeMeasuringAndTakesReportPath() throws {
        let dir = try temporaryDirectory()
        let small = ["run", "--transports", "two-copy", "--sizes", "64", "--connections", "1", "--workloads", "stream", "--trials", "1",
                     "--warmup", "0", "--duration", "0.02"]
        let byDefault = try runProcess(copyprofBinary, small + ["--output", "\(dir)/x.json"], in: dir)
        #expect(byDefault.status == 0, "\(byDefault.stderr)")
        let first = try #require(byDefault.stderr.split(separator: "\n").first)
        #expect(first == "copyprof: profile: \(dir)/x.json; report: reports/x.md (charts in reports/x-charts/)")
        #expect(FileManager.default.fileExists(atPath: "\(dir)/reports/x.md"))

        let chosen = try runProcess(copyprofBinary, small + ["--output", "\(dir)/y.json", "--report", "\(dir)/out/y-report.md"], in: dir)
        #expect(chosen.status == 0, "\(chosen.stderr)")
        #expect(chosen.stderr.hasPrefix("copyprof: profile: \(dir)/y.json; report: \(dir)/out/y-report.md (charts in \(dir)/out/y-report-charts/)"))
        #expect(chosen.stdout.contains("report: \(dir)/out/y-report.md"))
        #expect(FileManager.default.fileExists(atPath: "\(dir)/out/y-report-charts/throughput-vs-connections.svg"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/reports/y.md"))

        #expect(throws: (any Error).self) { try Copyprof.parseAsRoot(["run", "--no-report", "--report", "a.md"]) }
    }

    @Test func interruptedRunKeepsWhatItMeasured() throws {
        let dir = try temporaryDirectory()
        let path = "\(dir)/interrupted.json"
        let run = try runProcess(
            copyprofBinary,
            ["run", "--transports", "two-copy", "--sizes", "512", "--connections", "1", "--workloads", "stream",
             "--trials", "50", "--warmup", "0", "--duration", "0.1", "--output", path, "--no-report"],
            // Margins: a one-trial run of this cell takes 0.2 s end to end here, so a trial is kept 1.3 s before the
            // interrupt; the 50 trials would take 5 s, 3.5 s after it.
            interruptAfter: 1.5)
        #expect(run.status == 130, "\(run.stderr)")
        #expect(run.stderr.contains("interrupted"))
        let profile = try Profile.read(from: path)
        #expect(profile.status == .interrupted)
        let trials = profile.cells.reduce(0) { $0 + $1.trials.count }
        #expect(trials >= 1 && trials < 100, "\(trials) trials kept of 50 rounds × 2 kinds")
        #expect(!FileManager.default.fileExists(atPath: "\(path).tmp-\(0)"))
    }

    /// Issue 23: Ctrl-C during warm-up leaves a profile that says it has no trial, and no report claiming a method.
    @Test func anInterruptedRunWithoutATrialWritesNoReport() throws {
        let dir = try temporaryDirectory()
        let run = try runProcess(
            copyprofBinary,
            ["run", "--transports", "two-copy", "--sizes", "512", "--connections", "1", "--workloads", "stream",
             "--trials", "2", "--warmup", "8", "--duration", "0.25", "--output", "\(dir)/p.json", "--report", "\(dir)/r.md"],
            // 8 warm-up trials of 0.25 s: the interrupt comes in the third or so, seconds before the first recorded one.
            interruptAfter: 0.8)
        #expect(run.status == 130, "\(run.stderr)")
        #expect(run.stderr.contains("no trial finished before the run was interrupted (Ctrl-C): nothing was measured, so no report"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/r.md"))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/r-charts"))
        let profile = try Profile.read(from: "\(dir)/p.json")
        #expect(profile.status == .interrupted && profile.cells.allSatisfy(\.trials.isEmpty))
    }

    @Test(.enabled(if: which("perf") != nil, "perf is not installed (apt-get install linux-perf)"))
    func taskClockInTheProfileIsMostOfWhatPerfStatSees() throws {
        let perf = try #require(which("perf"))
        let dir = try temporaryDirectory()
        let path = "\(dir)/long.json"
        let run = try runProcess(perf, [
            "stat", "-x", ",", "-e", "task-clock", "--", copyprofBinary, "run", "--transports", "two-copy",
            "--sizes", "4096", "--connections", "1", "--workloads", "stream", "--trials", "1", "--warmup", "0",
            "--duration", "2", "--events", "task-clock", "--output", path, "--no-report",
            // Sampling's symbols and attribution take the sweep's thread a second of CPU in a debug build: not loops.
            "--sample", "off",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        // perf stat -x, prints: value,unit,event,...  with the value in msec for task-clock ("task-clock:u" when perf
        // may count user space only, as copyprof then does too).
        let line = try #require(run.stderr.split(separator: "\n").first { $0.contains(",task-clock,") || $0.contains(",task-clock:u,") })
        let perfMs = try #require(Double(line.split(separator: ",")[0]))
        let profile = try Profile.read(from: path)
        // One round: a counted trial (task-clock) and a timing trial (no counters: the threads' CPU clock).
        let counted = try #require(profile.cells.first?.trials.first { $0.kind == .counted })
        let timing = try #require(profile.cells.first?.trials.first { $0.kind == .timing })
        let inProcessMs = (try #require(counted.counterSum("task-clock")) + timing.cpuNs()) / 1e6
        print("task-clock: in-process \(inProcessMs) ms of the timed loops, perf stat \(perfMs) ms for the process")
        // The timing trial's part is the threads' CPU clock, not task-clock: on a VM the two differ by a few per cent
        // (task-clock carries steal time; README, Known limits), so the sum may pass perf's figure by that much.
        #expect(inProcessMs <= 1.03 * perfMs)
        #expect(inProcessMs >= 0.8 * perfMs, "the timed loops are most of the process's CPU time")
    }

    @Test func eventsNoneRunsTimingTrialsOnly() throws {
        let dir = try temporaryDirectory()
        let path = "\(dir)/none.json"
        let run = try runProcess(copyprofBinary, [
            "run", "--transports", "two-copy,one-copy", "--sizes", "512", "--connections", "1", "--workloads", "stream,pingpong",
            "--trials", "2", "--warmup", "0", "--duration", "0.02", "--events", "none", "--output", path, "--no-report",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let profile = try Profile.read(from: path)
        #expect(profile.cells.count == 4)
        for cell in profile.cells {
            #expect(cell.trials.map(\.kind) == [.timing, .timing], "\(cell.key)")
            #expect(cell.trials.allSatisfy { $0.workers.allSatisfy(\.counters.isEmpty) })
            #expect(Metric.cpuNsPerByte.summary(of: cell) != nil, "CPU ns/B from the thread CPU clock")
        }
        #expect(Analysis(profile: profile).overheads.isEmpty)
        #expect(run.stdout.contains("2+0"))
    }

    @Test func badArgumentsAreOneLineErrors() throws {
        for (arguments, message) in [
            (["run", "--sizes", "100"], "not a multiple of 64"),
            (["run", "--sizes", "1099511627776"], "not a multiple of 64 from 64 B to 16 MiB"),
            (["run", "--sizes", "4294967296"], "not a multiple of 64 from 64 B to 16 MiB"),
            (["run", "--sizes", "16777216", "--connections", "4"], "--sizes 16777216 with --connections 4 needs 4.1 GiB of message buffers"),
            (["run", "--transports", "four-copy"], "'four-copy' is not one of"),
            (["run", "--connections", "0"], "not a positive whole number"),
            (["run", "--events", "nonsense"], "unknown event 'nonsense'"),
            (["run", "--verify", "some"], "some"),
            (["export", "/nonexistent/profile.json", "--csv"], "/nonexistent/profile.json: cannot read"),
        ] {
            let result = try runProcess(copyprofBinary, arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack"))
        }
    }

    @Test func parsesTheDocumentedOptions() throws {
        let command = try #require(try Copyprof.parseAsRoot([
            "run", "--transports", "one-copy,zero-copy", "--sizes", "64,65536", "--connections", "1,8", "--workloads", "pingpong",
            "--trials", "7", "--warmup", "2", "--duration", "0.5", "--events", "task-clock,cycles", "--verify", "full",
            "--label", "x", "--output", "p.json",
        ]) as? RunCommand)
        let plan = try command.makePlan()
        #expect(plan.transports == [.oneCopy, .zeroCopy] && plan.sizes == [64, 65536] && plan.connections == [1, 8])
        #expect(plan.workloads == [.pingpong] && plan.trials == 7 && plan.warmup == 2 && plan.duration == 0.5)
        #expect(plan.events == ["task-clock", "cycles"] && plan.verification == .full && plan.label == "x")
        let slow = try #require(try Copyprof.parseAsRoot(["run", "--test-slow-transport", "one-copy:4"]) as? RunCommand)
        #expect(try slow.slowTransport()?.transport == .oneCopy && slow.slowTransport()?.copies == 4)
        #expect(throws: (any Error).self) { try Copyprof.parseAsRoot(["run", "--test-slow-transport", "four-copy"]) }
        #expect(!Copyprof.helpMessage(for: RunCommand.self).contains("test-slow"), "hidden from --help")
        let quick = try #require(try Copyprof.parseAsRoot(["run", "--quick"]) as? RunCommand).makePlan()
        #expect(quick == SweepPlan.quick())
        // The default sweep is the classic one, receivers opt-in.
        #expect(SweepPlan().cells.count == 128)
        #expect(SweepPlan().transports == [.twoCopy, .marshal, .oneCopy, .zeroCopy] && SweepPlan().receivers == [.copy])
    }

    /// One name per concept: `--connections` and `--workloads`, with the old `--threads` and `--modes` still accepted
    /// (hidden from --help), and `ping-pong` as well as `pingpong`.
    @Test func acceptsTheOldNamesAndPingPongSpelledEitherWay() throws {
        func plan(_ arguments: [String]) throws -> SweepPlan {
            try #require(try Copyprof.parseAsRoot(["run"] + arguments) as? RunCommand).makePlan()
        }
        #expect(try plan(["--connections", "1,4", "--workloads", "ping-pong"]) == plan(["--threads", "1,4", "--modes", "pingpong"]))
        #expect(try plan(["--workloads", "stream,ping-pong"]).workloads == [.stream, .pingpong])
        let help = Copyprof.helpMessage(for: RunCommand.self)
        #expect(help.contains("--connections") && help.contains("--workloads") && help.contains("stream, ping-pong"))
        #expect(!help.contains("--threads") && !help.contains("--modes"), "the old names are hidden: \(help)")
        for (arguments, message) in [
            (["run", "--threads", "1", "--connections", "2"], "--threads is the old name of --connections"),
            (["run", "--workloads", "pong"], "'pong' is not one of stream, ping-pong"),
        ] {
            let result = try runProcess(copyprofBinary, arguments)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    @Test func parsesReceiversAndThePreset() throws {
        let receivers = try #require(try Copyprof.parseAsRoot([
            "run", "--transports", "io-uring-zc,sendfile", "--receivers", "discard,mmap",
        ]) as? RunCommand).makePlan()
        #expect(receivers.transports == [.ioUringZeroCopy, .sendfile] && receivers.receivers == [.discard, .mmap])
        #expect(receivers.cells.count == 2 * 2 * 4 * 4 * 2)
        let preset = try #require(try Copyprof.parseAsRoot(["run", "--preset", "all-paths"]) as? RunCommand).makePlan()
        #expect(preset == SweepPlan.allPaths())
        #expect(preset.transports == TransportKind.allCases && preset.receivers == ReceiverKind.allCases)
        #expect(preset.cells.count == 6 * 3 * 2 * 1 * 2)
        // Options given with a preset override its values.
        let narrowed = try #require(try Copyprof.parseAsRoot(["run", "--preset", "all-paths", "--workloads", "stream"]) as? RunCommand)
            .makePlan()
        #expect(narrowed.workloads == [.stream] && narrowed.receivers == ReceiverKind.allCases)
        for (arguments, message) in [
            (["run", "--receivers", "splice"], "'splice' is not one of copy, discard, mmap"),
            (["run", "--preset", "everything"], "everything"),
            (["run", "--quick", "--preset", "all-paths"], "--quick and --preset"),
        ] {
            let result = try runProcess(copyprofBinary, arguments)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    /// A `mmap` receiver that mapped nothing says why in the profile: two-copy's data sits in the socket's page
    /// fragments, never in pages of its own; a zero-copy sender's (copied into whole pages at loopback) maps, with no
    /// reason recorded.
    @Test func mmapRecordsTheMappedShareAndWhyNothingWasMapped() throws {
        let plan = SweepPlan(
            transports: [.twoCopy, .zeroCopy], receivers: [.mmap], sizes: [65536], connections: [1], workloads: [.stream],
            trials: 1, warmup: 0, duration: 0.1, events: [], verification: .full)
        let profile = SweepRunner(plan: plan, events: []).run(environment: SampleProfiles.environment())
        let twoCopy = try #require(profile.cells.first { $0.key.transport == .twoCopy }?.trials.first?.zeroCopyReceive)
        #expect(twoCopy.mappedBytes == 0 && twoCopy.copiedBytes > 0)
        #expect(twoCopy.unmappedReason?.contains("page fragments") == true, "\(twoCopy.unmappedReason ?? "no reason")")
        let zeroCopy = try #require(profile.cells.first { $0.key.transport == .zeroCopy }?.trials.first)
        #expect(zeroCopy.integrityErrors == 0)
        // This host's loopback MTU (the profile's environment is a sample's): whole pages need a large one.
        let hostMTU = (try? String(contentsOfFile: "/sys/class/net/lo/mtu", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let mapping = try #require(zeroCopy.zeroCopyReceive, "a mmap receiver records what it mapped")
        if let mtu = hostMTU, mtu >= 65536 {
            #expect(mapping.mappedBytes > 0 && mapping.unmappedReason == nil)
            #expect(Metric.mappedShare.value(of: zeroCopy).map { $0 > 50 } == true)
        }
    }

    /// A host without io_uring (simulated at the probe: a test may not disable it host-wide): the cell records "not
    /// supported" and why, holds no trial, and the sweep goes on with the other cells; the table, the report and a
    /// profile read back say so.
    @Test func aCellTheHostCannotRunIsRecordedAndTheSweepGoesOn() throws {
        var plan = SweepPlan(
            transports: [.twoCopy, .ioUringZeroCopy], receivers: [.copy, .mmap], sizes: [4096], connections: [1],
            workloads: [.stream], trials: 2, warmup: 1, duration: 0.02, events: ["task-clock"])
        plan.label = "absent"
        for absence in [SimulatedAbsence.ioUring(errno: EPERM), .ioUring(errno: ENOSYS), .zeroCopyReceive(errno: ENOPROTOOPT)] {
            var runner = SweepRunner(plan: plan, events: [try PerfEvent.named("task-clock")])
            runner.faults = FaultInjection(absence: absence)
            let start = Date()
            let profile = runner.run(environment: SampleProfiles.environment())
            let elapsed = Date().timeIntervalSince(start)
            #expect(profile.status == .complete && profile.cells.count == 4)
            for cell in profile.cells {
                let absent: Bool
                switch absence {
                case .ioUring: absent = cell.key.transport == .ioUringZeroCopy
                case .zeroCopyReceive: absent = cell.key.receiver == .mmap
                }
                if absent {
                    let why = try #require(cell.notSupported, "\(cell.key)")
                    #expect(why.contains(absence == .zeroCopyReceive(errno: ENOPROTOOPT) ? "TCP_ZEROCOPY_RECEIVE" : "io_uring_setup"))
                    #expect(cell.trials.isEmpty && cell.error == nil, "\(cell.key)")
                } else {
                    // 2 rounds of a timing and a counted trial.
                    #expect(cell.notSupported == nil && cell.error == nil && cell.trials.count == 4, "\(cell.key)")
                }
            }
            // Said once per cell, at once: no worker waited for a start that never came.
            #expect(elapsed < 5, "\(elapsed) s")
            let table = SummaryTable.render(profile)
            #expect(table.contains("n/s") && table.contains("not supported: stream "), "\(table)")
            // The table fits 79 columns — a header, a line per receiver's section, a row per cell — and the notes and
            // reasons under it are lines of text.
            let rows = table.split(separator: "\n").prefix { !$0.hasPrefix("*") && !$0.hasPrefix("sw/MB") && !$0.hasPrefix("cp/map") && !$0.hasPrefix("not supported") }
            #expect(rows.count == 1 + 2 + 4 && rows.allSatisfy { $0.count <= 79 }, "\(table)")
            #expect(rows.contains("receiver mmap: TCP_ZEROCOPY_RECEIVE: whole pages mapped, the rest copied"), "\(table)")
            #expect(table.components(separatedBy: "not supported: ").count == 2, "one line per reason: \(table)")
            let report = Report(profile: profile, source: "absent.json", chartFolder: "charts").markdown
            #expect(report.contains("### Not supported on this host"))
            let path = try temporaryDirectory() + "/absent.json"
            try profile.write(to: path)
            let again = try Profile.read(from: path)
            #expect(again.cells.map(\.notSupported) == profile.cells.map(\.notSupported))
        }
    }
}

/// `serve --listen` and `run --connect` take a host name as well as a numeric address.
@Suite struct HostPortTests {
    @Test func namesResolveAndNumericAddressesStayAsTheyAre() throws {
        let serve = try #require(try Copyprof.parseAsRoot(["serve", "--listen", "localhost:7115"]) as? ServeCommand)
        let address = try parseHostPort(serve.listen, option: "--listen")
        #expect(["127.0.0.1:7115", "[::1]:7115"].contains(address.description))
        #expect(try parseHostPort("[::1]:7115", option: "--listen").description == "[::1]:7115")
        #expect(throws: (any Error).self) { try Copyprof.parseAsRoot(["serve", "--listen", "localhost"]) }
        do {
            _ = try parseHostPort(":7115", option: "--connect")
            Issue.record("an empty host is an error")
        } catch {
            #expect("\(error)".contains("--connect: the host is empty; give a numeric address"))
        }
    }
}
