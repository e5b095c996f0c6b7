import CopyprofProfile

/// Answers computed from a profile: medians with confidence intervals per cell and metric, significance between
/// cells, and findings that cite their numbers.
public struct Analysis: Sendable {
    public let profile: Profile
    /// The significance level of every test.
    public var alpha = 0.05

    public init(profile: Profile) { self.profile = profile }

    public var sizes: [Int] { Array(Set(profile.cells.map(\.key.messageSize))).sorted() }
    public var threadCounts: [Int] { Array(Set(profile.cells.map(\.key.threads))).sorted() }
    public var transports: [TransportKind] { TransportKind.allCases.filter { t in profile.cells.contains { $0.key.transport == t } } }
    public var modes: [Workload] { Workload.allCases.filter { m in profile.cells.contains { $0.key.mode == m } } }

    public func cell(_ transport: TransportKind, _ mode: Workload, _ size: Int, _ threads: Int) -> CellRecord? {
        profile.cell(CellKey(transport: transport, mode: mode, messageSize: size, threads: threads))
    }

    public func summary(_ metric: Metric, _ transport: TransportKind, _ mode: Workload, _ size: Int, _ threads: Int) -> Summary? {
        cell(transport, mode, size, threads).flatMap { metric.summary(of: $0) }
    }

    /// True when the metric was measured in at least one cell.
    public func measured(_ metric: Metric, mode: Workload? = nil) -> Bool {
        profile.cells.contains { (mode == nil || $0.key.mode == mode) && metric.summary(of: $0) != nil }
    }

    /// How `a` compares with `b` on a metric: medians, the percent change from b to a, Mann-Whitney p.
    public struct Contrast: Sendable {
        public var a: Summary
        public var b: Summary
        public var p: Double?
        /// (a - b) / b in percent.
        public var change: Double { b.median == 0 ? 0 : (a.median - b.median) / abs(b.median) * 100 }
        public func significant(alpha: Double) -> Bool { (p ?? 1) < alpha }
    }

    public func contrast(_ metric: Metric, _ a: CellKey, _ b: CellKey) -> Contrast? {
        guard let ca = profile.cell(a), let cb = profile.cell(b),
            let sa = metric.summary(of: ca), let sb = metric.summary(of: cb)
        else { return nil }
        let p = (sa.values.count >= 2 && sb.values.count >= 2) ? Statistics.mannWhitneyU(sa.values, sb.values)?.p : nil
        return Contrast(a: sa, b: sb, p: p)
    }

    /// Whether `a` is significantly better than `b` on the metric.
    func better(_ metric: Metric, _ a: CellKey, than b: CellKey) -> Contrast? {
        guard let c = contrast(metric, a, b), c.significant(alpha: alpha), let higher = metric.higherIsBetter else { return nil }
        return (higher ? c.a.median > c.b.median : c.a.median < c.b.median) ? c : nil
    }

    // MARK: - Findings

    /// One answer, with the numbers it rests on.
    public struct Finding: Sendable {
        public var title: String
        public var text: String
    }

    /// The findings, in the order the report shows them.
    public var findings: [Finding] {
        var out: [Finding] = []
        if let f = crossoverFinding() { out.append(f) }
        if let f = zeroCopyFinding() { out.append(f) }
        if let f = cacheFinding() { out.append(f) }
        if let f = scalingFinding() { out.append(f) }
        out.append(contentsOf: surprises())
        return out
    }

    func key(_ t: TransportKind, _ m: Workload, _ s: Int, _ n: Int) -> CellKey {
        CellKey(transport: t, mode: m, messageSize: s, threads: n)
    }

    /// The smallest size at which one-copy and zero-copy beat two-copy significantly, per thread count.
    func crossoverFinding() -> Finding? {
        guard transports.contains(.twoCopy) else { return nil }
        var lines: [String] = []
        for (mode, metric) in [(Workload.stream, Metric.throughput), (.pingpong, .rttP50)] where modes.contains(mode) {
            for challenger in [TransportKind.oneCopy, .zeroCopy] where transports.contains(challenger) {
                var parts: [String] = []
                for threads in threadCounts {
                    let label = "\(threads) thread\(threads == 1 ? "" : "s")"
                    if let size = sizes.first(where: { better(metric, key(challenger, mode, $0, threads), than: key(.twoCopy, mode, $0, threads)) != nil }),
                        let c = contrast(metric, key(challenger, mode, size, threads), key(.twoCopy, mode, size, threads))
                    {
                        parts.append("\(label): from \(size) B (\(metric.format(c.a.median)) vs \(metric.format(c.b.median)) \(metric.unit), p = \(pValue(c.p)))")
                    } else if let size = sizes.last,
                        let c = contrast(metric, key(challenger, mode, size, threads), key(.twoCopy, mode, size, threads))
                    {
                        parts.append("\(label): never (at \(size) B \(metric.format(c.a.median)) vs \(metric.format(c.b.median)) \(metric.unit))")
                    } else {
                        parts.append("\(label): never")
                    }
                }
                let what = mode == .stream ? "stream throughput" : "ping-pong RTT p50"
                lines.append("- **\(challenger.rawValue)** vs two-copy, \(what): " + parts.joined(separator: "; ") + ".")
            }
        }
        guard !lines.isEmpty else { return nil }
        return Finding(
            title: "Crossover sizes",
            text: "The smallest message size (of \(sizes.map(String.init).joined(separator: ", ")) B) at which a transport beats "
                + "two-copy with a Mann-Whitney p below \(formatDecimal(alpha, digits: 2)):\n" + lines.joined(separator: "\n"))
    }

    /// What zero-copy avoided: the copied share of its completions.
    func zeroCopyFinding() -> Finding? {
        let trials = profile.cells.filter { $0.key.transport == .zeroCopy }.flatMap(\.trials)
        let stats = trials.compactMap(\.zeroCopy)
        guard !stats.isEmpty else { return nil }
        let sends = stats.reduce(UInt128(0)) { $0 + UInt128($1.sends) }, completions = stats.reduce(UInt128(0)) { $0 + UInt128($1.completions) }
        let copied = stats.reduce(UInt128(0)) { $0 + UInt128($1.copiedCompletions) }, enobufs = stats.reduce(UInt128(0)) { $0 + UInt128($1.enobufs) }
        let share = completions == 0 ? 0 : Double(copied) / Double(completions) * 100
        var text = "\(sends) zero-copy sends, \(completions) completions, \(copied) of them flagged `SO_EE_CODE_ZEROCOPY_COPIED` "
            + "(\(formatDecimal(share, digits: 1))%)"
        text += enobufs > 0 ? "; \(enobufs) ENOBUFS pushed back. " : ". "
        if share >= 99.95 {
            text += "The kernel copied every zero-copy send after all — on loopback and veth it must, because the receiving "
                + "socket cannot keep the sender's pinned pages (skb_orphan_frags_rx). Zero-copy avoided no copy here; "
                + "it added page pinning and completion handling."
        } else if share > 0 {
            text += "Part of the zero-copy sends were copied by the kernel anyway; the rest avoided the send-side copy."
        } else {
            text += "No completion was flagged copied: the send-side copy was avoided."
        }
        if modes.contains(.stream), let size = sizes.last, let threads = threadCounts.first,
            let z = summary(.cpuNsPerByte, .zeroCopy, .stream, size, threads),
            let t = summary(.cpuNsPerByte, .twoCopy, .stream, size, threads)
        {
            text += " At \(size) B and \(threads) thread\(threads == 1 ? "" : "s") it cost \(Metric.cpuNsPerByte.format(z.median)) CPU ns/B "
                + "against two-copy's \(Metric.cpuNsPerByte.format(t.median)) ns/B."
        }
        return Finding(title: "What zero-copy avoided", text: text)
    }

    /// Which cache level shows the largest reduction against two-copy, or what ran instead without a PMU.
    func cacheFinding() -> Finding? {
        guard transports.contains(.twoCopy), modes.contains(.stream) else { return nil }
        let levels: [(String, Metric)] = [("L1d", .l1dMissesPerKB), ("LLC", .llcMissesPerKB)]
        let countedLevels = levels.filter { measured($0.1, mode: .stream) }
        let threads = threadCounts.first ?? 1
        if countedLevels.isEmpty {
            let reasons = profile.environment.events.filter { [EventName.l1dLoadMisses, EventName.llcLoadMisses].contains($0.name) }
                .map { "`\($0.name)`: \($0.availability.reason ?? $0.availability.state.rawValue)" }
            var text = "Cache misses per level cannot be measured on this host"
            text += reasons.isEmpty ? " (the events were not requested). " : " (\(reasons.joined(separator: "; "))). "
            text += "What ran instead: CPU time per byte from task-clock"
            if let size = sizes.last,
                let one = summary(.cpuNsPerByte, .oneCopy, .stream, size, threads),
                let two = summary(.cpuNsPerByte, .twoCopy, .stream, size, threads),
                let marshal = summary(.cpuNsPerByte, .marshal, .stream, size, threads)
            {
                text += " — at \(size) B and \(threads) thread\(threads == 1 ? "" : "s"): marshal \(Metric.cpuNsPerByte.format(marshal.median)), "
                    + "two-copy \(Metric.cpuNsPerByte.format(two.median)), one-copy \(Metric.cpuNsPerByte.format(one.median)) ns/B"
            }
            if let copies = profile.cells.filter({ $0.key.mode == .stream }).compactMap({ Metric.kernelRecvCopiesPerMessage.summary(of: $0) }).first {
                text += "; and the kernel's own count of receive copies (`skb:skb_copy_datagram_iovec`): \(Metric.kernelRecvCopiesPerMessage.format(copies.median)) per message in the first stream cell"
            }
            return Finding(title: "Which cache level gains", text: text + ".")
        }
        var best: (level: String, transport: TransportKind, size: Int, change: Double, a: Double, b: Double, unit: String)?
        for (level, metric) in countedLevels {
            for transport in [TransportKind.oneCopy, .zeroCopy, .marshal] where transports.contains(transport) {
                for size in sizes {
                    guard let c = contrast(metric, key(transport, .stream, size, threads), key(.twoCopy, .stream, size, threads)) else { continue }
                    if c.change < (best?.change ?? 0) { best = (level, transport, size, c.change, c.a.median, c.b.median, metric.unit) }
                }
            }
        }
        guard let best else {
            return Finding(title: "Which cache level gains", text: "No transport has fewer L1d or LLC misses per KB than two-copy in this profile.")
        }
        let metric = best.level == "L1d" ? Metric.l1dMissesPerKB : .llcMissesPerKB
        return Finding(
            title: "Which cache level gains",
            text: "The largest reduction against two-copy is at the **\(best.level)**: \(best.transport.rawValue) at \(best.size) B has "
                + "\(metric.format(best.a)) vs \(metric.format(best.b)) \(best.unit) (\(formatDecimal(best.change, digits: 1))%).")
    }

    /// How throughput and context switches scale with threads.
    func scalingFinding() -> Finding? {
        guard modes.contains(.stream), threadCounts.count > 1, let size = sizes.last else { return nil }
        var lines: [String] = []
        for transport in transports {
            let medians = threadCounts.map { summary(.throughput, transport, .stream, size, $0)?.median }
            guard let first = medians.first ?? nil, let last = medians.last ?? nil, first > 0 else { continue }
            let peakIndex = medians.indices.max { (medians[$0] ?? 0) < (medians[$1] ?? 0) } ?? 0
            lines.append("- \(transport.rawValue): \(medians.map { Metric.throughput.format($0) }.joined(separator: " → ")) Gbit/s "
                + "at \(threadCounts.map(String.init).joined(separator: ", ")) threads (\(formatDecimal(last / first, digits: 2))× from \(threadCounts.first!) to \(threadCounts.last!); peak at \(threadCounts[peakIndex]))")
        }
        if let small = sizes.first, measured(.contextSwitchesPerMB, mode: .stream) {
            let medians = threadCounts.map { summary(.contextSwitchesPerMB, .twoCopy, .stream, small, $0)?.median }
            lines.append("- context switches per MB, two-copy at \(small) B: \(medians.map { Metric.contextSwitchesPerMB.format($0) }.joined(separator: " → ")) "
                + "at \(threadCounts.map(String.init).joined(separator: ", ")) threads")
        }
        guard !lines.isEmpty else { return nil }
        let cores = profile.environment.cpuCount
        return Finding(
            title: "Thread scaling",
            text: "Stream throughput at \(size) B as connections grow (each connection has a sender and a receiver thread, on \(cores) CPU\(cores == 1 ? "" : "s")):\n"
                + lines.joined(separator: "\n"))
    }

    /// Things that break the usual expectations, by clear rules.
    func surprises() -> [Finding] {
        var notes: [(kind: String, weight: Double, text: String)] = []
        // Fewer copies, yet slower: two-copy and one-copy each skip marshal's user-space copy. And a gather that
        // costs more than the contiguous send it replaces.
        for mode in modes {
            let metric: Metric = mode == .stream ? .throughput : .rttP50
            for size in sizes {
                for threads in threadCounts {
                    for fewer in [TransportKind.twoCopy, .oneCopy] {
                        if let c = better(metric, key(.marshal, mode, size, threads), than: key(fewer, mode, size, threads)), abs(c.change) >= 5 {
                            notes.append(("fewer copies, slower", abs(c.change), "**\(fewer.rawValue) is slower than marshal** although it skips marshal's copy: "
                                + "\(mode.rawValue) \(metric.title) at \(size) B × \(threads) is \(metric.format(c.b.median)) vs \(metric.format(c.a.median)) \(metric.unit) (p = \(pValue(c.p)))."))
                        }
                    }
                    if let c = better(metric, key(.twoCopy, mode, size, threads), than: key(.oneCopy, mode, size, threads)), abs(c.change) >= 5 {
                        notes.append(("gather costs", abs(c.change), "**Gathering costs more than it saves**: one-copy's 8-entry iovec of \(size / 8)-byte fields gives "
                            + "\(mode.rawValue) \(metric.title) \(metric.format(c.b.median)) vs two-copy's \(metric.format(c.a.median)) \(metric.unit) at \(size) B × \(threads) (p = \(pValue(c.p))): "
                            + "the kernel walks the iovec entry by entry, and with small fields that costs more than sending one contiguous buffer."))
                    }
                }
            }
        }
        // Cost per byte up while throughput up; scaling that reverses; latency that falls as load rises.
        for transport in transports {
            for size in sizes {
                for (a, b) in zip(threadCounts, threadCounts.dropFirst()) {
                    if modes.contains(.stream),
                        let t = better(.throughput, key(transport, .stream, size, b), than: key(transport, .stream, size, a)),
                        let cost = contrast(.cpuNsPerByte, key(transport, .stream, size, b), key(transport, .stream, size, a)),
                        cost.significant(alpha: alpha), cost.change > 10
                    {
                        notes.append(("cost per byte rises", cost.change, "**Cost per byte rises with throughput**: \(transport.rawValue) stream at \(size) B from \(a) to \(b) threads goes "
                            + "\(Metric.throughput.format(t.b.median)) → \(Metric.throughput.format(t.a.median)) Gbit/s while CPU ns/B goes "
                            + "\(Metric.cpuNsPerByte.format(cost.b.median)) → \(Metric.cpuNsPerByte.format(cost.a.median))."))
                    }
                    if modes.contains(.pingpong), let r = better(.rttP50, key(transport, .pingpong, size, b), than: key(transport, .pingpong, size, a)), r.change < -20 {
                        notes.append(("latency falls", abs(r.change), "**Latency falls as load rises**: \(transport.rawValue) ping-pong RTT p50 at \(size) B is "
                            + "\(Metric.rttP50.format(r.b.median)) µs with \(a) thread\(a == 1 ? "" : "s") but \(Metric.rttP50.format(r.a.median)) µs with \(b) — "
                            + "an idle CPU is slow to wake (on a VM, an idle vCPU exits to the hypervisor); busy CPUs answer sooner."))
                    }
                }
                if modes.contains(.stream) {
                    let medians = threadCounts.map { summary(.throughput, transport, .stream, size, $0)?.median ?? 0 }
                    if let peak = medians.indices.max(by: { medians[$0] < medians[$1] }), peak > 0, peak < medians.count - 1,
                        let drop = contrast(.throughput, key(transport, .stream, size, threadCounts.last!), key(transport, .stream, size, threadCounts[peak])),
                        drop.significant(alpha: alpha), drop.change < -10
                    {
                        notes.append(("scaling reverses", abs(drop.change), "**Scaling reverses**: \(transport.rawValue) stream at \(size) B peaks at \(threadCounts[peak]) threads "
                            + "(\(Metric.throughput.format(drop.b.median)) Gbit/s) and falls to \(Metric.throughput.format(drop.a.median)) Gbit/s at \(threadCounts.last!)."))
                    }
                }
            }
        }
        // Noisy cells.
        let widths = profile.cells.compactMap { cell -> (CellRecord, Double)? in
            let metric: Metric = cell.key.mode == .stream ? .throughput : .rttP50
            return metric.summary(of: cell)?.relativeHalfWidth.map { (cell, $0) }
        }
        if let typical = Statistics.median(widths.map(\.1)) {
            for (cell, width) in widths where width > 0.1 && width > 3 * typical {
                notes.append(("noisy cell", width * 100, "**Noisy cell**: \(cell.key) has a 95% interval of ±\(formatDecimal(width * 100, digits: 0))% around its median, "
                    + "\(formatDecimal(width / max(typical, 1e-9), digits: 1))× the typical cell's ±\(formatDecimal(typical * 100, digits: 0))%."))
            }
        }
        for cell in profile.cells {
            let errors = cell.trials.reduce(UInt128(0)) { $0 + UInt128($1.integrityErrors) }
            if errors > 0 { notes.append(("integrity", 1e9, "**Integrity errors**: \(cell.key) received \(errors) message(s) that differ from what was sent.")) }
            if let error = cell.error { notes.append(("failed", 1e9, "**Failed cell**: \(cell.key): \(error)")) }
        }
        guard !notes.isEmpty else { return [] }
        // Each kind once, by its strongest case, so that one common effect does not hide the others.
        var kinds: [String] = []
        for note in notes where !kinds.contains(note.kind) { kinds.append(note.kind) }
        let lines = kinds.map { kind -> (Double, String) in
            let cases = notes.filter { $0.kind == kind }.sorted { $0.weight > $1.weight }
            let more = cases.count > 1 ? " (The strongest of \(cases.count) cells where this holds.)" : ""
            return (cases[0].weight, "- " + cases[0].text + more)
        }
        let text = lines.sorted { $0.0 > $1.0 }.map(\.1).joined(separator: "\n")
        return [Finding(title: "Surprises", text: text)]
    }
}

func pValue(_ p: Double?) -> String {
    guard let p else { return "n/a" }
    return p < 0.001 ? "< 0.001" : formatDecimal(p, digits: 3)
}
