import ArgumentParser
import Foundation
import CopyprofProfile
import PerfCounters

struct CountersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "counters",
        abstract: "What this host can count: PMUs, perf_event_paranoid, and each event's status.",
        discussion: """
            Opens each event for this thread, like `perf list` joined with a probe. Events that cannot be \
            counted are listed with the reason and what to do.
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

    func run() throws {
        let chosen: [PerfEvent]
        do {
            chosen = try events.map { try PerfEvent.list($0) } ?? PerfEvent.catalog
        } catch {
            throw ValidationError(String(describing: error))
        }
        let host = HostCounters.probe(chosen, options: CounterOptions(userOnly: userOnly))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
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
                try writeStandardOutput("\nmeasurement cost: \(Int(samples[2].rounded())) ns per region (median of 5 × 10000 empty start/stop pairs: "
                      + "enable, read each group before and after, disable) with \(open.count) event(s)\n")
            }
        }
        if !host.events.contains(where: { $0.availability.isOpen }) {
            throw CopyprofError.countersUnavailable("none of these events can be counted here; see the reasons above")
        }
    }
}

/// The plain-text view of ``HostCounters``.
enum CountersTable {
    static func render(_ host: HostCounters) -> String {
        var out = ""
        out += "PMUs: \(host.pmus.isEmpty ? "none" : host.pmus.joined(separator: ", "))"
        out += host.hasHardwarePMU ? "\n" : " (no hardware PMU: hardware and cache events cannot be counted)\n"
        out += "perf_event_paranoid: \(host.paranoid.map(String.init) ?? "unreadable")"
        if let level = host.paranoid {
            out += level <= 1 || geteuid() == 0 ? "\n" : " (user space only for unprivileged users; kernel copies are not counted)\n"
        }
        out += "tracefs: \(host.tracefs ?? "not mounted (as root: mount -t tracefs nodev /sys/kernel/tracing)")\n\n"
        let nameWidth = max(5, host.events.map(\.name.count).max() ?? 0)
        let kindWidth = 10
        out += "event".padding(nameWidth) + "  " + "kind".padding(kindWidth) + "  status\n"
        for probe in host.events {
            out += probe.name.padding(nameWidth) + "  " + probe.kind.padding(kindWidth) + "  "
            out += probe.availability.description + "\n"
        }
        return out
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
