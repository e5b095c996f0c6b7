import CopyprofModel
import CopyprofProfile
import Foundation

/// A sampled sweep made by hand, in the proportions issue 20 recorded with `perf record -e cpu-clock` on this VM
/// (65536 B, one connection, stream): what the report's "Where the time goes" is tested on.
public enum SampledSweep {
    public static func key(_ t: TransportKind, _ r: ReceiverKind = .copy, size: Int = 65536) -> CellKey {
        CellKey(transport: t, receiver: r, workload: .stream, messageSize: size, connections: 1)
    }

    /// Samples per category of one thread in one trial, about 1,000 a trial, the trial's number nudging each a little
    /// (so that trials disagree as real ones do).
    public static func samples(_ shares: [AttributionCategory: Double], trial: Int, total: Double = 1000) -> [AttributionCategory: UInt64] {
        var out: [AttributionCategory: UInt64] = [:]
        for (i, category) in AttributionCategory.allCases.enumerated() {
            guard let share = shares[category], share > 0 else { continue }
            let nudge = 1 + 0.04 * sin(Double(trial * 7 + i * 3))
            out[category] = UInt64((share * total * nudge).rounded())
        }
        return out
    }

    public static let copySender: [AttributionCategory: Double] = [
        .copyFromUser: 0.41, .tcpIP: 0.2, .irqEnableSite: 0.11, .syscall: 0.1, .scheduler: 0.08, .memory: 0.05, .userLoop: 0.03,
        .other: 0.02,
    ]
    public static let copyReceiver: [AttributionCategory: Double] = [
        .copyToUser: 0.22, .scheduler: 0.3, .tcpIP: 0.18, .syscall: 0.1, .memory: 0.08, .irqEnableSite: 0.05, .userLoop: 0.04,
        .other: 0.03,
    ]

    public static func shares(_ t: TransportKind, _ role: WorkerRole, _ r: ReceiverKind) -> [AttributionCategory: Double] {
        switch (t, role) {
        case (.marshal, .sender):
            var s = copySender
            s[.userMemcpy] = 0.05
            s[.copyFromUser] = 0.36
            return s
        case (.zeroCopy, .sender):
            return [.zerocopyPinning: 0.04, .zerocopyCompletion: 0.03, .deferredCopy: 0.03, .tcpIP: 0.4, .syscall: 0.2,
                    .irqEnableSite: 0.12, .scheduler: 0.1, .memory: 0.04, .userLoop: 0.02, .other: 0.02]
        case (.zeroCopy, .receiver):
            var s = copyReceiver
            s[.deferredCopy] = 0.47
            s[.scheduler] = 0.07
            s[.copyToUser] = 0.02
            s[.tcpIP] = 0.15
            s[.memory] = 0.07
            return s
        case (_, .receiver) where r == .discard:
            var s = copyReceiver
            s[.copyToUser] = nil
            s[.scheduler] = 0.52
            return s
        case (_, .sender): return copySender
        case (_, .receiver): return copyReceiver
        }
    }

    /// The classic four with the copy receiver and two-copy with discard, 6 rounds, stacks for each role; two-copy's
    /// sender's shares moved by `twoCopySenderShift` (added to each category's).
    public static func profile(
        userOnly: Bool = false, trials: Int = 6, lost: [UInt64]? = nil, twoCopySenderShift: [AttributionCategory: Double] = [:]
    ) -> Profile {
        var frames = SampleProfiles.FrameTable()
        let paths: [(TransportKind, ReceiverKind)] = [(.twoCopy, .copy), (.marshal, .copy), (.oneCopy, .copy), (.zeroCopy, .copy), (.twoCopy, .discard)]
        var cells: [CellRecord] = []
        for (t, r) in paths {
            func perTrial(_ role: WorkerRole) -> [[AttributionCategory: UInt64]] {
                var shares = shares(t, role, r)
                if t == .twoCopy && r == .copy && role == .sender {
                    for (category, delta) in twoCopySenderShift { shares[category, default: 0] += delta }
                }
                if userOnly { shares = shares.filter { !$0.key.isKernel } }
                return (0..<trials).map { samples(shares, trial: $0) }
            }
            let summaries = WorkerRole.allCases.map { role in
                let thread = "copyprof-\(role.rawValue)"
                let leaf: [AttributionCategory: [String]] = [
                    .copyFromUser: ["__libc_send", "tcp_sendmsg", "_copy_from_iter"],
                    .copyToUser: ["__libc_recv", "tcp_recvmsg", "_copy_to_iter"],
                    .userMemcpy: ["Transports.MarshalSender.send", "__memmove_avx512_unaligned_erms"],
                    .deferredCopy: ["__libc_recv", "tcp_recvmsg", "skb_copy_ubufs", "__pi_memcpy"],
                    .other: ["mystery_function_with_a_long_name_that_will_not_fit"],
                ]
                let stacks = shares(t, role, r).sorted { $0.key.rawValue < $1.key.rawValue }.map { category, share in
                    frames.stack([thread] + (leaf[category] ?? ["somewhere", category.rawValue + "_work"]), category,
                                 samples: UInt64(share * 1000 * Double(trials)))
                }
                return StackSummary(role: role, stacks: stacks, omittedSamples: 30, omittedWeight: 30_030_030)
            }
            cells.append(SampleProfiles.attributedCell(
                key(t, r), sender: perTrial(.sender), receiver: perTrial(.receiver), lost: t == .zeroCopy ? lost : nil,
                stacks: summaries))
        }
        return SampleProfiles.sampled(cells, sampling: SampleProfiles.sampling(userOnly: userOnly), frames: frames)
    }
}
