import CopyprofProfile

/// What the generic cache events count on a CPU, so that "misses per KB" is not read as the same thing everywhere.
///
/// perf's `L1-dcache-load-misses` and `LLC-load-misses` are `PERF_TYPE_HW_CACHE` events: each PMU driver maps them to
/// an event of its own CPU from a table, and the tables differ in what they count:
/// - Intel (arch/x86/events/intel/core.c, `snb_`/`hsw_`/`skl_hw_cache_event_ids` and their `_extra_regs`): the L1D
///   read miss is `L1D.REPLACEMENT` (event 0x51, umask 0x01), every line brought into L1D — for loads, stores and
///   hardware prefetches alike; the LL read miss is `OFFCORE_RESPONSE` with the demand-data-read request bit and the
///   L3-miss response bits (`SKL_DEMAND_READ|SKL_L3_MISS…`): demand data reads only, "prefetches are not included in
///   the counts", nor stores' reads for ownership.
/// - AMD Zen, family 0x17 and later (arch/x86/events/amd/core.c, `amd_hw_cache_event_ids_f17h`): the L1D read miss
///   is event 0x60 umask 0xc8, L2 cache requests from data-cache misses; the LL entries are 0, which the kernel
///   answers with ENOENT: the L3 has its own PMU (`amd_l3`), not counted per thread.
/// - AMD before Zen (`amd_hw_cache_event_ids`): the L1D read miss is event 0x41 (data cache misses); "LL" is the L2,
///   event 0x7e umask 0x03, misses of instruction and data requests alike.
/// - Arm PMUv3 (drivers/perf/arm_pmuv3.c, `armv8_pmuv3_perf_cache_map`): `L1D_CACHE_REFILL`, refills of L1D for
///   loads and stores; `LL_CACHE_MISS_RD`, last-level read misses, only where the CPU implements the event.
package enum CacheEvents {
    /// The vendors whose tables differ.
    package enum Vendor: String, Sendable, Hashable {
        case intel, amdZen, amdBeforeZen, arm, other
    }

    /// The vendor of a profile's CPU: from `cpuVendor` and `cpuFamily`, or — in a profile from before they were
    /// recorded — from the model's name.
    package static func vendor(of environment: EnvironmentInfo) -> Vendor {
        let vendor = environment.cpuVendor ?? ""
        let model = environment.cpuModel
        if vendor == "GenuineIntel" || (vendor.isEmpty && model.contains("Intel")) { return .intel }
        if vendor == "AuthenticAMD" || vendor == "HygonGenuine"
            || (vendor.isEmpty && (model.contains("AMD") || model.contains("EPYC") || model.contains("Ryzen")))
        {
            // Without the family (older profiles), a name of the Zen era: EPYC and Ryzen are all Zen.
            if let family = environment.cpuFamily { return family >= 0x17 ? .amdZen : .amdBeforeZen }
            return model.contains("EPYC") || model.contains("Ryzen") || vendor == "HygonGenuine" ? .amdZen : .amdBeforeZen
        }
        if vendor.hasPrefix("CPU implementer") { return .arm }
        return .other
    }

    /// What `event` counts on this vendor's CPUs, in one sentence; nil for events other than the L1D and LL read
    /// misses.
    package static func meaning(of event: String, on vendor: Vendor) -> String? {
        switch (event, vendor) {
        case (EventName.l1dLoadMisses, .intel):
            return "`L1D.REPLACEMENT`: every line brought into the L1 data cache, for loads, stores and hardware prefetches "
                + "alike — not only loads that missed (arch/x86/events/intel/core.c)"
        case (EventName.llcLoadMisses, .intel):
            return "`OFFCORE_RESPONSE` for demand data reads that missed the L3: hardware prefetches and stores' reads for "
                + "ownership are not in it, so a copy whose reads the prefetcher streams can show few (arch/x86/events/intel/core.c)"
        case (EventName.l1dLoadMisses, .amdZen):
            return "event 0x60 umask 0xc8, L2 cache requests from data-cache misses (arch/x86/events/amd/core.c, "
                + "`amd_hw_cache_event_ids_f17h`)"
        case (EventName.llcLoadMisses, .amdZen):
            return "not defined for Zen (its table entry is 0: the kernel answers ENOENT); the L3 has its own PMU, not counted "
                + "per thread (arch/x86/events/amd/core.c)"
        case (EventName.l1dLoadMisses, .amdBeforeZen):
            return "event 0x41, data cache misses (arch/x86/events/amd/core.c, `amd_hw_cache_event_ids`)"
        case (EventName.llcLoadMisses, .amdBeforeZen):
            return "event 0x7e umask 0x03, misses of the **L2** for instruction and data requests alike: on these CPUs "
                + "perf's \"LLC\" is the L2 (arch/x86/events/amd/core.c, `amd_hw_cache_event_ids`)"
        case (EventName.l1dLoadMisses, .arm):
            return "`L1D_CACHE_REFILL`: refills of the L1 data cache, for loads and stores (drivers/perf/arm_pmuv3.c)"
        case (EventName.llcLoadMisses, .arm):
            return "`LL_CACHE_MISS_RD`: last-level cache read misses, where the CPU implements the event (drivers/perf/arm_pmuv3.c)"
        case (EventName.l1dLoadMisses, .other), (EventName.llcLoadMisses, .other):
            return "whatever this CPU's PMU driver maps the generic event to: not comparable with another vendor's count"
        default: return nil
        }
    }
}
