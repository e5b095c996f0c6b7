import CopyprofFiles
import CopyprofModel
import CopyprofProfile
import Foundation

/// The names that share each reason, in first-seen order: each reason said once, with what it applies to.
func groupedByReason(_ pairs: [(name: String, reason: String)]) -> [(reason: String, names: [String])] {
    var groups: [(reason: String, names: [String])] = []
    var position: [String: Int] = [:]
    for (name, reason) in pairs {
        if let i = position[reason] {
            groups[i].names.append(name)
        } else {
            position[reason] = groups.count
            groups.append((reason, [name]))
        }
    }
    return groups
}

/// A Markdown report of one profile, with SVG charts beside it.
package struct Report: Sendable {
    package let analysis: Analysis
    /// Where each role's time went, from the samples (n/a for a profile that was not sampled).
    package let attribution: AttributionAnalysis
    /// The profile's path, as the report names it.
    package var source: String
    /// The folder the charts go in, relative to the Markdown file.
    package var chartFolder: String

    package init(profile: Profile, source: String, chartFolder: String) {
        analysis = Analysis(profile: profile)
        attribution = AttributionAnalysis(profile: profile)
        self.source = source
        self.chartFolder = chartFolder
    }

    var profile: Profile { analysis.profile }

    /// The Markdown text.
    package var markdown: String { markdown(chartNames: chartNames) }

    /// The Markdown text, linking these charts.
    func markdown(chartNames: [String]) -> String {
        let env = profile.environment
        var md = "# copyprof report: \(env.label ?? (source as NSString).lastPathComponent)\n\n"
        md += "Generated from `\(source)` by copyprof \(CopyprofVersion.current). Measured \(env.startTime)"
        md += env.endTime.map { " to \($0)" } ?? ""
        md += " on `\(env.hostname)`.\n\n"
        if !hasTrials {
            // Nothing to find, tabulate or draw: say what happened and what the host could count, nothing more.
            md += profile.status == .interrupted
                ? "> **No trial finished**: the run was \(profile.statusReason ?? "interrupted") before any recorded trial "
                    + "ended, so nothing was measured.\n\n"
                : "> **No trial recorded**: \(profile.cells.isEmpty ? "the profile has no cell" : "no cell of the profile has a trial").\n\n"
            let unsupported = analysis.notSupportedGroups()
            if !unsupported.isEmpty {
                md += "## Not supported on this host\n\n" + FindingsMarkdown.notSupported(unsupported) + "\n\n"
            }
            return md + environmentSection() + countersSection(measured: false)
        }
        if profile.status == .interrupted {
            md += "> **Incomplete profile**: the run was interrupted; only the trials that finished are here.\n\n"
        }
        md += "## Findings\n\n"
        for finding in analysis.findings {
            let (title, text) = FindingsMarkdown.render(finding)
            md += "### \(title)\n\n\(text)\n\n"
        }
        md += whereSection()
        md += environmentSection()
        md += countersSection()
        md += methodSection()
        md += overrunSection()
        md += resultsSections()
        md += "## Charts\n\n"
        for name in chartNames {
            md += "![\(name)](\(chartFolder)/\(name))\n\n"
        }
        return md
    }

    func environmentSection() -> String {
        let env = profile.environment
        var md = "## Environment\n\n| | |\n|---|---|\n"
        let rows: [(String, String)?] = [
            ("CPU", "\(env.cpuModel), \(env.cpuCount) CPUs\(env.virtualized ? " (virtual machine)" : "")"),
            ("memory", "\(formatDecimal(Double(env.memoryBytes) / 1_073_741_824, digits: 1)) GiB"),
            ("kernel", env.kernelRelease), ("distribution", env.distribution),
            ("perf_event_paranoid", env.perfEventParanoid.map(String.init) ?? "unreadable"),
            ("PMUs", env.pmus.joined(separator: ", ") + (env.hasHardwarePMU ? "" : " (no hardware PMU)")),
            // One host: the data took loopback. Two: each side's route, below (older two-host profiles carry loopback's too).
            profile.remote == nil ? ("loopback MTU", env.loopbackMTU.map(String.init) ?? "?") : nil,
            ("net.core.optmem_max", env.optmemMax.map(String.init) ?? "?"),
            ("tcp_wmem / tcp_rmem", "\(env.tcpWmem ?? "?") / \(env.tcpRmem ?? "?")"),
            ("Swift / copyprof", "\(env.swiftVersion) / \(env.copyprofVersion)"),
            ("command", "`\(env.commandLine.joined(separator: " "))`"),
        ]
        var all = rows.compactMap { $0 }
        if let remote = profile.remote {
            let server = remote.serverEnvironment
            all += [
                ("server (receivers)", "\(remote.server): \(server.hostname), \(server.cpuModel), \(server.cpuCount) CPUs, kernel \(server.kernelRelease)"
                    + (server.hasHardwarePMU ? "" : ", no hardware PMU")),
                ("path, client → server", remote.clientPath.description),
                ("path, server → client", remote.serverPath?.description ?? "unknown"),
            ]
        }
        for (k, v) in all { md += "| \(k) | \(v.replacingOccurrences(of: "|", with: "\\|")) |\n" }
        return md + "\n"
    }

    /// True when any cell has a recorded trial.
    var hasTrials: Bool { profile.cells.contains { !$0.trials.isEmpty } }

    /// What the host could count; `measured` false for a profile without trials, which opened no counter at all.
    func countersSection(measured: Bool = true) -> String {
        var md = "## Counters\n\n"
        let counted = profile.environment.events.filter { $0.availability.isOpen }
        let missing = profile.environment.events.filter { !$0.availability.isOpen }
        md += measured
            ? "Counted in every sender and receiver thread of the counted trials, around its timed loop: "
            : "This host could count (no trial ran, so none was opened in a worker): "
        md += counted.isEmpty ? "none.\n\n" : counted.map { "`\($0.name)\($0.isUserOnly ? ":u" : "")`" }.joined(separator: ", ") + ".\n\n"
        // A hybrid CPU's core type that refused an event: its values are the other types' counts, not extrapolated.
        let corePMUs = Set(counted.flatMap { $0.pmus ?? [] })
        let partial = counted.filter { ($0.pmus.map(Set.init) ?? corePMUs) != corePMUs }
        if !partial.isEmpty {
            md += "Counted on some core types only (the others refused them; the values are those types' counts, "
                + "not scaled to the time on the others): "
                + partial.map { "`\($0.name)` (\(($0.pmus ?? []).joined(separator: ", ")))" }.joined(separator: ", ") + ".\n\n"
        }
        if counted.contains(where: \.isUserOnly) {
            md += "`:u` (as perf writes it): counted in user space only, because the kernel refused kernel counting at this "
                + "`perf_event_paranoid` level. The kernel side of send and recv, where the copies are, is not in those values; "
                + "tables mark them `:u`.\n\n"
        }
        if !missing.isEmpty {
            // Each reason once, with the events it applies to.
            md += "Not counted, and why:\n\n"
            for group in groupedByReason(missing.map { ($0.name, $0.availability.description) }) {
                md += "- " + group.names.map { "`\($0)`" }.joined(separator: ", ") + ": \(group.reason)\n"
            }
            md += "\nMetrics that need them are shown as n/a, never as 0."
            if missing.contains(where: { $0.name == EventName.contextSwitches }) {
                md += " Context switches come from getrusage (voluntary + involuntary) instead, and say so."
            }
            md += "\n\n"
        }
        return md
    }

    func methodSection() -> String {
        let plan = profile.plan
        let trials = profile.cells.reduce(0) { $0 + $1.trials.count }
        let split = profile.cells.contains { $0.trials.contains { $0.kind != nil } }
        let counted = profile.cells.contains { $0.trials.contains { $0.kind == .counted } }
        let matrix = """
            - Matrix: transports \(plan.transports.map(\.rawValue).joined(separator: ", "))\(plan.receivers == [.copy] ? "" : "; receivers " + plan.receivers.map(\.rawValue).joined(separator: ", ") + " (columns `sender+receiver` in the tables; the `copy` receiver is not named)"); sizes \(plan.sizes.map(String.init).joined(separator: ", ")) B; \
            \(plan.connections.map(String.init).joined(separator: ", ")) connections (a sender and a receiver thread each); workloads \(plan.workloads.map(\.name).joined(separator: ", ")).

            """
        var schedule: String
        if split {
            schedule = "- Rounds: \(plan.warmup) warm-up and \(plan.trials) recorded rounds; every round runs every cell "
                + (counted
                    ? "once without counters (timing) and once with them in every worker (counted) — a group's transports run one kind "
                        + "back to back, then the other, the leading kind alternating —"
                    : "once, without counters (`--events none`: timing trials only),")
                + " in an order that rotates from round to round, so a cell's trials spread over "
                + "the whole run. Trials of \(formatDecimal(plan.duration, digits: 3)) s, fresh connections each. "
                + "\(profile.cells.count) cells, \(trials) trials recorded.\n"
            schedule += counted
                ? "- Which trials give which figure: throughput, round trips/s and RTT, and every CPU time — CPU ns/B (also the "
                    + "receiver's), the kernel's and the senders' CPU shares — come from the timing trials, CPU time from each "
                    + "thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`) and rusage, which cost nothing to read, and so do context "
                    + "switches/MB (getrusage's: a counted trial's sampler arms a timer at every switch and adds its own); the "
                    + "counted trials give only what needs the counters: cycles/B, instructions/B, misses/KB, receive copies/msg. "
                    + "Each figure is normalised by its own trial's verified bytes and messages.\n"
                : "- Every figure comes from the timing trials: CPU time from each thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`) "
                    + "and rusage, context switches from getrusage, each normalised by its own trial's verified bytes and messages.\n"
            if profile.control != nil {
                schedule += "- A control workload (memcpy and `getppid()` loops, independent of the transports) opens every recorded "
                    + "round: its spread tells how steady the machine was; `copyprof compare` uses it to tell the machine's drift "
                    + "from the software's changes.\n"
            }
        } else {
            schedule = "- Per cell: \(plan.warmup) warm-up and \(plan.trials) recorded trials of \(formatDecimal(plan.duration, digits: 3)) s, "
                + "fresh connections each, counters open in every trial; transports interleaved within each group of cells with the "
                + "same workload, size and connections. \(profile.cells.count) cells, \(trials) trials recorded.\n"
        }
        let verification = "- Verification: `\(plan.verification.rawValue)`\(plan.verification == .header ? " (sequence number and length of every message)" : " (every byte of every message)")"
            + (plan.receivers.contains(.discard)
                ? "; except with the `discard` receiver, which drops the bytes unread (`recv(MSG_TRUNC)`): its messages are "
                    + "counted, not verified, and its integrity errors are n/a" : "") + ".\n"
        let pingpong = plan.workloads.contains(.pingpong)
            ? "- Ping-pong is shown in round trips per second over all connections, not in Gbit/s: its bytes cross each connection "
                + "twice per round trip, one message at a time, so its Gbit/s (both directions) beside stream's (one direction) "
                + "would read as the same thing, which it is not. A stream's throughput counts the bytes received, one direction.\n"
            : ""
        let statistics = "- Tables show the median of the trials with its 95% confidence interval from order statistics in brackets "
            + "(none below 6 trials). Differences are tested with the two-sided Mann-Whitney U test at α = \(formatDecimal(analysis.alpha, digits: 2))."
            + (split ? " Ratios to two-copy and the counters' overhead are medians of per-round ratios (trials of the same round "
                + "ran side by side, so the machine's drift cancels), with the same interval." : "")
            + (plan.trials < 6 ? "\n- ⚠ \(plan.trials) trials per cell\(split ? " and kind" : ""): fewer than 6, so no confidence intervals\(plan.trials < 4 ? ", and too few for a significant Mann-Whitney test" : ""); use --trials 6 or more for conclusions." : "")
            + missingTrialsNote()
        return "## Method\n\n" + matrix + schedule + verification + pingpong + statistics + samplingMethod() + "\n\n"
    }

    func resultsSections() -> String {
        var md = ""
        let tables: [(Workload, Metric)] = [
            (.stream, .throughput), (.stream, .cpuNsPerByte), (.stream, .receiverCPUNsPerByte), (.stream, .mappedShare),
            (.stream, .cyclesPerByte), (.stream, .l1dMissesPerKB),
            (.stream, .llcMissesPerKB), (.stream, .contextSwitchesPerMB), (.stream, .receiveCopyHitsPerMessage),
            (.stream, .kernelCPUShare),
            (.pingpong, .roundTripRate), (.pingpong, .rttP50), (.pingpong, .rttP99), (.pingpong, .cpuNsPerByte),
            (.pingpong, .contextSwitchesPerMB),
        ]
        for mode in analysis.workloads {
            md += "## \(mode == .stream ? "Stream" : "Ping-pong") results\n\n"
            for (m, metric) in tables where m == mode {
                // The receiver's own cost matters only beside other receivers.
                if metric == .receiverCPUNsPerByte && analysis.receivers == [.copy] { continue }
                guard analysis.measured(metric, workload: mode) else {
                    if !metric.events.isEmpty { md += "**\(metric.title)**: n/a — not counted on this host.\n\n" }
                    continue
                }
                md += table(metric, mode)
            }
            md += relativeTable(mode)
            md += overheadTable(mode)
        }
        return md
    }

    /// Each transport against two-copy on the workload's primary metric, round by round.
    func relativeTable(_ mode: Workload) -> String {
        let a = analysis
        let metric = Metric.primary(for: mode)
        let others = a.transports.filter { $0 != .twoCopy }
        guard a.transports.contains(.twoCopy), !others.isEmpty else { return "" }
        var rows = ""
        var any = false
        for size in a.sizes {
            for connections in a.connectionCounts {
                rows += "| \(size) | \(connections) |"
                for t in others {
                    guard let r = a.relative(metric, a.key(t, mode, size, connections), to: a.key(.twoCopy, mode, size, connections)) else {
                        rows += " n/a |"
                        continue
                    }
                    any = true
                    rows += " \(ratioText(r.summary)) |"
                }
                rows += "\n"
            }
        }
        guard any else { return "" }
        return "**\(metric.title) against two-copy** (× two-copy's, median of per-round ratios; "
            + "\(metric.higherIsBetter == true ? "above 1 is faster" : "below 1 is faster"))\n\n| size | connections | "
            + others.map(\.rawValue).joined(separator: " | ") + " |\n|---:|---:|" + String(repeating: "---:|", count: others.count) + "\n"
            + rows + "\n"
    }

    /// The counters' overhead per cell: counted against timing trials of the same round.
    func overheadTable(_ mode: Workload) -> String {
        let a = analysis
        var rows = ""
        var any = false
        var flagged: [String] = []
        for size in a.sizes {
            for connections in a.connectionCounts {
                rows += "| \(size) | \(connections) |"
                for t in a.transports {
                    guard let cell = a.cell(t, mode, size, connections), let o = a.overhead(cell) else {
                        rows += " n/a |"
                        continue
                    }
                    any = true
                    let exceeds = o.exceeds(Analysis.overheadLimit)
                    if exceeds { flagged.append("\(t.rawValue) \(size) B × \(connections)") }
                    rows += " \(FindingsMarkdown.percentWithInterval(o.slowdown))\(exceeds ? " ⚠" : "") |"
                }
                rows += "\n"
            }
        }
        guard any else { return "" }
        let metric = Metric.primary(for: mode)
        var md = "**\(a.overheadName)** (% slower \(metric.title) in counted than in timing trials of the same round)\n\n| size | connections | "
        md += a.transports.map(\.rawValue).joined(separator: " | ") + " |\n|---:|---:|" + String(repeating: "---:|", count: a.transports.count) + "\n"
        md += rows + "\n"
        if !flagged.isEmpty {
            md += "⚠ over \(formatDecimal(Analysis.overheadLimit, digits: 1))%: " + flagged.joined(separator: ", ") + ".\n\n"
        }
        return md
    }

    /// Rows size × connections, columns transports: median [low, high].
    func table(_ metric: Metric, _ mode: Workload) -> String {
        let a = analysis
        let direction = metric.higherIsBetter.map { $0 ? "higher is better" : "lower is better" } ?? "descriptive"
        let sources = Set(a.profile.cells.filter { $0.key.workload == mode }.compactMap { metric.summary(of: $0) }.flatMap(\.sources))
        let from = sources.contains(.getrusage) && metric.events.contains(EventName.contextSwitches)
            ? "; from getrusage (voluntary + involuntary), perf could not count them" : ""
        var md = "**\(metric.title)** (\(metric.unit), \(direction)\(from))" + (metric.explanation.map { ": \($0)." } ?? "")
        md += "\n\n| size | connections | "
        md += a.paths.map(\.description).joined(separator: " | ") + " |\n|---:|---:|" + String(repeating: "---:|", count: a.paths.count) + "\n"
        var notes: [(cell: String, what: [String])] = []
        var measuredCells = 0
        for size in a.sizes {
            for connections in a.connectionCounts {
                md += "| \(size) | \(connections) |"
                for t in a.paths {
                    guard let s = a.summary(metric, t, mode, size, connections) else {
                        md += " n/a |"
                        continue
                    }
                    measuredCells += 1
                    var cell = " \(metric.format(s.median))"
                    if let low = s.low, let high = s.high { cell += " [\(metric.format(low)), \(metric.format(high))]" }
                    if s.userOnly { cell += " :u" }
                    let what = s.warnings + (s.omissionNote.map { ["n \($0)"] } ?? [])
                    if !what.isEmpty {
                        notes.append(("\(t) \(size) B × \(connections)", what))
                        cell += " ⚠"
                    }
                    md += cell + " |"
                }
                md += "\n"
            }
        }
        md += "\n"
        return md + Self.flagSummary(notes, cells: measuredCells)
    }

    /// A table's ⚠ notes said once: how many cells each kind of note flags, then every cell's notes in a collapsible
    /// block. Empty without notes.
    static func flagSummary(_ notes: [(cell: String, what: [String])], cells: Int) -> String {
        guard !notes.isEmpty else { return "" }
        // A note's kind is its text before the first colon ("high spread: the 95% interval is 28% of the median").
        var kinds: [(kind: String, count: Int)] = []
        for note in notes {
            let noteKinds = note.what.map { $0.hasPrefix("n ") ? "trials without a value" : String($0.prefix { $0 != ":" }) }
            for kind in Set(noteKinds).sorted() {
                if let i = kinds.firstIndex(where: { $0.kind == kind }) { kinds[i].count += 1 } else { kinds.append((kind, 1)) }
            }
        }
        let explained = kinds.map { kind -> String in
            let what = kind.kind == "high spread"
                ? "high spread (a 95% interval wider than 25% of the median)" : kind.kind
            return "\(kind.count) of \(cells) cells: \(what)"
        }
        return "⚠ " + explained.joined(separator: "; ") + ".\n\n<details><summary>The flagged cells (\(notes.count))</summary>\n\n"
            + notes.map { "- \($0.cell): \($0.what.joined(separator: "; "))\n" }.joined() + "\n</details>\n\n"
    }

    /// A Method bullet naming the cells with trials that moved 0 bytes or that failed; empty when there are none.
    func missingTrialsNote() -> String {
        let missing = analysis.missingTrials
        guard !missing.isEmpty else { return "" }
        let list = missing.map { "  - \($0.cell) (n \($0.n)): \($0.note ?? "")\n" }.joined()
        return "\n- ⚠ **Trials that moved no byte or failed**, in \(missing.count) cell\(missing.count == 1 ? "" : "s"): counted, "
            + "never dropped — a trial that moved 0 bytes is in n with a throughput of 0 and no cost per byte; the trial at "
            + "which a cell failed, and the rounds after it, did not run. Tables mark the cells they touch.\n" + list.dropLast()
    }

    /// Writes the Markdown to `path` and the charts into `chartFolder` beside it, each with
    /// ``OutputFile/write(_:to:replacing:keepWaitingForReader:)``. Markdown sent to standard output, a device or a FIFO
    /// has no folder beside it: the charts are then not written. Returns whether they were. With `replacing: false`,
    /// an existing Markdown file is refused before anything is written (the charts belong to the report of that
    /// name, and are replaced with it).
    @discardableResult
    package func write(to path: String, replacing: Bool = true) throws(CopyprofError) -> Bool {
        if !replacing { try OutputFile.checkWritable(path, replacing: false) }
        let chartsWritten = try OutputFile.destination(of: path).isRegularFile
        // Each chart drawn once, written and let go.
        let drawings = chartDrawings
        if chartsWritten {
            let directory = (path as NSString).deletingLastPathComponent
            let chartsPath = (directory.isEmpty ? "" : directory + "/") + chartFolder
            for chart in drawings { try OutputFile.write(Data(chart.draw().utf8), to: chartsPath + "/" + chart.name) }
            for chart in whereCharts { try OutputFile.write(Data(chart.svg.utf8), to: chartsPath + "/" + chart.name) }
        }
        try OutputFile.write(Data(markdown(chartNames: drawings.map(\.name)).utf8), to: path, replacing: replacing)
        return chartsWritten
    }

    /// `reports/<profile name>.md` and its chart folder name.
    package static func defaultPaths(forProfile path: String) -> (markdown: String, charts: String) {
        let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return ("reports/\(base).md", "\(base)-charts")
    }
}

