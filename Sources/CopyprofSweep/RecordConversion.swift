import CopyprofProfile
import Histogram
import PerfCounters
import Transports

// The one place where what the counters and transports modules measured becomes the profile's own records, and
// where the profile's names become the transports' (they share raw values; a mismatch is a programming error).

extension Transports.TransportKind {
    /// The transport a profile names.
    public init(_ kind: CopyprofProfile.TransportKind) { self.init(rawValue: kind.rawValue)! }
}

extension CopyprofProfile.TransportKind {
    /// The profile's name of a transport.
    public init(_ kind: Transports.TransportKind) { self.init(rawValue: kind.rawValue)! }
}

extension Transports.Workload {
    public init(_ workload: CopyprofProfile.Workload) { self.init(rawValue: workload.rawValue)! }
}

extension CopyprofProfile.Workload {
    public init(_ workload: Transports.Workload) { self.init(rawValue: workload.rawValue)! }
}

extension Transports.Verification {
    public init(_ verification: CopyprofProfile.Verification) { self.init(rawValue: verification.rawValue)! }
}

extension CopyprofProfile.Verification {
    public init(_ verification: Transports.Verification) { self.init(rawValue: verification.rawValue)! }
}

extension CopyprofProfile.WorkerRole {
    public init(_ role: Transports.WorkerRole) { self.init(rawValue: role.rawValue)! }
}

extension CopyprofProfile.CountingMode {
    public init(_ mode: PerfCounters.CountingMode) { self.init(rawValue: mode.rawValue)! }
}

extension CounterRecord {
    public init(_ count: ScaledCount, mode: PerfCounters.CountingMode? = nil, parts: [PMUCount] = []) {
        self.init(
            raw: count.raw, timeEnabled: count.timeEnabled, timeRunning: count.timeRunning,
            mode: mode.map(CopyprofProfile.CountingMode.init),
            parts: parts.count > 1
                ? parts.map { PMUPartRecord(pmu: $0.pmu, raw: $0.count.raw, timeEnabled: $0.count.timeEnabled, timeRunning: $0.count.timeRunning) }
                : nil)
    }

    /// The record of a reading that has a count.
    public init?(_ reading: CounterReading) {
        guard let count = reading.count else { return nil }
        self.init(count, mode: reading.mode, parts: reading.parts)
    }
}

extension UsageRecord {
    public init(_ usage: ThreadUsage) {
        self.init(
            userNs: usage.userNs, systemNs: usage.systemNs, voluntarySwitches: usage.voluntarySwitches,
            involuntarySwitches: usage.involuntarySwitches, minorFaults: usage.minorFaults, cpuClockNs: usage.cpuClockNs)
    }
}

extension ZeroCopyRecord {
    public init(_ stats: ZeroCopyStats) {
        self.init(
            sends: stats.sends, completions: stats.completions, copiedCompletions: stats.copiedCompletions,
            notifications: stats.notifications, enobufs: stats.enobufs, reuseWaits: stats.reuseWaits)
    }
}

extension MismatchRecord {
    public init(_ mismatch: IntegrityMismatch) { self.init(sequence: mismatch.sequence, offset: mismatch.offset) }
}

extension SenderRecord {
    public init(_ stats: SenderStats) {
        self.init(
            messages: stats.messages, bytes: stats.bytes, sendCalls: stats.sendCalls, partialWrites: stats.partialWrites,
            zeroCopy: stats.zeroCopy.map(ZeroCopyRecord.init))
    }
}

extension ReceiverRecord {
    public init(_ stats: ReceiverStats) {
        self.init(
            messages: stats.messages, bytes: stats.bytes, recvCalls: stats.recvCalls,
            integrityErrors: stats.integrityErrors, firstMismatch: stats.firstMismatch.map(MismatchRecord.init),
            drainedMessages: stats.drainedMessages)
    }
}

extension AvailabilityRecord {
    public init(_ availability: EventAvailability) {
        self.init(
            state: State(rawValue: availability.state.rawValue)!, reason: availability.reason, errno: availability.errno)
    }
}

extension EventProbeRecord {
    public init(_ probe: HostCounters.Probe) {
        self.init(
            name: probe.name, kind: probe.kind, summary: probe.summary, availability: AvailabilityRecord(probe.availability),
            mode: probe.mode.map(CopyprofProfile.CountingMode.init), pmus: probe.pmus)
    }
}

extension TrialRecord {
    /// The record of a finished run.
    public init(_ result: TransportRunResult<RegionMeasurement>, trial: Int) {
        let workers = result.workers.map { worker in
            var counters: [String: CounterRecord] = [:]
            var unavailable: [String: String] = [:]
            for reading in worker.measurement?.counters ?? [] {
                if let record = CounterRecord(reading) { counters[reading.event.name] = record } else {
                    unavailable[reading.event.name] = reading.reason ?? reading.availability.description
                }
            }
            let usage = worker.measurement?.usage ?? ThreadUsage(
                userNs: 0, systemNs: 0, voluntarySwitches: 0, involuntarySwitches: 0, minorFaults: 0, cpuClockNs: 0)
            return WorkerRecord(
                connection: worker.identity.connection, role: WorkerRole(worker.identity.role),
                wallNs: worker.endNs &- worker.startNs, sent: worker.sent.map(SenderRecord.init),
                received: worker.received.map(ReceiverRecord.init), counters: counters,
                unavailable: unavailable.isEmpty ? nil : unavailable, usage: UsageRecord(usage))
        }
        self.init(
            trial: trial, elapsedNs: result.elapsedNs, bytes: result.bytesVerified, messages: result.messagesVerified,
            integrityErrors: result.integrityErrors, firstMismatch: result.firstMismatch.map { MismatchRecord($0.1) },
            partialWrites: result.partialWrites, rtt: result.roundTrips.map(RTTRecord.init),
            zeroCopy: result.zeroCopy.map(ZeroCopyRecord.init), workers: workers)
    }
}

extension RTTRecord {
    /// Percentiles and non-empty buckets of a histogram of ns.
    public init(_ histogram: Histogram<UInt64>) {
        self.init(
            count: histogram.totalCount, minNs: histogram.totalCount == 0 ? 0 : histogram.min,
            p50Ns: histogram.valueAtPercentile(50), p90Ns: histogram.valueAtPercentile(90),
            p99Ns: histogram.valueAtPercentile(99), p999Ns: histogram.valueAtPercentile(99.9), maxNs: histogram.max,
            meanNs: histogram.mean, histogram: HistogramBuckets(histogram.recordedValues().map { ($0.value, $0.count) }))
    }
}
