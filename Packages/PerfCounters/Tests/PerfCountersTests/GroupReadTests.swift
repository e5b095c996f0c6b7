import Glibc
import Testing

@testable import PerfCounters

/// What this machine cannot produce (a hardware PMU, multiplexing, an unscheduled group) tested on exact
/// bytes laid out as perf_event_open(2) documents for PERF_FORMAT_GROUP | TOTAL_TIME_ENABLED |
/// TOTAL_TIME_RUNNING | ID: nr, time_enabled, time_running, then {value, id} pairs.
@Suite struct GroupReadTests {
    func bytes(_ words: [UInt64]) -> [UInt8] {
        words.flatMap { word in withUnsafeBytes(of: word) { Array($0) } }
    }

    @Test func mockedPMU_decodesAGroupOfSeveralMembers() throws {
        let raw = bytes([3, 1_000_000, 1_000_000, 5_000, 41, 2_500, 42, 17, 43])
        #expect(raw.count == GroupRead.byteCount(members: 3))
        let read = try raw.withUnsafeBytes { try GroupRead.decode($0) }
        #expect(read.timeEnabled == 1_000_000 && read.timeRunning == 1_000_000)
        #expect(read.values.map(\.id) == [41, 42, 43])
        #expect(read.value(id: 42) == 2_500)
        #expect(read.value(id: 43) == 17)
        #expect(read.value(id: 44) == nil)
    }

    @Test func mockedPMU_multiplexedGroupIsScaledAndFlagged() throws {
        let start = try bytes([2, 1_000, 1_000, 100, 7, 10, 8]).withUnsafeBytes { try GroupRead.decode($0) }
        // 4 ms more enabled, only 1 ms of it on the PMU: perf scales by enabled/running.
        let end = try bytes([2, 4_001_000, 1_001_000, 1_100, 7, 60, 8]).withUnsafeBytes { try GroupRead.decode($0) }
        let cycles = try #require(ScaledCount.delta(from: start, to: end, id: 7))
        #expect(cycles.raw == 1_000)
        #expect(cycles.isScaled)
        #expect(cycles.runningFraction == 0.25)
        #expect(cycles.value == 4_000)
        let misses = try #require(ScaledCount.delta(from: start, to: end, id: 8))
        #expect(misses.value == 200)
    }

    @Test func mockedPMU_unscheduledGroupIsNotCountedRatherThanZero() throws {
        let start = try bytes([1, 500, 0, 0, 9]).withUnsafeBytes { try GroupRead.decode($0) }
        let end = try bytes([1, 90_500, 0, 0, 9]).withUnsafeBytes { try GroupRead.decode($0) }
        let count = try #require(ScaledCount.delta(from: start, to: end, id: 9))
        #expect(!count.wasCounted)
        #expect(count.value == nil)
        #expect(count.runningFraction == 0)
    }

    @Test func mockedPMU_fullyScheduledGroupIsExact() throws {
        let count = ScaledCount(raw: 123, timeEnabled: 50, timeRunning: 50)
        #expect(!count.isScaled && count.value == 123 && count.runningFraction == 1)
    }

    @Test func truncatedAndOversizedReadsAreRejected() throws {
        #expect(throws: CounterError.self) { try bytes([2, 1, 1, 5, 1]).withUnsafeBytes { try GroupRead.decode($0) } }
        #expect(throws: CounterError.self) { try [UInt8](repeating: 0, count: 16).withUnsafeBytes { try GroupRead.decode($0) } }
        #expect(throws: CounterError.self) { try bytes([.max, 1, 1]).withUnsafeBytes { try GroupRead.decode($0) } }
    }

    @Test func readSizeMatchesPerfEvsel() {
        #expect(GroupRead.byteCount(members: 1) == 40)
        #expect(GroupRead.byteCount(members: 7) == 24 + 7 * 16)
    }
}

@Suite struct ErrnoMappingTests {
    let paranoid = 2

    @Test(arguments: [ENOENT, ENODEV, ENXIO, EOPNOTSUPP, EINVAL])
    func unsupportedErrnos(_ code: Int32) {
        let status = EventAvailability.classify(errno: code, event: .cycles, paranoid: paranoid)
        #expect(status.state == .notSupported)
        #expect(status.errno == code)
        #expect(status.reason?.isEmpty == false)
    }

    @Test func enoentOnHardwareNamesTheMissingPMU() {
        // A VM: the hypervisor flag and no core PMU.
        let vm = HostFacts(corePMUs: [], paranoid: 2, nmiWatchdog: nil, hypervisor: true, cpuModel: "AMD EPYC")
        let status = EventAvailability.classify(errno: ENOENT, event: .llcLoadMisses, paranoid: paranoid, host: vm)
        #expect(status.reason?.contains("no hardware PMU") == true)
        #expect(status.reason?.contains("virtual machine without PMU passthrough") == true)
        let software = EventAvailability.classify(errno: ENOENT, event: .taskClock, paranoid: paranoid, host: vm)
        #expect(software.reason?.contains("PMU") == false)
        // Bare metal with a PMU that lacks the event (AMD Zen has no generic LLC-loads): the PMU is named.
        let zen = HostFacts(
            corePMUs: [CorePMU(name: "cpu", type: 4, cpus: nil)], paranoid: 2, nmiWatchdog: true, hypervisor: false,
            cpuModel: "AMD Ryzen 9 7950X")
        let missing = EventAvailability.classify(errno: ENOENT, event: .llcLoads, paranoid: paranoid, host: zen)
        #expect(missing.reason == "ENOENT: the cpu PMU (AMD Ryzen 9 7950X) has no generic LLC-loads event")
        // Hybrid: the core type that lacks it.
        let hybrid = HostFacts(
            corePMUs: [CorePMU(name: "cpu_core", type: 4, cpus: [0]), CorePMU(name: "cpu_atom", type: 10, cpus: [1])],
            paranoid: 2, nmiWatchdog: true, hypervisor: false, cpuModel: nil)
        let atom = EventAvailability.classify(errno: ENOENT, event: .llcLoads, paranoid: paranoid, host: hybrid, pmu: "cpu_atom")
        #expect(atom.reason == "ENOENT: the cpu_atom PMU has no generic LLC-loads event")
    }

    @Test func thisHostBlamesAVMOnlyWithTheHypervisorFlag() {
        let host = HostFacts.current()
        let status = EventAvailability.classify(errno: ENOENT, event: .cycles, paranoid: paranoid)
        #expect((status.reason?.contains("virtual machine") == true) == host.hypervisor)
    }

    @Test func eaccesNamesTheParanoidLevel() {
        let status = EventAvailability.classify(errno: EACCES, event: .cycles, paranoid: 2)
        #expect(status.state == .notPermitted)
        #expect(status.reason?.contains("/proc/sys/kernel/perf_event_paranoid = 2") == true)
        #expect(status.reason?.contains("CAP_PERFMON") == true)
    }

    @Test func epermIsNotTheParanoidCheck() {
        // The paranoid checks answer EACCES (kernel/events/core.c perf_allow_kernel); EPERM is another rule, so
        // its reason gives no perf_event_paranoid advice.
        let status = EventAvailability.classify(errno: EPERM, event: .cycles, paranoid: 2)
        #expect(status.state == .notPermitted && status.errno == EPERM)
        #expect(status.reason?.hasPrefix("EPERM: ") == true)
        #expect(status.reason?.contains("sysctl") == false)
        #expect(status.reason?.contains("not the perf_event_paranoid check") == true)
    }

    @Test func otherErrnosFailWithAClearMessage() {
        let emfile = EventAvailability.classify(errno: EMFILE, event: .cycles, paranoid: nil)
        #expect(emfile.state == .failed && emfile.reason?.contains("ulimit -n") == true)
        let big = EventAvailability.classify(errno: E2BIG, event: .cycles, paranoid: nil, attrSize: 136)
        #expect(big.state == .failed && big.reason?.contains("136 bytes") == true)
        let busy = EventAvailability.classify(errno: EBUSY, event: .cycles, paranoid: nil)
        #expect(busy.state == .failed && busy.reason?.contains("EBUSY") == true)
        let other = EventAvailability.classify(errno: ESRCH, event: .cycles, paranoid: nil)
        #expect(other.state == .failed && other.reason?.contains("ESRCH") == true)
    }
}

@Suite struct EventNameTests {
    @Test func catalogNamesRoundTrip() throws {
        for event in PerfEvent.catalog {
            #expect(try PerfEvent.named(event.name) == event)
        }
        #expect(Set(PerfEvent.catalog.map(\.name)).count == PerfEvent.catalog.count)
    }

    @Test func tracepointsByName() throws {
        let event = try PerfEvent.named("sched:sched_switch")
        #expect(event.source == .tracepoint(subsystem: "sched", name: "sched_switch"))
    }

    @Test func listsAndUnknownNames() throws {
        #expect(try PerfEvent.list("cycles, task-clock,cycles").map(\.name) == ["cycles", "task-clock"])
        #expect(throws: CounterError.unknownEvent("bogus")) { try PerfEvent.list("cycles,bogus") }
        #expect(String(describing: CounterError.unknownEvent("x")).contains("subsystem:name"))
    }

    @Test func cacheEncodingMatchesPerf() {
        // The config of a PERF_TYPE_HW_CACHE event: cache | operation << 8 | result << 16; nil for any other event.
        func config(_ event: PerfEvent) -> UInt64? {
            guard case .hardwareCache(let cache, let operation, let result) = event.source else { return nil }
            return cache | operation << 8 | result << 16
        }
        // perf: L1-dcache-load-misses = L1D | OP_READ << 8 | RESULT_MISS << 16 = 0x10000
        #expect(config(.l1dLoadMisses) == 0x10000)
        // LLC-loads = LL (2) | OP_READ << 8 | RESULT_ACCESS << 16 = 0x2
        #expect(config(.llcLoads) == 0x2)
    }
}
