import Foundation
import Glibc
import Testing

@testable import PerfCounters

/// `copyprof counters --check`'s library side, and the host facts it and the counters read.
@Suite struct CalibrationTests {
    static let quick = CalibrationSizes(
        instructionLoop: 1_000_000, cycleLoop: 5_000_000, l1Loads: 200_000, branches: 200_000,
        taskClockWindowNs: 20_000_000, pingPongRounds: 200, migrations: 8, pages: 128, receives: 50,
        maxLLCWalkBytes: 256 << 20)

    /// Runs the calibration of `event` and expects its checks (named `checks`, in that order) to pass. A check this
    /// host cannot run (one CPU allowed, an event this user may not count, tracefs not readable) is skipped by the
    /// calibration with its reason; the test is then cancelled with that reason, after the other checks were judged.
    static func expectCalibrationPasses(_ event: PerfEvent, checks: [String]) throws {
        try expectEveryCheckPasses(CounterCalibration.run(events: [event], sizes: quick), checks: checks)
    }

    static func expectEveryCheckPasses(_ report: CalibrationReport, checks: [String]) throws {
        #expect(report.checks.map(\.event) == checks)
        var skipped: [String] = []
        for check in report.checks {
            switch check.verdict {
            case .pass:
                #expect(check.measuredValue != nil && check.measured != nil, "\(check.event)")
            case .skipped:
                #expect(check.measuredValue == nil && check.measured == nil, "\(check.event): skipped, yet a value")
                #expect(check.note?.isEmpty == false, "\(check.event): skipped without a reason")
                skipped.append("\(check.event): \(check.note ?? "")")
            case .fail:
                Issue.record("\(check.event) failed: measured \(check.measured ?? "n/a"), expected \(check.expected); \(check.note ?? "")")
            }
        }
        if !skipped.isEmpty { try Test.cancel("skipped by the calibration: \(skipped.joined(separator: "; "))") }
    }

    @Test func taskClockPassesItsCalibration() throws {
        try Self.expectCalibrationPasses(.taskClock, checks: ["task-clock"])
    }

    @Test func contextSwitchesFromGetrusagePassTheirCalibration() throws {
        // The source when context-switches is refused, so checked whatever perf may count here.
        let report = CounterCalibration.run(events: [.contextSwitches], sizes: Self.quick)
        let rusage = try #require(report.checks.last)
        #expect(rusage.event == "context switches (getrusage)")
        #expect(rusage.verdict == .pass, "\(rusage.measured ?? "n/a"), expected \(rusage.expected); \(rusage.note ?? "")")
    }

    @Test func contextSwitchesPassTheirCalibration() throws {
        try Self.expectCalibrationPasses(.contextSwitches, checks: ["context-switches", "context switches (getrusage)"])
    }

    @Test func cpuMigrationsPassTheirCalibration() throws {
        try Self.expectCalibrationPasses(.cpuMigrations, checks: ["cpu-migrations"])
    }

    @Test func pageFaultsPassTheirCalibration() throws {
        try Self.expectCalibrationPasses(.pageFaults, checks: ["page-faults"])
    }

    @Test func theReceiveCopyTracepointPassesItsCalibration() throws {
        try Self.expectCalibrationPasses(.skbCopyDatagramIovec, checks: ["skb:skb_copy_datagram_iovec"])
    }

    @Test(.enabled(if: HostFacts.current().corePMUs.isEmpty, "this host has a core PMU: its hardware events are counted, not skipped"))
    func hardwareEventsThatCannotBeCountedAreSkippedWithTheReason() throws {
        let hardware: [PerfEvent] = [.cycles, .instructions, .l1dLoadMisses, .llcLoadMisses, .branchMisses]
        let report = CounterCalibration.run(events: hardware, sizes: Self.quick)
        #expect(report.checks.count == hardware.count)
        for check in report.checks {
            #expect(check.verdict == .skipped)
            #expect(check.note?.contains("ENOENT") == true, "\(check.event): \(check.note ?? "")")
        }
        #expect(report.failed == 0)
    }

    @Test func verdictsFollowTheBounds() {
        #expect(CounterCalibration.verdict(100, lower: 99, upper: 101) == .pass)
        #expect(CounterCalibration.verdict(98.9, lower: 99, upper: 101) == .fail)
        #expect(CounterCalibration.verdict(101.1, lower: 99, upper: 101) == .fail)
        #expect(CounterCalibration.verdict(5_000, lower: 2_000, upper: nil) == .pass)
        #expect(CounterCalibration.verdict(nil, lower: 0, upper: nil) == .fail, "a missing value never passes")
        #expect(CounterCalibration.verdict(.nan, lower: nil, upper: nil) == .fail)
    }

    // Two threads pinned to one CPU: each round hands the CPU over and back, so together they are switched out at
    // least twice per round (perf and getrusage agree).

    @Test func pingPongSwitchesEachThreadOncePerRoundByGetrusage() throws {
        let rounds = 300
        let before = Affinity.current()?.cpus
        let result = try #require(PingPong.run(rounds: rounds, events: [], options: CounterOptions()))
        #expect(result.rusageSwitches >= UInt64(2 * rounds))
        #expect(result.readings.isEmpty)
        #expect(Affinity.current()?.cpus == before, "the thread's CPU affinity is restored")
    }

    @Test func pingPongSwitchesEachThreadOncePerRoundByPerf() throws {
        try requireKernelSideCounting(try ThreadCounters(events: [.contextSwitches, .taskClock]).availability[0])
        let rounds = 300
        let before = Affinity.current()?.cpus
        let result = try #require(PingPong.run(rounds: rounds, events: [.contextSwitches], options: CounterOptions()))
        #expect(result.rusageSwitches >= UInt64(2 * rounds))
        let perf = result.readings.compactMap(\.value).reduce(0, +)
        #expect(result.readings.count == 2)
        #expect(perf >= Double(2 * rounds), "perf context-switches of both threads: \(perf)")
        #expect(Affinity.current()?.cpus == before, "the thread's CPU affinity is restored")
    }

    @Test func workloadsRunAlone() {
        let small = CalibrationSizes(
            instructionLoop: 1_000, cycleLoop: 1_000, l1Loads: 1_000, branches: 1_000, taskClockWindowNs: 1_000_000,
            pingPongRounds: 1, migrations: 1, pages: 1, receives: 1, maxLLCWalkBytes: 1 << 20)
        let caches = CacheSizes(l1d: 32 << 10, l2: 256 << 10, llc: 256 << 10, llcLevel: 2)
        #expect(CalibrationWorkload.instructionLoop.run(sizes: small, caches: caches).contains("2,000 instructions"))
        #expect(CalibrationWorkload.l1dWalk.run(sizes: small, caches: caches).contains("over 128 KiB"))
        #expect(CalibrationWorkload.llcWalk.run(sizes: small, caches: caches).contains("over 1 MiB"))
        #expect(CalibrationWorkload.branchLoop.run(sizes: small, caches: caches).contains("1,000 branches"))
    }

    @Test func pointerChaseVisitsEveryLineOnce() throws {
        let chase = try #require(Workloads.PointerChase(bytes: 64 * 1000, hugePages: false))
        var seen = Set<Int>()
        var next = 0
        for _ in 0..<1000 {
            seen.insert(next / 8)
            next = chase.base[next]
        }
        #expect(seen.count == 1000 && next == 0, "one cycle through all 1000 lines")
        #expect(chase.walk(steps: 1000) == 0 && chase.walk(steps: 1) == chase.base[0])
    }

    @Test func theLoopbackPairsAcceptedEndIsCloseOnExec() throws {
        let pair = try #require(LoopbackSockets())
        defer { pair.close() }
        // accept4(SOCK_CLOEXEC): no window between accept and fcntl in which a fork and exec inherits it.
        #expect(fcntl(pair.server, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(pair.client, F_GETFD) & FD_CLOEXEC != 0)
    }

    @Test func formatting() {
        #expect(grouped(UInt64(40_000_014)) == "40,000,014")
        #expect(grouped(-1234.4) == "-1,234")
        #expect(fixed(2.956, 2) == "2.96" && fixed(-0.004, 2) == "0.00" && fixed(3, 0) == "3")
        #expect(signedPercent(0.0123) == "+1.23%" && percent(0.5) == "50.0%")
        #expect(bytesText(48 << 10) == "48 KiB" && bytesText(128 << 20) == "128 MiB")
    }

    @Test func cyclesBoundUsesTheHighestClockOfAllCPUs() throws {
        // Issue 21: cpu0 may be an E-core (or a slower core of a big.LITTLE pair); the cycles bound takes the
        // lowest cpuinfo_min_freq and the highest cpuinfo_max_freq of every CPU. A sysfs tree written by hand.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("copyprof-cpufreq-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func cpu(_ n: Int, min: Int, max: Int, driver: String) throws {
            let folder = "\(root)/cpu\(n)/cpufreq"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try "\(min)\n".write(toFile: folder + "/cpuinfo_min_freq", atomically: false, encoding: .utf8)
            try "\(max)\n".write(toFile: folder + "/cpuinfo_max_freq", atomically: false, encoding: .utf8)
            try "\(driver)\n".write(toFile: folder + "/scaling_driver", atomically: false, encoding: .utf8)
        }
        try cpu(0, min: 800_000, max: 3_800_000, driver: "intel_pstate")  // an E-core first
        try cpu(1, min: 400_000, max: 5_400_000, driver: "intel_pstate")  // a P-core, turbo included
        try FileManager.default.createDirectory(atPath: root + "/cpufreq", withIntermediateDirectories: true)
        let range = try #require(FrequencyRange.current(cpuRoot: root))
        #expect(range.minGHz == 0.4 && range.maxGHz == 5.4 && range.cpus == 2 && range.boostUnlisted == nil)
        let bounds = CounterCalibration.cycleBounds(range)
        #expect(abs(bounds.high - 5.94) < 1e-9 && abs(bounds.low - 0.36) < 1e-9)
        #expect(bounds.expected == "0.40–5.40 GHz ± 10% (cpufreq, lowest and highest of 2 CPUs)")

        // acpi-cpufreq with boost on lists no boost clock: the ceiling is the plausible one.
        try cpu(1, min: 400_000, max: 2_801_000, driver: "acpi-cpufreq")
        try "1\n".write(toFile: root + "/cpufreq/boost", atomically: false, encoding: .utf8)
        let boosting = try #require(FrequencyRange.current(cpuRoot: root))
        #expect(boosting.boostUnlisted == true && boosting.maxGHz == 3.8)
        #expect(CounterCalibration.cycleBounds(boosting).high == 6.5)
        #expect(FrequencyRange.current(cpuRoot: root + "/none") == nil)
    }
}

/// Host facts read from files laid out as sysfs and procfs lay them out, in a temporary folder.
@Suite struct HostFactsTests {
    static func write(_ path: String, _ text: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    static func temporaryFolder() throws -> String {
        var template = Array("/tmp/copyprof-hostfacts-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        return path
    }

    static func remove(_ path: String) {
        for entry in SystemFiles.directoryEntries(path) {
            let child = "\(path)/\(entry)"
            if SystemFiles.directoryEntries(child).isEmpty, unlink(child) == 0 { continue }
            remove(child)
        }
        rmdir(path)
    }

    @Test func hybridCorePMUsAreFoundByTheirCpusFile() throws {
        // tools/perf/Documentation/intel-hybrid.txt: cpu_core and cpu_atom, each with type and cpus;
        // uncore PMUs have cpumask instead and are not core PMUs.
        let root = try Self.temporaryFolder()
        defer { Self.remove(root) }
        for (name, type, cpus) in [("cpu_core", "4", "0-15"), ("cpu_atom", "10", "16-23")] {
            mkdir("\(root)/\(name)", 0o755)
            Self.write("\(root)/\(name)/type", type + "\n")
            Self.write("\(root)/\(name)/cpus", cpus + "\n")
        }
        mkdir("\(root)/uncore_imc_0", 0o755)
        Self.write("\(root)/uncore_imc_0/type", "15\n")
        Self.write("\(root)/uncore_imc_0/cpumask", "0\n")
        mkdir("\(root)/software", 0o755)
        Self.write("\(root)/software/type", "1\n")
        let pmus = HostFacts.discoverCorePMUs(root: root)
        #expect(pmus == [
            CorePMU(name: "cpu_atom", type: 10, cpus: Array(16...23)), CorePMU(name: "cpu_core", type: 4, cpus: Array(0...15)),
        ])
        let host = HostFacts(corePMUs: pmus, paranoid: 2, nmiWatchdog: true, hypervisor: false, cpuModel: nil)
        #expect(host.isHybrid)
        #expect(host.corePMU(forCPU: 20)?.name == "cpu_atom" && host.corePMU(forCPU: 3)?.name == "cpu_core")
    }

    @Test func aSinglePMUNamedCpuNeedsNoCpusFile() throws {
        let root = try Self.temporaryFolder()
        defer { Self.remove(root) }
        mkdir("\(root)/cpu", 0o755)
        Self.write("\(root)/cpu/type", "4\n")
        #expect(HostFacts.discoverCorePMUs(root: root) == [CorePMU(name: "cpu", type: 4, cpus: nil)])
        #expect(HostFacts.discoverCorePMUs(root: root + "/missing").isEmpty)
    }

    @Test func cpuListsParse() {
        #expect(HostFacts.parseCPUList("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11])
        #expect(HostFacts.parseCPUList("5") == [5])
        #expect(HostFacts.parseCPUList("3-1") == nil && HostFacts.parseCPUList("a") == nil)
    }

    @Test func hypervisorFlagComesFromCpuinfo() throws {
        let root = try Self.temporaryFolder()
        defer { Self.remove(root) }
        Self.write("\(root)/vm", "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu vme hypervisor lahf_lm\n\nprocessor\t: 1\n")
        Self.write("\(root)/metal", "processor\t: 0\nmodel name\t: Intel(R) Core(TM) i9\nflags\t\t: fpu vme hypervisorx\n")
        let vm = CPUInfo.read(root + "/vm")
        #expect(vm.hypervisor && vm.modelName == "AMD EPYC")
        let metal = CPUInfo.read(root + "/metal")
        #expect(!metal.hypervisor && metal.modelName == "Intel(R) Core(TM) i9")
    }

    @Test func cacheSizesComeFromSysfs() throws {
        let root = try Self.temporaryFolder()
        defer { Self.remove(root) }
        for (index, level, type, size) in [
            ("index0", "1", "Data", "48K"), ("index1", "1", "Instruction", "32K"), ("index2", "2", "Unified", "1024K"),
            ("index3", "3", "Unified", "32768K"),
        ] {
            mkdir("\(root)/\(index)", 0o755)
            Self.write("\(root)/\(index)/level", level + "\n")
            Self.write("\(root)/\(index)/type", type + "\n")
            Self.write("\(root)/\(index)/size", size + "\n")
        }
        #expect(CacheSizes.current(root: root) == CacheSizes(l1d: 48 << 10, l2: 1 << 20, llc: 32 << 20, llcLevel: 3))
        #expect(CacheSizes.parseSize("2M") == 2 << 20 && CacheSizes.parseSize("512") == 512 && CacheSizes.parseSize("x") == nil)
    }

    @Test func thisHostsFactsAreConsistent() {
        let host = HostFacts.current()
        #expect(host.paranoid != nil)
        let names = HostCounters.pmuNames
        #expect(!names.isEmpty, "/sys/bus/event_source/devices lists the software PMU at least")
        #expect(Set(host.corePMUs.map(\.name)).isSubset(of: names), "\(host.corePMUs) among \(names)")
        // The core PMUs found by their files and the names that say "a CPU's hardware PMU" agree.
        #expect(host.corePMUs.isEmpty == !HostCounters.hasHardwarePMU(names), "\(host.corePMUs) vs \(names)")
    }

    @Test(.enabled(if: geteuid() == 0, "says what root may read: run as root"))
    func rootReadsTracefsWhereverItIsMounted() {
        if case .permissionDenied = Tracefs.status { Issue.record("root was denied tracefs: \(Tracefs.status.description)") }
    }
}

/// Readings as files and the wire carry them.
@Suite struct CounterReadingCodingTests {
    @Test func readingsWrittenBeforeModesStillDecode() throws {
        let old = #"{"event":"cycles","availability":{"state":"user-only","reason":"user space only"},"count":{"raw":10,"timeEnabled":5,"timeRunning":5}}"#
        let reading = try JSONDecoderLite.decode(CounterReading.self, old)
        #expect(reading.mode == .userOnly && reading.source == .perfEvent && reading.parts.isEmpty && reading.value == 10)
    }

    @Test func aReadingRoundTrips() throws {
        let reading = CounterReading(
            event: .cycles, availability: .counted, count: ScaledCount(raw: 30, timeEnabled: 10, timeRunning: 10),
            mode: .userAndKernel, source: .perfEvent,
            parts: [
                PMUCount(pmu: "cpu_core", count: ScaledCount(raw: 10, timeEnabled: 10, timeRunning: 3)),
                PMUCount(pmu: "cpu_atom", count: ScaledCount(raw: 20, timeEnabled: 10, timeRunning: 7)),
            ], reason: nil)
        #expect(try JSONDecoderLite.roundTrip(reading) == reading)
        let missing = CounterReading(event: .contextSwitches, availability: .init(state: .notPermitted, reason: "EACCES"), count: nil)
        #expect(missing.reason == "not-permitted: EACCES" && missing.mode == nil)
        #expect(try JSONDecoderLite.roundTrip(missing) == missing)
    }

    @Test func realContextSwitchFigureComesFromPerfWhenCounted() throws {
        // Unprivileged at perf_event_paranoid 2 context switches are not permitted (task-clock is, so the probe opens).
        let probe = try ThreadCounters(events: [.contextSwitches, .taskClock])
        try requireKernelSideCounting(probe.availability[0])
        let region = try CountedRegion(events: [.contextSwitches])
        try region.begin()
        for _ in 0..<3 { usleep(1000) }
        let figure = try region.end().contextSwitchFigure
        #expect(figure.source == .perfEvent && figure.value >= 3 && figure.mode == .userAndKernel)
    }

    @Test func realContextSwitchFigureComesFromRusageWithoutPerf() throws {
        let withoutPerf = try CountedRegion(events: [])
        try withoutPerf.begin()
        for _ in 0..<3 { usleep(1000) }
        let fromRusage = try withoutPerf.end().contextSwitchFigure
        #expect(fromRusage.source == .rusage && fromRusage.value >= 3)
    }
}

/// JSON through Foundation's coders, as profiles are written.
enum JSONDecoderLite {
    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    static func roundTrip<T: Codable>(_ value: T) throws -> T {
        try JSONDecoder().decode(T.self, from: JSONEncoder().encode(value))
    }
}
