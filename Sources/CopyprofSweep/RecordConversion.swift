import CopyprofProfile
import Histogram
import PerfCounters
import Transports

// The one place where what the counters and transports modules measured becomes the profile's own records. The run
// vocabulary (transport, receiver, workload, verification, role, cell key) needs no conversion: every module uses
// CopyprofModel's types.

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
    /// The record of what a receiver got; `configuration` says why a `mmap` receiver that mapped nothing did not.
    public init(_ stats: ReceiverStats, configuration: RunConfiguration? = nil) {
        self.init(
            messages: stats.messages, bytes: stats.bytes, recvCalls: stats.recvCalls,
            integrityErrors: stats.integrityErrors, firstMismatch: stats.firstMismatch.map(MismatchRecord.init),
            drainedMessages: stats.drainedMessages, verified: stats.verified ? nil : false,
            zeroCopyReceive: stats.zeroCopyReceive.map { ZeroCopyReceiveRecord($0, configuration: configuration) })
    }
}

extension ZeroCopyReceiveRecord {
    /// The record of a `mmap` receiver's counts, with the reason when nothing was mapped.
    public init(_ stats: ZeroCopyReceiveStats, configuration: RunConfiguration?) {
        self.init(
            mappedBytes: stats.mappedBytes, copiedBytes: stats.copiedBytes, mapCalls: stats.mapCalls,
            copyCalls: stats.copyCalls,
            unmappedReason: stats.mappedBytes == 0 && stats.copiedBytes > 0
                ? configuration.map { Self.unmappedReason($0, pathMTU: stats.pathMTU) }
                    ?? "no received segment held a whole, page-aligned page"
                : nil)
    }

    /// Why a `mmap` receiver mapped nothing, from the kernel's rule: `tcp_zerocopy_receive` maps a page only when a
    /// fragment of a received skb is that whole page at offset 0 (`can_map_frag`, net/ipv4/tcp.c). `pathMTU` is the
    /// MTU of the path the receiver's socket took (loopback's on one host, the route's between two).
    static func unmappedReason(_ configuration: RunConfiguration, pathMTU mtu: Int?) -> String {
        let page = 4096
        if let mtu, mtu < page + 52 {
            return "the path's MTU (\(mtu)) is below a page plus headers: no segment can carry a whole page"
        }
        switch configuration.transport {
        case .twoCopy, .marshal, .oneCopy:
            return "send() and sendmsg() copy the data into the socket's page fragments (sk_page_frag), packed at any "
                + "offset of shared pages: no fragment is a whole page of its own, which is what "
                + "TCP_ZEROCOPY_RECEIVE maps"
        case .sendfile:
            return "sendfile puts the page cache's own pages in the socket; TCP_ZEROCOPY_RECEIVE mapped none of them "
                + "in copyprof's loopback tests on Linux 6.18, even with segments of whole pages (a loopback MTU of "
                + "4148, 8244 or 61492)"
        case .zeroCopy, .ioUringZeroCopy:
            if configuration.messageSize < page {
                return "messages of \(configuration.messageSize) B are smaller than a page: no segment holds a whole page"
            }
            return "no received segment held a whole, page-aligned page"
        }
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
        self.init(result, trial: trial, region: { $0 })
    }

    /// The record of a finished run of the sweep's regions (their samples are attributed apart).
    public init(_ result: TransportRunResult<WorkerMeasurement>, trial: Int) {
        self.init(result, trial: trial, region: \.region)
    }

    private init<Measurement>(
        _ result: TransportRunResult<Measurement>, trial: Int, region: (Measurement) -> RegionMeasurement
    ) {
        let workers = result.workers.map { worker in
            var counters: [String: CounterRecord] = [:]
            var unavailable: [String: String] = [:]
            let measurement = worker.measurement.map(region)
            for reading in measurement?.counters ?? [] {
                if let record = CounterRecord(reading) { counters[reading.event.name] = record } else {
                    unavailable[reading.event.name] = reading.reason ?? reading.availability.description
                }
            }
            let usage = measurement?.usage ?? ThreadUsage(
                userNs: 0, systemNs: 0, voluntarySwitches: 0, involuntarySwitches: 0, minorFaults: 0, cpuClockNs: 0)
            return WorkerRecord(
                connection: worker.identity.connection, role: worker.identity.role,
                wallNs: worker.endNs &- worker.startNs, sent: worker.sent.map(SenderRecord.init),
                received: worker.received.map { ReceiverRecord($0, configuration: result.configuration) }, counters: counters,
                unavailable: unavailable.isEmpty ? nil : unavailable, usage: UsageRecord(usage), tid: worker.threadID)
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
