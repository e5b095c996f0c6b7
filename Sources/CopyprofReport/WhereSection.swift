import CopyprofModel
import CopyprofProfile

/// The report's "Where the time goes" section and its charts, from the profile's samples: only for a sampled profile
/// (a profile of schema 1 or 2, or one run with `--sample off`, gets neither).
extension Report {
    /// The section's Markdown; empty when the profile was not sampled.
    func whereSection() -> String {
        let a = attribution
        guard a.unavailableReason == nil, let sampling = a.sampling else { return "" }
        var md = "## Where the time goes\n\n" + samplingParagraph(sampling)
        if let findings = a.whereFindings(), !findings.findings.isEmpty {
            md += "### What the samples say\n\n" + WhereFindingsMarkdown.render(findings) + "\n"
        }
        let columns = shownCategories
        for group in whereGroups {
            md += "### \(group.workload.name), \(group.size) B\n\n"
            for role in WorkerRole.allCases {
                md += shareTable(role, group: group, columns: columns)
            }
            md += otherFunctionsText(group)
            md += lostText(group)
            md += "![Where the time goes, \(group.workload.name) \(group.size) B](\(chartFolder)/\(Self.whereChartName(group.workload, group.size)))\n\n"
        }
        md += flameGraphLinks()
        return md
    }

    /// The Method section's bullet on the shares' intervals; empty for a profile that was not sampled.
    func samplingMethod() -> String {
        guard attribution.unavailableReason == nil else { return "" }
        return "\n- Where the time goes: a category's share of a role's time is its weight (the samples' periods) over all "
            + "the role's weight, its threads and its sampled trials pooled. Its 95% interval spans two: the interval of "
            + "that ratio estimator from how much the k trials disagree (its cluster-robust variance, trials as "
            + "clusters, with Student's t for k − 1 degrees of freedom), and the Wilson interval of the pooled samples "
            + "(how many there were); from the lower end of either to the higher. With trials that agree it is the "
            + "binomial interval of the samples; trials that disagree widen it. A share is said to be there only when its "
            + "interval lies above 0, and \"none seen\" only when it reaches no higher than "
            + "\(formatDecimal(WhereFindings.nearZero * 100, digits: 0))%."
    }

    /// How the threads were sampled, once; why `irq-enable-site` exists with a timer; what user-only sampling hides.
    func samplingParagraph(_ s: SamplingRecord) -> String {
        let a = attribution
        var md = "Each sender and receiver thread was sampled in the counted trials with `\(s.event)` at \(s.frequency) Hz"
        if let granted = s.grantedFrequency, granted != s.frequency { md += " (the kernel granted \(granted) Hz)" }
        md += ", " + (s.seesKernel ? "user and kernel space" : "**user space only**")
        md += s.callchainDepth > 0 ? ", call chains up to \(s.callchainDepth) frames deep" : ", the leaf frame only (no call chains)"
        md += ". Each sample is charged to one category: the first frame of its call chain, from the leaf up, that "
            + "copyprof's attribution table knows, unless a function above it did that work for its own ends (the read "
            + "of zero-copy notifications from the error queue copies each to user memory, yet is `zerocopy-completion`). "
            + "The tables give each category's share of the role's sampled time "
            + "(samples weighed by their period, the threads of a role and the trials pooled) with its 95% interval in "
            + "brackets (see Method); a category no thread spent time in anywhere is left out.\n\n"
        if !s.seesKernel {
            md += "**User space only**: " + (s.modeReason.map { "\($0). " } ?? "")
                + "Kernel categories (" + AttributionCategory.allCases.filter(\.isKernel).map { "`\($0.rawValue)`" }.joined(separator: ", ")
                + ") are n/a — \(a.notPermittedReason) — never 0%; every share shown is a share of the threads' user-space time.\n\n"
        }
        if let unresolved = s.kernelSymbolsUnresolved {
            md += "Kernel addresses could not be named: \(unresolved). Their samples are charged to `other`.\n\n"
        }
        for note in s.notes ?? [] { md += "Note: \(s.timerBased ? Self.withoutTimerClause(note) : note)\n\n" }
        if s.timerBased {
            md += "`\(s.event)` is a timer (hrtimer) sample: it can only fire while interrupts are enabled, so time a thread "
                + "spends with them off — softirq processing, locks held with interrupts disabled — is charged to where "
                + "they are re-enabled (`_raw_spin_unlock_irqrestore`, `handle_softirqs`, `finish_task_switch`). The "
                + "attribution follows the call chain to the work that held them off (a lock released under "
                + "`tcp_write_xmit` is `tcp-ip`); what it cannot place stays in `irq-enable-site`. NMI-based `cycles` "
                + "sampling, on a host with a PMU, does not have this skew."
            if s.seesKernel {
                let ranges = WorkerRole.allCases.compactMap { role -> String? in
                    let shares = a.cells.compactMap { a.role(role, in: $0)?.share(.irqEnableSite)?.share }
                    guard let low = shares.min(), let high = shares.max() else { return nil }
                    return "\(low == high ? "" : "\(percent(low))% to ")\(percent(high))% of the \(role.rawValue)s' time"
                }
                if !ranges.isEmpty { md += " Here `irq-enable-site` holds " + ranges.joined(separator: " and ") + " (over the cells)." }
            }
            md += "\n\n"
        }
        return md
    }

    /// The sampler's cpu-clock note (PerfCounters' `SamplingEvents`, in every profile sampled without `cycles`) says
    /// why cpu-clock was chosen, then explains a timer's skew: `…; an hrtimer, not an NMI: a sample is taken only where
    /// interrupts are enabled, …`. The section's own paragraph explains the skew for every timer-sampled profile, so
    /// the note keeps only its reason.
    static func withoutTimerClause(_ note: String) -> String {
        guard let clause = note.range(of: "; an hrtimer, not an NMI: ") else { return note }
        return String(note[..<clause.lowerBound])
    }

    /// A workload and message size: one table per role, one chart.
    struct WhereGroup {
        var workload: Workload
        var size: Int
        /// The group's cells, rows of its tables: paths, then connections.
        var cells: [CellKey]
    }

    /// The sampled cells by workload and size, in the report's order.
    var whereGroups: [WhereGroup] {
        var groups: [WhereGroup] = []
        var index: [String: Int] = [:]
        for cell in attribution.cells {
            let id = "\(cell.workload.rawValue) \(cell.messageSize)"
            if let i = index[id] { groups[i].cells.append(cell) } else {
                index[id] = groups.count
                groups.append(WhereGroup(workload: cell.workload, size: cell.messageSize, cells: [cell]))
            }
        }
        for i in groups.indices {
            groups[i].cells.sort { ($0.transportPath, $0.connections) < ($1.transportPath, $1.connections) }
        }
        return groups
    }

    /// The categories the tables show: those that could be seen and that some role of some cell spent time in.
    var shownCategories: [AttributionCategory] {
        let a = attribution
        var seen: Set<AttributionCategory> = []
        for cell in a.cells {
            for role in WorkerRole.allCases {
                for (category, share) in a.role(role, in: cell)?.shares ?? [:] where share.samples > 0 { seen.insert(category) }
            }
        }
        return a.visibleCategories.filter(seen.contains)
    }

    /// Rows: the group's paths (and connections, where there are several); columns: categories; `41 [38, 44]`.
    func shareTable(_ role: WorkerRole, group: WhereGroup, columns: [AttributionCategory]) -> String {
        let a = attribution
        let severalConnections = Set(group.cells.map(\.connections)).count > 1
        var md = "**\(role == .sender ? "Sender" : "Receiver") threads** (% of their sampled time\(a.userOnly ? ", user space only" : ""))\n\n"
        md += "| path |" + columns.map { " \($0.rawValue) |" }.joined() + "\n|---|" + String(repeating: "---:|", count: columns.count) + "\n"
        for cell in group.cells {
            md += "| \(cell.path)\(severalConnections ? " × \(cell.connections)" : "") |"
            guard let attribution = a.role(role, in: cell) else {
                md += String(repeating: " n/a |", count: columns.count) + "\n"
                continue
            }
            for category in columns {
                guard let s = attribution.share(category) else {
                    md += " n/a |"
                    continue
                }
                md += " \(percent(s.share)) [\(percent(s.low)), \(percent(s.high))] |"
            }
            md += "\n"
        }
        return md + "\n"
    }

    /// `other`'s top functions by name, per path and role, where `other` has samples.
    func otherFunctionsText(_ group: WhereGroup) -> String {
        let a = attribution
        var lines: [String] = []
        for cell in group.cells {
            for role in WorkerRole.allCases {
                let top = a.otherFunctions(role, in: cell, limit: 3)
                guard !top.isEmpty else { continue }
                lines.append("\(cell.path)\(cell.connections > 1 ? " × \(cell.connections)" : "") \(role.rawValue): "
                    + top.map { "`\($0.name.replacingOccurrences(of: "`", with: "'"))` \(percent($0.fraction))%" }.joined(separator: ", "))
            }
        }
        guard !lines.isEmpty else { return "" }
        return "`other`'s top functions (the leaf frames of its stacks, % of the role's samples): " + lines.joined(separator: "; ") + ".\n\n"
    }

    /// Lost samples and throttling, per cell and role where there were any.
    func lostText(_ group: WhereGroup) -> String {
        let a = attribution
        var lost: [String] = [], throttled: [String] = []
        for cell in group.cells {
            for role in WorkerRole.allCases {
                guard let r = a.role(role, in: cell) else { continue }
                let name = "\(cell.path)\(cell.connections > 1 ? " × \(cell.connections)" : "") \(role.rawValue)"
                if let fraction = r.lostFraction {
                    lost.append("\(name) \(r.lost) (\(percent(fraction))% of the samples the kernel took)")
                }
                if r.throttled > 0 { throttled.append("\(name) \(r.throttled)") }
            }
        }
        var md = ""
        if !lost.isEmpty {
            md += "⚠ Samples lost (the ring was full; PERF_RECORD_LOST): " + lost.joined(separator: "; ")
                + ". The shares are of the samples kept.\n\n"
        }
        if !throttled.isEmpty {
            md += "⚠ The kernel lowered the sampling rate (PERF_RECORD_THROTTLE): " + throttled.joined(separator: "; ") + ".\n\n"
        }
        return md
    }

    /// The flame graphs' cells: the largest stream size (any workload's without stream), the fewest connections.
    var flameGraphCells: [CellKey] {
        let a = attribution
        let withStacks = a.cells.filter { cell in WorkerRole.allCases.contains { a.stacks($0, in: cell) != nil } }
        let workload: Workload = withStacks.contains { $0.workload == .stream } ? .stream : .pingpong
        let group = withStacks.filter { $0.workload == workload }
        guard let size = group.map(\.messageSize).max(),
            let connections = group.filter({ $0.messageSize == size }).map(\.connections).min()
        else { return [] }
        return group.filter { $0.messageSize == size && $0.connections == connections }.sorted()
    }

    /// Links to each flame graph of ``flameGraphCells``, a row per path.
    func flameGraphLinks() -> String {
        let cells = flameGraphCells
        guard let first = cells.first else { return "" }
        var md = "### Flame graphs\n\n\(first.workload.name) \(first.messageSize) B × \(connectionsLabel(first.connections)), one per "
            + "thread role (x: share of the samples; callers below callees; boxes coloured by category as in the charts; "
            + "`copyprof export PROFILE --flamegraph --cell CELL --role ROLE` draws any other cell):\n\n| path | sender | receiver |\n|---|---|---|\n"
        for cell in cells {
            md += "| \(cell.path) |"
            for role in WorkerRole.allCases {
                md += attribution.stacks(role, in: cell) == nil ? " n/a |" : " [\(role.rawValue)](\(chartFolder)/\(Self.flameGraphName(cell, role))) |"
            }
            md += "\n"
        }
        return md + "\n"
    }

    static func whereChartName(_ workload: Workload, _ size: Int) -> String { "where-\(workload.rawValue)-\(size).svg" }

    static func flameGraphName(_ cell: CellKey, _ role: WorkerRole) -> String {
        "flame-\(cell.workload.rawValue)-\(cell.messageSize)-\(cell.connections)-\(cell.path)-\(role.rawValue).svg"
    }

    /// The section's charts: a stacked-bar chart per workload and message size (the fewest connections), and the
    /// flame graphs it links. None for a profile that was not sampled.
    package var whereCharts: [(name: String, svg: String)] {
        let a = attribution
        guard a.unavailableReason == nil else { return [] }
        var out: [(name: String, svg: String)] = []
        let shown = shownCategories
        for group in whereGroups {
            guard let fewest = group.cells.map(\.connections).min() else { continue }
            let cells = group.cells.filter { $0.connections == fewest }
            let groups = cells.map { cell in
                StackedBarChart.Group(label: cell.path, bars: WorkerRole.allCases.map { role in
                    StackedBarChart.Bar(label: role == .sender ? "S" : "R", segments: a.role(role, in: cell).map { r in
                        shown.compactMap { c in
                            r.share(c).map { s in
                                StackedBarChart.Segment(
                                    name: c.rawValue, color: c.color, percent: s.share * 100,
                                    tip: "\(cell.path) \(role.rawValue), \(c.rawValue): \(WhereFindingsMarkdown.shareText(s))")
                            }
                        }
                    })
                })
            }
            out.append((Self.whereChartName(group.workload, group.size), StackedBarChart(
                title: "Where the time goes: \(group.workload.name), \(group.size) B × \(connectionsLabel(fewest))"
                    + (a.userOnly ? " (user space only)" : ""),
                yLabel: "share of the thread's sampled time, %", groups: groups,
                legend: shown.map { ($0.rawValue, $0.color) },
                caption: "S: the sender threads, R: the receiver threads of each path; each bar is 100% of their sampled "
                    + "time\(a.userOnly ? " in user space (kernel categories not permitted)" : ""), split by category. "
                    + "The tooltips give each share's 95% interval.").svg()))
        }
        for cell in flameGraphCells {
            for role in WorkerRole.allCases {
                guard let graph = flameGraph(cell, role) else { continue }
                out.append((Self.flameGraphName(cell, role), graph.svg()))
            }
        }
        return out
    }

    /// The flame graph of a cell's role, or nil when it has no stacks.
    func flameGraph(_ cell: CellKey, _ role: WorkerRole) -> FlameGraph? {
        attribution.flameGraph(cell, role)
    }
}

extension AttributionAnalysis {
    /// The flame graph of a cell's role from its stacks (the samples left out of the profile as one box), or nil when
    /// it has none.
    package func flameGraph(_ cell: CellKey, _ role: WorkerRole) -> FlameGraph? {
        guard let summary = stacks(role, in: cell) else { return nil }
        var stacks = summary.stacks.map { stack in
            FlameGraph.Stack(
                frames: stack.frames.isEmpty ? ["[no frames]"] : stack.frames.map(frameName), category: stack.category,
                samples: stack.samples)
        }
        if summary.omittedSamples > 0 {
            stacks.append(FlameGraph.Stack(frames: [Self.omittedFrame], category: nil, samples: summary.omittedSamples))
        }
        var subtitle = sampling.map { "\($0.event) at \($0.frequency) Hz, \($0.seesKernel ? "user and kernel" : "user space only")" } ?? ""
        if let r = self.role(role, in: cell) { subtitle += "; \(r.trials) trial\(r.trials == 1 ? "" : "s"), \(r.samples) samples" }
        return FlameGraph(title: "\(cell) — \(role.rawValue) threads", subtitle: subtitle, stacks: stacks)
    }
}
