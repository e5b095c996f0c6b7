import CopyprofModel
import CopyprofProfile

/// What the receive side costs and what removing its copy gains: the findings of a profile with receivers other than
/// `copy` (or with senders beyond the classic four).
public struct ReceiveSide: Sendable, Hashable {
    /// The message size and thread count the contrasts are at: the largest stream size, the fewest connections.
    public var size: Int
    public var connections: Int
    /// The receive copy's cost, per sender measured with both `copy` and `discard`.
    public var copyCosts: [CopyCost]
    /// What a `mmap` receiver got mapped, per sender, and what it saved against `copy`.
    public var mappings: [Mapping]
    /// The paths that deliver verified bytes, cheapest first by CPU ns/B (stream, at `size` and `connections`).
    public var ranking: [PathMedian]
    /// The cheapest path against two-copy with the copy receiver, when both were measured.
    public var bestAgainstTwoCopy: Evidence?
    /// The fastest path by throughput against two-copy with the copy receiver.
    public var fastestAgainstTwoCopy: Evidence?
    /// The cheapest `discard` path: a floor no delivering path can reach (nothing is read), when measured.
    public var discardFloor: PathMedian?

    /// `discard` against `copy` for one sender.
    public struct CopyCost: Sendable, Hashable {
        public var transport: TransportKind
        /// Receiver threads' CPU ns/B: discard (cell) against copy (reference).
        public var receiverCPU: Evidence?
        /// Sender and receiver CPU ns/B.
        public var totalCPU: Evidence?
        public var throughput: Evidence?
    }

    /// `mmap` for one sender.
    public struct Mapping: Sendable, Hashable {
        public var transport: TransportKind
        /// The median share of received bytes mapped, in percent.
        public var mappedPercent: Double
        /// Why nothing was mapped, as the profile recorded it.
        public var unmappedReason: String?
        /// Bytes mapped per `getsockopt(TCP_ZEROCOPY_RECEIVE)` call, over every trial; nil when none was mapped.
        public var bytesPerMapCall: Double?
        /// Receiver CPU ns/B: mmap (cell) against copy (reference), when both were measured.
        public var receiverCPU: Evidence?
        public var throughput: Evidence?
    }

    /// A path's median of a metric.
    public struct PathMedian: Sendable, Hashable {
        public var path: TransportPath
        public var median: Double
    }
}

extension TransportPath {
    /// The chart style of this sender with this receiver: the sender's colour and marker, the receiver's line.
    public var style: SeriesStyle { SeriesStyle(sender: transport.rawValue, receiver: receiver.rawValue) }
}

/// Cells the host could not run, grouped by the reason it gave.
public struct NotSupportedGroup: Sendable, Hashable {
    public var reason: String
    public var cells: [CellKey]
}

extension Analysis {
    /// The receive-side finding: only for profiles with a receiver other than `copy` or a sender beyond the classic
    /// four, and stream cells.
    func receiveSide() -> ReceiveSide? {
        let extended = receivers != [.copy] || paths.contains { !TransportKind.classic.contains($0.transport) }
        guard extended, workloads.contains(.stream) else { return nil }
        let streamCells = profile.cells.filter { $0.key.workload == .stream && !$0.trials.isEmpty }
        guard let size = streamCells.map(\.key.messageSize).max(),
            let connections = streamCells.filter({ $0.key.messageSize == size }).map(\.key.connections).min()
        else { return nil }
        func key(_ path: TransportPath) -> CellKey {
            CellKey(transport: path.transport, receiver: path.receiver, workload: .stream, messageSize: size, connections: connections)
        }
        let here = paths.filter { profile.cell(key($0)).map { !$0.trials.isEmpty } ?? false }
        let senders = TransportKind.allCases.filter { t in here.contains { $0.transport == t } }

        let copyCosts = senders.compactMap { t -> ReceiveSide.CopyCost? in
            let discard = key(TransportPath(t, .discard)), copy = key(TransportPath(t, .copy))
            guard here.contains(TransportPath(t, .discard)), here.contains(TransportPath(t, .copy)) else { return nil }
            return ReceiveSide.CopyCost(
                transport: t, receiverCPU: evidence(.receiverCPUNsPerByte, discard, against: copy),
                totalCPU: evidence(.cpuNsPerByte, discard, against: copy), throughput: evidence(.throughput, discard, against: copy))
        }
        let mappings = senders.compactMap { t -> ReceiveSide.Mapping? in
            let mmap = key(TransportPath(t, .mmap)), copy = key(TransportPath(t, .copy))
            guard let cell = profile.cell(mmap), let share = Metric.mappedShare.summary(of: cell) else { return nil }
            let reason = cell.trials.lazy.compactMap { $0.zeroCopyReceive?.unmappedReason }.first
            let withCopy = here.contains(TransportPath(t, .copy))
            let counts = cell.trials.compactMap(\.zeroCopyReceive)
            let mapped = counts.reduce(0.0) { $0 + Double($1.mappedBytes) }, calls = counts.reduce(0.0) { $0 + Double($1.mapCalls) }
            return ReceiveSide.Mapping(
                transport: t, mappedPercent: share.median, unmappedReason: share.median == 0 ? reason : nil,
                bytesPerMapCall: mapped > 0 && calls > 0 ? mapped / calls : nil,
                receiverCPU: withCopy ? evidence(.receiverCPUNsPerByte, mmap, against: copy) : nil,
                throughput: withCopy ? evidence(.throughput, mmap, against: copy) : nil)
        }
        func medians(_ metric: Metric, _ candidates: [TransportPath]) -> [ReceiveSide.PathMedian] {
            candidates.compactMap { path in
                profile.cell(key(path)).flatMap { metric.summary(of: $0) }.map { ReceiveSide.PathMedian(path: path, median: $0.median) }
            }
        }
        let delivering = here.filter { $0.receiver.verifiesPayload }
        let ranking = medians(.cpuNsPerByte, delivering).sorted { $0.median < $1.median }
        let reference = TransportPath(.twoCopy, .copy)
        var best: Evidence?, fastest: Evidence?
        if here.contains(reference) {
            if let cheapest = ranking.first, cheapest.path != reference {
                best = evidence(.cpuNsPerByte, key(cheapest.path), against: key(reference))
            }
            if let top = medians(.throughput, delivering).max(by: { $0.median < $1.median }), top.path != reference {
                fastest = evidence(.throughput, key(top.path), against: key(reference))
            }
        }
        let floor = medians(.cpuNsPerByte, here.filter { !$0.receiver.verifiesPayload }).min { $0.median < $1.median }
        if copyCosts.isEmpty && mappings.isEmpty && ranking.count < 2 { return nil }
        return ReceiveSide(
            size: size, connections: connections, copyCosts: copyCosts, mappings: mappings, ranking: ranking,
            bestAgainstTwoCopy: best, fastestAgainstTwoCopy: fastest, discardFloor: floor)
    }

    /// Cells the host could not run, by reason, in the order they appear.
    func notSupportedGroups() -> [NotSupportedGroup] {
        var groups: [NotSupportedGroup] = []
        var position: [String: Int] = [:]
        for cell in profile.cells {
            guard let reason = cell.notSupported else { continue }
            if let index = position[reason] {
                groups[index].cells.append(cell.key)
            } else {
                position[reason] = groups.count
                groups.append(NotSupportedGroup(reason: reason, cells: [cell.key]))
            }
        }
        return groups
    }
}
