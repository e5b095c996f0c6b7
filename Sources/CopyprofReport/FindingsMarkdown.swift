import CopyprofProfile
/// Findings as Markdown: a title and a paragraph (or list) each, citing their medians and p-values.
package enum FindingsMarkdown {
    /// The title and text of a finding.
    package static func render(_ finding: Finding) -> (title: String, text: String) {
        switch finding {
        case .crossover(let c): return ("Crossover sizes", crossover(c))
        case .zeroCopyAvoided(let z): return ("What zero-copy avoided", zeroCopy(z))
        case .cacheLevel(let c): return ("Which cache level gains", cache(c))
        case .scaling(let s): return ("Scaling with connections", scaling(s))
        case .counterOverhead(let o): return (o.sampled ? "What the counters and the sampler cost" : "What the counters cost", overhead(o))
        case .machineSteadiness(let c): return ("How steady the machine was", steadiness(c))
        case .surprises(let groups): return ("Surprises", surprises(groups))
        case .receiveSide(let r): return ("The receive side", receiveSide(r))
        case .notSupported(let groups): return ("Not supported on this host", notSupported(groups))
        }
    }

    static func receiveSide(_ r: ReceiveSide) -> String {
        let at = "stream at \(r.size) B × \(connectionsLabel(r.connections))"
        let ns = Metric.cpuNsPerByte.format, gbps = Metric.throughput.format
        var parts: [String] = []
        if !r.copyCosts.isEmpty {
            var lines = ["**The receive copy's cost** (`copy` against `discard`, which frees the bytes unread; \(at)):"]
            for c in r.copyCosts {
                guard let rx = c.receiverCPU else { continue }
                let saved = rx.referenceMedian - rx.median
                let significant = (rx.p ?? 1) < 0.05
                var line = "- \(c.transport.rawValue): the receiver spends \(ns(rx.referenceMedian)) CPU ns/B copying and "
                    + "\(ns(rx.median)) discarding (p = \(pValue(rx.p))\(significant ? "" : ", not significant")): the copy is "
                    + "\(ns(saved)) ns/B, "
                    + "\(formatDecimal(rx.referenceMedian > 0 ? saved / rx.referenceMedian * 100 : 0, digits: 0))% of the receiver's time"
                if let total = c.totalCPU {
                    line += "; both threads \(ns(total.referenceMedian)) → \(ns(total.median)) ns/B"
                }
                if let t = c.throughput {
                    line += "; throughput \(gbps(t.referenceMedian)) → \(gbps(t.median)) Gbit/s (p = \(pValue(t.p)))"
                }
                lines.append(line + ".")
            }
            if lines.count > 1 { parts.append(lines.joined(separator: "\n")) }
        }
        if !r.mappings.isEmpty {
            var lines = ["**What `mmap` (TCP_ZEROCOPY_RECEIVE) mapped** (\(at); the share of received bytes mapped, the rest copied by `recv()`):"]
            var explained: [String: String] = [:]
            var costlier = 0, cheaper = 0, mapped = 0
            var perCall: [Double] = []
            for m in r.mappings {
                var line = "- \(m.transport.rawValue) → mmap: \(formatDecimal(m.mappedPercent, digits: 0))% mapped"
                if let why = m.unmappedReason {
                    // Each reason in full once; the senders it also holds for point back to it.
                    if let first = explained[why] {
                        line += " (as for \(first))"
                    } else {
                        explained[why] = m.transport.rawValue
                        line += " — \(why)"
                    }
                }
                if let rx = m.receiverCPU {
                    line += "; receiver CPU \(ns(rx.median)) vs \(ns(rx.referenceMedian)) ns/B with `copy` "
                        + "(\(signedPercent(rx.change)), p = \(pValue(rx.p)))"
                    if m.mappedPercent >= 50 {
                        mapped += 1
                        if let bytes = m.bytesPerMapCall { perCall.append(bytes) }
                        if (rx.p ?? 1) < 0.05 { if rx.median > rx.referenceMedian { costlier += 1 } else { cheaper += 1 } }
                    }
                }
                if let t = m.throughput {
                    line += "; throughput \(gbps(t.median)) vs \(gbps(t.referenceMedian)) Gbit/s"
                }
                lines.append(line + ".")
            }
            if mapped > 0 {
                let kib = perCall.isEmpty ? "" : " (here \(formatDecimal(perCall.reduce(0, +) / Double(perCall.count) / 1024, digits: 0)) KiB per call)"
                lines.append(
                    "\nOf the \(mapped) sender\(mapped == 1 ? "" : "s") whose bytes were mostly mapped, mapping cost the receiver "
                        + "significantly more CPU than copying for \(costlier) and less for \(cheaper). Each call maps what is "
                        + "queued\(kib), and the receiver unmaps the window once it has read it: page-table updates and, on "
                        + "unmapping, TLB flushes take the place of the copy.")
            }
            parts.append(lines.joined(separator: "\n"))
        }
        if !r.ranking.isEmpty {
            var text = "**The cheapest path that delivers verified bytes** (\(at), CPU ns/B of sender and receiver): "
                + r.ranking.prefix(5).map { "\($0.path) \(ns($0.median))" }.joined(separator: ", ")
                + (r.ranking.count > 5 ? ", … (\(r.ranking.count) paths)" : "") + "."
            if let best = r.bestAgainstTwoCopy {
                let significant = (best.p ?? 1) < 0.05 && best.median < best.referenceMedian
                text += " \(best.cell.path) against two-copy: \(ns(best.median)) vs \(ns(best.referenceMedian)) ns/B "
                    + "(\(signedPercent(best.change)), p = \(pValue(best.p)))"
                    + (significant ? "." : " — not a significant difference.")
            }
            if let fast = r.fastestAgainstTwoCopy {
                text += " Fastest: \(fast.cell.path) at \(gbps(fast.median)) Gbit/s against two-copy's "
                    + "\(gbps(fast.referenceMedian)) (p = \(pValue(fast.p)))."
            }
            if let floor = r.discardFloor {
                text += " For scale, \(floor.path) — which reads nothing — costs \(ns(floor.median)) ns/B."
            }
            parts.append(text)
        }
        return parts.joined(separator: "\n\n")
    }

    static func notSupported(_ groups: [NotSupportedGroup]) -> String {
        groups.map { group in
            let cells = group.cells.count > 3
                ? group.cells.prefix(3).map(\.description).joined(separator: "; ") + "; and \(group.cells.count - 3) more"
                : group.cells.map(\.description).joined(separator: "; ")
            return "- \(group.reason) (\(cells))."
        }.joined(separator: "\n") + "\nThese cells have no trials; the sweep went on without them."
    }

    /// "+12.3%" or "-4.0%".
    static func signedPercent(_ value: Double) -> String {
        (value >= 0 ? "+" : "") + formatDecimal(value, digits: 1) + "%"
    }

    /// `+3.1% [+1.2, +5.0]` of a cell's overhead.
    static func percentWithInterval(_ r: RoundRatio) -> String {
        var text = "\(signed(r.percent))%"
        if let low = r.lowPercent, let high = r.highPercent { text += " [\(signed(low)), \(signed(high))]" }
        return text
    }

    static func overhead(_ o: OverheadFinding) -> String {
        var text = "Each cell ran timing trials without counters and counted trials with them, alternately in every round; "
            + "throughput, RTT, CPU time and context switches come from the first, counts per byte and per message "
            + "(cycles, misses, receive copies) from the second. "
            + (o.sampled
                ? "The counted trials also sampled every thread (where the time goes), so their overhead is the counters' "
                    + "and the sampler's together: "
                : "The counters' overhead is ")
            + "the slowdown of the counted trials (stream throughput, ping-pong RTT p50) against the timing trial of the "
            + "same round, median over rounds with its 95% interval. "
        if o.exceeding.isEmpty {
            text += "In no cell of \(o.measuredCells) does it exceed \(formatDecimal(o.limit, digits: 1))% with an interval above zero"
            if let largest = o.largest {
                text += "; the largest is \(largest.cell) at \(percentWithInterval(largest.slowdown))"
                if largest.slowdown.lowPercent == nil { text += " (too few rounds for an interval)" }
            }
            return text + "."
        }
        text += "It exceeds \(formatDecimal(o.limit, digits: 1))% in \(o.exceeding.count) of \(o.measuredCells) cells:\n"
        let shown = o.exceeding.prefix(8)
        text += shown.map { "- \($0.cell): \(percentWithInterval($0.slowdown))" }.joined(separator: "\n")
        if o.exceeding.count > shown.count { text += "\n- and \(o.exceeding.count - shown.count) more (see the overhead tables)" }
        return text
    }

    static func steadiness(_ c: ControlSpread) -> String {
        let w = c.workload
        let work = "copying a \(w.copyBufferBytes >> 10) KiB buffer \(w.copyRepetitions) times and \(w.syscalls) `getppid()` calls"
        var text = "The control — \(work), on one thread before every round — took \(fixed(c.wallMs.median, 2)) ms "
        if let low = c.wallMs.low, let high = c.wallMs.high { text += "[\(fixed(low, 2)), \(fixed(high, 2))] " }
        let minimum = c.wallMs.values.min() ?? 0, maximum = c.wallMs.values.max() ?? 0
        text += "(median of \(c.wallMs.values.count) rounds; from \(fixed(minimum, 2)) to \(fixed(maximum, 2)) ms, a range of "
            + "\(formatDecimal(c.rangePercent, digits: 0))% of the median), of which \(fixed(c.cpuMs.median, 2)) ms on a CPU. "
        if let wake = c.wakeUs, let range = c.wakeRangePercent {
            text += "A round trip of a byte between two threads over pipes (\(w.wakeRoundTrips) of them, the cost of waking a thread, "
                + "most of a ping-pong's) took \(fixed(wake.median, 1)) µs "
            if let low = wake.low, let high = wake.high { text += "[\(fixed(low, 1)), \(fixed(high, 1))] " }
            text += "(a range of \(formatDecimal(range, digits: 0))%). "
        }
        let steady = c.rangePercent <= 10 && (c.wakeRangePercent ?? 0) <= 10
        text += steady
            ? "The machine was steady during the run."
            : "The machine was not steady during the run: each cell's trials spread over the rounds, so its intervals include this drift."
        return text
    }


    static func crossover(_ c: Crossover) -> String {
        let lines = c.lines.map { line -> String in
            let m = line.metric
            let parts = line.outcomes.map { o -> String in
                let label = connectionsLabel(o.connections)
                guard let e = o.evidence else { return "\(label): never" }
                if let size = o.fromSize {
                    return "\(label): from \(size) B (\(m.format(e.median)) vs \(m.format(e.referenceMedian)) \(m.unit), p = \(pValue(e.p)))"
                }
                return "\(label): never (at \(e.cell.messageSize) B \(m.format(e.median)) vs \(m.format(e.referenceMedian)) \(m.unit))"
            }
            let what = line.workload == .stream ? "stream throughput" : "ping-pong RTT p50"
            return "- **\(line.challenger.rawValue)** vs two-copy, \(what): " + parts.joined(separator: "; ") + "."
        }
        return "The smallest message size (of \(c.sizes.map(String.init).joined(separator: ", ")) B) at which a transport beats "
            + "two-copy with a Mann-Whitney p below \(formatDecimal(c.alpha, digits: 2)):\n" + lines.joined(separator: "\n")
    }

    static func zeroCopy(_ z: ZeroCopyOutcome) -> String {
        var text = z.sends > 0 ? msgZeroCopy(z) : ""
        if let ring = z.ioUring {
            if !text.isEmpty { text += "\n\n" }
            text += "io_uring zero-copy (`IORING_OP_SENDMSG_ZC`): \(ring.sends) sends, \(ring.notifications) notifications, "
                + "\(ring.copied) of them flagged `IORING_NOTIF_USAGE_ZC_COPIED` (\(copiedShare(ring.copiedPercent, of: "notification")))"
            if ring.notifications != ring.sends {
                text += " — \(ring.sends > ring.notifications ? ring.sends - ring.notifications : 0) notifications never came"
            }
            if let share = ring.copiedPercent {
                text += share >= 99.95
                    ? ". As with MSG_ZEROCOPY, the kernel copied every send that crossed loopback or veth."
                    : share > 0 ? ". Part of the sends were copied by the kernel anyway." : ". No send was copied."
            } else {
                text += "."
            }
        }
        return text
    }

    static func msgZeroCopy(_ z: ZeroCopyOutcome) -> String {
        var text = "\(z.sends) zero-copy sends, \(z.completions) completions, \(z.copiedCompletions) of them flagged "
            + "`SO_EE_CODE_ZEROCOPY_COPIED` (\(copiedShare(z.copiedPercent, of: "completion")))"
        text += z.enobufs > 0 ? "; \(z.enobufs) ENOBUFS pushed back. " : ". "
        guard let share = z.copiedPercent else {
            // Nothing completed: whether the kernel copied is not known.
            return text + "Whether the kernel copied cannot be told without completions."
        }
        if share >= 99.95 {
            text += "The kernel copied every zero-copy send after all — on loopback and veth it must, because the receiving "
                + "socket cannot keep the sender's pinned pages (skb_orphan_frags_rx). Zero-copy avoided no copy here; "
                + "it added page pinning and completion handling."
        } else if share > 0 {
            text += "Part of the zero-copy sends were copied by the kernel anyway; the rest avoided the send-side copy."
        } else {
            text += "No completion was flagged copied: the send-side copy was avoided."
        }
        if let e = z.cost {
            text += " At \(e.cell.messageSize) B and \(connectionsLabel(e.cell.connections)) it cost "
                + "\(Metric.cpuNsPerByte.format(e.median)) CPU ns/B against two-copy's \(Metric.cpuNsPerByte.format(e.referenceMedian)) ns/B."
        }
        return text
    }

    /// "100.0%", or "n/a: no completion arrived" when there is nothing to take a share of.
    private static func copiedShare(_ percent: Double?, of what: String) -> String {
        percent.map { "\(formatDecimal($0, digits: 1))%" } ?? "n/a: no \(what) arrived"
    }

    static func cache(_ c: CacheOutcome) -> String {
        switch c {
        case .notMeasured(let reasons, let cost, let copies):
            var text = "Cache misses per level cannot be measured on this host"
            // Each reason once, with the events it applies to.
            text += reasons.isEmpty
                ? " (the events were not requested). "
                : " (" + groupedByReason(reasons.map { ($0.event, $0.reason) })
                    .map { $0.names.map { "`\($0)`" }.joined(separator: ", ") + ": " + $0.reason }.joined(separator: "; ") + "). "
            text += "What ran instead: CPU time per byte from the timing trials' thread CPU clocks"
            if let cost {
                let f = Metric.cpuNsPerByte.format
                text += " — at \(cost.size) B and \(connectionsLabel(cost.connections)): marshal \(f(cost.marshal)), "
                    + "two-copy \(f(cost.twoCopy)), one-copy \(f(cost.oneCopy)) ns/B"
            }
            if let copies {
                text += "; and the receive-copy tracepoint (`skb:skb_copy_datagram_iovec`, a hit each time a receive "
                    + "call copies out of one socket buffer): \(Metric.receiveCopyHitsPerMessage.format(copies)) hits per message in the first stream cell"
            }
            return text + "."
        case .reduction(let level, let e, let reading):
            return "The largest significant reduction against two-copy is at the **\(level)**: \(e.cell.transport.rawValue) at "
                + "\(e.cell.messageSize) B has \(e.metric.format(e.median)) vs \(e.metric.format(e.referenceMedian)) \(e.metric.unit)"
                + "\(marks(e, reading)) (\(formatDecimal(e.change, digits: 1))%, p = \(pValue(e.p)))." + cacheReading(reading)
        case .noReduction(let largest, let level, let reading):
            var text = "No transport has significantly fewer L1d or LLC misses per KB than two-copy (Mann-Whitney p below 0.05)"
            if let e = largest, let level {
                text += "; the largest difference, not significant: \(level), \(e.cell.transport.rawValue) at \(e.cell.messageSize) B "
                    + "\(e.metric.format(e.median)) vs \(e.metric.format(e.referenceMedian)) \(e.metric.unit)\(marks(e, reading)) "
                    + "(\(signedPercent(e.change)), p = \(pValue(e.p)))"
            }
            return text + "." + cacheReading(reading)
        }
    }

    /// ` :u`, ` (scaled)` after a value of a reduced event.
    private static func marks(_ e: Evidence, _ reading: CacheOutcome.Reading) -> String {
        let event = e.metric == .l1dMissesPerKB ? EventName.l1dLoadMisses : EventName.llcLoadMisses
        return (reading.userOnly.contains(event) ? " :u" : "") + (reading.scaled.contains(event) ? " (scaled)" : "")
    }

    /// What the figures are: user-only or scaled values, and what each event counts on this vendor's CPUs.
    private static func cacheReading(_ reading: CacheOutcome.Reading) -> String {
        var text = ""
        if !reading.userOnly.isEmpty {
            text += " `:u`: " + reading.userOnly.map { "`\($0)`" }.joined(separator: ", ") + " counted in user space only "
                + "(perf_event_paranoid): the kernel's copies, in send and recv, are not in these misses."
        }
        if !reading.scaled.isEmpty {
            text += " Scaled: " + reading.scaled.map { "`\($0)`" }.joined(separator: ", ") + " shared a counter with other "
                + "events (multiplexed), and the values are estimates (raw × enabled / running)."
        }
        if !reading.meanings.isEmpty {
            let vendor: String
            switch reading.vendor {
            case .intel: vendor = "Intel"
            case .amdZen: vendor = "AMD Zen"
            case .amdBeforeZen: vendor = "AMD before Zen"
            case .arm: vendor = "Arm"
            case .other: vendor = "this CPU"
            }
            text += "\n\nWhat the events count on \(vendor) — misses per KB are not the same thing on every CPU:\n"
                + reading.meanings.map { "- `\($0.event)`: \($0.reason)." }.joined(separator: "\n")
        }
        return text
    }

    static func scaling(_ s: Scaling) -> String {
        let counts = s.connectionCounts.map(String.init).joined(separator: ", ")
        var lines = s.lines.map { line -> String in
            let first = line.medians.first.flatMap { $0 } ?? 0, last = line.medians.last.flatMap { $0 } ?? 0
            return "- \(line.transport.rawValue): \(line.medians.map { Metric.throughput.format($0) }.joined(separator: " → ")) Gbit/s "
                + "at \(counts) connections (\(formatDecimal(first > 0 ? last / first : 0, digits: 2))× from \(s.connectionCounts.first!) "
                + "to \(s.connectionCounts.last!); peak at \(line.peakConnections))"
        }
        if let size = s.contextSwitchSize {
            lines.append("- context switches per MB, two-copy at \(size) B: "
                + "\(s.contextSwitchMedians.map { Metric.contextSwitchesPerMB.format($0) }.joined(separator: " → ")) at \(counts) connections")
        }
        return "Stream throughput at \(s.size) B as connections grow (each connection has a sender and a receiver thread, "
            + "on \(s.cpuCount) CPU\(s.cpuCount == 1 ? "" : "s")):\n" + lines.joined(separator: "\n")
    }

    static func surprises(_ groups: [SurpriseGroup]) -> String {
        groups.map { group in
            let more = group.count > 1 ? " (The strongest of \(group.count) cells where this holds.)" : ""
            return "- " + surprise(group.strongest) + more
        }.joined(separator: "\n")
    }

    static func surprise(_ s: Surprise) -> String {
        switch s {
        case .fewerCopiesSlower(let fewer, let e):
            let m = e.metric, c = e.cell
            return "**\(fewer.rawValue) is slower than marshal** although it skips marshal's copy: "
                + "\(c.workload.name) \(m.title) at \(c.messageSize) B × \(c.connections) is \(m.format(e.referenceMedian)) vs "
                + "\(m.format(e.median)) \(m.unit) (p = \(pValue(e.p)))."
        case .gatherCosts(let e):
            let m = e.metric, c = e.cell
            return "**Gathering costs more than it saves**: one-copy's 8-entry iovec of \(c.messageSize / 8)-byte fields gives "
                + "\(c.workload.name) \(m.title) \(m.format(e.referenceMedian)) vs two-copy's \(m.format(e.median)) \(m.unit) "
                + "at \(c.messageSize) B × \(c.connections) (p = \(pValue(e.p))): the kernel walks the iovec entry by entry, and with "
                + "small fields that costs more than sending one contiguous buffer."
        case .costPerByteRises(let t, let cost):
            let c = t.cell
            return "**Cost per byte rises with throughput**: \(c.transport.rawValue) stream at \(c.messageSize) B from "
                + "\(t.reference.connections) to \(c.connections) connections goes \(Metric.throughput.format(t.referenceMedian)) → "
                + "\(Metric.throughput.format(t.median)) Gbit/s while CPU ns/B goes \(Metric.cpuNsPerByte.format(cost.referenceMedian)) → "
                + "\(Metric.cpuNsPerByte.format(cost.median))."
        case .latencyFalls(let e):
            let c = e.cell, a = e.reference.connections
            return "**Latency falls as load rises**: \(c.transport.rawValue) ping-pong RTT p50 at \(c.messageSize) B is "
                + "\(Metric.rttP50.format(e.referenceMedian)) µs with \(connectionsLabel(a)) but \(Metric.rttP50.format(e.median)) µs "
                + "with \(c.connections) — an idle CPU is slow to wake (on a VM, an idle vCPU exits to the hypervisor); busy CPUs answer sooner."
        case .scalingReverses(let e):
            let c = e.cell
            return "**Scaling reverses**: \(c.transport.rawValue) stream at \(c.messageSize) B peaks at \(e.reference.connections) connections "
                + "(\(Metric.throughput.format(e.referenceMedian)) Gbit/s) and falls to \(Metric.throughput.format(e.median)) Gbit/s "
                + "at \(c.connections)."
        case .noisyCell(let key, let width, let typical):
            return "**Noisy cell**: \(key) has a 95% interval of ±\(formatDecimal(width * 100, digits: 0))% around its median, "
                + "\(formatDecimal(width / max(typical, 1e-9), digits: 1))× the typical cell's ±\(formatDecimal(typical * 100, digits: 0))%."
        case .unstableCell(let key, let instability):
            return "**Unstable cell**: \(key): \(instability) — trials that stalled, or a cell that runs in two modes. Its "
                + "median moves by much when one trial falls the other way: read it, and any comparison of it, with that in mind "
                + "(`copyprof compare` calls such a cell unstable, neither a regression nor an improvement)."
        case .integrityErrors(let key, let count):
            return "**Integrity errors**: \(key) received \(count) message(s) that differ from what was sent."
        case .failedCell(let key, let error):
            return "**Failed cell**: \(key): \(error)"
        }
    }
}
