import CopyprofModel
import CopyprofProfile

/// What the receive side costs and what removing its copy gains: the findings of a profile with receivers other than
/// `copy` (or with senders beyond the classic four).
package struct ReceiveSide: Sendable, Hashable {
    /// The message size and thread count the contrasts are at: the largest stream size, the fewest connections.
    package var size: Int
    package var connections: Int
    /// The receive copy's cost, per sender measured with both `copy` and `discard`.
    package var copyCosts: [CopyCost]
    /// What a `mmap` receiver got mapped, per sender, and what it saved against `copy`.
    package var mappings: [Mapping]
    /// The paths that deliver verified bytes, cheapest first by CPU ns/B (stream, at `size` and `connections`).
    package var ranking: [PathMedian]
    /// The cheapest path against two-copy with the copy receiver, when both were measured.
    package var bestAgainstTwoCopy: Evidence?
    /// The fastest path by throughput against two-copy with the copy receiver.
    package var fastestAgainstTwoCopy: Evidence?
    /// The cheapest `discard` path: a floor no delivering path can reach (nothing is read), when measured.
    package var discardFloor: PathMedian?

    /// `discard` against `copy` for one sender.
    package struct CopyCost: Sendable, Hashable {
        package var transport: TransportKind
        /// Receiver threads' CPU ns/B: discard (cell) against copy (reference).
        package var receiverCPU: Evidence?
        /// Sender and receiver CPU ns/B.
        package var totalCPU: Evidence?
        package var throughput: Evidence?
    }

    /// `mmap` for one sender.
    package struct Mapping: Sendable, Hashable {
        package var transport: TransportKind
        /// The median share of received bytes mapped, in percent.
        package var mappedPercent: Double
        /// Why nothing was mapped, as the profile recorded it.
        package var unmappedReason: String?
        /// Bytes mapped per `getsockopt(TCP_ZEROCOPY_RECEIVE)` call, over every trial; nil when none was mapped.
        package var bytesPerMapCall: Double?
        /// Receiver CPU ns/B: mmap (cell) against copy (reference), when both were measured.
        package var receiverCPU: Evidence?
        package var throughput: Evidence?
    }

    /// A path's median of a metric.
    package struct PathMedian: Sendable, Hashable {
        package var path: TransportPath
        package var median: Double
    }
}

extension TransportPath {
    /// The chart style of this sender with this receiver: the sender's colour and marker, the receiver's line.
    package var style: SeriesStyle { SeriesStyle(sender: transport.rawValue, receiver: receiver.rawValue) }
}

/// Cells the host could not run, grouped by the reason it gave.
package struct NotSupportedGroup: Sendable, Hashable {
    package var reason: String
    package var cells: [CellKey]
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
