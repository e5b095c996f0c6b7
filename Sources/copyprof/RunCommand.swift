import CopyprofFiles
import CopyprofModel
import ArgumentParser
import CopyprofProfile
import CopyprofRemote
import CopyprofReport
import CopyprofSweep
import Foundation
import PerfCounters

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Profile a sweep of transport runs with counters in every thread, into profiles/.",
        discussion: """
            Runs transports × receivers × message sizes × connection counts × workloads in rounds: every round runs every cell once \
            without counters (timing) and once with counters in every sender and receiver thread (counted), the \
            order rotating, after a short control workload that measures the machine itself. Writes one JSON \
            profile (atomically), prints a summary table, and exits 130 after Ctrl-C with the trials that finished \
            saved and the profile marked interrupted. Defaults: the classic matrix (four transports, the copy receiver), \(SweepPlan.defaultTrials) rounds \
            of \(SweepPlan.defaultDuration) s trials after 1 warm-up round (under 2 minutes on 2 cores).
            """
    )

    @Option(
        help: ArgumentHelp(
            "Transports (senders), comma-separated: \(choices(TransportKind.self)). (default: \(TransportKind.classic.map(\.rawValue).joined(separator: ",")); --preset all-paths: all)",
            valueName: "list"),
        transform: { try parseChoices($0, option: "--transports") })
    var transports: [TransportKind]?
    @Option(
        help: ArgumentHelp(
            "Receivers, comma-separated: copy (recv into a buffer), discard (recv MSG_TRUNC: no copy, nothing verified), mmap (TCP_ZEROCOPY_RECEIVE). (default: copy; --preset all-paths: all)",
            valueName: "list"),
        transform: { try parseChoices($0, option: "--receivers") })
    var receivers: [ReceiverKind]?
    @Option(
        help: ArgumentHelp(
            "A named sweep: all-paths (every sender × every receiver, stream and ping-pong, 4096 and 65536 B, 1 connection, \(SweepPlan.defaultTrials) rounds). Options given with it override its values.",
            valueName: "name"),
        transform: { try parseChoice($0, option: "--preset") })
    var preset: Preset?
    @Option(
        help: ArgumentHelp(
            "Message sizes, comma-separated: bytes, or K, M with binary units (K = 1024 bytes: 64K, 64KiB, 1M, 1MiB); multiples of 64 from 64 B to 16M. (default: \(list(SweepPlan().sizes)); --quick: \(list(SweepPlan.quick().sizes)))",
            valueName: "list"),
        transform: { try parseByteCounts($0, option: "--sizes") })
    var sizes: [Int]?
    @Option(
        help: ArgumentHelp(
            "Connection counts, comma-separated; each connection has a sender and a receiver thread. (default: \(list(SweepPlan().connections)); --quick: \(list(SweepPlan.quick().connections)))",
            valueName: "list"),
        transform: { try parseIntegers($0, option: "--connections") })
    var connections: [Int]?
    /// The old name of --connections, still accepted.
    @Option(
        name: .customLong("threads"), help: ArgumentHelp(visibility: .hidden),
        transform: { try parseIntegers($0, option: "--threads") })
    var threads: [Int]?
    @Option(
        help: ArgumentHelp("Workloads, comma-separated: \(choices(Workload.self)). (default: both)", valueName: "list"),
        transform: { try parseChoices($0, option: "--workloads") })
    var workloads: [Workload]?
    /// The old name of --workloads, still accepted.
    @Option(
        name: .customLong("modes"), help: ArgumentHelp(visibility: .hidden),
        transform: { try parseChoices($0, option: "--modes") })
    var modes: [Workload]?
    @Option(help: "Recorded rounds: trials of each kind (timing, counted) per cell. (default: \(SweepPlan.defaultTrials); --quick: \(SweepPlan.quick().trials))")
    var trials: Int?
    @Option(help: "Warm-up rounds, not recorded. (default: \(SweepPlan().warmup))")
    var warmup: Int?
    @Option(
        help: ArgumentHelp("Time per trial: seconds (0.5, 2s) or milliseconds (500ms). (default: \(SweepPlan.defaultDuration) s)", valueName: "time"),
        transform: { try parseDuration($0, option: "--duration") })
    var duration: Double?
    @Option(help: "Counter events, comma-separated perf names or subsystem:name tracepoints; 'none' runs timing trials only (rusage and the thread CPU clock). (default: the whole catalog; events this host cannot count are recorded once with the reason)")
    var events: String?
    @Option(help: ArgumentHelp(
        "Sample every sender and receiver thread in the counted trials, to show where their time goes (report: 'Where the time goes'): on or off. (default: on)",
        valueName: "on|off"),
        transform: { try parseChoice($0, option: "--sample") })
    var sample: SampleSwitch = .on
    @Option(help: ArgumentHelp(
        "Samples per second of each thread's CPU time. (default: \(SweepSamplingOptions.defaultFrequency), as perf record)",
        valueName: "Hz"))
    var sampleFrequency: Int?
    @Option(help: ArgumentHelp(
        "The sampled events, comma-separated: cycles (the default where a core PMU exists; cpu-clock without one), cpu-clock, and beside cycles on a host with a PMU L1-dcache-load-misses, LLC-load-misses.",
        valueName: "list"))
    var sampleEvents: String?
    @Option(help: ArgumentHelp(
        "Enable and disable a perf session around every timed loop, so that perf counts what copyprof counts: the FIFOs given to perf stat --control fifo:CTL,ACK -D -1 (or perf record --control). Local runs only.",
        valueName: "CTL[,ACK]"))
    var perfControl: String?
    @Option(
        help: ArgumentHelp("Verification of received messages: the sequence and length (header) or every byte (full). (default: header)", valueName: "header|full"),
        transform: { try parseChoice($0, option: "--verify") })
    var verify: Verification?
    @Option(help: "A name for this run, kept in the profile and its file name.")
    var label: String?
    @Option(help: "The profile's path; `-` for standard output; an existing file only with --force. Checked before measuring. (default: profiles/<UTC time>-<label>.json, never an existing file)")
    var output: String?
    @Flag(help: "Replace the files --output and --report name when they exist (without it, an existing file is refused before measuring).")
    var force = false
    @Flag(help: "A small sweep for a first look: 2 sizes, 1 and 2 connections, 3 trials.")
    var quick = false
    @Flag(help: "Do not write the report (reports/<profile name>.md) after the profile.")
    var noReport = false
    @Option(help: "The report's Markdown path; its charts go in a folder beside it; an existing file only with --force. Printed before measuring. (default: reports/<profile name>.md, the profile's own report)")
    var report: String?
    @Option(help: "Run the receivers on another host, in its `copyprof serve` at HOST:PORT.")
    var connect: String?
    /// Test-only and hidden: a transport made slower on purpose (its senders copy each message COPIES more times), to
    /// check that `compare` finds a real change. The profile's command line says it was used.
    @Option(name: .customLong("test-slow-transport"), help: ArgumentHelp(visibility: .hidden))
    var testSlowTransport: String?

    /// `one-copy` or `one-copy:4`: the transport and its extra copies per message (1 when not given).
    func slowTransport() throws -> (transport: TransportKind, copies: Int)? {
        guard let testSlowTransport else { return nil }
        let parts = testSlowTransport.split(separator: ":", maxSplits: 1).map(String.init)
        guard let name = parts.first, let transport = TransportKind(rawValue: name) else {
            throw ValidationError("--test-slow-transport takes TRANSPORT[:COPIES], e.g. one-copy:4")
        }
        let copies = parts.count == 2 ? Int(parts[1]) : 1
        guard let copies, (1...1000).contains(copies) else {
            throw ValidationError("--test-slow-transport: COPIES must be a whole number from 1 to 1000")
        }
        return (transport, copies)
    }

    /// The sweep the options describe: a preset's plan, --quick's or the default one, with each given option applied.
    func makePlan() throws -> SweepPlan {
        var plan = preset.map { $0.plan } ?? (quick ? SweepPlan.quick() : SweepPlan())
        if let transports { plan.transports = transports }
        if let receivers { plan.receivers = receivers }
        if let sizes { plan.sizes = sizes }
        if let connections = connections ?? threads { plan.connections = connections }
        if let workloads = workloads ?? modes { plan.workloads = workloads }
        if let trials { plan.trials = trials }
        if let warmup { plan.warmup = warmup }
        if let duration { plan.duration = duration }
        if let verify { plan.verification = verify }
        if events == "none" {
            plan.events = []
        } else if let events {
            plan.events = try parseEvents(events, option: "--events").map(\.name)
        }
        plan.label = label
        do { try plan.validate() } catch { throw ValidationError(error.description) }
        return plan
    }

    func validate() throws {
        if let label, label.contains("/") { throw ValidationError("--label cannot contain '/'") }
        if connections != nil && threads != nil { throw ValidationError("--threads is the old name of --connections: give one") }
        if workloads != nil && modes != nil { throw ValidationError("--modes is the old name of --workloads: give one") }
        if quick && preset != nil { throw ValidationError("--quick and --preset are two different sweeps: give one") }
        if let connect { _ = try parseHostPort(connect, option: "--connect") }
        _ = try slowTransport()
        if testSlowTransport != nil && connect != nil { throw ValidationError("--test-slow-transport runs locally only") }
        if perfControl != nil && connect != nil {
            throw ValidationError("--perf-control runs locally only: start perf with copyprof serve's process on the other host")
        }
        if noReport && report != nil { throw ValidationError("--report and --no-report: choose one") }
        _ = try samplingOptions()
    }

    /// How the counted trials are sampled; nil with `--sample off`.
    func samplingOptions() throws -> SweepSamplingOptions? {
        guard sample == .on else {
            if sampleFrequency != nil || sampleEvents != nil {
                throw ValidationError("--sample-frequency and --sample-events need sampling on: drop them or --sample off")
            }
            return nil
        }
        var options = SweepSamplingOptions()
        if let sampleFrequency {
            guard RunLimits.sampleFrequency.contains(sampleFrequency) else {
                throw ValidationError(
                    "--sample-frequency: \(sampleFrequency) Hz is not from \(RunLimits.sampleFrequency.lowerBound) "
                        + "to \(RunLimits.sampleFrequency.upperBound) Hz")
            }
            options.frequency = sampleFrequency
        }
        if let sampleEvents {
            do { (options.event, options.cacheMissEvents) = try SweepSamplingOptions.parseEvents(sampleEvents) } catch {
                throw ValidationError("--sample-events: \(error.description)")
            }
        }
        return options
    }

    func run() throws {
        let plan = try makePlan()
        let requested = plan.events.compactMap { try? PerfEvent.named($0) }
        let environment = EnvironmentInfo.capture(
            events: requested, label: label, commandLine: CommandLine.arguments, copyprofVersion: CopyprofVersion.current,
            twoHost: connect != nil)
        let counted = requested.filter { event in environment.events.contains { $0.name == event.name && $0.availability.isOpen } }
        if counted.isEmpty && events != nil && events != "none" {
            let reasons = environment.events.map { "\($0.name): \($0.availability)" }.joined(separator: "; ")
            throw CopyprofError.countersUnavailable("none of the requested events can be counted here (\(reasons))")
        }
        // Where the profile and the report go, checked before anything is measured.
        let candidates = output.map { [$0] } ?? defaultProfilePaths(label: label)
        // A path given is never replaced without --force; the default names never collide (the profile's own report,
        // reports/<profile name>.md, is that profile's and is written again with it).
        let replacingProfile = output == nil || force
        let replacingReport = report == nil || force
        let profileIsFile = try OutputFile.destination(of: candidates[0]).isRegularFile
        try OutputFile.checkWritable(candidates[0], replacing: replacingProfile)
        // A report goes beside a profile file, or wherever --report says (also for a profile on standard output).
        let writesReport = !noReport && (profileIsFile || report != nil)
        let reportPath = report ?? Report.defaultPaths(forProfile: candidates[0]).markdown
        if writesReport {
            try OutputFile.checkWritable(reportPath, replacing: replacingReport)
            let profileShown = candidates[0] == "-" ? "standard output" : candidates[0]
            let chartsShown = try OutputFile.destination(of: reportPath).isRegularFile
                ? " (charts in \(chartFolderPath(forReport: reportPath))/)" : ""
            note("profile: \(profileShown); report: \(reportPath == "-" ? "standard output" : reportPath)\(chartsShown)")
        }

        var runner = SweepRunner(plan: plan, events: counted)
        runner.slowTransport = try slowTransport()
        runner.sampling = try samplingOptions()
        if let perfControl {
            do { runner.perfControl = try PerfControl(perfControl) } catch { throw ValidationError(error.description) }
        }
        var remote: RemoteClient?
        if let connect {
            let client = try RemoteClient(server: try parseHostPort(connect, option: "--connect"))
            note("server \(client.info.server): \(client.info.serverEnvironment.hostname), "
                 + "path \(client.info.clientPath.description)")
            do { try client.checkPlan(plan) } catch {
                client.close()
                throw error
            }
            runner.remote = client
            remote = client
        }
        defer { remote?.close() }
        let uncounted = environment.events.filter { !$0.availability.isOpen }
        if !uncounted.isEmpty, uncounted.count == environment.events.count,
            Set(uncounted.map(\.availability.description)).count == 1
        {
            // Refused outright (a seccomp filter, Debian's or Ubuntu's perf_event_paranoid above 2): the one reason.
            note("cannot count any event here: \(uncounted[0].availability.reason ?? uncounted[0].availability.state.rawValue); "
                + "CPU time and context switches come from getrusage and the thread CPU clock")
        } else if !uncounted.isEmpty {
            // One line; the reasons are in the profile, the report and `copyprof counters`.
            let hardware = uncounted.allSatisfy { $0.kind == "hardware" || $0.kind == "cache" }
            note("cannot count \(uncounted.count) of \(environment.events.count) events here"
                + (hardware ? " (hardware)" : "") + "; see copyprof counters")
        }
        if let sampling = runner.samplingSummary() { note(sampling) }
        Interruption.installGracefulStop()
        let progress = ProgressDisplay(
            estimatedSeconds: plan.estimatedSeconds(kinds: runner.kinds.count), runCount: runner.runCount)
        let profile = runner.run(
            environment: environment, shouldStop: { Interruption.requested }, stopReason: { Interruption.reason },
            progress: progress.update)
        progress.finish()

        // Save what was measured, whatever else fails: at the chosen path, or else in a fallback file.
        var path: String?
        var saveError: Error?
        do {
            if output != nil {
                var noted = false
                try profile.write(to: candidates[0], replacing: replacingProfile) { fifo in
                    if !noted {
                        note("waiting for a reader of \(fifo) to take the profile (Ctrl-C saves it in a file instead)")
                        noted = true
                    }
                    return !Interruption.requested
                }
                path = candidates[0]
            } else {
                path = try OutputFile.writeNew(try profile.jsonData(), candidates: candidates)
            }
        } catch {
            saveError = error
            do {
                let rescued = try OutputFile.writeNew(try profile.jsonData(), candidates: fallbackProfilePaths())
                note("\(error); the measurements are saved in \(rescued) instead")
            } catch let fallbackError {
                note("\(error); and the fallback failed too: \(fallbackError)")
            }
        }
        // Standard output last: when it fails, the profile is already safe, and the report is still written. With
        // the profile itself on standard output, the table goes to stderr.
        var outputError: Error?
        func show(_ text: String) {
            do { try writeStandardOutput(text) } catch { if outputError == nil { outputError = error } }
        }
        if path == "-" {
            writeStandardError(SummaryTable.render(profile))
        } else {
            show(SummaryTable.render(profile))
            if let path { show("profile: \(path)\n") }
        }
        let kept = profile.cells.reduce(0) { $0 + $1.trials.count }
        if !noReport, let path {
            if kept == 0 {
                // Nothing to report: an empty report would only claim a method that never ran.
                note("no trial finished\(profile.status == .interrupted ? " before the run was \(profile.statusReason ?? Interruption.reason)" : ""): "
                    + "nothing was measured, so no report; the profile \(path == "-" ? "" : "(\(path)) ")keeps the host's environment")
            } else if writesReport {
                let written = try writeReport(profile, profilePath: path, output: report, replacing: replacingReport)
                if written != "-" { show("report: \(written)\n") }
            } else {
                note("no report: the profile went to \(path == "-" ? "standard output" : path), not a file "
                    + "(--report PATH writes one; copyprof report PROFILE makes one later)")
            }
        }
        if let saveError { throw saveError }
        if let outputError { throw outputError }
        if profile.status == .interrupted {
            if let reason = profile.statusReason, runner.remote != nil || runner.perfControl != nil, !Interruption.requested {
                note("\(reason); the profile keeps the \(kept) trials that finished and is marked incomplete")
                throw ExitCode.failure
            }
            note("\(Interruption.reason): the profile keeps the \(kept) trials that finished and is marked incomplete")
            throw ExitCode(Interruption.exitCode)
        }
        let unsupported = profile.cells.filter { $0.notSupported != nil }
        if !unsupported.isEmpty {
            // Not a failure: the host cannot run them, and the profile and report say why.
            note("\(unsupported.count) cell(s) not supported on this host; why is under the table and in the profile")
        }
        let failed = profile.cells.filter { $0.error != nil }
        if !failed.isEmpty {
            note("\(failed.count) cell(s) failed; their errors are under the table and in the profile")
            throw ExitCode.failure
        }
    }
}

/// `--sample on|off`.
enum SampleSwitch: String, NamedChoice {
    case on, off
}

/// The named sweeps of `--preset`.
enum Preset: String, NamedChoice {
    /// Every sender with every receiver.
    case allPaths = "all-paths"

    var plan: SweepPlan {
        switch self {
        case .allPaths: return SweepPlan.allPaths()
        }
    }
}

/// The UTC time to the millisecond, for file names: 20261125T050848.123Z.
func fileTimeStamp(_ date: Date = Date()) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
    return formatter.string(from: date)
}

/// profiles/<UTC time>[-label].json, then the same with -2, -3, ...: the profile is written to the first that does not
/// exist, so two runs started in the same millisecond keep two profiles.
func defaultProfilePaths(label: String?) -> [String] {
    let base = "profiles/\(fileTimeStamp())\(label.map { "-\($0)" } ?? "")"
    return ["\(base).json"] + (2...999).map { "\(base)-\($0).json" }
}

/// Where a profile goes when its own path cannot be written at the end of a run: the temporary folder, the working
/// folder, the home folder.
func fallbackProfilePaths() -> [String] {
    let name = "copyprof-unsaved-\(fileTimeStamp())-\(getpid())"
    var folders = [NSTemporaryDirectory(), FileManager.default.currentDirectoryPath]
    if let home = ProcessInfo.processInfo.environment["HOME"] { folders.append(home) }
    return folders.flatMap { folder in
        (1...3).map { ((folder as NSString).appendingPathComponent(name) as NSString).appendingPathExtension("\($0).json")! }
    }
}

/// `64,512` for help texts.
private func list(_ values: [Int]) -> String { values.map(String.init).joined(separator: ",") }
