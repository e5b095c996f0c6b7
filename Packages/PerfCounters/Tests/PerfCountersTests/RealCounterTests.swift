import Glibc
import SystemCalls
import Testing

@testable import PerfCounters

/// Tests against the real kernel of this machine. Software events and tracepoints exist everywhere
/// copyprof runs; hardware events are only decoded from hand-made bytes (GroupReadTests).
/// Each test is synchronous: counters follow the thread that opened them.
@Suite struct RealCounterTests {
    @Test func contextSwitchesCountEverySleep() throws {
        let counters = try ThreadCounters(events: [.contextSwitches, .taskClock])
        let sleeps = 20
        try counters.start()
        for _ in 0..<sleeps { usleep(1000) }
        let readings = try counters.stop()
        try requireKernelSideCounting(readings[0].availability)
        let switches = try #require(readings[0].value)
        #expect(switches >= Double(sleeps), "\(sleeps) usleeps gave \(switches) context switches")
    }

    @Test func taskClockAgreesWithThreadCPUClock() throws {
        // task-clock runs on the scheduler's clock while the thread is on a CPU; CLOCK_THREAD_CPUTIME_ID leaves out
        // the time a hypervisor steals meanwhile. In a VM whose other vCPU is busy with parallel tests, one 60 ms
        // window can differ by more than 5% for that reason alone, so the best of three windows must agree.
        let counters = try ThreadCounters(events: [.taskClock])
        var ratios: [Double] = []
        for _ in 0..<3 {
            let before = threadCPUClockNs()
            try counters.start()
            let until = before + 60_000_000  // 60 ms of CPU, spent reading the clock (nothing to optimise away)
            while threadCPUClockNs() < until {}
            let readings = try counters.stop()
            let cpu = Double(threadCPUClockNs() - before)
            let taskClock = try #require(readings[0].value)
            ratios.append(taskClock / cpu)
            if abs(ratios.last! - 1) < 0.05 { break }
        }
        let best = try #require(ratios.min { abs($0 - 1) < abs($1 - 1) })
        #expect(best > 0.95 && best <= 1.05, "task-clock / CLOCK_THREAD_CPUTIME_ID over 60 ms windows: \(ratios)")
    }

    @Test func pageFaultsCountEveryFreshPage() throws {
        let pages = 256
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let region = try #require(mmap(nil, pages * pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        #expect(region != MAP_FAILED)
        defer { munmap(region, pages * pageSize) }
        let counters = try ThreadCounters(events: [.pageFaults])
        try counters.start()
        for page in 0..<pages { region.storeBytes(of: UInt8(1), toByteOffset: page * pageSize, as: UInt8.self) }
        let faults = try #require(try counters.stop()[0].value)
        #expect(faults >= Double(pages), "touching \(pages) fresh pages gave \(faults) page faults")
    }

    @Test func kernelReceiveCopiesAreCountedByTracepoint() throws {
        if Tracefs.mountPoint == nil { try Test.cancel("tracefs: \(Tracefs.status.description)") }
        let pair = try #require(LoopbackSockets())
        defer { pair.close() }
        let counters = try ThreadCounters(events: [.skbCopyDatagramIovec, .taskClock])
        if !counters.availability[0].isOpen { try Test.cancel("skb:skb_copy_datagram_iovec: \(counters.availability[0])") }
        let messages = 50
        var buffer = [UInt8](repeating: 7, count: 512)
        try counters.start()
        for _ in 0..<messages {
            let sent = buffer.withUnsafeBytes { send(pair.client, $0.baseAddress, $0.count, 0) }
            #expect(sent == 512)
            var got = 0
            while got < 512 {
                let n = buffer.withUnsafeMutableBytes { recv(pair.server, $0.baseAddress! + got, 512 - got, 0) }
                try #require(n > 0)
                got += n
            }
        }
        let copies = try #require(try counters.stop()[0].value)
        #expect(copies >= Double(messages), "\(messages) recv() calls gave \(copies) skb_copy_datagram_iovec events")
    }

    @Test func aFailedCallOnACounterNamesItsErrno() throws {
        // A real ioctl on a descriptor that is not open: the error carries the call and its Errno.
        let error = #expect(throws: CounterError.self) { try KernelPerfEvents().id(-1).get() }
        #expect(error == .systemCall(SystemCallError("ioctl(PERF_EVENT_IOC_ID)", Errno(EBADF))))
        #expect(error?.description == "ioctl(PERF_EVENT_IOC_ID) failed: Bad file descriptor (EBADF)")
    }

    @Test func disabledRegionsCountNothing() throws {
        let counters = try ThreadCounters(events: [.contextSwitches, .taskClock])
        for _ in 0..<5 { usleep(1000) }  // opened disabled: not counted
        try counters.start()
        let first = try counters.stop()
        for _ in 0..<5 { usleep(1000) }  // between regions: disabled again
        let until = threadCPUClockNs() + 5_000_000  // and 5 ms of CPU
        while threadCPUClockNs() < until {}
        try counters.start()
        let second = try counters.stop()
        for readings in [first, second] {
            if counters.availability[0] == .counted {
                // The 5 sleeps happened while disabled and must not show; a preemption inside the enabled instant
                // (other tests run in parallel on 2 CPUs) may count one.
                #expect((readings[0].count?.raw ?? .max) <= 1, "context switches in an empty region: \(readings[0])")
            } else {
                // Not permitted (unprivileged at perf_event_paranoid 2): not counted, never 0.
                #expect(readings[0].count == nil && readings[0].value == nil, "\(readings[0])")
            }
            // task-clock only sees the enable/disable ioctls themselves: far below the 5 ms of CPU between the regions.
            #expect((readings[1].count?.raw ?? .max) < 1_000_000, "task-clock in an empty region: \(readings[1])")
        }
    }

    @Test func softwareGroupMapsIdsToEvents() throws {
        let counters = try ThreadCounters(events: [.taskClock, .contextSwitches, .pageFaults, .cpuMigrations])
        try requireKernelSideCounting(counters.availability[1])
        #expect(counters.availability.allSatisfy { $0 == .counted })
        try counters.start()
        for _ in 0..<3 { usleep(2000) }
        let readings = try counters.stop()
        #expect(readings.map(\.event) == [.taskClock, .contextSwitches, .pageFaults, .cpuMigrations])
        let switches = try #require(readings[1].value)
        let taskClock = try #require(readings[0].value)
        #expect(switches >= 3 && switches < 1000)
        #expect(taskClock > switches)  // ns of CPU, not a small count: the ids were not mixed up
        #expect(readings.allSatisfy { $0.count?.isScaled == false && $0.count?.runningFraction == 1 })
    }

    @Test func someUnavailableEventsAreKeptWithTheirReason() throws {
        let missing = try PerfEvent.named("copyprof_no_such:tracepoint")
        let counters = try ThreadCounters(events: [.taskClock, missing])
        #expect(counters.availability[0].isOpen, "\(counters.availability[0])")
        // No such tracepoint; or, where tracefs is readable by root only, no way to look it up.
        let unreadable: Bool
        if case .permissionDenied = Tracefs.status { unreadable = true } else { unreadable = false }
        #expect(counters.availability[1].state == (unreadable ? .notPermitted : .notSupported), "\(counters.availability[1])")
        try counters.start()
        let readings = try counters.stop()
        #expect(readings[1].count == nil && readings[1].value == nil)
        #expect(readings[0].value != nil)
    }

    @Test func nothingAvailableIsAnErrorThatSaysWhy() throws {
        let missing = try PerfEvent.named("copyprof_no_such:tracepoint")
        #expect {
            _ = try ThreadCounters(events: [missing])
        } throws: { error in
            let text = String(describing: error)
            return text.contains("none of the requested events can be counted here")
                && text.contains("copyprof_no_such:tracepoint")
        }
    }

    @Test func hardwareEventsSayWhyWhenThereIsNoPMU() throws {
        let host = HostCounters.probe([.cycles, .taskClock])
        let cycles = host.events[0].availability
        if host.hasHardwarePMU {
            // Counted, or refused for another reason (the paranoid level, a PMU without the event): never for want of a PMU.
            #expect(cycles.reason?.contains("no hardware PMU") != true, "this host has a hardware PMU: cycles is \(cycles)")
        } else {
            #expect(cycles.state == .notSupported)
            #expect(cycles.reason?.contains("no hardware PMU") == true)
        }
        #expect(host.events[1].availability.isOpen)
        #expect(host.paranoid != nil)
    }

    @Test func userOnlyCountingIsMarked() throws {
        let counters = try ThreadCounters(
            events: [.pageFaults, .taskClock, .contextSwitches], options: CounterOptions(userOnly: true))
        // Page faults keep their user-mode part only: user-only, said so.
        #expect(counters.availability[0].state == .userOnly)
        #expect(counters.modes[0] == .userOnly)
        #expect(counters.availability[0].reason?.contains("copy_to_user") == true)
        // task-clock ignores exclude_kernel (it is time, not a fired event): counted, user and kernel.
        #expect(counters.availability[1].state == .counted)
        #expect(counters.modes[1] == .userAndKernel)
        // Context switches fire in kernel context, so user-only they would read 0: not opened, never 0.
        #expect(counters.availability[2].state == .notSupported)
        #expect(counters.availability[2].reason?.contains("perf_exclude_event") == true)
        try counters.start()
        usleep(1000)
        let readings = try counters.stop()
        #expect(readings[2].value == nil && readings[2].mode == nil)
        #expect(readings[0].mode == .userOnly && readings[1].mode == .userAndKernel)
    }

    @Test func countedRegionAddsRusage() throws {
        // With task-clock, which every user may count, so that the region opens where context switches are refused.
        let region = try CountedRegion(events: [.contextSwitches, .taskClock])
        try region.begin()
        for _ in 0..<4 { usleep(1000) }
        let measurement = try region.end()
        #expect(measurement.usage.voluntarySwitches >= 4)
        #expect(measurement.wallNs >= 4_000_000)
        // The counter part: counted where the kernel side may be counted, else not counted, and never a 0.
        let reading = try #require(measurement.reading("context-switches"))
        if reading.availability == .counted {
            #expect((reading.value ?? 0) >= 4, "\(reading)")
        } else {
            #expect(reading.value == nil, "context switches that could not be counted read \(reading)")
        }
    }
}

/// Cancels the calling test, with the reason, unless `availability` counts the kernel side too. Context switches and
/// kernel copies happen in the kernel, so a user-only count of them is 0: a test that needs them is skipped when this
/// user may count user space only (`perf_event_paranoid` 2 without root or CAP_PERFMON).
func requireKernelSideCounting(_ availability: EventAvailability) throws {
    if availability != .counted {
        try Test.cancel("needs kernel-side counting (root, CAP_PERFMON, or perf_event_paranoid <= 1); here: \(availability)")
    }
}

