import CopyprofModel
import CopyprofProfile

/// One row per trial, for pandas and spreadsheets. Counter columns are summed over sender and receiver threads and
/// are empty where the counter was not counted (never 0 for "unknown").
///
/// `throughput_gbps` is a stream's alone (bytes received, one direction); a ping-pong row has it empty and its rate in
/// `round_trips_per_s`, as the summary, the report and compare show it (``Metric/roundTripRate`` says why). `bytes`
/// and `messages` of a ping-pong row count both directions.
package enum CSVExport {
    /// The fixed leading columns, in this order; scripts rely on them.
    package static let columns = [
        "transport", "workload", "message_size", "connections", "trial", "duration_s", "bytes", "messages", "throughput_gbps",
        "rtt_p50_us", "rtt_p99_us", "cycles", "instructions", "l1d_misses", "llc_misses", "context_switches",
        "task_clock_ns", "cycles_per_byte", "cpu_ns_per_byte", "zerocopy_sends", "zerocopy_completions",
        "zerocopy_copied", "integrity_errors",
    ]

    /// Per-role and rusage columns after the fixed ones.
    package static let extraColumns = [
        "sender_task_clock_ns", "receiver_task_clock_ns", "sender_context_switches", "receiver_context_switches",
        "user_cpu_ns", "system_cpu_ns", "voluntary_switches", "involuntary_switches", "kernel_recv_copies",
        "partial_writes", "scaled_counters", "context_switches_source", "user_only_counters", "label", "rtt_p90_us",
        "rtt_p999_us", "rtt_max_us", "kind", "round", "receiver", "payload_verified", "receive_mapped_bytes",
        "receive_copied_bytes", "round_trips_per_s",
    ]

    /// The whole CSV text, header first.
    package static func render(_ profile: Profile) -> String {
        var out = (columns + extraColumns).joined(separator: ",") + "\n"
        for cell in profile.cells {
            for trial in cell.trials {
                out += (row(cell.key, trial) + [quoted(profile.environment.label ?? profile.plan.label ?? "")]
                    + rttColumns(trial) + [trial.kind?.rawValue ?? "", trial.round.map(String.init) ?? ""]
                    + receiverColumns(cell.key, trial)
                    + [number(cell.key.workload == .pingpong ? Metric.roundTripRate.value(of: trial) : nil, digits: 1)])
                    .joined(separator: ",") + "\n"
            }
        }
        return out
    }

    static func row(_ key: CellKey, _ trial: TrialRecord) -> [String] {
        func counter(_ event: String, role: WorkerRole? = nil) -> String { number(trial.counterSum(event, role: role)) }
        let usage = trial.workers.map(\.usage)
        let scaled = EventName.catalog.filter { trial.counterIsScaled($0) }
        let userOnly = EventName.catalog.filter { trial.counterIsUserOnly($0) }
        return [
            key.transport.rawValue, key.workload.rawValue, String(key.messageSize), String(key.connections), String(trial.trial),
            number(trial.durationSeconds, digits: 6), String(trial.bytes), String(trial.messages),
            number(key.workload == .stream ? Metric.throughput.value(of: trial) : nil, digits: 4),
            number(Metric.rttP50.value(of: trial), digits: 3),
            number(Metric.rttP99.value(of: trial), digits: 3),
            counter(EventName.cycles), counter(EventName.instructions), counter(EventName.l1dLoadMisses), counter(EventName.llcLoadMisses),
            number(trial.contextSwitches().count), counter(EventName.taskClock),
            number(Metric.cyclesPerByte.value(of: trial), digits: 4),
            number(Metric.cpuNsPerByte.value(of: trial), digits: 4),
            trial.zeroCopy.map { String($0.sends) } ?? "", trial.zeroCopy.map { String($0.completions) } ?? "",
            trial.zeroCopy.map { String($0.copiedCompletions) } ?? "",
            // Not measured where the receiver read nothing (discard): empty, as every column not measured.
            trial.payloadVerified ? String(trial.integrityErrors) : "",
            counter(EventName.taskClock, role: .sender), counter(EventName.taskClock, role: .receiver),
            number(trial.contextSwitches(role: .sender).count), number(trial.contextSwitches(role: .receiver).count),
            String(exactSum(usage.map(\.userNs))), String(exactSum(usage.map(\.systemNs))),
            String(exactSum(usage.map(\.voluntarySwitches))), String(exactSum(usage.map(\.involuntarySwitches))),
            counter(EventName.receiveCopy), String(trial.partialWrites),
            scaled.isEmpty ? "" : "\"\(scaled.joined(separator: " "))\"",
            trial.contextSwitches().source.rawValue,
            userOnly.isEmpty ? "" : "\"\(userOnly.joined(separator: " "))\"",
        ]
    }

    /// RTT p90, p99.9 and max in µs; empty for stream trials.
    static func rttColumns(_ trial: TrialRecord) -> [String] {
        [Metric.rttP90.value(of: trial), Metric.rttP999.value(of: trial), trial.rtt.map { Double($0.maxNs) / 1000 }]
            .map { number($0, digits: 3) }
    }

    /// The receiver, whether it verified the payload, and what a `mmap` receiver got mapped and copied (empty for
    /// the others). Appended after the older columns, so that scripts that read columns by position still work.
    static func receiverColumns(_ key: CellKey, _ trial: TrialRecord) -> [String] {
        let mapping = trial.zeroCopyReceive
        return [
            key.receiver.rawValue, trial.payloadVerified ? "true" : "false",
            mapping.map { String($0.mappedBytes) } ?? "", mapping.map { String($0.copiedBytes) } ?? "",
        ]
    }

    /// A text field, quoted when it holds a comma, a quote or a line break (RFC 4180).
    static func quoted(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A number as CSV text: integers without a decimal point, others with up to `digits` decimals; nil is empty.
    static func number(_ value: Double?, digits: Int = 0) -> String {
        guard let value, value.isFinite else { return "" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return formatDecimal(value, digits: max(digits, 1))
    }
}

/// The exact sum of counts read from a profile: each may be as large as UInt64 allows, and so may their sum.
func exactSum(_ values: [UInt64]) -> UInt128 {
    values.reduce(UInt128(0)) { $0 + UInt128($1) }
}

