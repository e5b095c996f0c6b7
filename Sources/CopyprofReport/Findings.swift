import CopyprofModel
import CopyprofProfile

/// Two cells compared on one metric: the evidence a finding cites.
package struct Evidence: Sendable, Hashable {
    package var metric: Metric
    /// The cell the finding is about.
    package var cell: CellKey
    /// The cell it is compared with.
    package var reference: CellKey
    package var median: Double
    package var referenceMedian: Double
    /// Two-sided Mann-Whitney U p-value; nil with fewer than 2 trials on a side.
    package var p: Double?

    /// (median − reference) / |reference| in percent; 0 when the reference is 0.
    package var change: Double { Comparison.percentChange(referenceMedian, median) }
}

/// One answer computed from a profile, with the numbers it rests on. Renderers turn findings into text
/// (``FindingsMarkdown``); tests check them on fixture profiles.
package enum Finding: Sendable, Hashable {
    /// The smallest size at which a transport beats two-copy, per workload, challenger and thread count.
    case crossover(Crossover)
    /// The copied share of zero-copy completions, and what zero-copy cost against two-copy.
    case zeroCopyAvoided(ZeroCopyOutcome)
    /// The cache level with the largest reduction against two-copy, or what was measured instead.
    case cacheLevel(CacheOutcome)
    /// Stream throughput and context switches as connections grow.
    case scaling(Scaling)
    /// What the counters cost the cells they count: counted trials against timing trials.
    case counterOverhead(OverheadFinding)
    /// How steady the machine was: the control's times across the rounds.
    case machineSteadiness(ControlSpread)
    /// Results that break the usual expectations, each kind once by its strongest case.
    case surprises([SurpriseGroup])
    /// The receive copy's cost (copy against discard), the share a `mmap` receiver got mapped, and the cheapest path.
    case receiveSide(ReceiveSide)
    /// Cells the host could not run, and why.
    case notSupported([NotSupportedGroup])

    /// The findings' order in a report.
    package var order: Int {
        switch self {
        case .crossover: return 0
        case .zeroCopyAvoided: return 1
        case .receiveSide: return 2
        case .cacheLevel: return 3
        case .scaling: return 4
        case .counterOverhead: return 5
        case .machineSteadiness: return 6
        case .surprises: return 7
        case .notSupported: return 8
        }
    }
}

/// The counters' measured overhead over a profile's cells.
package struct OverheadFinding: Sendable, Hashable {
    /// The overhead, in percent, above which a cell is named.
    package var limit: Double
    /// The cells whose overhead exceeds the limit with an interval above none, largest first.
    package var exceeding: [CounterOverhead]
    /// The largest overhead of any cell, when none exceeds the limit.
    package var largest: CounterOverhead?
    /// Cells with both kinds of trials.
    package var measuredCells: Int
    /// True when the counted trials also sampled every thread: the overhead is the counters' and the sampler's
    /// together.
    package var sampled = false
}

/// Where one-copy and zero-copy overtake two-copy.
package struct Crossover: Sendable, Hashable {
    package struct Line: Sendable, Hashable {
        package var workload: Workload
        package var metric: Metric
        package var challenger: TransportKind
        package var outcomes: [Outcome]
    }

    /// One thread count's answer.
    package struct Outcome: Sendable, Hashable {
        package var connections: Int
        /// The first size at which the challenger is significantly better; nil when it never is.
        package var fromSize: Int?
        /// The contrast at that size, or at the largest size when it never wins; nil when not measured.
        package var evidence: Evidence?
    }

    package var sizes: [Int]
    package var alpha: Double
    package var lines: [Line]
}

/// What zero-copy avoided.
package struct ZeroCopyOutcome: Sendable, Hashable {
    /// Sends, completions, copied completions and ENOBUFS summed exactly over every zero-copy trial.
    package var sends: UInt128
    package var completions: UInt128
    package var copiedCompletions: UInt128
    package var enobufs: UInt128
    /// Copied completions in percent of completions; nil without completions.
    package var copiedPercent: Double?
    /// CPU ns/B of zero-copy against two-copy in the largest stream cell of the fewest connections.
    package var cost: Evidence?
    /// io_uring zero-copy's sends, notifications and notifications flagged copied, when it ran.
    package var ioUring: IOUringTotals?

    /// io_uring zero-copy's bookkeeping summed over its trials.
    package struct IOUringTotals: Sendable, Hashable {
        package var sends: UInt128
        package var notifications: UInt128
        package var copied: UInt128
        /// Copied notifications in percent of notifications; nil without notifications.
        package var copiedPercent: Double?
    }
}

/// Which cache level gains.
package enum CacheOutcome: Sendable, Hashable {
    /// No cache-miss event was counted: why, and the CPU-time figures that ran instead.
    case notMeasured(reasons: [EventReason], cpuNsPerByte: CPUCost?, receiveCopyHitsPerMessage: Double?)
    /// The largest reduction of misses per KB against two-copy among those the Mann-Whitney test finds significant.
    case reduction(level: String, evidence: Evidence, reading: Reading)
    /// No transport had significantly fewer misses than two-copy; the largest difference measured, if any.
    case noReduction(largest: Evidence?, level: String?, reading: Reading)

    package struct EventReason: Sendable, Hashable {
        package var event: String
        package var reason: String
    }

    /// How to read the counted misses: which values are user-only or scaled, and what each event counts on this CPU.
    package struct Reading: Sendable, Hashable {
        /// The miss events whose values cover user space only (perf's `:u`): the kernel's copies are not in them.
        package var userOnly: [String]
        /// The miss events whose values were scaled for multiplexing in some trial.
        package var scaled: [String]
        /// What each counted miss event counts on this vendor's CPUs (``CacheEvents``).
        package var meanings: [EventReason]
        /// The vendor the meanings are for.
        package var vendor: CacheEvents.Vendor
    }

    /// CPU ns/B of marshal, two-copy and one-copy at one size and thread count.
    package struct CPUCost: Sendable, Hashable {
        package var size: Int
        package var connections: Int
        package var marshal: Double
        package var twoCopy: Double
        package var oneCopy: Double
    }
}

/// How stream throughput scales with connections.
package struct Scaling: Sendable, Hashable {
    package struct Line: Sendable, Hashable {
        package var transport: TransportKind
        /// Median throughput per thread count (nil: not measured).
        package var medians: [Double?]
        package var peakConnections: Int
    }

    package var size: Int
    package var connectionCounts: [Int]
    package var cpuCount: Int
    package var lines: [Line]
    /// The smallest size, at which context switches per MB of two-copy are shown; nil when not counted.
    package var contextSwitchSize: Int?
    /// Context switches per MB of two-copy at that size, per thread count.
    package var contextSwitchMedians: [Double?] = []
}

/// A result that breaks an expectation, by a clear rule.
package enum Surprise: Sendable, Hashable {
    /// A transport that skips marshal's copy is slower than marshal (evidence: marshal against it).
    case fewerCopiesSlower(fewer: TransportKind, Evidence)
    /// One-copy's gather is slower than two-copy's contiguous send (evidence: two-copy against one-copy).
    case gatherCosts(Evidence)
    /// More connections give more throughput but a higher CPU cost per byte.
    case costPerByteRises(throughput: Evidence, cost: Evidence)
    /// Ping-pong RTT falls as connections are added.
    case latencyFalls(Evidence)
    /// Stream throughput peaks before the largest thread count and falls after (evidence: last against peak).
    case scalingReverses(Evidence)
    /// A cell whose interval is much wider than the typical cell's.
    case noisyCell(CellKey, relativeHalfWidth: Double, typical: Double)
    /// A cell whose trials disagree: some below half or above twice the median (``Instability``), the rule by which
    /// `compare` calls a cell unstable.
    case unstableCell(CellKey, Instability)
    case integrityErrors(CellKey, count: UInt128)
    case failedCell(CellKey, error: String)

    /// The rule that found it; a report shows each kind once.
    package var kind: String {
        switch self {
        case .fewerCopiesSlower: return "fewer copies, slower"
        case .gatherCosts: return "gather costs"
        case .costPerByteRises: return "cost per byte rises"
        case .latencyFalls: return "latency falls"
        case .scalingReverses: return "scaling reverses"
        case .noisyCell: return "noisy cell"
        case .unstableCell: return "unstable cell"
        case .integrityErrors: return "integrity"
        case .failedCell: return "failed"
        }
    }

    /// How strong the case is, to pick and order: the size of the effect in percent; errors first.
    package var weight: Double {
        switch self {
        case .fewerCopiesSlower(_, let e), .gatherCosts(let e), .latencyFalls(let e), .scalingReverses(let e):
            return abs(e.change)
        case .costPerByteRises(_, let cost): return cost.change
        case .noisyCell(_, let width, _): return width * 100
        case .unstableCell(_, let i): return Double(i.outliers) / Double(max(1, i.count)) * 100
        case .integrityErrors, .failedCell: return 1e9
        }
    }
}

/// The strongest case of one kind of surprise, and how many cells show it.
package struct SurpriseGroup: Sendable, Hashable {
    package var strongest: Surprise
    package var count: Int
}

extension Analysis {
    /// The findings, in the order a report shows them.
    package var findings: [Finding] {
        var out: [Finding] = []
        if let f = crossover() { out.append(.crossover(f)) }
        if let f = zeroCopyOutcome() { out.append(.zeroCopyAvoided(f)) }
        if let f = receiveSide() { out.append(.receiveSide(f)) }
        if let f = cacheOutcome() { out.append(.cacheLevel(f)) }
        if let f = scaling() { out.append(.scaling(f)) }
        if let f = overheadFinding() { out.append(.counterOverhead(f)) }
        if let f = controlSpread { out.append(.machineSteadiness(f)) }
        let groups = surpriseGroups()
        if !groups.isEmpty { out.append(.surprises(groups)) }
        let unsupported = notSupportedGroups()
        if !unsupported.isEmpty { out.append(.notSupported(unsupported)) }
        return out
    }

    func key(_ t: TransportKind, _ m: Workload, _ s: Int, _ n: Int) -> CellKey {
        CellKey(transport: t, workload: m, messageSize: s, connections: n)
    }

    /// The evidence comparing cell `a` with `b` on a metric, when both measured it.
    package func evidence(_ metric: Metric, _ a: CellKey, against b: CellKey) -> Evidence? {
        contrast(metric, a, b).map {
            Evidence(metric: metric, cell: a, reference: b, median: $0.a.median, referenceMedian: $0.b.median, p: $0.p)
        }
    }

    /// The evidence when `a` is significantly better than `b` on the metric.
    func betterEvidence(_ metric: Metric, _ a: CellKey, than b: CellKey) -> Evidence? {
        better(metric, a, than: b).map {
            Evidence(metric: metric, cell: a, reference: b, median: $0.a.median, referenceMedian: $0.b.median, p: $0.p)
        }
    }

    func crossover() -> Crossover? {
        guard transports.contains(.twoCopy) else { return nil }
        var lines: [Crossover.Line] = []
        for (workload, metric) in [(Workload.stream, Metric.throughput), (.pingpong, .rttP50)] where workloads.contains(workload) {
            for challenger in [TransportKind.oneCopy, .zeroCopy] where transports.contains(challenger) {
                let outcomes = connectionCounts.map { connections -> Crossover.Outcome in
                    func against(_ size: Int) -> Evidence? {
                        evidence(metric, key(challenger, workload, size, connections), against: key(.twoCopy, workload, size, connections))
                    }
                    if let size = sizes.first(where: {
                        betterEvidence(metric, key(challenger, workload, $0, connections), than: key(.twoCopy, workload, $0, connections)) != nil
                    }) {
                        return Crossover.Outcome(connections: connections, fromSize: size, evidence: against(size))
                    }
                    return Crossover.Outcome(connections: connections, fromSize: nil, evidence: sizes.last.flatMap(against))
                }
                lines.append(Crossover.Line(workload: workload, metric: metric, challenger: challenger, outcomes: outcomes))
            }
        }
        return lines.isEmpty ? nil : Crossover(sizes: sizes, alpha: alpha, lines: lines)
    }

    func zeroCopyOutcome() -> ZeroCopyOutcome? {
        let stats = profile.cells.filter { $0.key.transport == .zeroCopy }.flatMap(\.trials).compactMap(\.zeroCopy)
        let ring = profile.cells.filter { $0.key.transport == .ioUringZeroCopy }.flatMap(\.trials).compactMap(\.zeroCopy)
        var ioUring: ZeroCopyOutcome.IOUringTotals?
        if !ring.isEmpty {
            func sum(_ field: (ZeroCopyRecord) -> UInt64) -> UInt128 { ring.reduce(0) { $0 + UInt128(field($1)) } }
            let notifications = sum(\.completions), copied = sum(\.copiedCompletions)
            ioUring = ZeroCopyOutcome.IOUringTotals(
                sends: sum(\.sends), notifications: notifications, copied: copied,
                copiedPercent: notifications == 0 ? nil : Double(copied) / Double(notifications) * 100)
        }
        guard !stats.isEmpty else {
            return ioUring.map {
                ZeroCopyOutcome(sends: 0, completions: 0, copiedCompletions: 0, enobufs: 0, copiedPercent: nil, cost: nil, ioUring: $0)
            }
        }
        func total(_ field: (ZeroCopyRecord) -> UInt64) -> UInt128 { stats.reduce(0) { $0 + UInt128(field($1)) } }
        let completions = total(\.completions), copied = total(\.copiedCompletions)
        var cost: Evidence?
        if workloads.contains(.stream), let size = sizes.last, let connections = connectionCounts.first {
            cost = evidence(.cpuNsPerByte, key(.zeroCopy, .stream, size, connections), against: key(.twoCopy, .stream, size, connections))
        }
        return ZeroCopyOutcome(
            sends: total(\.sends), completions: completions, copiedCompletions: copied, enobufs: total(\.enobufs),
            copiedPercent: completions == 0 ? nil : Double(copied) / Double(completions) * 100, cost: cost, ioUring: ioUring)
    }

    func cacheOutcome() -> CacheOutcome? {
        guard transports.contains(.twoCopy), workloads.contains(.stream) else { return nil }
        let levels: [(String, Metric)] = [("L1d", .l1dMissesPerKB), ("LLC", .llcMissesPerKB)]
        let countedLevels = levels.filter { measured($0.1, workload: .stream) }
        let connections = connectionCounts.first ?? 1
        if countedLevels.isEmpty {
            let reasons = profile.environment.events.filter { [EventName.l1dLoadMisses, EventName.llcLoadMisses].contains($0.name) }
                .map { CacheOutcome.EventReason(event: $0.name, reason: $0.availability.reason ?? $0.availability.state.rawValue) }
            var cost: CacheOutcome.CPUCost?
            if let size = sizes.last,
                let one = summary(.cpuNsPerByte, .oneCopy, .stream, size, connections),
                let two = summary(.cpuNsPerByte, .twoCopy, .stream, size, connections),
                let marshal = summary(.cpuNsPerByte, .marshal, .stream, size, connections)
            {
                cost = CacheOutcome.CPUCost(
                    size: size, connections: connections, marshal: marshal.median, twoCopy: two.median, oneCopy: one.median)
            }
            let copies = profile.cells.filter { $0.key.workload == .stream }
                .compactMap { Metric.receiveCopyHitsPerMessage.summary(of: $0) }.first?.median
            return .notMeasured(reasons: reasons, cpuNsPerByte: cost, receiveCopyHitsPerMessage: copies)
        }
        // Which values are reduced (user-only, scaled) and what the events count on this CPU, said with the result.
        let streamCells = profile.cells.filter { $0.key.workload == .stream }
        let missEvents = countedLevels.map { $0.1 == .l1dMissesPerKB ? EventName.l1dLoadMisses : EventName.llcLoadMisses }
        let vendor = CacheEvents.vendor(of: profile.environment)
        let reading = CacheOutcome.Reading(
            userOnly: missEvents.filter { e in streamCells.contains { $0.trials.contains { $0.counterIsUserOnly(e) } } },
            scaled: missEvents.filter { e in streamCells.contains { $0.trials.contains { $0.counterIsScaled(e) } } },
            meanings: missEvents.compactMap { e in CacheEvents.meaning(of: e, on: vendor).map { .init(event: e, reason: $0) } },
            vendor: vendor)
        // A winner only where the Mann-Whitney test says so, as in the other findings; the largest difference
        // otherwise, named as not significant.
        var best: (level: String, evidence: Evidence)?
        var largest: (level: String, evidence: Evidence)?
        for (level, metric) in countedLevels {
            for transport in [TransportKind.oneCopy, .zeroCopy, .marshal] where transports.contains(transport) {
                for size in sizes {
                    let a = key(transport, .stream, size, connections), b = key(.twoCopy, .stream, size, connections)
                    if let e = betterEvidence(metric, a, than: b), e.change < (best?.evidence.change ?? 0) { best = (level, e) }
                    if let e = evidence(metric, a, against: b), abs(e.change) > abs(largest?.evidence.change ?? 0) {
                        largest = (level, e)
                    }
                }
            }
        }
        guard let best else { return .noReduction(largest: largest?.evidence, level: largest?.level, reading: reading) }
        return .reduction(level: best.level, evidence: best.evidence, reading: reading)
    }

    func scaling() -> Scaling? {
        guard workloads.contains(.stream), connectionCounts.count > 1, let size = sizes.last else { return nil }
        var lines: [Scaling.Line] = []
        for transport in transports {
            let medians = connectionCounts.map { summary(.throughput, transport, .stream, size, $0)?.median }
            guard let first = medians.first ?? nil, (medians.last ?? nil) != nil, first > 0 else { continue }
            let peakIndex = medians.indices.max { (medians[$0] ?? 0) < (medians[$1] ?? 0) } ?? 0
            lines.append(Scaling.Line(transport: transport, medians: medians, peakConnections: connectionCounts[peakIndex]))
        }
        var scaling = Scaling(size: size, connectionCounts: connectionCounts, cpuCount: profile.environment.cpuCount, lines: lines)
        if let small = sizes.first, measured(.contextSwitchesPerMB, workload: .stream) {
            scaling.contextSwitchSize = small
            scaling.contextSwitchMedians = connectionCounts.map { summary(.contextSwitchesPerMB, .twoCopy, .stream, small, $0)?.median }
        }
        return lines.isEmpty && scaling.contextSwitchSize == nil ? nil : scaling
    }

    /// True when the counted trials sampled their threads as well as counting them: what they cost (the overhead) is
    /// the counters' and the sampler's together.
    package var countedTrialsSample: Bool { profile.sampling != nil }

    /// The overhead's name in tables: `counters' overhead`, or `counters + sampling overhead`.
    package var overheadName: String { countedTrialsSample ? "counters + sampling overhead" : "counters' overhead" }

    /// The overhead above which the report names a cell, in percent.
    package static let overheadLimit = 2.0

    func overheadFinding() -> OverheadFinding? {
        let all = overheads
        guard !all.isEmpty else { return nil }
        let exceeding = all.filter { $0.exceeds(Self.overheadLimit) }.sorted { $0.percent > $1.percent }
        return OverheadFinding(
            limit: Self.overheadLimit, exceeding: exceeding,
            largest: exceeding.isEmpty ? all.max { $0.percent < $1.percent } : nil, measuredCells: all.count,
            sampled: countedTrialsSample)
    }

    // MARK: - Surprises, one rule per function

    /// Every surprise, each kind once by its strongest case, strongest kind first.
    func surpriseGroups() -> [SurpriseGroup] {
        let all = fewerCopiesSlower() + gatherCosts() + costPerByteRises() + latencyFalls() + scalingReverses()
            + unstableCells() + noisyCells() + brokenCells()
        var kinds: [String] = []
        for surprise in all where !kinds.contains(surprise.kind) { kinds.append(surprise.kind) }
        let groups = kinds.map { kind -> SurpriseGroup in
            let cases = all.filter { $0.kind == kind }
            let strongest = cases.max { $0.weight < $1.weight }!
            return SurpriseGroup(strongest: strongest, count: cases.count)
        }
        return groups.sorted { $0.strongest.weight > $1.strongest.weight }
    }

    /// The cells of one workload, size and connection count: where transports are compared.
    private var groups: [(workload: Workload, metric: Metric, size: Int, connections: Int)] {
        workloads.flatMap { workload in
            sizes.flatMap { size in
                connectionCounts.map { (workload, workload == .stream ? Metric.throughput : .rttP50, size, $0) }
            }
        }
    }

    /// Two-copy or one-copy slower than marshal by 5% or more, although each skips marshal's copy.
    func fewerCopiesSlower() -> [Surprise] {
        groups.flatMap { g in
            [TransportKind.twoCopy, .oneCopy].compactMap { fewer -> Surprise? in
                guard let e = betterEvidence(g.metric, key(.marshal, g.workload, g.size, g.connections), than: key(fewer, g.workload, g.size, g.connections)),
                    abs(e.change) >= 5
                else { return nil }
                return .fewerCopiesSlower(fewer: fewer, e)
            }
        }
    }

    /// One-copy's gather slower than two-copy's contiguous send by 5% or more.
    func gatherCosts() -> [Surprise] {
        groups.compactMap { g in
            guard let e = betterEvidence(g.metric, key(.twoCopy, g.workload, g.size, g.connections), than: key(.oneCopy, g.workload, g.size, g.connections)),
                abs(e.change) >= 5
            else { return nil }
            return .gatherCosts(e)
        }
    }

    /// Consecutive thread counts of one transport and size.
    private var threadSteps: [(transport: TransportKind, size: Int, from: Int, to: Int)] {
        transports.flatMap { t in
            sizes.flatMap { s in zip(connectionCounts, connectionCounts.dropFirst()).map { (t, s, $0.0, $0.1) } }
        }
    }

    /// More connections, significantly more throughput, and a CPU cost per byte up by more than 10%.
    func costPerByteRises() -> [Surprise] {
        guard workloads.contains(.stream) else { return [] }
        return threadSteps.compactMap { s in
            guard let t = betterEvidence(.throughput, key(s.transport, .stream, s.size, s.to), than: key(s.transport, .stream, s.size, s.from)),
                let cost = evidence(.cpuNsPerByte, key(s.transport, .stream, s.size, s.to), against: key(s.transport, .stream, s.size, s.from)),
                (cost.p ?? 1) < alpha, cost.change > 10
            else { return nil }
            return .costPerByteRises(throughput: t, cost: cost)
        }
    }

    /// Ping-pong RTT p50 significantly lower (by more than 20%) with more connections.
    func latencyFalls() -> [Surprise] {
        guard workloads.contains(.pingpong) else { return [] }
        return threadSteps.compactMap { s in
            guard let e = betterEvidence(.rttP50, key(s.transport, .pingpong, s.size, s.to), than: key(s.transport, .pingpong, s.size, s.from)),
                e.change < -20
            else { return nil }
            return .latencyFalls(e)
        }
    }

    /// Throughput that peaks before the largest thread count and then falls significantly, by more than 10%.
    func scalingReverses() -> [Surprise] {
        guard workloads.contains(.stream), let last = connectionCounts.last else { return [] }
        return transports.flatMap { transport in
            sizes.compactMap { size -> Surprise? in
                let medians = connectionCounts.map { summary(.throughput, transport, .stream, size, $0)?.median ?? 0 }
                guard let peak = medians.indices.max(by: { medians[$0] < medians[$1] }), peak > 0, peak < medians.count - 1,
                    let drop = evidence(.throughput, key(transport, .stream, size, last), against: key(transport, .stream, size, connectionCounts[peak])),
                    (drop.p ?? 1) < alpha, drop.change < -10
                else { return nil }
                return .scalingReverses(drop)
            }
        }
    }

    /// Cells whose trials disagree on their primary metric (``Instability``).
    func unstableCells() -> [Surprise] {
        profile.cells.compactMap { cell in
            Instability(Metric.primary(for: cell.key.workload), Metric.primary(for: cell.key.workload).summary(of: cell)?.values ?? [])
                .map { .unstableCell(cell.key, $0) }
        }
    }

    /// Cells whose interval is over ±10% and more than 3× the typical cell's, unless they are unstable (said once, as
    /// that).
    func noisyCells() -> [Surprise] {
        let unstable = Set(unstableCells().compactMap { if case .unstableCell(let key, _) = $0 { key } else { nil } })
        let widths = profile.cells.filter { !unstable.contains($0.key) }.compactMap { cell -> (CellKey, Double)? in
            let metric: Metric = cell.key.workload == .stream ? .throughput : .rttP50
            return metric.summary(of: cell)?.relativeHalfWidth.map { (cell.key, $0) }
        }
        guard let typical = Statistics.median(widths.map(\.1)) else { return [] }
        return widths.filter { $0.1 > 0.1 && $0.1 > 3 * typical }.map { .noisyCell($0.0, relativeHalfWidth: $0.1, typical: typical) }
    }

    /// Cells with integrity errors or that failed.
    func brokenCells() -> [Surprise] {
        profile.cells.flatMap { cell -> [Surprise] in
            var out: [Surprise] = []
            let errors = cell.trials.reduce(UInt128(0)) { $0 + UInt128($1.integrityErrors) }
            if errors > 0 { out.append(.integrityErrors(cell.key, count: errors)) }
            if let error = cell.error { out.append(.failedCell(cell.key, error: error)) }
            return out
        }
    }
}
