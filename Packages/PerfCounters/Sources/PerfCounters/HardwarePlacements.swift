internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Where a group of hardware events is opened: its core PMU (nil on a host without one), how events reach it, and
/// the CPU it is bound to (-1: it follows the thread).
struct HardwarePlacement {
    var pmu: CorePMU?
    var encoding: HardwareEncoding
    var cpu: Int32
}

/// Where this host's hardware events are opened, for counting and sampling alike: with one core PMU (or none),
/// once, in the legacy encoding; with several, once per PMU with its type in config bits 32–63 where the kernel
/// takes it, else once per CPU of the PMU in the legacy encoding (``HardwareEncoding``).
///
/// Whether a PMU takes its type is probed as perf's `__perf_pmus__supports_extended_type` does, by opening `cycles`
/// so (tools/perf/util/pmus.c), through counting's fallbacks (Mark Rutland's fix for M1:
/// tools/perf/util/print-events.c `is_event_supported` retries with `exclude_guest`).
struct HardwarePlacements {
    /// The placements, in the order of the host's core PMUs (and of each PMU's CPUs).
    private(set) var placements: [HardwarePlacement] = []
    /// How hardware events reach each core PMU, by name.
    private(set) var encodings: [String: HardwareEncoding] = [:]
    /// The errno with which each PMU opened per CPU refused its type in config bits 32–63.
    private(set) var extendedTypeRefusals: [String: Int32] = [:]

    /// Probes `system`'s core PMUs. `userOnly`: the events are opened user space only;
    /// `fallBackToUserOnly`: they may fall back to it. Stops, with no placement, once `access` knows that
    /// perf_event_open is refused outright.
    init<System: PerfEventSystem>(
        system: System, userOnly: Bool, fallBackToUserOnly: Bool, access: inout PerfAccessCheck
    ) {
        let host = system.host
        let cores = host.corePMUs
        guard cores.count > 1 else {
            if let pmu = cores.first { encodings[pmu.name] = .legacy }
            placements = [HardwarePlacement(pmu: cores.first, encoding: .legacy, cpu: -1)]
            return
        }
        let online = host.onlineCPUs.map(Set.init)
        for pmu in cores {
            if let refused = Self.extendedTypeRefusal(
                pmu, system: system, userOnly: userOnly, fallBackToUserOnly: fallBackToUserOnly, access: &access)
            {
                encodings[pmu.name] = .legacyPerCPU
                extendedTypeRefusals[pmu.name] = refused
                for cpu in pmu.cpus ?? [] where online?.contains(cpu) ?? true {
                    placements.append(HardwarePlacement(pmu: pmu, encoding: .legacyPerCPU, cpu: Int32(cpu)))
                }
            } else {
                encodings[pmu.name] = .extendedType
                placements.append(HardwarePlacement(pmu: pmu, encoding: .extendedType, cpu: -1))
            }
            if access.refusal != nil {
                placements = []
                return
            }
        }
    }

    /// The errno with which `pmu` refuses `cycles` with its type in config bits 32–63 (ENOENT without
    /// `PERF_PMU_CAP_EXTENDED_HW_TYPE`, kernel/events/core.c `perf_init_event`; EINVAL from kernels that do not read
    /// those bits at all); nil when it takes it, or refuses it for a reason the legacy encoding shares.
    private static func extendedTypeRefusal<System: PerfEventSystem>(
        _ pmu: CorePMU, system: System, userOnly: Bool, fallBackToUserOnly: Bool, access: inout PerfAccessCheck
    ) -> Int32? {
        var attr = perf_event_attr()
        attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
        (attr.type, attr.config) = PerfEvent.cycles.typeAndConfig(extendedType: pmu.type)!
        attr.disabled = 1
        if userOnly {
            attr.exclude_kernel = 1
            attr.exclude_hv = 1
        }
        let ladder = FallbackLadder.counting(excludeKernel: fallBackToUserOnly, host: system.host)
        let outcome = ladder.open(&attr) { system.open(&$0, cpu: -1, groupFD: -1) }
        guard let code = outcome.errno else {
            system.close(outcome.result)
            return nil
        }
        if code == EPERM { access.afterEPERM(system) }
        return [ENOENT, EINVAL, ENODEV, ENXIO, EOPNOTSUPP].contains(code) ? code : nil
    }

    /// What an event opened on `pmus` through the legacy encoding per CPU says, once; nil when none of them was.
    func legacyNote(on pmus: [String]) -> String? {
        let legacy = pmus.filter { extendedTypeRefusals[$0] != nil }
        guard !legacy.isEmpty else { return nil }
        let codes = Set(legacy.map { Errno(extendedTypeRefusals[$0]!).name }).sorted().joined(separator: "/")
        return "on \(legacy.joined(separator: " and ")) through the legacy encoding, one event per CPU: this kernel "
            + "refuses the PMU's type in config bits 32-63 (\(codes): no PERF_PMU_CAP_EXTENDED_HW_TYPE, as on "
            + "Arm before Linux 6.6) and routes an event bound to a CPU to that CPU's PMU"
    }
}
