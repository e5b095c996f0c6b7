internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// The checks of the software events and the receive-copy tracepoint: task-clock against the thread CPU clock,
/// context switches over a pipe ping-pong, migrations, page faults, one tracepoint hit per recv().
extension CounterCalibration {
    static func taskClock(options: CounterOptions, sizes: CalibrationSizes) -> CalibrationCheck {
        let window = sizes.taskClockWindowNs
        let workload = "\(fixed(Double(window) / 1e6, 0)) ms of CPU by CLOCK_THREAD_CPUTIME_ID (best of 3 windows)"
        let expected = "the thread CPU clock ± 5%"
        let counters: ThreadCounters
        switch open([.taskClock], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(.taskClock, workload: workload, expected: expected, reason: skip.reason)
        }
        // task-clock runs on the scheduler's clock; in a VM it also holds time the hypervisor stole while the
        // thread was on the vCPU, which CLOCK_THREAD_CPUTIME_ID may leave out: the best of three windows.
        var best: (ratio: Double, reading: CounterReading, cpu: Double)?
        for _ in 0..<3 {
            let before = threadCPUClockNs()
            guard case .success(let readings) = measure(counters, { spinCPU(ns: window) }) else { break }
            let cpu = Double(threadCPUClockNs() - before)
            guard let value = readings[0].value else { continue }
            let ratio = value / cpu
            if best == nil || abs(ratio - 1) < abs(best!.ratio - 1) { best = (ratio, readings[0], cpu) }
            if abs(ratio - 1) < 0.05 { break }
        }
        guard let best else {
            return CalibrationCheck(event: "task-clock", workload: workload, expected: expected, verdict: .fail, note: "not counted")
        }
        var result = check(
            .taskClock, reading: best.reading, workload: workload, expected: expected, lower: 0.95, upper: 1.05,
            unit: { $0 / best.cpu }, describe: { "\(fixed($0 / 1e6, 2)) ms vs \(fixed(best.cpu / 1e6, 2)) ms" })
        result.note = (result.note.map { $0 + "; " } ?? "") + "off by \(signedPercent(best.ratio - 1))"
        return result
    }

    /// Context switches of N pipe round trips between this thread and a second one, both pinned to one CPU:
    /// every round hands the CPU from one thread to the other and back, so together they are switched out at
    /// least 2N times. Checks perf's `context-switches` when it can be counted, and getrusage's figure always.
    static func contextSwitches(options: CounterOptions, sizes: CalibrationSizes) -> [CalibrationCheck] {
        let rounds = sizes.pingPongRounds
        let workload = "\(grouped(rounds)) pipe round trips between two threads on one CPU (both threads)"
        let expected = "≥ \(grouped(2 * rounds))"
        var checks: [CalibrationCheck] = []
        // A probe: whether perf can count them here. Its counters close at once (PingPong opens its own), so no
        // descriptor stays open through the ping-pong.
        let perfCounted: Bool
        switch open([.contextSwitches], options: options) {
        case .success: perfCounted = true
        case .failure(let skip):
            checks.append(skipped(.contextSwitches, workload: workload, expected: expected, reason: skip.reason))
            perfCounted = false
        }
        guard let result = PingPong.run(rounds: rounds, events: perfCounted ? [.contextSwitches] : [], options: options) else {
            checks.append(CalibrationCheck(
                event: "context switches (getrusage)", workload: workload, expected: expected, verdict: .fail,
                note: "could not make the pipes or the second thread"))
            return checks
        }
        let pinned = result.pinned ? "" : "; the threads could not be pinned to one CPU"
        if perfCounted {
            let readings = result.readings
            if readings.count == 2, let a = readings[0].value, let b = readings[1].value {
                var combined = readings[0]
                combined.count = ScaledCount(raw: UInt64(a + b), timeEnabled: 1, timeRunning: 1)
                var check = check(
                    .contextSwitches, reading: combined, workload: workload, expected: expected,
                    lower: Double(2 * rounds), upper: nil, describe: { grouped($0) })
                check.note = "\(grouped(a)) + \(grouped(b))" + pinned
                checks.insert(check, at: 0)
            } else {
                checks.insert(CalibrationCheck(
                    event: "context-switches", workload: workload, expected: expected, measured: "n/a", verdict: .fail,
                    note: readings.first?.reason ?? "not counted"), at: 0)
            }
        }
        let usage = Double(result.rusageSwitches)
        checks.append(CalibrationCheck(
            event: "context switches (getrusage)", workload: workload, expected: expected,
            measured: grouped(usage), lowerBound: Double(2 * rounds), measuredValue: usage,
            verdict: verdict(usage, lower: Double(2 * rounds), upper: nil), mode: .userAndKernel, source: .rusage,
            note: "voluntary + involuntary of both threads; the source when context-switches is not permitted" + pinned))
        return checks
    }

    static func migrations(options: CounterOptions, sizes: CalibrationSizes) -> CalibrationCheck {
        let moves = sizes.migrations
        let workload = "\(moves) moves of the thread between two CPUs (sched_setaffinity)"
        let expected = "≥ \(moves)"
        guard let saved = Affinity.current(), saved.cpus.count >= 2 else {
            return skipped(.cpuMigrations, workload: workload, expected: expected, reason: "this thread may run on one CPU only")
        }
        let counters: ThreadCounters
        switch open([.cpuMigrations], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(.cpuMigrations, workload: workload, expected: expected, reason: skip.reason)
        }
        let cpus = Array(saved.cpus.prefix(2))
        let here = Int(CPerfEvent_current_cpu())
        var next = cpus[0] == here ? 1 : 0
        var moved = 0
        let outcome = measure(counters) {
            for _ in 0..<moves {
                if Affinity.only(cpus[next]).apply() { moved += 1 }
                next = 1 - next
            }
        }
        saved.apply()
        let readings: [CounterReading]
        switch outcome {
        case .failure(let error):
            return CalibrationCheck(
                event: "cpu-migrations", workload: workload, expected: expected, verdict: .fail,
                note: "the region could not be counted: \(error.description)")
        case .success(let read): readings = read
        }
        guard moved == moves else {
            return CalibrationCheck(
                event: "cpu-migrations", workload: workload, expected: expected, verdict: .fail,
                note: "sched_setaffinity refused a move (\(moved) of \(moves) made)")
        }
        return check(
            .cpuMigrations, reading: readings[0], workload: workload, expected: expected, lower: Double(moves),
            upper: nil, describe: { grouped($0) })
    }

    static func pageFaults(options: CounterOptions, sizes: CalibrationSizes) -> CalibrationCheck {
        let pages = sizes.pages
        let workload = "one write to each of \(pages) fresh anonymous pages"
        let expected = "≥ \(grouped(pages))"
        let counters: ThreadCounters
        switch open([.pageFaults], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(.pageFaults, workload: workload, expected: expected, reason: skip.reason)
        }
        guard let region = Workloads.freshPages(pages) else {
            return CalibrationCheck(event: "page-faults", workload: workload, expected: expected, verdict: .fail, note: "could not map the pages")
        }
        defer { munmap(region, pages * Workloads.pageSize) }
        // Only the writes are inside the region; the mapping and its removal are outside it.
        guard case .success(let readings) = measure(counters, { Workloads.touch(region, pages: pages) }) else {
            return CalibrationCheck(event: "page-faults", workload: workload, expected: expected, verdict: .fail, note: "the region could not be read")
        }
        return check(
            .pageFaults, reading: readings[0], workload: workload, expected: expected, lower: Double(pages),
            upper: Double(2 * pages), describe: { grouped($0) })
    }

    /// The receive-copy tracepoint over N recv() calls on loopback: one `skb_copy_datagram_iovec` per recv()
    /// that copies a segment (each send is one segment, received before the next is sent).
    static func tracepoint(_ event: PerfEvent, options: CounterOptions, sizes: CalibrationSizes) -> CalibrationCheck {
        let n = sizes.receives
        let isReceiveCopy = event == .skbCopyDatagramIovec
        let workload = "\(n) send() of 512 bytes on loopback TCP, each received before the next"
        let expected = isReceiveCopy ? "one per recv() that returned data (≈ \(n), + 1%)" : "no known count"
        guard isReceiveCopy else {
            return skipped(event, workload: "—", expected: expected, reason: "no calibrated workload for this tracepoint")
        }
        let counters: ThreadCounters
        switch open([event], options: options) {
        case .success(let opened): counters = opened
        case .failure(let skip): return skipped(event, workload: workload, expected: expected, reason: skip.reason)
        }
        guard let pair = LoopbackSockets() else {
            return CalibrationCheck(event: event.name, workload: workload, expected: expected, verdict: .fail, note: "no loopback TCP pair")
        }
        defer { pair.close() }
        var buffer = [UInt8](repeating: 7, count: 512)
        var receives = 0
        var broken = false
        let outcome = measure(counters) {
            for _ in 0..<n where !broken {
                let sent = buffer.withUnsafeBytes { send(pair.client, $0.baseAddress, $0.count, 0) }
                if sent != 512 { broken = true }
                var got = 0
                while got < 512 && !broken {
                    let r = buffer.withUnsafeMutableBytes { recv(pair.server, $0.baseAddress! + got, 512 - got, 0) }
                    if r <= 0 { broken = true } else { got += r; receives += 1 }
                }
            }
        }
        guard case .success(let readings) = outcome, !broken else {
            return CalibrationCheck(event: event.name, workload: workload, expected: expected, verdict: .fail, note: "the loopback exchange failed")
        }
        var result = check(
            event, reading: readings[0], workload: workload, expected: expected, lower: Double(receives),
            upper: Double(receives) * 1.01, describe: { grouped($0) })
        result.note = (result.note.map { $0 + "; " } ?? "") + "\(receives) recv() calls returned data"
        return result
    }
}
