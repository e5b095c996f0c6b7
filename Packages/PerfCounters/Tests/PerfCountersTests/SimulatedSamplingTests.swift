import CPerfEvent
import Glibc
import Testing

@testable import PerfCounters

/// The sampler on what this machine cannot produce — a hardware PMU with PEBS levels, hybrid cores, cache-miss
/// events, an unprivileged user, a lowered maximum rate, the locked-memory limit, throttling, older kernels —
/// against ``SimulatedKernel``, whose rules follow the kernel's and cite where. The sampler under test is the real
/// one, over the simulated perf_event layer and rings the simulation writes.
@Suite struct SimulatedSamplingTests {
    static func intel(maxPrecise: Int, refusal: Int32 = EOPNOTSUPP, name: String = "cpu", type: UInt32 = PERF_TYPE_RAW.rawValue,
        cpus: [Int] = Array(0..<8)) -> SimulatedCorePMU
    {
        var pmu = SimulatedPMUTests.intelCore(name: name, type: type, cpus: cpus)
        pmu.maxPrecise = maxPrecise
        pmu.preciseRefusal = refusal
        return pmu
    }

    /// The precise_ip of each open of cycles, in order.
    static func cyclesPreciseTries(_ kernel: SimulatedKernel) -> [UInt64] {
        kernel.attempts.filter { $0.attr.type == PERF_TYPE_HARDWARE.rawValue && $0.attr.config & 0xffff_ffff == 0 }
            .map { $0.attr.precise_ip }
    }

    static func drained(_ sampler: SamplingEvents<SimulatedKernel>) throws -> SampleBatch { try sampler.drain() }

    // MARK: Event choice: cycles and the precise_ip ladder

    @Test func simulatedCyclesAtTheHighestPreciseLevelThePMUAccepts() throws {
        // A PMU with PEBS precision 2: perf's cycles:P tries 3, the PMU refuses it (x86_pmu_hw_config: EOPNOTSUPP),
        // 2 opens (tools/perf/util/evsel.c evsel__precise_ip_fallback).
        let kernel = SimulatedKernel(pmus: [Self.intel(maxPrecise: 2)])
        let sampler = try SamplingEvents(options: SamplerOptions(), system: kernel)
        #expect(Self.cyclesPreciseTries(kernel) == [3, 2])
        let cycles = try #require(sampler.events.first)
        #expect(sampler.events.count == 1)
        #expect(cycles.event == .cycles && cycles.preciseIP == 2 && cycles.pmu == "cpu")
        #expect(cycles.perfName == "cycles:pp")
        #expect(cycles.notes.contains { $0.contains("precise_ip 2") && $0.contains("EOPNOTSUPP") })
        #expect(sampler.layout.identifierOffset == nil, "one event: no IDENTIFIER")

        try sampler.enable()
        kernel.run(onCPU: 0, ns: 100_000_000)
        try sampler.disable()
        let batch = try sampler.drain()
        // 4000 Hz: a period of 3 cycles/ns × 10^9 / 4000 = 750,000 cycles; 100 ms is 3×10^8 cycles, 400 samples.
        #expect(batch.samples.count == 400)
        #expect(batch.samples.allSatisfy { $0.exactIP && $0.period == 750_000 && $0.tid == kernel.tid })
        #expect(batch.eventCounts == [300_000_000])
        #expect(batch.lostSamples == 0 && batch.mode == .userAndKernel)
    }

    @Test func simulatedPMUThatAcceptsOnlyPrecise0() throws {
        // No PEBS (or AMD without IBS): every level above 0 is refused, cycles opens at 0 and its samples have skid.
        let kernel = SimulatedKernel(pmus: [Self.intel(maxPrecise: 0)])
        let sampler = try SamplingEvents(options: SamplerOptions(), system: kernel)
        #expect(Self.cyclesPreciseTries(kernel) == [3, 2, 1, 0])
        #expect(sampler.events.map(\.preciseIP) == [0])
        #expect(sampler.events.map(\.perfName) == ["cycles"])
        try sampler.enable()
        kernel.run(onCPU: 0, ns: 10_000_000)
        try sampler.disable()
        let batch = try sampler.drain()
        #expect(!batch.samples.isEmpty && batch.samples.allSatisfy { !$0.exactIP })
    }

    @Test func simulatedPMUThatRefusesPreciseWithEINVALStepsDownBeforeAnyFeatureProbe() throws {
        // A PMU that rejects the attr whole (EINVAL) above precise 1: the ladder steps down on EINVAL too, and takes
        // that EINVAL for the precise level, not for a missing kernel feature (no probe is opened).
        let kernel = SimulatedKernel(pmus: [Self.intel(maxPrecise: 1, refusal: EINVAL)])
        let sampler = try SamplingEvents(options: SamplerOptions(), system: kernel)
        #expect(Self.cyclesPreciseTries(kernel) == [3, 2, 1])
        #expect(sampler.events.map(\.preciseIP) == [1])
        #expect(!kernel.attempts.contains { $0.attr.config == UInt64(PERF_COUNT_SW_DUMMY.rawValue) && $0.attr.type == PERF_TYPE_SOFTWARE.rawValue })
        #expect(sampler.clock == .monotonic && sampler.lostSource == .eventCounter)
    }

    @Test func simulatedHybridOpensOneSamplerPerCorePMU() throws {
        // Alder Lake: cpu_core (type 4, CPUs 0-7) and cpu_atom (type 10, CPUs 8-15). cycles opens once per core PMU
        // with the PMU's type in config bits 32-63 (include/uapi/linux/perf_event.h PERF_PMU_TYPE_SHIFT), each a group
        // of its own (two core PMUs cannot share one), both writing to one ring, told apart by IDENTIFIER.
        let core = Self.intel(maxPrecise: 3, name: "cpu_core", type: 4, cpus: Array(0..<8))
        let atom = Self.intel(maxPrecise: 2, name: "cpu_atom", type: 10, cpus: Array(8..<16))
        let kernel = SimulatedKernel(pmus: [core, atom])
        let sampler = try SamplingEvents(options: SamplerOptions(rate: .frequency(hertz: 1000)), system: kernel)
        #expect(sampler.events.map(\.pmu) == ["cpu_core", "cpu_atom"])
        #expect(sampler.events.map(\.preciseIP) == [3, 2])
        #expect(sampler.events.map(\.perfName) == ["cpu_core/cycles/:ppp", "cpu_atom/cycles/:pp"])
        // Before them, counting's probe of each PMU's extended type (perf's __perf_pmus__supports_extended_type):
        // cycles with the type, not sampling, opened and closed.
        let probes = kernel.attempts.filter { $0.attr.type == PERF_TYPE_HARDWARE.rawValue && $0.attr.sample_period == 0 }
        #expect(probes.map { $0.attr.config >> 32 } == [4, 10] && probes.allSatisfy { $0.result >= 0 })
        let opened = kernel.attempts.filter {
            $0.result >= 0 && $0.attr.type == PERF_TYPE_HARDWARE.rawValue && $0.attr.sample_period != 0
        }
        #expect(opened.map { $0.attr.config >> 32 } == [4, 10])
        #expect(opened.allSatisfy { $0.groupFD == -1 })
        #expect(sampler.layout.identifierOffset != nil)
        #expect(kernel.mappedRings == 1)

        let switches = kernel.groupSwitches
        try sampler.enable()
        #expect(kernel.groupSwitches - switches == 2, "one ioctl per core PMU's group")
        kernel.run(onCPU: 2, ns: 40_000_000)
        kernel.run(onCPU: 9, ns: 60_000_000)
        try sampler.disable()
        let batch = try sampler.drain()
        // 1000 Hz on each PMU while the thread runs on its CPUs: 40 samples on cpu_core, 60 on cpu_atom.
        #expect(batch.samples.filter { $0.event == 0 }.count == 40)
        #expect(batch.samples.filter { $0.event == 1 }.count == 60)
        #expect(batch.samples.filter { $0.event == 0 }.allSatisfy { $0.time < 1_040_000_000 })
    }

    // MARK: Cache-miss events

    @Test func simulatedCacheMissEventsAreSampledInCyclesGroup() throws {
        let kernel = SimulatedKernel(pmus: [Self.intel(maxPrecise: 3)])
        let options = SamplerOptions(
            rate: .frequency(hertz: 1000), cacheMissEvents: [.l1dLoadMisses, .llcLoadMisses],
            cacheMissRate: .period(events: 10_000))
        let sampler = try SamplingEvents(options: options, system: kernel)
        #expect(sampler.events.map(\.event) == [.cycles, .l1dLoadMisses, .llcLoadMisses])
        #expect(sampler.events.map(\.preciseIP) == [3, 0, 0], "perf asks precise only of cycles:P")
        #expect(sampler.refused.isEmpty)
        let opens = kernel.attempts.filter { $0.result >= 0 && $0.attr.type == PERF_TYPE_HW_CACHE.rawValue }
        let leader = try #require(kernel.attempts.last { $0.result >= 0 && $0.attr.type == PERF_TYPE_HARDWARE.rawValue })
        #expect(opens.count == 2 && opens.allSatisfy { $0.groupFD == leader.result && $0.attr.disabled == 0 })
        #expect(opens.allSatisfy { $0.attr.freq == 0 && $0.attr.sample_period == 10_000 })

        let switches = kernel.groupSwitches
        try sampler.enable()
        #expect(kernel.groupSwitches - switches == 1, "one group, one ioctl")
        kernel.run(onCPU: 1, ns: 100_000_000)
        try sampler.disable()
        #expect(kernel.groupSwitches - switches == 2)
        let batch = try sampler.drain()
        // cycles at 1000 Hz: 100 samples. L1-dcache-load-misses at 0.1/ns: 10^7 in 100 ms, one sample per 10^4:
        // 1000. LLC-load-misses at 0.01/ns: 10^6, 100 samples.
        let perEvent = (0..<3).map { index in batch.samples.filter { $0.event == index }.count }
        #expect(perEvent == [100, 1000, 100])
        #expect(batch.eventCounts == [300_000_000, 10_000_000, 1_000_000])
        #expect(batch.samples.filter { $0.event == 1 }.allSatisfy { $0.period == 10_000 })
    }

    @Test func simulatedCacheMissEventsThePMULacksOrThereIsNoPMUAreRefusedWithTheReason() throws {
        // AMD Zen has no generic LLC-load-misses (arch/x86/events/amd/core.c maps it to nothing): ENOENT.
        var zen = Self.intel(maxPrecise: 0)
        zen.ratePerNs.removeValue(forKey: HardwareEventKey(.llcLoadMisses)!)
        let kernel = SimulatedKernel(pmus: [zen])
        let options = SamplerOptions(cacheMissEvents: [.l1dLoadMisses, .llcLoadMisses])
        let sampler = try SamplingEvents(options: options, system: kernel)
        #expect(sampler.events.map(\.event) == [.cycles, .l1dLoadMisses])
        let refusal = try #require(sampler.refused.first)
        #expect(refusal.event == .llcLoadMisses && refusal.availability.state == .notSupported)
        #expect(refusal.availability.reason?.contains("has no generic LLC-load-misses") == true)

        // No PMU: cpu-clock, and the cache-miss events say why they are not sampled.
        let vm = SimulatedKernel(pmus: [])
        vm.hypervisor = true
        let fallback = try SamplingEvents(options: options, system: vm)
        #expect(fallback.events.map(\.event) == [.cpuClock])
        #expect(fallback.refused.map(\.event) == [.l1dLoadMisses, .llcLoadMisses])
        #expect(fallback.refused.allSatisfy { $0.availability.reason?.contains("virtual machine without PMU passthrough") == true })
    }

    // MARK: cpu-clock

    @Test func simulatedNoPMUSamplesCPUClockNamedAsSuch() throws {
        let kernel = SimulatedKernel(pmus: [])
        kernel.hypervisor = true
        let sampler = try SamplingEvents(options: SamplerOptions(rate: .frequency(hertz: 1000)), system: kernel)
        let event = try #require(sampler.events.first)
        #expect(event.event.name == "cpu-clock" && event.pmu == nil && event.preciseIP == 0)
        #expect(event.notes.first?.hasPrefix("cpu-clock, not cycles: no hardware PMU offers this event: a virtual machine") == true)
        #expect(event.notes.first?.contains("an hrtimer, not an NMI") == true)
        let attempt = try #require(kernel.attempts.first)
        #expect(attempt.attr.type == PERF_TYPE_SOFTWARE.rawValue && attempt.attr.config == UInt64(PERF_COUNT_SW_CPU_CLOCK.rawValue))
        #expect(attempt.attr.precise_ip == 0 && attempt.attr.disabled == 1 && attempt.attr.use_clockid == 1)

        try sampler.enable()
        kernel.run(onCPU: 0, ns: 50_000_000, kernelShare: 0.4)
        try sampler.disable()
        let batch = try sampler.drain()
        // An hrtimer at 1000 Hz is a period of 10^6 ns (perf_swevent_init_hrtimer): 50 samples, 20 in the kernel.
        #expect(batch.samples.count == 50)
        #expect(batch.samples.filter(\.isKernel).count == 20)
        #expect(batch.samples.allSatisfy { $0.period == 1_000_000 })
    }

    @Test func simulatedCyclesRefusedFallsBackToCPUClockWithTheReason() throws {
        // A PMU that offers no cycles event (ENOENT): perf record falls back to a software clock
        // (tools/perf/util/evsel.c evsel__fallback).
        var pmu = Self.intel(maxPrecise: 0)
        pmu.ratePerNs.removeValue(forKey: HardwareEventKey(.cycles)!)
        let kernel = SimulatedKernel(pmus: [pmu])
        let sampler = try SamplingEvents(options: SamplerOptions(), system: kernel)
        #expect(sampler.events.map(\.event) == [.cpuClock])
        #expect(sampler.refused.map(\.event) == [.cycles])
        #expect(sampler.events[0].notes[0].hasPrefix("cycles could not be opened (cpu: not-supported: ENOENT"))
    }

    // MARK: Privilege

    @Test func simulatedUnprivilegedUserSamplesUserOnlyAndSaysSo() throws {
        // perf_event_paranoid 2 without CAP_PERFMON: kernel samples are refused with EACCES
        // (kernel/events/core.c perf_allow_kernel); perf retries with exclude_kernel (tools/perf/util/evsel.c
        // evsel__fallback), through counting's ladder: exclude_hv is a step of its own, taken only if the refusal
        // persists (Namhyung Kim's "perf tools: Separate exclude_hv fallback"), and it does not here, since the
        // kernel checks no permission for the hypervisor when sampling without branch stacks. A cpu-clock sample in
        // kernel mode is then not taken (perf_exclude_event).
        let kernel = SimulatedKernel(pmus: [], paranoid: 2, privileged: false)
        let sampler = try SamplingEvents(options: SamplerOptions(rate: .frequency(hertz: 1000)), system: kernel)
        #expect(sampler.mode == .userOnly)
        #expect(sampler.modeReason?.contains("EACCES at /proc/sys/kernel/perf_event_paranoid = 2") == true)
        #expect(sampler.events.map(\.perfName) == ["cpu-clock:u"])
        #expect(kernel.attempts.map(\.result).first == -EACCES)
        let opened = try #require(kernel.attempts.last { $0.result >= 0 })
        #expect(opened.attr.exclude_kernel == 1 && opened.attr.exclude_hv == 0)
        #expect(sampler.events.first?.fallbacks == [.excludeKernel])

        try sampler.enable()
        kernel.run(onCPU: 0, ns: 100_000_000, kernelShare: 0.5)
        try sampler.disable()
        let batch = try sampler.drain()
        #expect(batch.mode == .userOnly && batch.modeReason == sampler.modeReason)
        #expect(batch.samples.count == 50, "half the thread's time is in the kernel, and not sampled")
        #expect(batch.samples.allSatisfy { $0.cpuMode == .user })
    }

    @Test func simulatedWithoutTheUserOnlyFallbackNothingOpensAndTheErrorSaysWhy() throws {
        let kernel = SimulatedKernel(pmus: [], paranoid: 2, privileged: false)
        let error = #expect(throws: CounterError.self) {
            _ = try SamplingEvents(options: SamplerOptions(fallBackToUserOnly: false), system: kernel)
        }
        guard case .nothingAvailable(let reasons)? = error else {
            Issue.record("expected nothingAvailable, got \(String(describing: error))")
            return
        }
        #expect(reasons["cpu-clock"]?.state == .notPermitted)
        #expect(error?.description.contains("perf_event_paranoid = 2") == true)
    }

    // MARK: The kernel's limits

    @Test func simulatedFrequencyAboveTheKernelsMaximumIsLoweredAndSaid() throws {
        let kernel = SimulatedKernel(pmus: [])
        kernel.maxSampleRate = 10_000
        let sampler = try SamplingEvents(options: SamplerOptions(rate: .frequency(hertz: 50_000)), system: kernel)
        let event = try #require(sampler.events.first)
        #expect(event.requestedRate == .frequency(hertz: 50_000) && event.rate == .frequency(hertz: 10_000))
        #expect(event.notes.contains { $0.hasPrefix("frequency lowered from 50000 Hz to 10000 Hz") })
        #expect(kernel.attempts.map(\.attr.sample_freq) == [10_000], "lowered before the open, as perf record does")
    }

    @Test func simulatedMaximumLoweredByTheKernelAfterItWasReadIsReadAgain() throws {
        // The kernel lowers perf_event_max_sample_rate when sampling interrupts take too long
        // (kernel/events/core.c perf_sample_event_took): the open is refused with EINVAL, the limit read again.
        let kernel = SimulatedKernel(pmus: [])
        kernel.maxSampleRate = 20_000
        kernel.staleMaxSampleRate = 100_000
        let sampler = try SamplingEvents(options: SamplerOptions(rate: .frequency(hertz: 50_000)), system: kernel)
        #expect(kernel.attempts.map(\.attr.sample_freq) == [50_000, 20_000])
        #expect(kernel.attempts.map(\.result).first == -EINVAL)
        #expect(sampler.events.map(\.rate) == [.frequency(hertz: 20_000)])
        #expect(sampler.events[0].notes.contains { $0.hasPrefix("frequency lowered from 50000 Hz to 20000 Hz") })
    }

    @Test func simulatedCallchainDepthIsCappedByTheKernelsMaximum() throws {
        let kernel = SimulatedKernel(pmus: [])
        kernel.maxStack = 1
        let sampler = try SamplingEvents(options: SamplerOptions(rate: .frequency(hertz: 1000), callchainDepth: 64), system: kernel)
        #expect(sampler.events.map(\.callchainDepth) == [1])
        #expect(kernel.attempts.map(\.attr.sample_max_stack) == [1])
        #expect(sampler.events[0].notes.contains { $0.hasPrefix("call-chain depth capped from 64 to 1 frames") })
        try sampler.enable()
        kernel.run(onCPU: 0, ns: 10_000_000, kernelShare: 0.5)
        try sampler.disable()
        let batch = try sampler.drain()
        #expect(batch.samples.count == 10)
        #expect(batch.samples.allSatisfy { Int($0.kernelFrameCount) + Int($0.userFrameCount) == 1 })
    }

    @Test func simulatedKernelWithoutLostFormatOrClockIDIsProbedAndSaid() throws {
        // A kernel before 6.0 refuses PERF_FORMAT_LOST, before 4.1 use_clockid, with EINVAL; perf finds out with a
        // probe on a scratch event (tools/perf/util/evsel.c evsel__detect_missing_features) and goes without.
        let kernel = SimulatedKernel(pmus: [])
        kernel.knowsLostFormat = false
        kernel.knowsClockID = false
        let sampler = try SamplingEvents(options: SamplerOptions(), system: kernel)
        #expect(sampler.clock == .perfClock)
        #expect(sampler.lostSource == .lostRecords)
        let probes = kernel.attempts.filter { $0.attr.config == UInt64(PERF_COUNT_SW_DUMMY.rawValue) && $0.attr.type == PERF_TYPE_SOFTWARE.rawValue }
        #expect(probes.map(\.result) == [-EINVAL, -EINVAL])
        let opened = try #require(kernel.attempts.last)
        #expect(opened.result >= 0 && opened.attr.read_format == 0 && opened.attr.use_clockid == 0)
    }

    // MARK: The ring

    @Test func simulatedRingShrinksWhenMmapIsRefusedForTheLockedMemoryLimit() throws {
        // An unprivileged user at paranoid 1 (kernel samples allowed) without CAP_IPC_LOCK: perf_mmap refuses a ring
        // past perf_event_mlock_kb per CPU and RLIMIT_MEMLOCK with EPERM. Here the budget is 20 pages.
        let kernel = SimulatedKernel(pmus: [], paranoid: 1, privileged: false)
        kernel.ringPageLimit = 20
        let options = SamplerOptions(rate: .frequency(hertz: 10_000), expectedSamples: 4096)
        let sampler = try SamplingEvents(options: options, system: kernel)
        // 4096 samples of 40 bytes and an eighth: 45 pages, rounded to 64; 64 and 32 are refused, 16 fit.
        #expect(kernel.mapLog.map(\.dataPages) == [64, 32, 16])
        #expect(kernel.mapLog.map(\.result) == [EPERM, EPERM, 0])
        #expect(sampler.ringDescription.dataPages == 16 && sampler.ringDescription.requestedDataPages == 64)
        #expect(sampler.ringDescription.note?.contains("ring lowered from 64 to 16 data pages") == true)
        #expect(sampler.ringDescription.note?.contains("perf_event_mlock_kb = 516") == true)
        #expect(sampler.mode == .userAndKernel)

        // 16 pages hold 65536 bytes: 1638 samples of 40 bytes (CIRC_SPACE keeps one byte free). 200 ms at 10 kHz
        // are 2000 samples: the other 362 are lost, and counted by the kernel (PERF_FORMAT_LOST).
        try sampler.enable()
        kernel.run(onCPU: 0, ns: 200_000_000, kernelShare: 0)
        try sampler.disable()
        let batch = try sampler.drain()
        #expect(batch.samples.count == 1638)
        #expect(batch.lostSamples == 362 && batch.lostSamplesSource == .eventCounter)
        #expect(batch.lostSamples == kernel.lostSamples)
        #expect(batch.lostInRecords == 0, "no record fit after the losses, so no LOST record yet")

        // The next region: the kernel writes the earlier loss as a PERF_RECORD_LOST before its first sample; the
        // region's own losses are its count alone.
        try sampler.enable()
        kernel.run(onCPU: 0, ns: 10_000_000, kernelShare: 0)
        try sampler.disable()
        let next = try sampler.drain()
        #expect(next.samples.count == 100 && next.lostSamples == 0)
        #expect(next.lostInRecords == 362)
    }

    @Test func simulatedOnAKernelWithoutLostFormatTheLostRecordsAreTheCount() throws {
        let kernel = SimulatedKernel(pmus: [])
        kernel.knowsLostFormat = false
        let options = SamplerOptions(rate: .frequency(hertz: 10_000), expectedSamples: 1, maxRingPages: 1)
        let sampler = try SamplingEvents(options: options, system: kernel)
        #expect(sampler.ringDescription.dataPages == 1)
        try sampler.enable()
        kernel.run(onCPU: 0, ns: 20_000_000, kernelShare: 0)
        try sampler.disable()
        let first = try sampler.drain()
        // 4096 bytes hold 102 samples of 40 bytes; the other 98 of 200 are lost, and reported with the next drain,
        // in the PERF_RECORD_LOST the kernel writes before the next sample that fits.
        #expect(first.samples.count == 102 && first.lostSamples == 0 && first.lostSamplesSource == .lostRecords)
        try sampler.enable()
        kernel.run(onCPU: 0, ns: 1_000_000, kernelShare: 0)
        try sampler.disable()
        let second = try sampler.drain()
        #expect(second.lostSamples == 98 && second.samples.count == 10)
    }

    @Test func simulatedThrottlingIsCountedAndReported() throws {
        // A period of 1000 ns of cpu-clock asks for 10^6 samples a second; the kernel takes at most
        // DIV_ROUND_UP(perf_event_max_sample_rate, HZ) = 100 a tick, then throttles the event with
        // PERF_RECORD_THROTTLE and restarts it at the next tick with PERF_RECORD_UNTHROTTLE.
        let kernel = SimulatedKernel(pmus: [])
        let sampler = try SamplingEvents(
            options: SamplerOptions(rate: .period(events: 1000), expectedSamples: 4000), system: kernel)
        try sampler.enable()
        kernel.run(onCPU: 0, ns: 20_000_000, kernelShare: 0)
        try sampler.disable()
        let batch = try sampler.drain()
        // Five 4 ms ticks of 400 samples each; each throttled, four restarted within the region.
        #expect(kernel.throttleCount == 5)
        #expect(batch.throttles == 5 && batch.unthrottles == 4)
        #expect(batch.samples.count == 2000 && batch.lostSamples == 0)
    }

    @Test func simulatedSamplerClosesWhatItOpened() throws {
        let kernel = SimulatedKernel(pmus: [Self.intel(maxPrecise: 3)])
        do {
            let sampler = try SamplingEvents(options: SamplerOptions(cacheMissEvents: [.l1dLoadMisses]), system: kernel)
            #expect(kernel.openCount == 2 && kernel.mappedRings == 1)
            #expect(throws: CounterError.misuse("sampler disabled without enable()")) { try sampler.disable() }
            try sampler.enable()
            #expect(throws: CounterError.misuse("sampler enabled twice without disable()")) { try sampler.enable() }
        }
        #expect(kernel.openCount == 0 && kernel.mappedRings == 0)
    }

    // MARK: Counting's fallbacks, for sampling too (the shared ladder)

    /// The sampling opens (a frequency or period set) of cycles, in order: the extended-type probes, which count,
    /// are not among them.
    static func cyclesSamplingOpens(_ kernel: SimulatedKernel) -> [(attr: perf_event_attr, cpu: Int32, groupFD: Int32, result: Int32)] {
        kernel.attempts.filter {
            $0.attr.type == PERF_TYPE_HARDWARE.rawValue && $0.attr.config & 0xffff_ffff == 0 && $0.attr.sample_period != 0
        }
    }

    @Test func fallbackLadderTriesANestedStepAgainUnderEachOtherStep() {
        // perf's evsel__open_cpu lowers precise_ip first; once it is exhausted, evsel__precise_ip_fallback restores
        // the level asked for, and evsel__fallback's step (here exclude_guest) reopens from it (tools/perf/util/evsel.c).
        let ladder = FallbackLadder.sampling(excludeKernel: true, host: SimulatedKernel(pmus: []).host)
        var attr = perf_event_attr()
        attr.precise_ip = 3
        var tries: [(precise: UInt64, guest: UInt64)] = []
        let outcome = ladder.open(&attr) { attr in
            tries.append((attr.precise_ip, attr.exclude_guest))
            return attr.exclude_guest == 1 ? 9 : -EOPNOTSUPP
        }
        #expect(outcome.result == 9 && outcome.attempts == 5)
        #expect(tries.map(\.precise) == [3, 2, 1, 0, 3] && tries.map(\.guest) == [0, 0, 0, 0, 1])
        #expect(outcome.applied == [.excludeGuest], "the precise steps were undone, and are not what the open needed")
        #expect(attr.precise_ip == 3 && attr.exclude_guest == 1)
    }

    @Test func simulatedM1SamplesCyclesAfterTheExcludeGuestRetry() throws {
        // drivers/perf/apple_m1_cpu_pmu.c m1_pmu_set_event_filter: EOPNOTSUPP without exclude_guest, whatever
        // precise_ip is (drivers/perf/arm_pmu.c does not look at it). perf's cycles:P first steps precise_ip down to
        // 0, then restores it and retries with exclude_guest (tools/perf/util/evsel.c evsel__precise_ip_fallback,
        // evsel__fallback "Apple M1 requires exclude_guest"): counting's ladder with the precise steps nested in it.
        let pmus = SimulatedFallbackTests.appleM1()
        let kernel = SimulatedKernel(pmus: pmus)
        let sampler = try SamplingEvents(options: SamplerOptions(rate: .frequency(hertz: 1000)), system: kernel)
        #expect(sampler.events.map(\.pmu) == ["apple_icestorm_pmu", "apple_firestorm_pmu"])
        #expect(sampler.events.map(\.preciseIP) == [3, 3], "the level stands once exclude_guest is set")
        #expect(sampler.events.map(\.fallbacks) == [[.excludeGuest], [.excludeGuest]])
        #expect(sampler.events.map(\.perfName) == ["apple_icestorm_pmu/cycles/:pppH", "apple_firestorm_pmu/cycles/:pppH"])
        #expect(sampler.events.allSatisfy { $0.notes.contains { $0.hasPrefix("opened with exclude_guest, which this PMU requires") } })
        #expect(sampler.events.allSatisfy { !$0.notes.contains { $0.contains("precise_ip") } }, "no precise level was refused")
        let opens = Self.cyclesSamplingOpens(kernel)
        // Each PMU says so itself: 3, 2, 1, 0 refused, then 3 with exclude_guest.
        #expect(opens.map { $0.attr.precise_ip } == [3, 2, 1, 0, 3, 3, 2, 1, 0, 3])
        #expect(opens.map { $0.attr.exclude_guest } == [0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
        #expect(opens.map(\.result).filter { $0 < 0 } == Array(repeating: -EOPNOTSUPP, count: 8))
        #expect(opens.map { $0.attr.config >> 32 } == [8, 8, 8, 8, 8, 9, 9, 9, 9, 9], "extended types (Asahi: 6.6+)")

        try sampler.enable()
        kernel.run(onCPU: 1, ns: 20_000_000)  // Icestorm
        kernel.run(onCPU: 6, ns: 30_000_000)  // Firestorm
        try sampler.disable()
        let batch = try sampler.drain()
        #expect(batch.samples.filter { $0.event == 0 }.count == 20 && batch.samples.filter { $0.event == 1 }.count == 30)
        #expect(batch.eventCounts == [30_000_000, 90_000_000])

        // Unprivileged at paranoid 2: exclude_kernel first (the kernel checks permission before the PMU sees the
        // event), then exclude_guest, as counting records them (SimulatedFallbackTests: "cycles:uH").
        let user = SimulatedKernel(pmus: pmus, paranoid: 2, privileged: false)
        let asUser = try SamplingEvents(options: SamplerOptions(), system: user)
        #expect(asUser.events.map(\.fallbacks) == [[.excludeKernel, .excludeGuest], [.excludeKernel, .excludeGuest]])
        #expect(asUser.events.map(\.perfName) == ["apple_icestorm_pmu/cycles/:pppuH", "apple_firestorm_pmu/cycles/:pppuH"])
        #expect(asUser.mode == .userOnly)
        // The second PMU's cycles starts with exclude_kernel, which holds for the process: no second EACCES.
        #expect(Self.cyclesSamplingOpens(user).filter { $0.result == -EACCES }.count == 1)
    }

    @Test func simulatedSamplingAtParanoid4AsNonRootIsOneLineWithoutRetries() throws {
        // Ubuntu's perf_event_paranoid 4 (Debian's 3) refuses every perf_event_open without CAP_SYS_ADMIN, user space
        // only or not ("security,perf: Allow further restriction of perf_event_open"). The sampler asks once, as the
        // counters do (PerfAccess): one probe open, no event tried, no user-only retry, one reason.
        let kernel = SimulatedKernel(pmus: [SimulatedPMUTests.intelCore()], paranoid: 4, privileged: false)
        let options = SamplerOptions(cacheMissEvents: [.l1dLoadMisses, .llcLoadMisses])
        let error = #expect(throws: CounterError.self) { _ = try SamplingEvents(options: options, system: kernel) }
        #expect(kernel.attempts.count == 1, "the probe alone: \(kernel.attempts.count) opens")
        #expect(kernel.openCount == 0 && kernel.mappedRings == 0)
        guard case .nothingAvailable(let reasons)? = error else {
            Issue.record("expected nothingAvailable, got \(String(describing: error))")
            return
        }
        #expect(Set(reasons.keys) == ["cycles", "L1-dcache-load-misses", "LLC-load-misses"])
        #expect(Set(reasons.values).count == 1, "one reason for every event")
        let reason = try #require(reasons["cycles"])
        #expect(reason.state == .notPermitted && reason.errno == EACCES)
        let counting = PerfAccess.refusal(SimulatedKernel(pmus: [SimulatedPMUTests.intelCore()], paranoid: 4, privileged: false))
        #expect(reason == counting, "the counters' words (SimulatedFallbackTests checks them)")
        #expect(reason.reason?.contains("perf_event_paranoid = 4, a Debian/Ubuntu kernel patch") == true)
        #expect(error?.description.contains("\n") == false)

        // Without a PMU the sampler would sample cpu-clock: the same one open, the same reason.
        let vm = SimulatedKernel(pmus: [], paranoid: 3, privileged: false)
        let vmError = #expect(throws: CounterError.self) { _ = try SamplingEvents(options: SamplerOptions(), system: vm) }
        #expect(vm.attempts.count == 1)
        guard case .nothingAvailable(let vmReasons)? = vmError else {
            Issue.record("expected nothingAvailable, got \(String(describing: vmError))")
            return
        }
        #expect(vmReasons.keys.sorted() == ["cpu-clock"] && vmReasons["cpu-clock"]?.errno == EACCES)

        // Root is not refused at any level.
        let root = SimulatedKernel(pmus: [], paranoid: 4, privileged: true)
        #expect(try SamplingEvents(options: SamplerOptions(), system: root).events.map(\.perfName) == ["cpu-clock"])
    }

    @Test func simulatedSamplingUnderASeccompEPERMGivesTheContainerAdvice() throws {
        // Docker's and Podman's default seccomp profiles answer EPERM to perf_event_open without CAP_PERFMON or
        // CAP_SYS_ADMIN (moby profiles/seccomp/default_linux.go). Not the paranoid check's EACCES: no user-only
        // retry (counting's exclude_kernel step answers EACCES only), no sysctl advice, one open.
        let kernel = SimulatedKernel(pmus: [SimulatedPMUTests.intelCore()], paranoid: 2, privileged: true)
        kernel.seccompRefusesPerfEventOpen = true
        let error = #expect(throws: CounterError.self) {
            _ = try SamplingEvents(options: SamplerOptions(callchainDepth: 16), system: kernel)
        }
        #expect(kernel.attempts.count == 1)
        #expect(kernel.attempts.allSatisfy { $0.result == -EPERM })
        guard case .nothingAvailable(let reasons)? = error else {
            Issue.record("expected nothingAvailable, got \(String(describing: error))")
            return
        }
        let reason = try #require(reasons["cycles"])
        #expect(reason.errno == EPERM && reason.state == .notPermitted)
        #expect(reason.reason?.hasPrefix("EPERM: a seccomp filter on this thread refuses perf_event_open") == true)
        #expect(reason.reason?.contains("--cap-add PERFMON") == true)
        #expect(reason.reason?.contains("perf_event_paranoid") == false && reason.reason?.contains("sysctl") == false)
    }

    @Test func simulatedArmHybridWithoutExtendedTypesSamplesEachCorePMUThroughTheLegacyEncodingPerCPU() throws {
        // A big.LITTLE kernel before 6.6: each PMU refuses its type in config bits 32-63 (no
        // PERF_PMU_CAP_EXTENDED_HW_TYPE: ENOENT), as counting's probe finds. A legacy event following the thread would
        // land on the first PMU that takes it and sample nothing on the other cluster
        // (SimulatedFallbackTests.simulatedLegacyEventOnArmGoesToTheFirstCorePMUThatTakesIt), so the sampler opens
        // cycles bound to each CPU, pid 0, which the kernel routes to that CPU's PMU (kernel/events/core.c
        // perf_init_event; drivers/perf/arm_pmu.c armpmu_event_init answers ENOENT for a CPU of another class), with
        // a ring per CPU (perf_event_set_output: "Don't allow cross-cpu buffers").
        let pmus = SimulatedFallbackTests.bigLittle(extendedTypes: false)
        let kernel = SimulatedKernel(pmus: pmus)
        let sampler = try SamplingEvents(options: SamplerOptions(rate: .frequency(hertz: 1000)), system: kernel)
        let probes = kernel.attempts.filter { $0.attr.type == PERF_TYPE_HARDWARE.rawValue && $0.attr.config >> 32 != 0 }
        #expect(probes.map(\.result) == [-ENOENT, -ENOENT], "one extended-type probe per core PMU, refused")
        let opens = Self.cyclesSamplingOpens(kernel)
        #expect(opens.allSatisfy { $0.result >= 0 && $0.attr.config >> 32 == 0 && $0.groupFD == -1 })
        #expect(opens.map(\.cpu) == [0, 1, 2, 3, 4, 5], "one cycles per CPU, bound to it")
        #expect(sampler.events.map(\.pmu) == ["armv8_cortex_a53", "armv8_cortex_a72"], "one event per core PMU")
        #expect(sampler.events.map(\.cpus) == [[0, 1, 2, 3], [4, 5]])
        #expect(sampler.events.allSatisfy { $0.notes.contains { $0.contains("through the legacy encoding, one event per CPU") && $0.contains("one ring per CPU") } })
        #expect(sampler.ringDescription.ringCount == 6 && kernel.mappedRings == 6)
        #expect(sampler.layout.identifierOffset != nil)
        // The kernel's rule that makes a ring per CPU: a CPU-bound event cannot write into another CPU's ring.
        let onCPU0 = opens[0].result
        var attr = legacyGroupReadAttr(.cycles)
        attr.sample_period = 1_000_000
        let another = kernel.open(&attr, cpu: 4, groupFD: -1)
        #expect(kernel.redirectOutput(another, to: onCPU0) == -EINVAL)
        kernel.close(another)

        let switches = kernel.groupSwitches
        try sampler.enable()
        #expect(kernel.groupSwitches - switches == 6, "one ioctl per CPU's group")
        kernel.run(onCPU: 1, ns: 30_000_000)  // LITTLE
        kernel.run(onCPU: 2, ns: 10_000_000)  // LITTLE
        kernel.run(onCPU: 5, ns: 60_000_000)  // big
        try sampler.disable()
        let batch = try sampler.drain()
        // 1000 Hz on each CPU while the thread runs there: 30 + 10 samples of the A53's cycles, 60 of the A72's.
        #expect(batch.samples.filter { $0.event == 0 }.count == 40)
        #expect(batch.samples.filter { $0.event == 1 }.count == 60)
        #expect(batch.samples.map(\.event) == Array(repeating: 0, count: 40) + Array(repeating: 1, count: 60))
        #expect(zip(batch.samples, batch.samples.dropFirst()).allSatisfy { $0.time <= $1.time }, "time order across rings")
        #expect(batch.eventCounts == [60_000_000, 180_000_000], "each PMU's CPUs summed")
        #expect(batch.lostSamples == 0)
    }
}
