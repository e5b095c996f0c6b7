import CopyprofModel
import CopyprofProfile

/// A number derived from a trial, with a unit and the direction in which it is better.
package enum Metric: String, CaseIterable, Sendable, Codable, Hashable {
    /// Verified throughput of a stream, one direction. Ping-pong has none: see ``roundTripRate``.
    case throughput = "throughput"
    /// Verified messages per second (ping-pong: both directions).
    case messageRate = "message-rate"
    /// Ping-pong round trips per second over all connections: what a ping-pong measures in place of throughput.
    ///
    /// A ping-pong's bytes cross each connection twice per round trip, one message at a time, so its Gbit/s counted
    /// both directions and stood beside stream's one-direction Gbit/s as if the two were alike. Round trips per second
    /// cannot be taken for a stream's figure, and it is what limits a request-response protocol: connections / RTT.
    case roundTripRate = "round-trips-per-s"
    case rttP50 = "rtt-p50"
    case rttP90 = "rtt-p90"
    case rttP99 = "rtt-p99"
    case rttP999 = "rtt-p99.9"
    /// CPU cycles of sender and receiver threads per verified byte.
    case cyclesPerByte = "cycles-per-byte"
    case instructionsPerByte = "instructions-per-byte"
    /// Instructions per cycle.
    case ipc = "ipc"
    /// CPU time of sender and receiver threads per verified byte, from the timing trials' thread CPU clocks (no
    /// counter slows them; task-clock in a trial from before the split): netperf's service demand.
    case cpuNsPerByte = "cpu-ns-per-byte"
    case l1dMissesPerKB = "l1d-misses-per-kb"
    case llcMissesPerKB = "llc-misses-per-kb"
    case l1dMissRatio = "l1d-miss-ratio"
    case llcMissRatio = "llc-miss-ratio"
    case contextSwitchesPerMB = "context-switches-per-mb"
    case contextSwitchesPerSecond = "context-switches-per-s"
    /// Share of the threads' CPU time spent in the kernel (rusage).
    case kernelCPUShare = "kernel-cpu-share"
    /// Share of the CPU time spent by sender threads.
    case senderCPUShare = "sender-cpu-share"
    /// Share of zero-copy completions the kernel flagged as copied.
    case zeroCopyCopiedShare = "zerocopy-copied-share"
    /// Hits of the `skb:skb_copy_datagram_iovec` tracepoint per verified message. The kernel fires it each time a
    /// receive call copies data out of one socket buffer (skb) to user space (`skb_copy_datagram_iter`), so it counts
    /// copy operations, not messages or bytes: a message spread over several skbs, or read in several calls, counts
    /// several times.
    case receiveCopyHitsPerMessage = "receive-copy-hits-per-message"
    /// CPU time of the receiver threads alone per byte (in ping-pong: the echoers'): what the receive side costs.
    case receiverCPUNsPerByte = "receiver-cpu-ns-per-byte"
    /// Share of received bytes the kernel mapped into a `mmap` receiver (TCP_ZEROCOPY_RECEIVE) instead of copying
    /// them: neper's `percent_mmaped`.
    case mappedShare = "receive-mapped-share"

    /// Whether larger is better (nil: neither, the metric describes rather than ranks).
    package var higherIsBetter: Bool? {
        switch self {
        case .throughput, .messageRate, .roundTripRate, .ipc, .mappedShare: return true
        // Receive-copy hits count copy operations, which depend on how the data was cut into skbs: neither is better.
        case .kernelCPUShare, .senderCPUShare, .receiveCopyHitsPerMessage: return nil
        default: return false
        }
    }

    package var unit: String {
        switch self {
        case .throughput: return "Gbit/s"
        case .messageRate: return "msg/s"
        case .roundTripRate: return "round trips/s"
        case .rttP50, .rttP90, .rttP99, .rttP999: return "µs"
        case .cyclesPerByte: return "cycles/B"
        case .instructionsPerByte: return "instr/B"
        case .ipc: return "instr/cycle"
        case .cpuNsPerByte, .receiverCPUNsPerByte: return "ns/B"
        case .l1dMissesPerKB, .llcMissesPerKB: return "misses/KB"
        case .l1dMissRatio, .llcMissRatio, .kernelCPUShare, .senderCPUShare, .zeroCopyCopiedShare, .mappedShare: return "%"
        case .contextSwitchesPerMB: return "switches/MB"
        case .contextSwitchesPerSecond: return "switches/s"
        case .receiveCopyHitsPerMessage: return "hits/msg"
        }
    }

    /// A short name for table headers.
    package var title: String {
        switch self {
        case .throughput: return "throughput"
        case .messageRate: return "message rate"
        case .roundTripRate: return "round trips/s"
        case .rttP50: return "RTT p50"
        case .rttP90: return "RTT p90"
        case .rttP99: return "RTT p99"
        case .rttP999: return "RTT p99.9"
        case .cyclesPerByte: return "cycles/byte"
        case .instructionsPerByte: return "instructions/byte"
        case .ipc: return "IPC"
        case .cpuNsPerByte: return "CPU ns/byte"
        case .l1dMissesPerKB: return "L1d misses/KB"
        case .llcMissesPerKB: return "LLC misses/KB"
        case .l1dMissRatio: return "L1d miss ratio"
        case .llcMissRatio: return "LLC miss ratio"
        case .contextSwitchesPerMB: return "context switches/MB"
        case .contextSwitchesPerSecond: return "context switches/s"
        case .kernelCPUShare: return "kernel CPU share"
        case .senderCPUShare: return "sender CPU share"
        case .zeroCopyCopiedShare: return "zero-copy copied"
        case .receiveCopyHitsPerMessage: return "receive-copy tracepoint hits/msg"
        case .receiverCPUNsPerByte: return "receiver CPU ns/byte"
        case .mappedShare: return "received bytes mapped"
        }
    }

    /// What the metric counts, for a reader who would take its title the wrong way; nil when the title says it all.
    package var explanation: String? {
        switch self {
        case .receiveCopyHitsPerMessage:
            return "hits of the `\(EventName.receiveCopy)` tracepoint per verified message. The kernel fires it each time "
                + "a receive call copies data out of one socket buffer (skb) to user space, so it counts receive copy "
                + "operations, not messages or bytes: a message spread over several skbs, or read in several calls, "
                + "counts several times, and a value above 1 does not mean the data was copied more than once"
        default: return nil
        }
    }

    /// Decimals shown for this metric's medians.
    package var digits: Int {
        switch self {
        case .throughput, .ipc, .cpuNsPerByte, .cyclesPerByte, .instructionsPerByte, .receiveCopyHitsPerMessage,
            .receiverCPUNsPerByte:
            return 3
        case .messageRate, .roundTripRate, .contextSwitchesPerSecond, .zeroCopyCopiedShare, .mappedShare: return 0
        default: return 1
        }
    }

    /// The counter events the metric needs (empty: none).
    package var events: [String] {
        switch self {
        case .cyclesPerByte: return [EventName.cycles]
        case .instructionsPerByte: return [EventName.instructions]
        case .ipc: return [EventName.cycles, EventName.instructions]
        case .l1dMissesPerKB: return [EventName.l1dLoadMisses]
        case .llcMissesPerKB: return [EventName.llcLoadMisses]
        case .l1dMissRatio: return [EventName.l1dLoadMisses, EventName.l1dLoads]
        case .llcMissRatio: return [EventName.llcLoadMisses, EventName.llcLoads]
        case .receiveCopyHitsPerMessage: return [EventName.receiveCopy]
        default: return []
        }
    }

    /// The metric's value for a trial; nil ("n/a", never 0) when an input was not counted or does not apply.
    package func value(of trial: TrialRecord) -> Double? {
        let bytes = Double(trial.bytes)
        let seconds = trial.durationSeconds
        func sum(_ event: String) -> Double? { trial.counterSum(event) }
        func perByte(_ x: Double?) -> Double? { x.flatMap { bytes > 0 ? $0 / bytes : nil } }
        /// CPU time of the trial's workers (of one role), nil where none recorded any: not measured, never 0 ns/B.
        func cpuTime(_ role: WorkerRole? = nil) -> Double? {
            let ns = trial.cpuNs(role: role)
            return ns > 0 ? ns : nil
        }
        func ratio(_ a: Double?, _ b: Double?) -> Double? {
            guard let a, let b, b > 0 else { return nil }
            return a / b
        }
        switch self {
        case .throughput: return seconds > 0 ? trial.throughputGbps : nil
        case .messageRate: return seconds > 0 ? Double(trial.messages) / seconds : nil
        case .roundTripRate: return seconds > 0 ? trial.rtt.map { Double($0.count) / seconds } : nil
        case .rttP50: return trial.rtt.map { Double($0.p50Ns) / 1000 }
        case .rttP90: return trial.rtt.map { Double($0.p90Ns) / 1000 }
        case .rttP99: return trial.rtt.map { Double($0.p99Ns) / 1000 }
        case .rttP999: return trial.rtt.map { Double($0.p999Ns) / 1000 }
        case .cyclesPerByte: return perByte(sum(EventName.cycles))
        case .instructionsPerByte: return perByte(sum(EventName.instructions))
        case .ipc: return ratio(sum(EventName.instructions), sum(EventName.cycles))
        case .cpuNsPerByte: return perByte(cpuTime())
        case .l1dMissesPerKB: return sum(EventName.l1dLoadMisses).flatMap { bytes > 0 ? $0 / (bytes / 1024) : nil }
        case .llcMissesPerKB: return sum(EventName.llcLoadMisses).flatMap { bytes > 0 ? $0 / (bytes / 1024) : nil }
        case .l1dMissRatio: return ratio(sum(EventName.l1dLoadMisses), sum(EventName.l1dLoads)).map { $0 * 100 }
        case .llcMissRatio: return ratio(sum(EventName.llcLoadMisses), sum(EventName.llcLoads)).map { $0 * 100 }
        case .contextSwitchesPerMB:
            return bytes > 0 ? trial.contextSwitches().count / (bytes / 1e6) : nil
        case .contextSwitchesPerSecond: return seconds > 0 ? trial.contextSwitches().count / seconds : nil
        case .kernelCPUShare:
            let user = trial.workers.reduce(0.0) { $0 + Double($1.usage.userNs) }
            let system = trial.workers.reduce(0.0) { $0 + Double($1.usage.systemNs) }
            return ratio(system, user + system).map { $0 * 100 }
        case .senderCPUShare: return ratio(cpuTime(.sender), cpuTime()).map { $0 * 100 }
        case .zeroCopyCopiedShare: return trial.zeroCopy?.copiedShare.map { $0 * 100 }
        case .receiveCopyHitsPerMessage:
            return ratio(sum(EventName.receiveCopy), Double(trial.messages))
        case .receiverCPUNsPerByte: return perByte(cpuTime(.receiver))
        case .mappedShare: return trial.zeroCopyReceive?.mappedShare.map { $0 * 100 }
        }
    }

    /// True when any input counter of the trial was scaled for multiplexing.
    package func isScaled(in trial: TrialRecord) -> Bool {
        events.contains { trial.counterIsScaled($0) }
    }

    /// True when an input counter of the trial covers user space only (perf's `:u`): the kernel's part is missing.
    package func isUserOnly(in trial: TrialRecord) -> Bool {
        switch self {
        case .contextSwitchesPerMB, .contextSwitchesPerSecond: return false  // never user-only: getrusage instead
        default: return events.contains { trial.counterIsUserOnly($0) }
        }
    }

    /// Where the metric's counted input comes from in a trial; nil for metrics measured by the run itself.
    package func source(in trial: TrialRecord) -> ValueSource? {
        switch self {
        case .contextSwitchesPerMB, .contextSwitchesPerSecond: return trial.contextSwitches().source
        case .cpuNsPerByte: return trial.cpuTime().source
        case .receiverCPUNsPerByte: return trial.cpuTime(role: .receiver).source
        case .senderCPUShare: return trial.cpuTime().source
        case .kernelCPUShare: return .getrusage
        default: return events.isEmpty ? nil : .perfEvent
        }
    }

    /// The kind of trial the metric is read from.
    ///
    /// Open counters slow the threads they count, so every figure of time comes from timing trials, where none is
    /// open: throughput, round trips and RTT, and CPU time — CPU ns/B, the kernel's and the senders' shares — from
    /// each thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`) and rusage, which cost nothing to read. Counted trials give
    /// only what needs the counters: counts per byte or message (cycles, instructions, cache misses, receive-copy
    /// tracepoint hits), each normalised by that trial's own bytes and messages. Context switches come from the
    /// timing trials' getrusage: the scheduler counts every switch whatever perf may see, and a counted trial's
    /// switches are not the workload's alone — its sampler's hrtimer is armed and cancelled at every switch, which on
    /// a VM changed switches/MB by a fifth.
    package var trialKind: TrialKind {
        switch self {
        case .cyclesPerByte, .instructionsPerByte, .ipc, .l1dMissesPerKB, .llcMissesPerKB, .l1dMissRatio, .llcMissRatio,
            .receiveCopyHitsPerMessage:
            return .counted
        default: return .timing
        }
    }

    /// True for metrics of wall time — throughput, rates, RTT percentiles.
    package var isTimeMetric: Bool {
        switch self {
        case .throughput, .messageRate, .roundTripRate, .rttP50, .rttP90, .rttP99, .rttP999: return true
        default: return false
        }
    }

    /// True when the metric applies to a workload: throughput to stream, round trips to ping-pong.
    package func applies(to workload: Workload) -> Bool {
        switch self {
        case .throughput: return workload == .stream
        case .roundTripRate, .rttP50, .rttP90, .rttP99, .rttP999: return workload == .pingpong
        default: return true
        }
    }

    /// How the metric scales with the speed of the machine, for the control's correction: `wall` for metrics of wall
    /// time (a rate goes as its inverse, a latency as it), `cpu` for CPU time per byte, nil for counts.
    package enum Clock: Sendable { case wall, cpu }

    /// The clock the metric is measured in, and whether it grows with the time taken (a latency, a cost) or shrinks
    /// (a rate); nil for metrics of counts, which the control does not correct.
    package var clock: (clock: Clock, growsWithTime: Bool)? {
        switch self {
        case .throughput, .messageRate, .roundTripRate: return (.wall, false)
        case .rttP50, .rttP90, .rttP99, .rttP999: return (.wall, true)
        case .cpuNsPerByte, .receiverCPUNsPerByte: return (.cpu, true)
        default: return nil
        }
    }

    /// The trials of a cell the metric is read from: those of its kind (``trialKind``; trials from before the
    /// split serve both). A cell of a run without counters (`--events none`) has timing trials only: every metric
    /// then comes from them, and event-based ones are n/a.
    package func trials(of cell: CellRecord) -> [TrialRecord] { cell.trials.filter(reads(cell)) }

    /// Which of the cell's trials the metric reads: the rule of ``trials(of:)``, as a test of one trial.
    func reads(_ cell: CellRecord) -> (TrialRecord) -> Bool {
        if trialKind == .timing { return { $0.servesTiming } }
        return cell.trials.contains(where: \.servesCounting) ? { $0.servesCounting } : { _ in true }
    }

    /// The metric's summary over the cell's trials of its kind (``trials(of:)``), or nil when it is n/a in every one
    /// or does not apply to the cell's workload. The trials of its kind that give no value are in its
    /// ``Summary/omitted`` with the reason, and so is the trial at which the cell failed: no trial is dropped silently.
    package func summary(of cell: CellRecord) -> Summary? {
        guard applies(to: cell.key.workload) else { return nil }
        // The trials of ``trials(of:)``, visited in place rather than copied into a new array.
        var summary = self.summary(of: cell.trials, where: reads(cell))
        if let error = cell.error, summary != nil, cell.failedTrialKind.map({ $0 == trialKind }) ?? true {
            summary?.omitted.append(Summary.Omission(reason: "failed: \(error)", count: 1))
        }
        return summary
    }

    /// The metric's summary over the given trials, or nil when it is n/a in every one.
    package func summary(of trials: [TrialRecord]) -> Summary? { summary(of: trials, where: { _ in true }) }

    /// The summary over the trials that `include` accepts, or nil when the metric is n/a in every one; in one pass,
    /// each value computed once, the trials without one counted by reason.
    func summary(of trials: [TrialRecord], where include: (TrialRecord) -> Bool) -> Summary? {
        var values: [Double] = []
        var scaled = false, userOnly = false
        var sources: Set<ValueSource> = []
        var omitted: [Summary.Omission] = []
        for trial in trials where include(trial) {
            guard let value = value(of: trial) else {
                let reason = whyNoValue(in: trial)
                if let i = omitted.firstIndex(where: { $0.reason == reason }) { omitted[i].count += 1 } else {
                    omitted.append(Summary.Omission(reason: reason, count: 1))
                }
                continue
            }
            values.append(value)
            if !scaled { scaled = isScaled(in: trial) }
            if !userOnly { userOnly = isUserOnly(in: trial) }
            if let source = source(in: trial) { sources.insert(source) }
        }
        var summary = Summary(values, scaled: scaled)
        summary?.userOnly = userOnly
        summary?.sources = sources.sorted { $0.rawValue < $1.rawValue }
        summary?.omitted = omitted
        return summary
    }

    /// Why a trial gives the metric no value, in a few words.
    package func whyNoValue(in trial: TrialRecord) -> String {
        if trial.elapsedNs == 0 { return "no elapsed time" }
        if trial.bytes == 0 { return "moved 0 bytes" }
        switch self {
        case .roundTripRate, .rttP50, .rttP90, .rttP99, .rttP999: return "no round trip recorded"
        case .zeroCopyCopiedShare: return "no zero-copy completion"
        case .mappedShare: return "no byte received through the mapping receiver"
        default: break
        }
        if let event = events.first(where: { trial.counterSum($0) == nil }) { return "`\(event)` not counted in every thread" }
        return "n/a in it"
    }

    /// The metric's format for medians: the same in tables and findings.
    package func format(_ value: Double?) -> String { fixed(value, digits) }
}
