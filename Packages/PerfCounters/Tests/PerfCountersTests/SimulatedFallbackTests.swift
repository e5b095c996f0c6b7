import CPerfEvent
import Glibc
import Testing

@testable import PerfCounters

/// `event` in the legacy encoding (config bits 32-63 zero), read as a group with its times and ids.
func legacyGroupReadAttr(_ event: PerfEvent) -> perf_event_attr {
    var attr = perf_event_attr()
    attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
    switch HardwareEventKey(event)! {
    case .hardware(let config): attr.type = PERF_TYPE_HARDWARE.rawValue; attr.config = config
    case .cache(let config): attr.type = PERF_TYPE_HW_CACHE.rawValue; attr.config = config
    }
    attr.read_format = UInt64(
        PERF_FORMAT_GROUP.rawValue | PERF_FORMAT_TOTAL_TIME_ENABLED.rawValue
            | PERF_FORMAT_TOTAL_TIME_RUNNING.rawValue | PERF_FORMAT_ID.rawValue)
    return attr
}

/// The fallbacks perf has for hosts this machine is not (issue 21): Arm hybrid kernels without extended types,
/// Apple M1/M2's exclude_guest, Debian's and Ubuntu's perf_event_paranoid 3 and 4, a container's seccomp EPERM,
/// a hybrid core type that refuses an event, Intel's offcore-response registers shared by hyperthreads. Each runs
/// the real counters code over ``SimulatedKernel``, whose rules cite the kernel.
@Suite struct SimulatedFallbackTests {
    /// An Arm big.LITTLE pair (RK3399-like): Cortex-A53 on CPUs 0-3, Cortex-A72 on CPUs 4-5, with dynamic PMU types
    /// (perf_pmu_register with type -1 allocates from PERF_TYPE_MAX) and the PMUv3 cycle counter as a fixed one.
    static func bigLittle(extendedTypes: Bool) -> [SimulatedCorePMU] {
        let cycles = [HardwareEventKey(.cycles)!: 0]
        var little = SimulatedCorePMU(
            name: "armv8_cortex_a53", type: 8, cpus: Array(0..<4), generalCounters: 6, fixedCounters: cycles,
            ratePerNs: SimulatedCorePMU.allEvents(scale: 0.5))
        var big = SimulatedCorePMU(
            name: "armv8_cortex_a72", type: 9, cpus: [4, 5], generalCounters: 6, fixedCounters: cycles,
            ratePerNs: SimulatedCorePMU.allEvents())
        little.extendedHWType = extendedTypes
        big.extendedHWType = extendedTypes
        return [little, big]
    }

    static func counts(_ readings: [CounterReading]) -> [String: CounterReading] {
        Dictionary(uniqueKeysWithValues: readings.map { ($0.event.name, $0) })
    }

    static func expected(_ event: PerfEvent, _ pmu: SimulatedCorePMU, ns: UInt64) -> Double {
        pmu.ratePerNs[HardwareEventKey(event)!]! * Double(ns)
    }

    static func cyclesOnly(_ attr: perf_event_attr) -> Bool {
        attr.type == PERF_TYPE_HARDWARE.rawValue && attr.config & 0xffff_ffff == UInt64(PERF_COUNT_HW_CPU_CYCLES.rawValue)
    }

    // MARK: Item 1: extended types only where the kernel has them

    @Test func simulatedLegacyEventOnArmGoesToTheFirstCorePMUThatTakesIt() throws {
        // kernel/events/core.c perf_init_event: on Arm no PMU is registered as PERF_TYPE_RAW, so a legacy event
        // (config bits 32-63 zero) goes to the first PMU that takes it; following the thread (cpu -1) both would,
        // so it lands on the first, and counts nothing while the thread runs on the other cluster.
        let kernel = SimulatedKernel(pmus: Self.bigLittle(extendedTypes: false))
        var attr = legacyGroupReadAttr(.cycles)
        let fd = kernel.open(&attr, cpu: -1, groupFD: -1)
        try #require(fd >= 0)
        _ = kernel.enableGroup(fd)
        kernel.run(onCPU: 5, ns: 10_000_000)  // the A72
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: GroupRead.byteCount(members: 1), alignment: 8)
        defer { buffer.deallocate() }
        _ = kernel.read(fd, into: buffer)
        let read = try GroupRead.decode(UnsafeRawBufferPointer(buffer))
        #expect(read.timeEnabled == 10_000_000 && read.timeRunning == 0)

        // Its type in config bits 32-63 is refused without PERF_PMU_CAP_EXTENDED_HW_TYPE (ENOENT) ...
        attr.config = UInt64(PERF_COUNT_HW_CPU_CYCLES.rawValue) | 9 << 32
        #expect(kernel.open(&attr, cpu: -1, groupFD: -1) == -ENOENT)
        // ... and a legacy event bound to an A72 CPU reaches the A72's PMU: armpmu_event_init answers ENOENT for a
        // CPU of another class and perf_init_event tries the next PMU.
        attr.config = UInt64(PERF_COUNT_HW_CPU_CYCLES.rawValue)
        let bound = kernel.open(&attr, cpu: 5, groupFD: -1)
        try #require(bound >= 0)
        _ = kernel.enableGroup(bound)
        kernel.run(onCPU: 5, ns: 10_000_000)
        _ = kernel.read(bound, into: buffer)
        #expect(try GroupRead.decode(UnsafeRawBufferPointer(buffer)).timeRunning == 10_000_000)
    }

    @Test func simulatedArmHybridWithoutExtendedTypesCountsCyclesOnEachCorePMUThroughTheLegacyEncoding() throws {
        // How we will know (issue 21): a big.LITTLE kernel before 6.6 refuses each PMU's type in config bits 32-63.
        // The probe (perf's __perf_pmus__supports_extended_type: cycles with each PMU's type) says so, and the
        // counters fall back to the legacy encoding once per CPU, which the kernel routes to each CPU's PMU.
        let pmus = Self.bigLittle(extendedTypes: false)
        let kernel = SimulatedKernel(pmus: pmus)
        let counters = try CounterSet(events: [.cycles, .instructions, .taskClock], options: CounterOptions(), system: kernel)
        #expect(counters.encodings == ["armv8_cortex_a53": .legacyPerCPU, "armv8_cortex_a72": .legacyPerCPU])
        let probes = kernel.attempts.filter { Self.cyclesOnly($0.attr) && $0.attr.config >> 32 != 0 }
        #expect(probes.map(\.result) == [-ENOENT, -ENOENT], "one extended-type probe per core PMU, refused")
        let hardware = kernel.attempts.filter { $0.attr.type == PERF_TYPE_HARDWARE.rawValue && $0.result >= 0 }
        #expect(hardware.allSatisfy { $0.attr.config >> 32 == 0 && $0.cpu >= 0 }, "legacy encoding, bound to a CPU")
        #expect(Set(hardware.map(\.cpu)) == [0, 1, 2, 3, 4, 5])
        let groups = counters.groupDescriptions.filter { $0.encoding != nil }
        #expect(groups.map(\.pmu) == ["armv8_cortex_a53", "armv8_cortex_a72"])
        #expect(groups.map(\.cpus) == [[0, 1, 2, 3], [4, 5]])
        #expect(groups.allSatisfy { $0.encoding == .legacyPerCPU && $0.events == ["cycles", "instructions"] })
        #expect(counters.availability[0].state == .counted)
        #expect(counters.availability[0].reason?.contains("through the legacy encoding, one event per CPU") == true)
        #expect(counters.availability[0].reason?.contains("ENOENT") == true)

        try counters.start()
        kernel.run(onCPU: 1, ns: 30_000_000)  // a LITTLE core
        kernel.run(onCPU: 2, ns: 10_000_000)  // another
        kernel.run(onCPU: 5, ns: 60_000_000)  // a big core
        let readings = Self.counts(try counters.stop())
        for event in [PerfEvent.cycles, .instructions] {
            let reading = try #require(readings[event.name])
            let expected = Self.expected(event, pmus[0], ns: 40_000_000) + Self.expected(event, pmus[1], ns: 60_000_000)
            #expect(abs(try #require(reading.value) - expected) < 4, "\(event.name)")
            #expect(!reading.isScaled && reading.coverage == nil)
            #expect(reading.parts.map(\.pmu) == ["armv8_cortex_a53", "armv8_cortex_a72"], "one part per PMU, not per CPU")
            #expect(reading.parts.map(\.count.timeRunning) == [40_000_000, 60_000_000])
        }

        // The same host on 6.6 or later takes the extended type: one group per PMU following the thread.
        let recent = SimulatedKernel(pmus: Self.bigLittle(extendedTypes: true))
        let onRecent = try CounterSet(events: [.cycles, .taskClock], options: CounterOptions(), system: recent)
        #expect(onRecent.encodings == ["armv8_cortex_a53": .extendedType, "armv8_cortex_a72": .extendedType])
        #expect(onRecent.groupDescriptions.filter { $0.encoding != nil }.allSatisfy { $0.cpus == nil })
        #expect(onRecent.availability[0] == .counted)
    }

    // MARK: Item 2: exclude_guest

    /// Apple M1-like: Icestorm on CPUs 0-3, Firestorm on CPUs 4-7, both requiring exclude_guest, with extended
    /// types (Asahi kernels are 6.6 or later).
    static func appleM1() -> [SimulatedCorePMU] {
        var icestorm = SimulatedCorePMU(
            name: "apple_icestorm_pmu", type: 8, cpus: Array(0..<4), generalCounters: 8, fixedCounters: [:],
            ratePerNs: SimulatedCorePMU.allEvents(scale: 0.5))
        var firestorm = SimulatedCorePMU(
            name: "apple_firestorm_pmu", type: 9, cpus: Array(4..<8), generalCounters: 8, fixedCounters: [:],
            ratePerNs: SimulatedCorePMU.allEvents())
        icestorm.requiresExcludeGuest = true
        firestorm.requiresExcludeGuest = true
        return [icestorm, firestorm]
    }

    @Test func simulatedM1CountsAfterTheExcludeGuestRetry() throws {
        // drivers/perf/apple_m1_cpu_pmu.c m1_pmu_set_event_filter: EOPNOTSUPP without exclude_guest; perf retries
        // with it (tools/perf/util/evsel.c evsel__fallback, "Apple M1 requires exclude_guest"), and so does the
        // extended-type probe (Mark Rutland's fix to is_event_supported), or it would wrongly find no extended types.
        let pmus = Self.appleM1()
        let kernel = SimulatedKernel(pmus: pmus)
        let counters = try CounterSet(events: [.cycles, .instructions, .taskClock], options: CounterOptions(), system: kernel)
        #expect(counters.encodings == ["apple_icestorm_pmu": .extendedType, "apple_firestorm_pmu": .extendedType])
        let cyclesOpens = kernel.attempts.filter { Self.cyclesOnly($0.attr) }
        #expect(cyclesOpens.contains { $0.result == -EOPNOTSUPP && $0.attr.exclude_guest == 0 })
        #expect(cyclesOpens.filter { $0.result >= 0 }.allSatisfy { $0.attr.exclude_guest == 1 })
        let cycles = counters.availability[0]
        #expect(cycles.state == .counted && cycles.fallbacks == [.excludeGuest])
        #expect(cycles.reason?.contains("exclude_guest") == true)
        #expect(counters.availability[2] == .counted, "task-clock needed no fallback")
        #expect(counters.groupDescriptions.first?.events == ["cycles:H", "instructions:H"])

        try counters.start()
        kernel.run(onCPU: 6, ns: 50_000_000)
        let reading = try #require(Self.counts(try counters.stop())["cycles"])
        #expect(abs(try #require(reading.value) - Self.expected(.cycles, pmus[1], ns: 50_000_000)) < 2)

        // Unprivileged at paranoid 2: exclude_kernel first (the kernel checks permission before the PMU sees the
        // event), then exclude_guest.
        let user = SimulatedKernel(pmus: pmus, paranoid: 2, privileged: false)
        let asUser = try CounterSet(events: [.cycles, .taskClock], options: CounterOptions(), system: user)
        #expect(asUser.availability[0].state == .userOnly)
        #expect(asUser.availability[0].fallbacks == [.excludeKernel, .excludeGuest])
        #expect(asUser.groupDescriptions.first?.events == ["cycles:uH"])
    }

    // MARK: Item 3: perf_event_paranoid 3 and 4

    @Test func simulatedParanoid4AsNonRootIsOneLineWithoutRetries() throws {
        // How we will know (issue 21): Ubuntu's perf_event_paranoid 4 (Debian's 3) refuses every perf_event_open
        // without CAP_SYS_ADMIN, user space only or not. One probe open says so; no event is tried, nothing is
        // retried, and every event gets the same one line.
        let kernel = SimulatedKernel(pmus: [SimulatedPMUTests.intelCore()], paranoid: 4, privileged: false)
        let error = #expect(throws: CounterError.self) {
            _ = try CounterSet(events: PerfEvent.catalog, options: CounterOptions(), system: kernel)
        }
        #expect(kernel.attempts.count == 1, "the probe alone: \(kernel.attempts.count) opens")
        guard case .nothingAvailable(let reasons)? = error else {
            Issue.record("expected nothingAvailable, got \(String(describing: error))")
            return
        }
        #expect(Set(reasons.values).count == 1, "one reason for every event")
        let reason = try #require(reasons["cycles"])
        #expect(reason.state == .notPermitted && reason.errno == EACCES)
        #expect(reason.reason == "EACCES: this kernel forbids perf_event_open to unprivileged users "
            + "(perf_event_paranoid = 4, a Debian/Ubuntu kernel patch): as root, sysctl kernel.perf_event_paranoid=2, "
            + "or run as root")

        // The probe, as `copyprof counters` shows it: every event not permitted, and the refusal named once.
        let probeKernel = SimulatedKernel(pmus: [SimulatedPMUTests.intelCore()], paranoid: 4, privileged: false)
        let host = HostCounters.probe(PerfEvent.catalog, options: CounterOptions(), system: probeKernel) {}
        #expect(host.events.allSatisfy { $0.availability == reason })
        #expect(host.refusal == reason)
        #expect(probeKernel.openCount == 0)

        // CAP_PERFMON (Linux 5.8) does not lift Ubuntu's level 4, which asks for CAP_SYS_ADMIN: said so.
        let perfmon = SimulatedKernel(pmus: [], paranoid: 4, privileged: true)
        perfmon.sysAdmin = false
        #expect(throws: CounterError.self) { _ = try CounterSet(events: [.taskClock], options: CounterOptions(), system: perfmon) }
        #expect(perfmon.attempts.count == 1)
        let withPerfmon = PerfAccess.refusal(perfmon)
        #expect(withPerfmon?.reason?.contains("CAP_PERFMON does not lift it") == true)

        // Root is not refused at any level.
        let root = SimulatedKernel(pmus: [], paranoid: 4, privileged: true)
        #expect(try CounterSet(events: [.taskClock, .contextSwitches], options: CounterOptions(), system: root).availability
            == [.counted, .counted])
    }

    @Test func simulatedParanoidAbove2OnAnUpstreamKernelActsAs2() throws {
        // Without the distributions' patch the kernel treats levels above 2 as 2 (perf_allow_kernel checks > 1):
        // the probe opens, and the events are counted user space only as at 2.
        let kernel = SimulatedKernel(pmus: [SimulatedPMUTests.intelCore()], paranoid: 3, privileged: false)
        kernel.restrictsAboveParanoid2 = false
        let counters = try CounterSet(events: [.cycles, .taskClock], options: CounterOptions(), system: kernel)
        #expect(counters.availability.map(\.state) == [.userOnly, .counted])
        #expect(kernel.openCount == 2, "the probe event was closed")
    }

    // MARK: Item 4: EPERM is not EACCES; exclude_hv a step of its own

    @Test func simulatedSeccompEPERMGivesTheContainerAdviceAndNoParanoidAdvice() throws {
        // How we will know (issue 21): Docker's and Podman's default seccomp profiles answer EPERM to
        // perf_event_open without CAP_PERFMON or CAP_SYS_ADMIN (moby profiles/seccomp/default_linux.go). Not a
        // paranoid refusal: no sysctl advice, no user-only retry.
        let kernel = SimulatedKernel(pmus: [SimulatedPMUTests.intelCore()], paranoid: 2, privileged: true)
        kernel.seccompRefusesPerfEventOpen = true
        let error = #expect(throws: CounterError.self) {
            _ = try CounterSet(events: PerfEvent.catalog, options: CounterOptions(), system: kernel)
        }
        #expect(kernel.attempts.count == 1)
        guard case .nothingAvailable(let reasons)? = error else {
            Issue.record("expected nothingAvailable, got \(String(describing: error))")
            return
        }
        #expect(Set(reasons.values).count == 1)
        let reason = try #require(reasons["task-clock"]?.reason)
        #expect(reasons["task-clock"]?.errno == EPERM)
        #expect(reason.hasPrefix("EPERM: a seccomp filter on this thread refuses perf_event_open"))
        #expect(reason.contains("--cap-add PERFMON") && reason.contains("--security-opt seccomp=unconfined"))
        #expect(!reason.contains("perf_event_paranoid") && !reason.contains("sysctl"))
    }

    @Test func simulatedExcludeHypervisorIsAStepOfItsOwnAfterExcludeKernel() throws {
        // The kernel checks permission for exclude_kernel only when counting (kernel/events/core.c
        // perf_allow_kernel), so at paranoid 2 the first step is enough and exclude_hv stays clear; the exclude_hv
        // step follows only a refusal that persists (Namhyung Kim's "perf tools: Separate exclude_hv fallback").
        let kernel = SimulatedKernel(pmus: [SimulatedPMUTests.intelCore()], paranoid: 2, privileged: false)
        let counters = try CounterSet(events: [.cycles, .pageFaults], options: CounterOptions(), system: kernel)
        #expect(counters.availability.map(\.fallbacks) == [[.excludeKernel], [.excludeKernel]])
        let opened = kernel.attempts.filter { $0.result >= 0 }
        #expect(opened.allSatisfy { $0.attr.exclude_kernel == 1 && $0.attr.exclude_hv == 0 })

        // A kernel that also wants exclude_hv (branch stacks' HV bit, kernel/events/core.c perf_event_open) gets it
        // as the next step.
        let ladder = FallbackLadder.counting(excludeKernel: true, host: kernel.host)
        var attr = perf_event_attr()
        var calls: [(kernel: UInt64, hv: UInt64)] = []
        let outcome = ladder.open(&attr) { attr in
            calls.append((attr.exclude_kernel, attr.exclude_hv))
            return attr.exclude_kernel == 1 && attr.exclude_hv == 1 ? 7 : -EACCES
        }
        #expect(outcome.result == 7 && outcome.applied == [.excludeKernel, .excludeHypervisor])
        #expect(calls.map(\.kernel) == [0, 1, 1] && calls.map(\.hv) == [0, 0, 1])
    }

    // MARK: Item 5: a refused core type is not multiplexing

    @Test func simulatedRefusedAtomEventIsNotMultiplexed() throws {
        // How we will know (issue 21): cpu_atom has no LLC events here; the thread runs 60 ms on a P-core and 40 ms
        // on an E-core. LLC-loads is the P-core's count of those 60 ms — not scaled to 100 ms as if multiplexed —
        // and says the thread ran 40% of its time where it was not counted.
        let (core, atomFull) = SimulatedPMUTests.hybrid()
        var atom = atomFull
        atom.ratePerNs[HardwareEventKey(.llcLoads)!] = nil
        atom.ratePerNs[HardwareEventKey(.llcLoadMisses)!] = nil
        let kernel = SimulatedKernel(pmus: [core, atom])
        let events: [PerfEvent] = [.cycles, .instructions, .llcLoads, .llcLoadMisses, .taskClock]
        let counters = try CounterSet(events: events, options: CounterOptions(), system: kernel)
        #expect(counters.availability[2].state == .counted)
        #expect(counters.availability[2].reason?.hasPrefix("counted on cpu_core only; cpu_atom refused it: not-supported: ENOENT") == true)
        try counters.start()
        kernel.run(onCPU: 2, ns: 60_000_000)
        kernel.run(onCPU: 9, ns: 40_000_000)
        let readings = Self.counts(try counters.stop())
        let llc = try #require(readings["LLC-loads"])
        #expect(!llc.isScaled, "a refused core type is not multiplexing")
        #expect(abs(try #require(llc.value) - SimulatedPMUTests.expected(.llcLoads, core, ns: 60_000_000)) < 2)
        let coverage = try #require(llc.coverage)
        #expect(coverage.countedOn == ["cpu_core"] && coverage.refusedOn == ["cpu_atom"])
        #expect(abs(try #require(coverage.refusedShare) - 0.4) < 1e-9)
        #expect(llc.exactValue == nil, "not the whole region's count")
        #expect(llc.description.contains("counted on cpu_core only (the thread ran 40% of its time on cpu_atom)"))
        #expect(!llc.description.contains("scaled"))
        #expect(try JSONDecoderLite.roundTrip(llc) == llc, "the coverage is data, kept in JSON")
        // Events both types counted are whole and carry no coverage.
        #expect(readings["cycles"]?.coverage == nil && readings["cycles"]?.isScaled == false)

        // A thread that ran only on E-cores: no count at all for LLC-loads, said so — not 0.
        try counters.start()
        kernel.run(onCPU: 12, ns: 30_000_000)
        let onlyAtom = try #require(Self.counts(try counters.stop())["LLC-loads"])
        #expect(onlyAtom.value == nil)
        #expect(onlyAtom.coverage?.refusedShare == 1)
        #expect(onlyAtom.reason?.contains("never ran on cpu_core") == true)
    }

    // MARK: Item 10: Intel's offcore-response registers under SMT

    static func intelWithOffcore() -> SimulatedCorePMU {
        var pmu = SimulatedPMUTests.intelCore()
        // arch/x86/events/intel/core.c: LLC read access and miss are OFFCORE_RESPONSE events programming different
        // values in MSR_OFFCORE_RSP_0/1.
        pmu.offcoreEvents = [HardwareEventKey(.llcLoads)!: 0x1_0001, HardwareEventKey(.llcLoadMisses)!: 0x3_fbc0_0001]
        return pmu
    }

    @Test func simulatedLLCGroupWaitsWhileTheSiblingHyperthreadHoldsTheOffcoreRegisters() throws {
        // __intel_shared_reg_get_constraints: the two offcore-response MSRs of a core are shared by its
        // hyperthreads; one that holds another value for the sibling is unavailable (the event gets the empty
        // constraint and does not schedule). validate_group checks a group alone (a fake cpuc with its own
        // registers), so the group opens; it never runs while the sibling holds both registers.
        let pmu = Self.intelWithOffcore()
        let kernel = SimulatedKernel(pmus: [pmu])
        kernel.cpuModel = "Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz"
        kernel.siblingOffcore = [0x10, 0x20]
        let counters = try CounterSet(events: [.llcLoads, .llcLoadMisses, .cycles], options: CounterOptions(), system: kernel)
        #expect(counters.availability.allSatisfy { $0 == .counted })
        try counters.start()
        kernel.run(onCPU: 1, ns: 20_000_000)
        var readings = try counters.stop()
        #expect(readings[0].value == nil && readings[1].value == nil)
        #expect(readings[0].reason?.contains("offcore-response registers, shared with the sibling hyperthread") == true)
        #expect(readings[2].value != nil, "cycles needs no offcore register")

        // The sibling holding one of the same values shares it; the other register is free: the group runs.
        kernel.siblingOffcore = [0x1_0001]
        try counters.start()
        kernel.run(onCPU: 1, ns: 20_000_000)
        readings = try counters.stop()
        #expect(abs(try #require(readings[0].value) - SimulatedPMUTests.expected(.llcLoads, pmu, ns: 20_000_000)) < 2)
        // Holding one of the same values and another one leaves LLC-load-misses no register.
        kernel.siblingOffcore = [0x1_0001, 0x99]
        try counters.start()
        kernel.run(onCPU: 1, ns: 20_000_000)
        #expect(try counters.stop()[1].value == nil)
    }

    @Test func simulatedGroupNeedingThreeOffcoreValuesIsRejectedAtOpen() throws {
        // validate_group with the fake cpuc's own two registers: a third distinct value does not fit (EINVAL).
        var pmu = Self.intelWithOffcore()
        pmu.offcoreEvents[HardwareEventKey(.branchMisses)!] = 0x7
        let kernel = SimulatedKernel(pmus: [pmu])
        var fds: [Int32] = []
        for event in [PerfEvent.llcLoads, .llcLoadMisses, .branchMisses] {
            var attr = legacyGroupReadAttr(event)
            fds.append(kernel.open(&attr, cpu: -1, groupFD: fds.first ?? -1))
        }
        #expect(fds[0] >= 0 && fds[1] >= 0)
        #expect(fds[2] == -EINVAL)
    }

    // MARK: The ladder, for other openers

    @Test func fallbackLadderRepeatsAStepWhileItCanStillApply() {
        // A sampler's precise_ip step (perf's evsel__open_cpu lowers precise_ip by one until the PMU takes it):
        // a step may apply more than once; the ladder stops when no step answers.
        let precise = FallbackRung(
            AttrFallback(rawValue: "precise_ip"), answers: [EOPNOTSUPP, EINVAL], canApply: { $0.precise_ip > 0 },
            apply: { $0.precise_ip -= 1 })
        var attr = perf_event_attr()
        attr.precise_ip = 3
        let outcome = FallbackLadder([precise]).open(&attr) { $0.precise_ip <= 1 ? 5 : -EOPNOTSUPP }
        #expect(outcome.result == 5 && attr.precise_ip == 1 && outcome.attempts == 3)
        #expect(outcome.applied == [AttrFallback(rawValue: "precise_ip"), AttrFallback(rawValue: "precise_ip")])
        var never = perf_event_attr()
        never.precise_ip = 2
        let refused = FallbackLadder([precise]).open(&never) { _ in -EOPNOTSUPP }
        #expect(refused.errno == EOPNOTSUPP && refused.attempts == 3 && never.precise_ip == 0)
        let unanswered = FallbackLadder([precise]).open(&never) { _ in -ENOENT }
        #expect(unanswered.errno == ENOENT && unanswered.attempts == 1 && unanswered.applied.isEmpty)
    }
}
