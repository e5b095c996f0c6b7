import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

@testable import CopyprofReport

/// The receive-side findings on hand-made profiles: the receive copy's cost (copy against discard), the share a
/// `mmap` receiver got mapped and why none, the cheapest path, and cells the host could not run.
@Suite struct ReceiveSideFindingsTests {
    /// Six stream trials of a path at 65536 B: `gbps` throughput, `receiverNs` CPU ns/B in the receiver thread and
    /// 0.5 ns/B in the sender, each trial 1% apart; a `mmap` receiver's mapped and copied bytes.
    func cell(
        _ transport: TransportKind, _ receiver: ReceiverKind, gbps: Double, receiverNs: Double,
        mapped: (UInt64, UInt64)? = nil, reason: String? = nil
    ) -> CellRecord {
        let key = CellKey(transport: transport, receiver: receiver, workload: .stream, messageSize: 65536, connections: 1)
        let trials = (0..<6).map { i -> TrialRecord in
            let scale = 1 + Double(i) * 0.01
            var trial = SampleProfiles.trial(i + 1, gbps: gbps * scale, messageSize: 65536)
            let bytes = Double(trial.bytes)
            trial.workers[0].counters["task-clock"] = CounterRecord(raw: UInt64(0.5 * bytes), timeEnabled: 1, timeRunning: 1)
            trial.workers[1].counters["task-clock"] = CounterRecord(
                raw: UInt64(receiverNs * scale * bytes), timeEnabled: 1, timeRunning: 1)
            trial.workers[1].received = ReceiverRecord(
                messages: trial.messages, bytes: trial.bytes, recvCalls: trial.messages, integrityErrors: 0,
                firstMismatch: nil, drainedMessages: 0, verified: receiver == .discard ? false : nil,
                zeroCopyReceive: mapped.map {
                    ZeroCopyReceiveRecord(mappedBytes: $0.0, copiedBytes: $0.1, mapCalls: 10, copyCalls: 10, unmappedReason: reason)
                })
            return trial
        }
        return CellRecord(key: key, trials: trials)
    }

    func profile(_ cells: [CellRecord]) -> Profile {
        var profile = SampleProfiles.make(throughput: [1])
        profile.cells = cells
        profile.plan.transports = Array(Set(cells.map(\.key.transport))).sorted { $0.rawValue < $1.rawValue }
        profile.plan.receivers = ReceiverKind.allCases.filter { r in cells.contains { $0.key.receiver == r } }
        return profile
    }

    func receiveSide(_ profile: Profile) throws -> ReceiveSide {
        let findings = Analysis(profile: profile).findings
        for finding in findings { if case .receiveSide(let r) = finding { return r } }
        Issue.record("no receive-side finding in \(findings)")
        throw CancellationError()
    }

    @Test func theReceiveCopyIsWhatDiscardSavesTheReceiver() throws {
        let r = try receiveSide(profile([
            cell(.twoCopy, .copy, gbps: 10, receiverNs: 1.0),
            cell(.twoCopy, .discard, gbps: 14, receiverNs: 0.4),
        ]))
        #expect(r.size == 65536 && r.connections == 1)
        let cost = try #require(r.copyCosts.first)
        let rx = try #require(cost.receiverCPU)
        #expect(cost.transport == .twoCopy && abs(rx.median - 0.4 * 1.025) < 0.01 && abs(rx.referenceMedian - 1.025) < 0.01)
        #expect(try #require(rx.p) < 0.01, "six trials each, no overlap: the smallest two-sided p")
        let text = FindingsMarkdown.render(.receiveSide(r)).text
        #expect(text.contains("two-copy: the receiver spends 1.025 CPU ns/B copying and 0.410 discarding (p = 0.002)"))
        #expect(text.contains("the copy is 0.615 ns/B, 60% of the receiver's time"))
        // discard delivers nothing: it is the floor, never the best path.
        #expect(r.ranking.map(\.path) == [TransportPath(.twoCopy)])
        #expect(r.discardFloor?.path == TransportPath(.twoCopy, .discard))
        #expect(text.contains("which reads nothing"))
    }

    @Test func mappedSharesAndWhyNothingWasMapped() throws {
        let why = "send() and sendmsg() copy the data into the socket's page fragments"
        let r = try receiveSide(profile([
            cell(.twoCopy, .copy, gbps: 10, receiverNs: 1.0),
            cell(.twoCopy, .mmap, gbps: 9, receiverNs: 1.2, mapped: (0, 1000), reason: why),
            cell(.zeroCopy, .copy, gbps: 8, receiverNs: 1.0),
            cell(.zeroCopy, .mmap, gbps: 8.5, receiverNs: 0.7, mapped: (940, 60)),
        ]))
        let twoCopy = try #require(r.mappings.first { $0.transport == .twoCopy })
        let zeroCopy = try #require(r.mappings.first { $0.transport == .zeroCopy })
        #expect(twoCopy.mappedPercent == 0 && twoCopy.unmappedReason == why)
        #expect(zeroCopy.mappedPercent == 94 && zeroCopy.unmappedReason == nil)
        #expect(try #require(zeroCopy.receiverCPU).median < 0.72)
        let text = FindingsMarkdown.render(.receiveSide(r)).text
        #expect(text.contains("- two-copy → mmap: 0% mapped — \(why)"))
        #expect(text.contains("- zero-copy → mmap: 94% mapped; receiver CPU 0.717 vs 1.025 ns/B with `copy` (-30%, p = 0.002)"))
    }

    @Test func theCheapestPathIsComparedWithTwoCopy() throws {
        let r = try receiveSide(profile([
            cell(.twoCopy, .copy, gbps: 10, receiverNs: 1.0),
            cell(.sendfile, .copy, gbps: 12, receiverNs: 0.8),
            cell(.sendfile, .mmap, gbps: 11, receiverNs: 0.9, mapped: (0, 1)),
        ]))
        #expect(r.ranking.map(\.path) == [TransportPath(.sendfile), TransportPath(.sendfile, .mmap), TransportPath(.twoCopy)])
        let best = try #require(r.bestAgainstTwoCopy)
        #expect(best.cell.path == "sendfile" && best.reference.path == "two-copy" && best.median < best.referenceMedian)
        #expect(r.fastestAgainstTwoCopy?.cell.path == "sendfile")
        let text = FindingsMarkdown.render(.receiveSide(r)).text
        // The sender's 0.5 ns/B plus the receiver's median (1.025 × its base).
        #expect(text.contains("sendfile 1.320, sendfile+mmap 1.422, two-copy 1.525."), "\(text)")
        #expect(text.contains("sendfile against two-copy: 1.320 vs 1.525 ns/B (-13.4%, p = 0.002)."))
    }

    @Test func aClassicProfileHasNoReceiveSideFinding() {
        let findings = Analysis(profile: profile([
            cell(.twoCopy, .copy, gbps: 10, receiverNs: 1.0), cell(.zeroCopy, .copy, gbps: 8, receiverNs: 1.0),
        ])).findings
        #expect(!findings.contains { if case .receiveSide = $0 { return true } else { return false } })
    }

    @Test func cellsTheHostCannotRunAreListedByReason() throws {
        var p = profile([cell(.twoCopy, .copy, gbps: 10, receiverNs: 1.0)])
        let why = "io_uring_setup failed: EPERM (Operation not permitted): io_uring is not allowed for this process"
        for receiver in ReceiverKind.allCases {
            p.cells.append(CellRecord(
                key: CellKey(transport: .ioUringZeroCopy, receiver: receiver, workload: .stream, messageSize: 65536, connections: 1),
                notSupported: why))
        }
        #expect(p.validate() == nil)
        let findings = Analysis(profile: p).findings
        guard case .notSupported(let groups)? = findings.last else {
            Issue.record("the not-supported finding comes last")
            return
        }
        #expect(groups.count == 1 && groups[0].cells.count == 3 && groups[0].reason == why)
        let text = FindingsMarkdown.render(.notSupported(groups)).text
        #expect(text.hasPrefix("- \(why) (stream io-uring-zc 65536 B × 1 connection; stream io-uring-zc+discard"))
        #expect(text.contains("the sweep went on without them"))
        // A not-supported cell with trials is something no run writes.
        p.cells[1].trials = p.cells[0].trials
        #expect(p.validate()?.contains("cells[1].notSupported") == true)
    }
}
