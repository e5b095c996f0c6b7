import CPerfEvent
import Glibc
import Testing

@testable import PerfCounters

/// What this machine cannot produce (a hardware PMU with few counters, the NMI watchdog, hybrid cores, an
/// unprivileged user's exclude_kernel) tested against ``SimulatedKernel``, whose rules follow the kernel's
/// and cite where. The counters code under test is the real one, over the simulated perf_event layer.
@Suite struct SimulatedPMUTests {
    static let sevenHardware: [PerfEvent] = [
        .cycles, .instructions, .l1dLoads, .l1dLoadMisses, .llcLoads, .llcLoadMisses, .branchMisses,
    ]

    /// An Intel core with SMT on: 4 general counters per hardware thread, fixed counters for instructions and
    /// cycles (Intel SDM vol. 3B, "Architectural Performance Monitoring Version 2+").
    static func intelCore(name: String = "cpu", type: UInt32 = PERF_TYPE_RAW.rawValue, cpus: [Int] = Array(0..<8), scale: Double = 1)
        -> SimulatedCorePMU
    {
        SimulatedCorePMU(
            name: name, type: type, cpus: cpus, generalCounters: 4, fixedCounters: SimulatedCorePMU.intelFixed,
            ratePerNs: SimulatedCorePMU.allEvents(scale: scale))
    }

    static func counts(_ readings: [CounterReading]) -> [String: CounterReading] {
        Dictionary(uniqueKeysWithValues: readings.map { ($0.event.name, $0) })
    }

    /// The expected count of `event` after `ns` of work on `pmu` (user+kernel).
    static func expected(_ event: PerfEvent, _ pmu: SimulatedCorePMU, ns: UInt64, share: Double = 1) -> Double {
        pmu.ratePerNs[HardwareEventKey(event)!]! * Double(ns) * share
    }

    // MARK: Groups and counters

    @Test func simulatedOversizedGroupIsRejectedAtOpen() throws {
        // The old design: all seven hardware events in one group. Five need general counters (the cache events
        // and branch-misses), the PMU has four: arch/x86/events/core.c validate_group rejects the group when the
        // member that does not fit is added, with EINVAL.
        let kernel = SimulatedKernel(pmus: [Self.intelCore()], nmiWatchdog: false)
        var leaderFD: Int32 = -1
        var results: [Int32] = []
        for event in Self.sevenHardware {
            var attr = perf_event_attr()
            attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
            guard case let key? = HardwareEventKey(event) else { continue }
            switch key {
            case .hardware(let c): attr.type = PERF_TYPE_HARDWARE.rawValue; attr.config = c
            case .cache(let c): attr.type = PERF_TYPE_HW_CACHE.rawValue; attr.config = c
            }
            let fd = kernel.open(&attr, groupFD: leaderFD)
            results.append(fd)
            if leaderFD == -1 { leaderFD = fd }
        }
        // cycles, instructions on fixed counters; four cache events on the four general counters; branch-misses
        // is the fifth general one.
        #expect(results.prefix(6).allSatisfy { $0 >= 0 })
        #expect(results[6] == -EINVAL)
    }

    @Test func simulatedAllSevenHardwareEventsAreCountedOnAFourCounterPMUWithTheWatchdogOn() throws {
        // How we will know (issue 11): 4 general counters, the NMI watchdog on. The watchdog's pinned cycles event
        // holds fixed counter 1, so cycles needs a general counter too: together the groups need 6 general
        // counters of 4, and the kernel multiplexes them. Every event gets a (scaled) value.
        let pmu = Self.intelCore()
        let kernel = SimulatedKernel(pmus: [pmu], nmiWatchdog: true)
        let counters = try CounterSet(events: Self.sevenHardware + [.taskClock], options: CounterOptions(), system: kernel)
        #expect(counters.availability.allSatisfy { $0 == .counted })
        #expect(counters.groupDescriptions.map(\.events) == [
            ["cycles", "instructions"], ["L1-dcache-loads", "L1-dcache-load-misses"], ["LLC-loads", "LLC-load-misses"],
            ["branch-misses"], ["task-clock"],
        ])
        try counters.start()
        let ns: UInt64 = 400_000_000
        kernel.run(onCPU: 3, ns: ns)
        let readings = Self.counts(try counters.stop())
        var scaled = 0
        for event in Self.sevenHardware {
            let reading = try #require(readings[event.name])
            let value = try #require(reading.value, "\(event.name) was not counted: \(reading.reason ?? "")")
            // The work's rate is constant, so scaling by enabled/running recovers the count to rounding.
            let expected = Self.expected(event, pmu, ns: ns)
            #expect(abs(value - expected) <= expected * 1e-6 + 2, "\(event.name): \(value) vs \(expected)")
            #expect(reading.mode == .userAndKernel && reading.source == .perfEvent)
            #expect(reading.parts.map(\.pmu) == ["cpu"])
            if reading.isScaled { scaled += 1 }
            #expect(reading.raw! <= UInt64(expected.rounded(.up)))
        }
        #expect(scaled > 0, "6 general counters' worth of groups on 4 counters must multiplex")
        // Ratio partners share their group's times, so their ratio is exact.
        let ipc = readings["instructions"]!.value! / readings["cycles"]!.value!
        #expect(abs(ipc - 4.0 / 3.0) < 1e-6)
        #expect(readings["cycles"]!.count!.timeRunning == readings["instructions"]!.count!.timeRunning)
        #expect(readings["task-clock"]!.value == Double(ns))
    }

    @Test func simulatedGroupThatFitsOnPaperNeverRunsWhileTheWatchdogHoldsACounter() throws {
        // validate_group checks a group against an empty PMU, without the NMI watchdog, so {cycles and four cache
        // events} passes at open (cycles on fixed counter 1, four general). With the watchdog holding fixed
        // counter 1 cycles needs a fifth general counter: the group never schedules and reads time_running 0.
        let kernel = SimulatedKernel(pmus: [Self.intelCore()], nmiWatchdog: true)
        let group: [PerfEvent] = [.cycles, .l1dLoads, .l1dLoadMisses, .llcLoads, .llcLoadMisses]
        var fds: [Int32] = []
        for event in group {
            var attr = perf_event_attr()
            attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
            attr.read_format = UInt64(
                PERF_FORMAT_GROUP.rawValue | PERF_FORMAT_TOTAL_TIME_ENABLED.rawValue
                    | PERF_FORMAT_TOTAL_TIME_RUNNING.rawValue | PERF_FORMAT_ID.rawValue)
            switch HardwareEventKey(event)! {
            case .hardware(let c): attr.type = PERF_TYPE_HARDWARE.rawValue; attr.config = c
            case .cache(let c): attr.type = PERF_TYPE_HW_CACHE.rawValue; attr.config = c
            }
            let fd = kernel.open(&attr, groupFD: fds.first ?? -1)
            try #require(fd >= 0)
            fds.append(fd)
        }
        #expect(kernel.enableGroup(fds[0]) == 0)
        kernel.run(onCPU: 0, ns: 50_000_000)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: GroupRead.byteCount(members: 5), alignment: 8)
        defer { buffer.deallocate() }
        #expect(kernel.read(fds[0], into: buffer) == buffer.count)
        let read = try GroupRead.decode(UnsafeRawBufferPointer(buffer))
        #expect(read.timeEnabled == 50_000_000 && read.timeRunning == 0)
        #expect(read.values.allSatisfy { $0.value == 0 })
    }

    @Test func simulatedUnschedulableGroupIsNotCountedWithTheWatchdogHint() throws {
        // A PMU with two general counters and no fixed ones; the watchdog's cycles event takes one. The L1d pair
        // needs two: it never runs. It must read as not counted, with perf's watchdog hint, not as 0.
        let small = SimulatedCorePMU(
            name: "cpu", type: PERF_TYPE_RAW.rawValue, cpus: [0, 1], generalCounters: 2, fixedCounters: [:],
            ratePerNs: SimulatedCorePMU.allEvents())
        let kernel = SimulatedKernel(pmus: [small], nmiWatchdog: true)
        let counters = try CounterSet(
            events: [.l1dLoads, .l1dLoadMisses, .branchMisses], options: CounterOptions(), system: kernel)
        try counters.start()
        kernel.run(onCPU: 1, ns: 40_000_000)
        let readings = try counters.stop()
        for reading in readings.prefix(2) {
            #expect(reading.value == nil)
            #expect(reading.count?.timeRunning == 0 && reading.count?.timeEnabled == 40_000_000)
            #expect(reading.reason?.contains("never got a hardware counter") == true)
            #expect(reading.reason?.contains("/proc/sys/kernel/nmi_watchdog") == true)
        }
        #expect(readings[2].value != nil && readings[2].reason == nil)

        // The probe, as `copyprof counters` and the profile's environment use it, says the same.
        let probeKernel = SimulatedKernel(pmus: [small], nmiWatchdog: true)
        let host = HostCounters.probe(
            [.l1dLoads, .l1dLoadMisses, .branchMisses, .taskClock], options: CounterOptions(), system: probeKernel
        ) { probeKernel.run(onCPU: 0, ns: 20_000_000) }
        #expect(host.events.map(\.availability.state) == [.notCounted, .notCounted, .counted, .counted])
        #expect(host.events[0].availability.reason?.contains("nmi_watchdog") == true)
        #expect(probeKernel.openCount == 0, "the probe closed every counter it opened")
    }

    @Test func simulatedRejectedGroupIsReopenedSmallerThenEventByEvent() throws {
        // A PMU with one general counter and no fixed ones: validate_group rejects {cycles, instructions} with
        // EINVAL when instructions joins. Like perf's weak groups (tools/perf/util/evlist.c
        // evlist__reset_weak_group) the group is closed and each event reopened alone; the kernel then
        // multiplexes the two, and each is scaled by its own times.
        let one = SimulatedCorePMU(
            name: "cpu", type: PERF_TYPE_RAW.rawValue, cpus: [0], generalCounters: 1, fixedCounters: [:],
            ratePerNs: SimulatedCorePMU.allEvents())
        let kernel = SimulatedKernel(pmus: [one])
        let counters = try CounterSet(events: [.cycles, .instructions], options: CounterOptions(), system: kernel)
        #expect(kernel.openLog.contains { $0.result == -EINVAL })
        #expect(counters.availability == [.counted, .counted])
        #expect(counters.groupDescriptions.map(\.events) == [["cycles"], ["instructions"]])
        #expect(kernel.openCount == 2, "the rejected group's leader was closed")
        try counters.start()
        kernel.run(onCPU: 0, ns: 80_000_000)
        let readings = try counters.stop()
        for (reading, event) in zip(readings, [PerfEvent.cycles, .instructions]) {
            #expect(reading.isScaled)
            #expect(abs(reading.runningFraction! - 0.5) < 1e-9)
            #expect(abs(reading.value! - Self.expected(event, one, ns: 80_000_000)) < 2)
        }
    }

    // MARK: Hybrid

    /// Alder Lake-like: cpu_core (type 4) on CPUs 0-7, cpu_atom (type 10) on CPUs 8-15, E-cores at half the rates.
    static func hybrid() -> (SimulatedCorePMU, SimulatedCorePMU) {
        (Self.intelCore(name: "cpu_core", type: 4, cpus: Array(0..<8)),
         Self.intelCore(name: "cpu_atom", type: 10, cpus: Array(8..<16), scale: 0.5))
    }

    @Test func simulatedHybridValuesAreSummedOverBothCoreTypes() throws {
        let (core, atom) = Self.hybrid()
        let kernel = SimulatedKernel(pmus: [core, atom], nmiWatchdog: false)
        let counters = try CounterSet(events: [.cycles, .instructions, .taskClock], options: CounterOptions(), system: kernel)
        // Each group opens once per core PMU, with that PMU's type in config bits 32-63.
        #expect(counters.groupDescriptions.compactMap(\.pmu) == ["cpu_core", "cpu_atom"])
        let hardwareOpens = kernel.openLog.filter { $0.type == PERF_TYPE_HARDWARE.rawValue && $0.result >= 0 }
        #expect(Set(hardwareOpens.map { $0.config >> 32 }) == [4, 10])
        try counters.start()
        kernel.run(onCPU: 2, ns: 30_000_000)  // a P-core
        kernel.run(onCPU: 9, ns: 70_000_000)  // then an E-core
        let readings = Self.counts(try counters.stop())
        for event in [PerfEvent.cycles, .instructions] {
            let reading = try #require(readings[event.name])
            let expected = Self.expected(event, core, ns: 30_000_000) + Self.expected(event, atom, ns: 70_000_000)
            #expect(abs(try #require(reading.value) - expected) < 2, "\(event.name)")
            #expect(!reading.isScaled, "the summed running time covers the region: nothing is extrapolated")
            #expect(reading.parts.map(\.pmu) == ["cpu_core", "cpu_atom"])
            #expect(reading.parts[0].count.timeRunning == 30_000_000 && reading.parts[1].count.timeRunning == 70_000_000)
            #expect(reading.parts.allSatisfy { $0.count.timeEnabled == 100_000_000 })
            #expect(reading.raw == reading.parts[0].count.raw + reading.parts[1].count.raw)
        }
    }

    @Test func simulatedThreadThatRanOnlyOnECoresIsCounted() throws {
        let (core, atom) = Self.hybrid()
        let kernel = SimulatedKernel(pmus: [core, atom], nmiWatchdog: true)
        let counters = try CounterSet(events: Self.sevenHardware, options: CounterOptions(), system: kernel)
        try counters.start()
        kernel.run(onCPU: 12, ns: 200_000_000)
        let readings = Self.counts(try counters.stop())
        for event in Self.sevenHardware {
            let reading = try #require(readings[event.name])
            let value = try #require(reading.value, "\(event.name): \(reading.reason ?? "")")
            #expect(abs(value - Self.expected(event, atom, ns: 200_000_000)) <= Self.expected(event, atom, ns: 200_000_000) * 1e-6 + 2)
            let corePart = try #require(reading.parts.first { $0.pmu == "cpu_core" })
            #expect(corePart.count.raw == 0 && corePart.count.timeRunning == 0 && corePart.count.timeEnabled == 200_000_000)
        }
    }

    @Test func simulatedLegacyEncodingReachesOneCoreTypeOnly() throws {
        // Why the extended type matters (include/uapi/linux/perf_event.h, PERF_PMU_TYPE_SHIFT): with config bits
        // 32-63 zero the event goes to PERF_TYPE_RAW's PMU, cpu_core. A thread on an E-core is not counted while
        // its enabled time grows.
        let (core, atom) = Self.hybrid()
        let kernel = SimulatedKernel(pmus: [core, atom])
        var attr = legacyGroupReadAttr(.cycles)
        let fd = kernel.open(&attr, groupFD: -1)
        try #require(fd >= 0)
        _ = kernel.enableGroup(fd)
        kernel.run(onCPU: 9, ns: 10_000_000)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: GroupRead.byteCount(members: 1), alignment: 8)
        defer { buffer.deallocate() }
        _ = kernel.read(fd, into: buffer)
        let read = try GroupRead.decode(UnsafeRawBufferPointer(buffer))
        #expect(read.timeEnabled == 10_000_000 && read.timeRunning == 0 && read.values[0].value == 0)
    }

    // MARK: Modes

    @Test func simulatedExcludeKernelMakesSwitchesAndTracepointsReadZero() throws {
        // The kernel rule behind "not permitted, never 0": with exclude_kernel the context-switch event (fired by
        // the scheduler with kernel registers) and a tracepoint (kernel context) are dropped
        // (kernel/events/core.c perf_exclude_event, perf_tp_event_match); page faults in user mode are kept.
        let kernel = SimulatedKernel(pmus: [], paranoid: 2, privileged: false)
        func open(_ type: perf_type_id, _ config: UInt64, excludeKernel: Bool) -> Int32 {
            var attr = perf_event_attr()
            attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
            attr.type = type.rawValue
            attr.config = config
            attr.exclude_kernel = excludeKernel ? 1 : 0
            attr.read_format = UInt64(
                PERF_FORMAT_GROUP.rawValue | PERF_FORMAT_TOTAL_TIME_ENABLED.rawValue
                    | PERF_FORMAT_TOTAL_TIME_RUNNING.rawValue | PERF_FORMAT_ID.rawValue)
            return kernel.open(&attr, groupFD: -1)
        }
        // Unprivileged at paranoid 2: kernel counting is refused (perf_allow_kernel: EACCES).
        #expect(open(PERF_TYPE_SOFTWARE, UInt64(PERF_COUNT_SW_CONTEXT_SWITCHES.rawValue), excludeKernel: false) == -EACCES)
        let switches = open(PERF_TYPE_SOFTWARE, UInt64(PERF_COUNT_SW_CONTEXT_SWITCHES.rawValue), excludeKernel: true)
        let tracepoint = open(PERF_TYPE_TRACEPOINT, 1_734, excludeKernel: true)
        let faults = open(PERF_TYPE_SOFTWARE, UInt64(PERF_COUNT_SW_PAGE_FAULTS.rawValue), excludeKernel: true)
        for fd in [switches, tracepoint, faults] { #expect(kernel.enableGroup(fd) == 0) }
        for _ in 0..<10 {
            kernel.contextSwitch()
            kernel.tracepointHit(1_734)
            kernel.pageFault(userMode: true)
            kernel.pageFault(userMode: false)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: GroupRead.byteCount(members: 1), alignment: 8)
        defer { buffer.deallocate() }
        func value(_ fd: Int32) throws -> UInt64 {
            _ = kernel.read(fd, into: buffer)
            return try GroupRead.decode(UnsafeRawBufferPointer(buffer)).values[0].value
        }
        #expect(try value(switches) == 0)
        #expect(try value(tracepoint) == 0)
        #expect(try value(faults) == 10, "only the user-mode faults")
        #expect(kernel.rusageSwitches == 10)
    }

    @Test func simulatedUserOnlyHostGivesNoZeroContextSwitchFigure() throws {
        // How we will know (issue 11): as an unprivileged user at perf_event_paranoid 2 no context-switch figure
        // is 0. context-switches and the tracepoint are not permitted (not opened user-only, which reads 0); the
        // switch figure comes from getrusage; task-clock is user+kernel; hardware and page faults are user-only.
        let pmu = Self.intelCore()
        let kernel = SimulatedKernel(pmus: [pmu], nmiWatchdog: true, paranoid: 2, privileged: false)
        kernel.tracefsReadable = true  // even with a readable tracefs, a tracepoint user-only would read 0
        let counters = try CounterSet(events: PerfEvent.catalog, options: CounterOptions(), system: kernel)
        let status = Dictionary(uniqueKeysWithValues: zip(PerfEvent.catalog.map(\.name), counters.availability))
        #expect(status["context-switches"]?.state == .notPermitted)
        #expect(status["context-switches"]?.reason?.contains("getrusage") == true)
        #expect(status["cpu-migrations"]?.state == .notPermitted)
        #expect(status["skb:skb_copy_datagram_iovec"]?.state == .notPermitted)
        #expect(status["task-clock"]?.state == .counted)
        #expect(status["page-faults"]?.state == .userOnly)
        #expect(status["cycles"]?.state == .userOnly)
        // Nothing that reads 0 user-only was left open.
        #expect(!kernel.openLog.contains {
            $0.result >= 0 && $0.type == PERF_TYPE_SOFTWARE.rawValue
                && $0.config == UInt64(PERF_COUNT_SW_CONTEXT_SWITCHES.rawValue)
        })

        try counters.start()
        let ns: UInt64 = 100_000_000
        kernel.run(onCPU: 0, ns: ns, kernelShare: 0.4)
        for _ in 0..<7 { kernel.contextSwitch() }
        kernel.pageFault(userMode: true)
        kernel.pageFault(userMode: false)
        let readings = try counters.stop()
        let byName = Self.counts(readings)
        #expect(byName["context-switches"]?.value == nil && byName["context-switches"]?.mode == nil)
        #expect(byName["task-clock"]?.value == Double(ns) && byName["task-clock"]?.mode == .userAndKernel)
        #expect(byName["page-faults"]?.value == 1 && byName["page-faults"]?.mode == .userOnly)
        let cycles = try #require(byName["cycles"])
        #expect(cycles.mode == .userOnly)
        #expect(abs(cycles.value! - Self.expected(.cycles, pmu, ns: ns, share: 0.6)) < 2)

        let usage = ThreadUsage(
            userNs: 0, systemNs: 0, voluntarySwitches: kernel.rusageSwitches - 2, involuntarySwitches: 2, minorFaults: 2,
            cpuClockNs: ns)
        let figure = RegionMeasurement(counters: readings, usage: usage, wallNs: ns).contextSwitchFigure
        #expect(figure.value == 7 && figure.source == .rusage && figure.mode == .userAndKernel)
        #expect(figure.note?.contains("not-permitted") == true)

        // With permission the same figure comes from perf, user and kernel.
        let root = SimulatedKernel(pmus: [pmu], paranoid: 2, privileged: true)
        let rootCounters = try CounterSet(events: [.contextSwitches, .taskClock], options: CounterOptions(), system: root)
        try rootCounters.start()
        root.run(onCPU: 0, ns: 1_000_000)
        for _ in 0..<7 { root.contextSwitch() }
        let rootFigure = RegionMeasurement(counters: try rootCounters.stop(), usage: usage, wallNs: ns).contextSwitchFigure
        #expect(rootFigure.value == 7 && rootFigure.source == .perfEvent)
    }

    @Test func simulatedUnreadableTracefsIsNotPermittedWithWhatToDo() throws {
        let kernel = SimulatedKernel(pmus: [], paranoid: 2, privileged: false)
        kernel.tracefsReadable = false
        let counters = try CounterSet(events: [.taskClock, .skbCopyDatagramIovec], options: CounterOptions(), system: kernel)
        #expect(counters.availability[1].state == .notPermitted)
        #expect(counters.availability[1].reason?.contains("permission denied") == true)
        // task-clock opened with exclude_kernel, which it ignores: counted, and not called user-only.
        #expect(counters.availability[0].state == .counted && counters.modes[0] == .userAndKernel)
        #expect(counters.availability[0].reason?.contains("counts kernel time all the same") == true)
    }

    // MARK: Reasons

    @Test func simulatedBareMetalPMUWithoutAGenericEventIsNamed() throws {
        // AMD Zen's cpu PMU maps no generic LLC-loads (arch/x86/events/amd/core.c: the LL cache entries are 0):
        // ENOENT. On bare metal (no hypervisor flag) the reason names the PMU, not a VM.
        var rates = SimulatedCorePMU.allEvents()
        rates[HardwareEventKey(.llcLoads)!] = nil
        rates[HardwareEventKey(.llcLoadMisses)!] = nil
        let zen = SimulatedCorePMU(
            name: "cpu", type: PERF_TYPE_RAW.rawValue, cpus: Array(0..<16), generalCounters: 6, fixedCounters: [:],
            ratePerNs: rates)
        let kernel = SimulatedKernel(pmus: [zen])
        let counters = try CounterSet(events: Self.sevenHardware, options: CounterOptions(), system: kernel)
        let llc = counters.availability[4]
        #expect(llc.state == .notSupported && llc.errno == ENOENT)
        #expect(llc.reason?.contains("the cpu PMU (Simulated CPU) has no generic LLC-loads event") == true)
        #expect(llc.reason?.contains("virtual machine") == false)
        #expect(counters.availability[0] == .counted)

        // No core PMU and the hypervisor flag: the VM is to blame, and said to be.
        let vm = SimulatedKernel(pmus: [])
        vm.hypervisor = true
        let inVM = try CounterSet(events: [.cycles, .taskClock], options: CounterOptions(), system: vm)
        #expect(inVM.availability[0].reason?.contains("virtual machine without PMU passthrough") == true)
        // No core PMU on bare metal: no VM is blamed.
        let bare = SimulatedKernel(pmus: [])
        let onBareMetal = try CounterSet(events: [.cycles, .taskClock], options: CounterOptions(), system: bare)
        #expect(onBareMetal.availability[0].reason?.contains("registered no core PMU") == true)
        #expect(onBareMetal.availability[0].reason?.contains("virtual machine") == false)
    }
}
