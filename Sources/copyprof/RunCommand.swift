import ArgumentParser
import CopyprofCore
import Foundation
import PerfCounters
import Synchronization
import Transports

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Profile a sweep of transport runs with counters in every thread, into profiles/.",
        discussion: """
            Runs transports × message sizes × thread counts × workloads, warm-ups and trials, reading the counters \
            of every sender and receiver thread around its timed loop. Writes one JSON profile (atomically), \
            prints a summary table, and exits 130 after Ctrl-C with the trials that finished saved and the profile \
            marked interrupted. Defaults: the full matrix, \(SweepPlan.defaultTrials) trials of \
            \(SweepPlan.defaultDuration) s plus 1 warm-up per cell (about 2 minutes on 2 cores).
            """
    )

    @Option(help: "Transports, comma-separated: two-copy, marshal, one-copy, zero-copy.")
    var transports: String?
    @Option(help: "Message sizes in bytes, comma-separated (multiples of 64).")
    var sizes: String?
    @Option(help: "Connection counts, comma-separated; each connection has a sender and a receiver thread.")
    var threads: String?
    @Option(help: "Workloads, comma-separated: stream, pingpong.")
    var modes: String?
    @Option(help: "Recorded trials per cell.")
    var trials: Int?
    @Option(help: "Warm-up trials per cell, not recorded.")
    var warmup: Int?
    @Option(help: "Seconds per trial.")
    var duration: Double?
    @Option(help: "Counter events, comma-separated (default: the whole catalog; unavailable ones are recorded as such); 'none' measures rusage only.")
    var events: String?
    @Option(help: "Verification of received messages: header or full.")
    var verify: Verification?
    @Option(help: "A name for this run, kept in the profile and its file name.")
    var label: String?
    @Option(help: "The profile's path (default: profiles/<time>-<label>.json).")
    var output: String?
    @Flag(help: "A small sweep for a first look (2 sizes, 1 and 2 threads, 3 trials): under 20 seconds.")
    var quick = false
    @Flag(help: "Do not write the report (reports/<profile name>.md) after the profile.")
    var noReport = false
    @Option(help: "Run the receivers on another host, in its `copyprof serve` at HOST:PORT (numeric address).")
    var connect: String?

    func makePlan() throws -> SweepPlan {
        var plan = quick ? SweepPlan.quick() : SweepPlan()
        if let transports { plan.transports = try parseList(transports, option: "--transports") }
        if let sizes { plan.sizes = try parseIntegers(sizes, option: "--sizes") }
        if let threads { plan.threads = try parseIntegers(threads, option: "--threads") }
        if let modes { plan.modes = try parseList(modes, option: "--modes") }
        if let trials { plan.trials = trials }
        if let warmup { plan.warmup = warmup }
        if let duration { plan.duration = duration }
        if let verify { plan.verification = verify }
        if events == "none" {
            plan.events = []
        } else if let events {
            do { plan.events = try PerfEvent.list(events).map(\.name) } catch { throw ValidationError(error.description) }
        }
        plan.label = label
        do { try plan.validate() } catch { throw ValidationError(error.description) }
        return plan
    }

    func validate() throws {
        if let label, label.contains("/") { throw ValidationError("--label cannot contain '/'") }
        if let connect { _ = try parseHostPort(connect, option: "--connect") }
        _ = try makePlan()
    }

    func run() throws {
        let plan = try makePlan()
        let requested = plan.events.compactMap { try? PerfEvent.named($0) }
        let environment = EnvironmentInfo.capture(
            events: requested, label: label, commandLine: CommandLine.arguments, copyprofVersion: copyprofVersion)
        let counted = requested.filter { event in environment.events.contains { $0.name == event.name && $0.availability.isOpen } }
        if counted.isEmpty && events != nil && events != "none" {
            let reasons = environment.events.map { "\($0.name): \($0.availability)" }.joined(separator: "; ")
            throw CopyprofError.countersUnavailable("none of the requested events can be counted here (\(reasons))")
        }
        let path = output ?? defaultProfilePath(label: label)

        var runner = SweepRunner(plan: plan, events: counted)
        if let connect {
            let client = try RemoteClient(server: try parseHostPort(connect, option: "--connect"))
            note("server \(client.info.server): \(client.info.serverEnvironment.hostname), "
                 + "path \(client.info.clientPath.description)")
            runner.remote = client
        }
        defer { runner.remote?.close() }
        for probe in environment.events where !probe.availability.isOpen {
            note("not counted: \(probe.name): \(probe.availability)")
        }
        Interruption.install()
        let progress = ProgressDisplay(estimatedSeconds: plan.estimatedSeconds, runCount: plan.cells.count * (plan.trials + plan.warmup))
        let profile = runner.run(
            environment: environment, shouldStop: { Interruption.requested }, progress: progress.update)
        progress.finish()

        try profile.write(to: path)
        print(SummaryTable.render(profile), terminator: "")
        print("profile: \(path)")
        if !noReport {
            print("report: \(try writeReport(profile, profilePath: path, output: nil))")
        }
        if profile.status == .interrupted {
            let kept = profile.cells.reduce(0) { $0 + $1.trials.count }
            if let reason = profile.statusReason, runner.remote != nil, !Interruption.requested {
                note("\(reason); the profile keeps the \(kept) trials that finished and is marked incomplete")
                throw ExitCode.failure
            }
            note("interrupted: the profile keeps the \(kept) trials that finished and is marked incomplete")
            throw ExitCode(130)
        }
        let failed = profile.cells.filter { $0.error != nil }
        if !failed.isEmpty {
            note("\(failed.count) cell(s) failed; their errors are in the profile and the table above")
            throw ExitCode.failure
        }
    }
}

/// profiles/<UTC time>[-label].json
func defaultProfilePath(label: String?) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
    let stamp = formatter.string(from: Date())
    return "profiles/\(stamp)\(label.map { "-\($0)" } ?? "").json"
}

func parseList<T: RawRepresentable>(_ text: String, option: String) throws -> [T] where T.RawValue == String, T: CaseIterable {
    var values: [T] = []
    for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
        guard let value = T(rawValue: part) else {
            throw ValidationError("\(option): '\(part)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if !values.contains(where: { $0.rawValue == value.rawValue }) { values.append(value) }
    }
    if values.isEmpty { throw ValidationError("\(option) is empty") }
    return values
}

func parseIntegers(_ text: String, option: String) throws -> [Int] {
    var values: [Int] = []
    for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
        guard let value = Int(part), value > 0 else { throw ValidationError("\(option): '\(part)' is not a positive whole number") }
        if !values.contains(value) { values.append(value) }
    }
    if values.isEmpty { throw ValidationError("\(option) is empty") }
    return values
}

/// A line on stderr, prefixed with the tool's name.
func note(_ text: String) {
    FileHandle.standardError.write(Data("copyprof: \(text)\n".utf8))
}

/// Ctrl-C during a run: the first one asks the sweep to stop after the trial in flight; a second one kills at once.
enum Interruption {
    private static let flag = Atomic<Bool>(false)

    static var requested: Bool { flag.load(ordering: .relaxed) }

    static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in Interruption.flag.store(true, ordering: .relaxed) }
        action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND))
        sigemptyset(&action.sa_mask)
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
        // A parent may have started us with these blocked; worker threads inherit this mask.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }
}

/// Progress on stderr: a live line on a terminal, plain lines (one per group of cells) otherwise.
final class ProgressDisplay {
    private let isTerminal = isatty(2) == 1
    private var lastGroupLine = ""
    private let estimatedSeconds: Double
    private let runCount: Int

    init(estimatedSeconds: Double, runCount: Int) {
        self.estimatedSeconds = estimatedSeconds
        self.runCount = runCount
        note("\(runCount) runs, about \(duration(estimatedSeconds)) of measuring plus set-up")
    }

    func update(_ p: SweepProgress) {
        let what = "\(p.cell.mode.rawValue) \(p.cell.messageSize) B × \(p.cell.threads)"
        let timing = "\(duration(p.elapsedSeconds)) elapsed, ~\(duration(p.remainingSeconds)) left"
        if isTerminal {
            let width = 24
            let filled = Int(Double(width) * Double(p.runIndex - 1) / Double(max(1, p.runCount)))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let trial = p.trial.map { "trial \($0)" } ?? "warm-up"
            let line = "[\(bar)] cell \(p.cellIndex)/\(p.cellCount) \(what) \(p.cell.transport.rawValue) \(trial) — \(timing)"
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
        } else {
            let line = "cell \(p.cellIndex)/\(p.cellCount): \(what)"
            let group = "\(p.cell.mode)\(p.cell.messageSize)\(p.cell.threads)"
            if group != lastGroupLine {
                lastGroupLine = group
                note("\(line) (\(timing))")
            }
        }
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }

    private func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}

extension Verification: ExpressibleByArgument {}
