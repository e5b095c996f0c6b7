import ArgumentParser
import CopyprofModel
import Foundation
import CopyprofProfile
import PerfCounters

struct CountersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "counters",
        abstract: "What this host can count: PMUs, perf_event_paranoid, and each event's status.",
        discussion: """
            Opens the events for this thread together, as a run opens them (hardware events in small groups \
            of ratio partners, once per core PMU), counts a short busy region, and lists what became of each: \
            counted, user-only (perf's :u), not counted in the region, or why not with what to do. \
            --check calibrates every counted event against work whose count is known and exits non-zero \
            when one fails.
            """
    )

    @Option(name: .long, help: "Check these events (comma-separated names, or subsystem:name tracepoints) instead of the catalog.")
    var events: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    @Flag(name: .long, help: "Count user space only (exclude_kernel, exclude_hv), as perf's :u.")
    var userOnly = false

    @Flag(name: .long, help: "Also measure what counting costs: ns per empty start/stop region, with the counted events.")
    var cost = false

    @Flag(name: .long, help: "Calibrate each counted event against work whose count is known; exit 1 when one fails.")
    var check = false

    @Flag(name: .long, help: "Print the groups copyprof opens in each worker thread in perf's own syntax, one per line, for perf stat -e or perf record -e (see run --perf-control).")
    var perfEvents = false

    @Option(name: .long, help: .hidden)
    var workload: String?

    func run() throws {
        if let workload {
            // Runs one calibration workload without counters, for perf stat or valgrind to count.
            guard let chosen = CalibrationWorkload(rawValue: workload) else {
                let names = CalibrationWorkload.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError(
                    "unknown workload '\(workload)': use one of \(names)" + didYouMean(workload, among: CalibrationWorkload.allCases.map(\.rawValue)))
            }
            print(chosen.run())
            return
        }
        let chosen = try events.map { try parseEvents($0, option: "--events") } ?? PerfEvent.catalog
        if check {
            let report = CounterCalibration.run(events: chosen, options: CounterOptions(userOnly: userOnly))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(CalibrationTable.render(report), terminator: "")
            }
            if report.failed > 0 {
                let names = report.checks.filter { $0.verdict == .fail }.map(\.event).joined(separator: ", ")
                FileHandle.standardError.write(Data(
                    "error: \(report.failed) counted event(s) failed calibration: \(names); see the lines marked FAIL\n".utf8))
                throw ExitCode(1)
            }
            return
        }
        let host = HostCounters.probe(chosen, options: CounterOptions(userOnly: userOnly))
        if perfEvents {
            try printPerfEvents(host)
            return
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try writeStandardOutput(String(decoding: try encoder.encode(host), as: UTF8.self) + "\n")
        } else {
            try writeStandardOutput(CountersTable.render(host))
        }
        if cost {
            let open = chosen.filter { event in host.events.contains { $0.name == event.name && $0.availability.isOpen } }
            if !open.isEmpty {
                let counters = try ThreadCounters(events: open, options: CounterOptions(userOnly: userOnly))
                _ = try counters.regionCostNs(iterations: 1000)
                let samples = try (0..<5).map { _ in try counters.regionCostNs(iterations: 10_000) }.sorted()
                try writeStandardOutput("\n" + CountersTable.wrap(
                    "measurement cost: \(Int(samples[2].rounded())) ns per region (median of 5 × 10000 empty start/stop "
                        + "pairs: enable, read each group before and after, disable) with \(open.count) event(s)"))
            }
        }
        if !host.events.contains(where: { $0.availability.isOpen }) {
            throw CopyprofError.countersUnavailable("none of these events can be counted here; see the reasons above")
        }
    }
}

extension CountersCommand {
    /// The groups, one per line on stdout; what perf cannot be told the same way, on stderr.
    func printPerfEvents(_ host: HostCounters) throws {
        let groups = host.groups ?? []
        guard !groups.isEmpty else {
            throw CopyprofError.countersUnavailable("none of these events can be counted here; see copyprof counters")
        }
        try writeStandardOutput(groups.map { $0.perfSyntax + "\n" }.joined())
        for group in groups where group.cpus != nil {
            note("\(group.perfSyntax) is opened once per CPU of \(group.pmu ?? "its PMU") in the legacy encoding here; "
                + "perf opens it per core PMU by itself")
        }
        let missing = host.events.filter { !$0.availability.isOpen }.map(\.name)
        if !missing.isEmpty { note("not counted here, so not in the groups: \(missing.joined(separator: ", "))") }
    }
}

/// The plain-text view of ``HostCounters``, at most 80 columns wide: long lines wrap with a hanging indent, and a
/// status too long for its column is cut after its state and error (`not-supported: ENOENT [1]`), its reason given
/// once below the table for every event that shares it.
enum CountersTable {
    static let width = 80

    static func render(_ host: HostCounters) -> String {
        var out = ""
        var pmus = "PMUs: \(host.pmus.isEmpty ? "none" : host.pmus.joined(separator: ", "))"
        if !host.hasHardwarePMU { pmus += " (no hardware PMU: hardware and cache events cannot be counted)" }
        out += wrap(pmus)
        if let facts = host.host {
            out += wrap("core PMUs: " + CoreTable.corePMUs(facts))
            if let watchdog = facts.nmiWatchdog, !facts.corePMUs.isEmpty {
                out += wrap("nmi_watchdog: \(watchdog ? "1 (holds one hardware counter on every CPU)" : "0")")
            }
        }
        var paranoid = "perf_event_paranoid: \(host.paranoid.map(String.init) ?? "unreadable")"
        if let refusal = host.refusal {
            paranoid += refusal.errno == EPERM
                ? " (perf_event_open is refused to this process outright: see the notes)"
                : " (no perf_event_open at all for unprivileged users on this kernel: see the notes)"
        } else if let level = host.paranoid, level > 1, geteuid() != 0 {
            paranoid += " (user space only for unprivileged users; kernel copies are not counted)"
        }
        out += wrap(paranoid)
        out += wrap("tracefs: \(host.tracefsStatus ?? host.tracefs ?? "not mounted (as root: mount -t tracefs nodev /sys/kernel/tracing)")")
        if let groups = host.groups, !groups.isEmpty {
            out += wrap("groups: " + groups.map { group in
                let cpus = group.cpus.map { " (legacy encoding, one group per CPU \(CoreTable.cpuList($0)))" } ?? ""
                return "{\(group.events.joined(separator: ", "))}" + (group.pmu.map { " on \($0)" } ?? "") + cpus
            }.joined(separator: " "))
        }
        out += "\n"
        let nameWidth = max(5, host.events.map(\.name.count).max() ?? 0)
        let kindWidth = 10
        let modeWidth = 11
        let statusColumn = nameWidth + 2 + kindWidth + 2 + modeWidth + 2
        var notes = StatusNotes()
        out += "event".padding(nameWidth) + "  " + "kind".padding(kindWidth) + "  " + "mode".padding(modeWidth) + "  status\n"
        for probe in host.events {
            out += probe.name.padding(nameWidth) + "  " + probe.kind.padding(kindWidth) + "  "
            out += (probe.mode?.rawValue ?? "-").padding(modeWidth) + "  "
            out += notes.status(probe.availability.description, column: statusColumn) + "\n"
        }
        out += notes.rendered
        return out
    }

    /// `text` in lines of at most ``width`` columns, broken at spaces, continuation lines indented by `indent`; a
    /// word longer than a line stands alone on its line. `prefix` starts the first line (a column's padding).
    static func wrap(_ text: String, indent: Int = 2, prefix: String = "") -> String {
        var out = ""
        var line = prefix
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            if line.isEmpty || line == prefix {
                line += String(word)
            } else if line.count + 1 + word.count <= width {
                line += " " + word
            } else {
                out += line + "\n"
                line = String(repeating: " ", count: indent) + word
            }
        }
        return out + line + "\n"
    }
}

/// Statuses that fit a table's last column: one too long for it keeps its state (and its errno's name) in the row
/// — `not-supported: ENOENT [1]` — and its reason becomes a note, given once for every row that shares it.
struct StatusNotes {
    private var reasons: [String] = []

    /// `status` as it goes in a column starting at `column`.
    mutating func status(_ status: String, column: Int) -> String {
        if column + status.count <= CountersTable.width { return status }
        // "state: ERRNO: reason" or "state: reason".
        let parts = status.components(separatedBy: ": ")
        let isErrnoName = parts.count > 2 && parts[1].first == "E" && parts[1].allSatisfy { $0.isUppercase || $0.isNumber }
        let kept = isErrnoName ? 2 : 1
        let reason = parts.dropFirst(kept).joined(separator: ": ")
        if reason.isEmpty { return status }
        let index = reasons.firstIndex(of: reason) ?? { reasons.append(reason); return reasons.count - 1 }()
        return parts.prefix(kept).joined(separator: ": ") + " [\(index + 1)]"
    }

    /// The notes, after a blank line, wrapped to the width; empty when there are none.
    var rendered: String {
        if reasons.isEmpty { return "" }
        return "\n" + reasons.enumerated().map { CountersTable.wrap("[\($0.offset + 1)] " + $0.element, indent: 4) }.joined()
    }
}

/// Shared wording for the host's core PMUs.
enum CoreTable {
    static func corePMUs(_ facts: HostFacts) -> String {
        if facts.corePMUs.isEmpty {
            return facts.hypervisor
                ? "none (a virtual machine: the hypervisor flag is in /proc/cpuinfo)"
                : "none (no perf driver for this CPU)"
        }
        return facts.corePMUs.map { pmu in
            let cpus = pmu.cpus.map { ", CPUs \(cpuList($0))" } ?? ""
            return "\(pmu.name) (type \(pmu.type)\(cpus))"
        }.joined(separator: ", ") + (facts.isHybrid ? " — hybrid: hardware events are opened on each and summed" : "")
    }

    static func cpuList(_ cpus: [Int]) -> String {
        var ranges: [String] = []
        var i = 0
        while i < cpus.count {
            var j = i
            while j + 1 < cpus.count && cpus[j + 1] == cpus[j] + 1 { j += 1 }
            ranges.append(i == j ? "\(cpus[i])" : "\(cpus[i])-\(cpus[j])")
            i = j + 1
        }
        return ranges.joined(separator: ",")
    }
}

/// The plain-text view of a ``CalibrationReport``.
enum CalibrationTable {
    static func render(_ report: CalibrationReport) -> String {
        var out = "Calibrating counters against work whose count is known"
        out += " (\(report.root ? "as root" : "not root"), perf_event_paranoid \(report.host.paranoid.map(String.init) ?? "unreadable"))\n"
        out = CountersTable.wrap(out.dropLast(1).description)
        out += CountersTable.wrap("core PMUs: " + CoreTable.corePMUs(report.host))
        var caches: [String] = []
        if let l1 = report.caches.l1d { caches.append("L1d \(formatBytes(l1))") }
        if let l2 = report.caches.l2 { caches.append("L2 \(formatBytes(l2))") }
        if let llc = report.caches.llc, (report.caches.llcLevel ?? 0) > 2 { caches.append("L\(report.caches.llcLevel!) \(formatBytes(llc))") }
        out += "caches: \(caches.isEmpty ? "unknown" : caches.joined(separator: ", "))"
        out += "; cpufreq: " + (report.frequency.map { "\(format($0.minGHz))–\(format($0.maxGHz)) GHz" } ?? "none in sysfs") + "\n\n"
        let width = max(5, report.checks.map(\.event.count).max() ?? 0)
        let column = 6 + width + 2
        var notes = StatusNotes()
        for check in report.checks {
            let verdict = check.verdict == .skipped ? "skip" : check.verdict.rawValue.uppercased()
            let head = verdict.padding(4) + "  " + check.event.padding(width) + "  "
            if check.verdict == .skipped {
                out += head + notes.status(check.note ?? "not run", column: column) + "\n"
                continue
            }
            out += CountersTable.wrap(
                "measured \(check.measured ?? "n/a"), expected \(check.expected)", indent: column, prefix: head)
            let detail = check.workload + (check.note.map { "; " + $0 } ?? "")
            out += CountersTable.wrap(detail, indent: column, prefix: String(repeating: " ", count: column))
        }
        out += notes.rendered
        out += "\nchecks: \(report.passed) pass, \(report.failed) fail, \(report.skipped) skipped\n"
        return out
    }

    private static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
