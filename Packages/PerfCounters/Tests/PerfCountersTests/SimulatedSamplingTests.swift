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
}
