import CopyprofModel
import CopyprofProfile

/// A category's share of one role's time in one cell: what a where-finding cites.
package struct ShareEvidence: Sendable, Hashable {
    /// The cell the share is of.
    package var cell: CellKey
    /// Whose time: the cell's sender threads or its receiver threads.
    package var role: WorkerRole
    /// The category's share of that time, with its interval and samples.
    package var share: CategoryShare
}

/// What a zero-copy sender's time went to, and which thread paid the deferred copy of its pages.
package struct ZeroCopyWhere: Sendable, Hashable {
    /// `zero-copy` or `io-uring-zc`.
    package var transport: TransportKind
    /// The sender's copy from user memory (near 0 where zero-copy works).
    package var copyFromUser: ShareEvidence?
    /// The sender's pinning of pages (`zerocopy-pinning`).
    package var pinning: ShareEvidence?
    /// The sender's completion handling (`zerocopy-completion`).
    package var completion: ShareEvidence?
    /// The deferred copy (`skb_copy_ubufs` and kin) in the sender's and in the receiver's time.
    package var deferredBySender: ShareEvidence?
    package var deferredByReceiver: ShareEvidence?
    /// The role whose threads spent more time in the deferred copy, read from the profile (on loopback with kernel 6.18
    /// it is mostly the receiver's); nil when neither role's share is above 0.
    package var payer: WorkerRole?
    /// True when the other role's share is also above 0: both threads pay some of it.
    package var bothPay: Bool
}

/// One answer to the experiment's questions about where the copies happen, with the shares it rests on. Rendered by
/// ``WhereFindingsMarkdown``; a statement is made only where its interval supports it.
package enum WhereFinding: Sendable, Hashable {
    /// The copy from user memory in the copying senders (two-copy, marshal, one-copy, sendfile).
    case sendCopy([ShareEvidence])
    /// marshal's assembly copy: user-space memcpy in marshal's sender, with two-copy's sender beside it.
    case marshalCopy(marshal: ShareEvidence, twoCopy: ShareEvidence?)
    /// A zero-copy sender (zero-copy, io-uring-zc): its copy from user memory, its pinning, its completions, and who
    /// pays the deferred copy.
    case zeroCopy(ZeroCopyWhere)
    /// The copy to user memory in the receivers of two-copy's messages (and any receiver measured with it).
    case receiveCopy([ShareEvidence])
    /// The largest category of each role's time, per path.
    case largest([ShareEvidence])
    /// Only user space was sampled: the kernel's part, where the copies are, is not permitted here.
    case kernelNotSampled(reason: String)
}

/// The where-findings of a profile, all at one cell group: the largest stream message size, the fewest connections
/// (ping-pong's when the profile has no stream cells).
package struct WhereFindings: Sendable, Hashable {
    /// The cells the findings are about: this workload, size and connection count.
    package var workload: Workload
    package var size: Int
    package var connections: Int
    /// True with user-only sampling: every share is of user-space time.
    package var userOnly: Bool
    package var findings: [WhereFinding]

    /// A share whose interval reaches no higher than this is "near 0" (2 percentage points).
    package static let nearZero = 0.02
}

extension AttributionAnalysis {
    /// The findings, or nil when the profile was not sampled.
    package func whereFindings() -> WhereFindings? {
        guard unavailableReason == nil else { return nil }
        let workload: Workload = cells.contains { $0.workload == .stream } ? .stream : .pingpong
        let group = cells.filter { $0.workload == workload }
        guard let size = group.map(\.messageSize).max(),
            let connections = group.filter({ $0.messageSize == size }).map(\.connections).min()
        else { return nil }
        func key(_ t: TransportKind, _ r: ReceiverKind = .copy) -> CellKey {
            CellKey(transport: t, receiver: r, workload: workload, messageSize: size, connections: connections)
        }
        func evidence(_ category: AttributionCategory, _ role: WorkerRole, _ cell: CellKey) -> ShareEvidence? {
            self.role(role, in: cell)?.share(category).map { ShareEvidence(cell: cell, role: role, share: $0) }
        }
        var findings: [WhereFinding] = []
        if userOnly { findings.append(.kernelNotSampled(reason: notPermittedReason)) }

        let sendCopy = [TransportKind.twoCopy, .marshal, .oneCopy, .sendfile].compactMap { evidence(.copyFromUser, .sender, key($0)) }
        if !sendCopy.isEmpty { findings.append(.sendCopy(sendCopy)) }
        if let marshal = evidence(.userMemcpy, .sender, key(.marshal)) {
            findings.append(.marshalCopy(marshal: marshal, twoCopy: evidence(.userMemcpy, .sender, key(.twoCopy))))
        }
        for transport in [TransportKind.zeroCopy, .ioUringZeroCopy] where !userOnly && self.role(.sender, in: key(transport)) != nil {
            let cell = key(transport)
            let bySender = evidence(.deferredCopy, .sender, cell), byReceiver = evidence(.deferredCopy, .receiver, cell)
            let present = [bySender, byReceiver].compactMap { $0 }.filter(\.share.isPresent)
            let payer = present.max { $0.share.weight < $1.share.weight }
            findings.append(.zeroCopy(ZeroCopyWhere(
                transport: transport, copyFromUser: evidence(.copyFromUser, .sender, cell),
                pinning: evidence(.zerocopyPinning, .sender, cell), completion: evidence(.zerocopyCompletion, .sender, cell),
                deferredBySender: bySender, deferredByReceiver: byReceiver, payer: payer?.role, bothPay: present.count == 2)))
        }
        let receivers = ReceiverKind.allCases.flatMap { r in
            [TransportKind.twoCopy].compactMap { evidence(.copyToUser, .receiver, key($0, r)) }
        }
        if !receivers.isEmpty { findings.append(.receiveCopy(receivers)) }
        var largest: [ShareEvidence] = []
        for cell in cells where cell.workload == workload && cell.messageSize == size && cell.connections == connections {
            for role in WorkerRole.allCases {
                guard let attribution = self.role(role, in: cell),
                    let top = attribution.shares.values.max(by: { ($0.share, $1.category.rawValue) < ($1.share, $0.category.rawValue) }),
                    top.share > 0
                else { continue }
                largest.append(ShareEvidence(cell: cell, role: role, share: top))
            }
        }
        if !largest.isEmpty { findings.append(.largest(largest)) }
        return WhereFindings(workload: workload, size: size, connections: connections, userOnly: userOnly, findings: findings)
    }
}

/// Where-findings as Markdown bullets, each citing its shares with their 95% intervals.
package enum WhereFindingsMarkdown {
    /// The bullets, one per finding.
    package static func render(_ f: WhereFindings) -> String {
        let at = "\(f.workload.name) at \(f.size) B × \(connectionsLabel(f.connections))"
        var lines: [String] = []
        for finding in f.findings {
            switch finding {
            case .kernelNotSampled(let reason):
                lines.append("- **Only user space was sampled** (kernel categories \(reason)): the kernel's copies, pinning "
                    + "and the TCP/IP stack cannot be seen, so those questions have no answer here; every share below is of "
                    + "user-space time.")
            case .sendCopy(let shares):
                lines.append("- **The copy from user memory** (`send()` copying each message into socket buffers), \(at): "
                    + shares.map { "\($0.cell.path)'s sender \(claim($0.share))" }.joined(separator: "; ") + ".")
            case .marshalCopy(let marshal, let twoCopy):
                var line = "- **marshal's assembly copy**, \(at): "
                line += marshal.share.isPresent
                    ? "user-space memcpy is \(shareText(marshal.share)) of marshal's sender's time"
                    : "marshal's sender shows no user-space memcpy above 0 (\(shareText(marshal.share)))"
                if let two = twoCopy { line += ", against \(shareText(two.share)) of two-copy's" }
                lines.append(line + userSpace(f) + ".")
            case .zeroCopy(let z):
                lines.append(zeroCopy(z, at: at))
            case .receiveCopy(let shares):
                lines.append("- **The copy to user memory** (`recv()` copying into the receiver's buffer), \(at): "
                    + shares.map { "\($0.cell.path)'s receiver \(claim($0.share))" }.joined(separator: "; ") + ".")
            case .largest(let shares):
                var byPath: [(String, [String])] = []
                for e in shares {
                    let text = "\(e.role.rawValue) \(e.share.category.rawValue) \(shareText(e.share))"
                    if let i = byPath.firstIndex(where: { $0.0 == e.cell.path }) { byPath[i].1.append(text) } else { byPath.append((e.cell.path, [text])) }
                }
                lines.append("- **The largest part of each thread's time**, \(at)\(userSpace(f)): "
                    + byPath.map { "\($0.0): \($0.1.joined(separator: ", "))" }.joined(separator: "; ") + ".")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// What the interval supports: `41% [38, 44]` above 0; `none seen (at most 0.4%)` when it reaches no higher than
    /// ``WhereFindings/nearZero``; otherwise the share with its interval and that it cannot be told from 0.
    static func claim(_ s: CategoryShare) -> String {
        if s.isPresent { return shareText(s) }
        if s.high <= WhereFindings.nearZero { return "none seen (at most \(percent(s.high))%)" }
        return "\(shareText(s)), not distinguishable from 0"
    }

    static func zeroCopy(_ z: ZeroCopyWhere, at: String) -> String {
        var parts: [String] = []
        if let copy = z.copyFromUser { parts.append("copying from user memory \(claim(copy.share))") }
        if let pin = z.pinning { parts.append("pinning pages \(claim(pin.share))") }
        if let done = z.completion { parts.append("completions \(claim(done.share))") }
        var line = "- **\(z.transport.rawValue)'s sender**, \(at): " + parts.joined(separator: ", ") + " of its time"
        let bySender = z.deferredBySender?.share, byReceiver = z.deferredByReceiver?.share
        switch (z.payer, z.bothPay) {
        case (nil, _):
            line += ". No deferred copy of its pages was seen (the sender's \(bySender.map(shareText) ?? "n/a"), the receiver's "
                + "\(byReceiver.map(shareText) ?? "n/a")): the kernel kept them pinned."
        case (let payer?, let both):
            let (paid, other) = payer == .receiver ? (byReceiver, bySender) : (bySender, byReceiver)
            let otherRole = payer == .receiver ? "sender" : "receiver"
            line += ". The kernel copied its \"zero-copy\" pages after all (a path that cannot keep them pinned, as "
                + "loopback): that deferred copy is paid \(both ? "mostly " : "")by the \(payer.rawValue)'s thread, "
                + "\(paid.map(shareText) ?? "n/a") of its time, against \(other.map(shareText) ?? "n/a") of the \(otherRole)'s."
        }
        return line
    }

    /// ` (user space only)` when the shares are of user time.
    static func userSpace(_ f: WhereFindings) -> String { f.userOnly ? " (user space only)" : "" }

    /// `41% [38, 44]`.
    static func shareText(_ s: CategoryShare) -> String {
        "\(percent(s.share))% [\(percent(s.low)), \(percent(s.high))]"
    }
}

/// A share in percent: whole percent from 10% up, one decimal below.
func percent(_ fraction: Double) -> String {
    let value = fraction * 100
    return formatDecimal(value, digits: abs(value) >= 10 ? 0 : 1)
}
