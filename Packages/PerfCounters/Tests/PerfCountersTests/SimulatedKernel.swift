import CPerfEvent
import Glibc
import SystemCalls

@testable import PerfCounters

/// A generic hardware or cache event as a PMU sees it: the config without the extended type bits.
enum HardwareEventKey: Hashable {
    case hardware(UInt64)
    case cache(UInt64)

    init?(_ event: PerfEvent) {
        switch event.source {
        case .hardware(let config): self = .hardware(config)
        case .hardwareCache(let cache, let op, let result): self = .cache(cache | op << 8 | result << 16)
        default: return nil
        }
    }
}

/// A core PMU of the simulated CPU, as arch/x86/events models one: general-purpose counters any event can use,
/// fixed counters that only their own event can use, and the generic events it maps to something.
struct SimulatedCorePMU {
    var name: String
    var type: UInt32
    var cpus: [Int]
    /// General-purpose counters per hardware thread (4 on Intel cores with SMT on, 8 without; 6 on AMD Zen).
    var generalCounters: Int
    /// Fixed counters: the event that may use each (Intel: instructions on fixed 0, cycles on fixed 1).
    var fixedCounters: [HardwareEventKey: Int]
    /// Counts per ns of work of each generic event it supports; a missing event opens ENOENT, as an
    /// all-zero entry of the x86 event or cache map does (arch/x86/events/core.c `set_ext_hw_attr`).
    var ratePerNs: [HardwareEventKey: Double]
    /// The highest `precise_ip` the PMU takes (Intel with PEBS: 3 on recent cores; without PEBS, or AMD without
    /// IBS: 0), and the errno above it: x86 refuses with EOPNOTSUPP (arch/x86/events/core.c `x86_pmu_hw_config`);
    /// a PMU that rejects the attr whole says EINVAL.
    var maxPrecise = 3
    var preciseRefusal: Int32 = EOPNOTSUPP

    // Issue 21's rules (the fallbacks): see the extension "Access, routing and shared registers" below.
    /// PERF_PMU_CAP_EXTENDED_HW_TYPE: the PMU takes its type in config bits 32-63 (x86 hybrid; Arm since 6.6).
    var extendedHWType = true
    /// The PMU refuses events without exclude_guest (Apple M1/M2 when the kernel is not in hyp mode).
    var requiresExcludeGuest = false
    /// Events that need one of the core's offcore-response registers, with the value they program in it
    /// (Intel's generic LLC events are OFFCORE_RESPONSE events); empty: none.
    var offcoreEvents: [HardwareEventKey: UInt64] = [:]

    static let intelFixed: [HardwareEventKey: Int] = [
        HardwareEventKey(.instructions)!: 0, HardwareEventKey(.cycles)!: 1,
    ]

    /// Rates for every catalog hardware event: `scale` times cycles 3/ns, instructions 4/ns ...
    static func allEvents(scale: Double = 1) -> [HardwareEventKey: Double] {
        [
            HardwareEventKey(.cycles)!: 3 * scale, HardwareEventKey(.instructions)!: 4 * scale,
            HardwareEventKey(.l1dLoads)!: 1.5 * scale, HardwareEventKey(.l1dLoadMisses)!: 0.1 * scale,
            HardwareEventKey(.llcLoads)!: 0.05 * scale, HardwareEventKey(.llcLoadMisses)!: 0.01 * scale,
            HardwareEventKey(.branchMisses)!: 0.02 * scale,
        ]
    }
}

/// A simulated perf_event layer for one thread, following the kernel's rules (each cited where applied).
///
/// Time passes only in ``run(onCPU:ns:kernelShare:)``; the scheduler of hardware groups runs at every
/// multiplexing interval of it. Software events fire through ``contextSwitch()``, ``migrate(toCPU:)``,
/// ``pageFault(userMode:)`` and ``tracepointHit(_:)``.
final class SimulatedKernel: PerfEventSystem {
    var pmus: [SimulatedCorePMU]
    /// /proc/sys/kernel/nmi_watchdog: the watchdog's pinned cycles event holds a counter on every CPU.
    var nmiWatchdog: Bool
    var paranoid: Int
    /// CAP_PERFMON or root.
    var privileged: Bool
    var hypervisor = false
    /// Tracepoint ids by `subsystem:name`.
    var tracepoints: [String: UInt64] = ["skb:skb_copy_datagram_iovec": 1_734]
    var tracefsReadable = true
    /// perf_event_mux_interval_ms: how often the kernel rotates groups that do not fit together.
    var muxIntervalNs: UInt64 = 4_000_000

    // Issue 21's rules (the fallbacks): see the extension "Access, routing and shared registers" below.
    /// Debian's and Ubuntu's patch: above paranoid 2 nothing opens without CAP_SYS_ADMIN (false: upstream, where
    /// those levels act as 2).
    var restrictsAboveParanoid2 = true
    /// CAP_SYS_ADMIN; nil: as `privileged`.
    var sysAdmin: Bool?
    /// A seccomp filter answers EPERM to perf_event_open (a container's default profile).
    var seccompRefusesPerfEventOpen = false
    /// The offcore-response register values the SMT sibling's events hold while the thread runs.
    var siblingOffcore: [UInt64] = []
    var cpuModel = "Simulated CPU"
    /// Every perf_event_open with its attributes, CPU and result (fd, or -errno): the one log of attempts, for
    /// the counting and the sampling tests alike.
    private(set) var attempts: [(attr: perf_event_attr, cpu: Int32, groupFD: Int32, result: Int32)] = []

    // Sampling (SimulatedSampling.swift holds the ring and the records).
    /// /proc/sys/kernel/perf_event_max_sample_rate.
    var maxSampleRate: UInt64 = 100_000
    /// /proc/sys/kernel/perf_event_max_stack.
    var maxStack = 127
    /// /proc/sys/kernel/perf_event_mlock_kb.
    var mlockKB = 516
    /// Ring pages (data and control) a user without CAP_IPC_LOCK may lock: perf_event_mlock_kb per online CPU,
    /// then RLIMIT_MEMLOCK (kernel/events/core.c `perf_mmap`, `perf_mmap_calc_limits`); nil: no limit.
    var ringPageLimit: Int?
    /// The kernel knows PERF_FORMAT_LOST (Linux 6.0) and `use_clockid` (4.1).
    var knowsLostFormat = true
    var knowsClockID = true
    let pageSize = 4096
    /// The thread's ids in samples.
    let pid: Int32 = 4242
    let tid: Int32 = 4243
    /// CLOCK_MONOTONIC, ns: advances in ``run(onCPU:ns:kernelShare:)``.
    private(set) var clockNs: UInt64 = 1_000_000_000
    /// Every mmap asked for, in data pages, and its result (0, or the errno).
    private(set) var mapLog: [(dataPages: Int, result: Int32)] = []
    /// PERF_RECORD_THROTTLE records the kernel logged, and samples it took (written or lost), by event id.
    private(set) var throttleCount = 0
    private(set) var samplesTaken: [UInt64: Int] = [:]
    /// PERF_EVENT_IOC_ENABLE and DISABLE calls so far.
    private(set) var groupSwitches = 0
    /// What the next read of the limits says the maximum rate is, when the kernel has lowered it since:
    /// perf_event_max_sample_rate read before the kernel lowered it (kernel/events/core.c perf_sample_event_took).
    var staleMaxSampleRate: UInt64?
    private var lockedRingPages = 0
    private var rings: [UnsafeMutableRawPointer: SimulatedRing] = [:]

    /// What getrusage would say: every switch-out of the thread, counted by the scheduler whatever perf may see.
    private(set) var rusageSwitches: UInt64 = 0
    /// Every perf_event_open's type, config, group and result: ``attempts`` in short.
    var openLog: [(type: UInt32, config: UInt64, groupFD: Int32, result: Int32)] {
        attempts.map { ($0.attr.type, $0.attr.config, $0.groupFD, $0.result) }
    }

    private var events: [Int32: Event] = [:]
    private var nextFD: Int32 = 100
    private var nextID: UInt64 = 1
    /// Hardware group leaders per PMU in the order the kernel tries them; rotated when one did not fit.
    private var rotation: [String: [Int32]] = [:]

    private final class Event {
        enum Kind {
            case hardware(pmu: String, key: HardwareEventKey)
            case software(UInt64)
            case tracepoint(UInt64)
        }
        let kind: Kind
        let excludeKernel: Bool
        let id: UInt64
        let leader: Int32
        var readFormat: UInt64 = 0
        var sampling: SimulatedSamplingState?
        var members: [Int32] = []
        /// The CPU it is bound to (-1: it follows the thread).
        var cpu: Int32 = -1
        var enabled: Bool
        var count: UInt64 = 0
        var fractionalCount: Double = 0
        var timeEnabled: UInt64 = 0
        var timeRunning: UInt64 = 0

        init(kind: Kind, excludeKernel: Bool, id: UInt64, leader: Int32, enabled: Bool) {
            self.kind = kind
            self.excludeKernel = excludeKernel
            self.id = id
            self.leader = leader
            self.enabled = enabled
        }

        var pmu: String? {
            if case .hardware(let pmu, _) = kind { return pmu }
            return nil
        }
    }

    init(pmus: [SimulatedCorePMU], nmiWatchdog: Bool = false, paranoid: Int = 2, privileged: Bool = true) {
        self.pmus = pmus
        self.nmiWatchdog = nmiWatchdog
        self.paranoid = paranoid
        self.privileged = privileged
    }

    var host: HostFacts {
        HostFacts(
            corePMUs: pmus.map { CorePMU(name: $0.name, type: $0.type, cpus: pmus.count > 1 ? $0.cpus : nil) },
            paranoid: paranoid, nmiWatchdog: nmiWatchdog, hypervisor: hypervisor, cpuModel: cpuModel,
            sysAdmin: sysAdmin ?? privileged, perfmon: privileged, seccompFilter: seccompRefusesPerfEventOpen,
            onlineCPUs: Array(Set(pmus.flatMap(\.cpus))).sorted())
    }

    // MARK: The perf_event_open layer

    func open(_ attr: inout perf_event_attr, cpu: Int32, groupFD: Int32) -> Int32 {
        let result = openEvent(attr, cpu: cpu, groupFD: groupFD)
        attempts.append((attr, cpu, groupFD, result))
        return result
    }

    /// perf_event_open's checks in the kernel's order (kernel/events/core.c `perf_event_open`): who may call it
    /// at all; the attr as copied (`perf_copy_attr`); kernel counting (`perf_allow_kernel`); the frequency; then
    /// the PMU's `event_init` (routing, exclude_guest, precise_ip) and the call-chain buffers (`perf_event_alloc`);
    /// then the group.
    private func openEvent(_ attr: perf_event_attr, cpu: Int32, groupFD: Int32) -> Int32 {
        // A seccomp filter refuses the system call before it runs; Debian's/Ubuntu's paranoid > 2 before the attr
        // is read.
        if let refused = callerRefusal() { return refused }
        // perf_copy_attr: read_format bits this kernel does not know are EINVAL (PERF_FORMAT_LOST since 6.0), and so
        // are the attr's reserved bits, where use_clockid was before 4.1.
        if attr.read_format & UInt64(PERF_FORMAT_LOST.rawValue) != 0, !knowsLostFormat { return -EINVAL }
        if attr.use_clockid == 1, !knowsClockID { return -EINVAL }
        // Kernel counting or sampling: perf_allow_kernel.
        if let refused = kernelRefusal(attr) { return refused }
        // A frequency above perf_event_max_sample_rate is EINVAL.
        if attr.freq == 1, attr.sample_freq > maxSampleRate { return -EINVAL }

        let kind: Event.Kind
        switch attr.type {
        case PERF_TYPE_HARDWARE.rawValue, PERF_TYPE_HW_CACHE.rawValue:
            // kernel/events/core.c perf_init_event: config bits 32-63 name the PMU, or the legacy routing; the
            // PMU's event_init checks exclude_guest and precise_ip.
            switch route(attr, cpu: cpu) {
            case .success(let target): kind = .hardware(pmu: target.pmu, key: target.key)
            case .failure(let refusal): return -refusal.errno
            }
        case PERF_TYPE_SOFTWARE.rawValue:
            kind = .software(attr.config)
        case PERF_TYPE_TRACEPOINT.rawValue:
            guard tracepoints.values.contains(attr.config) else { return -ENOENT }
            kind = .tracepoint(attr.config)
        default:
            return -ENOENT
        }
        // perf_event_alloc, after the PMU's event_init: kernel/events/callchain.c get_callchain_buffers refuses
        // more frames than perf_event_max_stack with EOVERFLOW.
        let callchain = attr.sample_type & UInt64(PERF_SAMPLE_CALLCHAIN.rawValue) != 0
        if callchain, Int(attr.sample_max_stack) > maxStack { return -EOVERFLOW }

        var leaderFD = Int32(-1)
        if groupFD != -1 {
            guard let leader = events[groupFD], leader.leader == groupFD else { return -EBADF }
            // A group lives on one PMU: a hardware event cannot join a group of another core PMU
            // (kernel/events/core.c perf_event_open, the group_leader->pmu checks: EINVAL).
            if case .hardware(let pmu, _) = kind, let leaderPMU = leader.pmu, leaderPMU != pmu { return -EINVAL }
            // ... and on one CPU (perf_event_open: group_leader->cpu != event->cpu is EINVAL).
            if leader.cpu != cpu { return -EINVAL }
            // arch/x86/events/core.c validate_group: the group with the new event must schedule on an otherwise
            // empty PMU (a fake cpuc: the NMI watchdog and other groups are not in it), or EINVAL.
            if case .hardware(let pmuName, _) = kind, let pmu = pmus.first(where: { $0.name == pmuName }) {
                let keys = hardwareKeys(of: groupFD) + [Self.key(kind)!]
                guard Self.assign(keys, on: pmu, fixedFree: Set(pmu.fixedCounters.values), generalFree: pmu.generalCounters) != nil,
                    Self.offcore(keys, on: pmu, held: []) != nil
                else { return -EINVAL }
            }
            leaderFD = groupFD
        }

        let fd = nextFD
        nextFD += 1
        let event = Event(
            kind: kind, excludeKernel: attr.exclude_kernel == 1, id: nextID, leader: leaderFD == -1 ? fd : leaderFD,
            enabled: leaderFD == -1 ? attr.disabled == 0 : events[leaderFD]!.enabled)
        nextID += 1
        event.cpu = cpu
        event.readFormat = attr.read_format
        if attr.sample_period != 0 {
            event.sampling = samplingState(attr, kind: kind)
        }
        events[fd] = event
        if leaderFD != -1 {
            events[leaderFD]!.members.append(fd)
        } else if let pmu = event.pmu {
            rotation[pmu, default: []].append(fd)
        }
        return fd
    }

    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let leader = events[fd] else { return -Int(EBADF) }
        if leader.readFormat & UInt64(PERF_FORMAT_GROUP.rawValue) == 0 {
            // One event: { u64 value; { u64 lost; } && PERF_FORMAT_LOST } (include/uapi/linux/perf_event.h).
            var words = [leader.count]
            if leader.readFormat & UInt64(PERF_FORMAT_LOST.rawValue) != 0 { words.append(leader.sampling?.lostSamples ?? 0) }
            guard buffer.count >= words.count * 8 else { return -Int(ENOSPC) }
            for (i, word) in words.enumerated() { buffer.storeBytes(of: word, toByteOffset: i * 8, as: UInt64.self) }
            return words.count * 8
        }
        let group = [fd] + leader.members
        let size = GroupRead.byteCount(members: group.count)
        // tools/lib/perf/evsel.c perf_evsel__read_size: a smaller buffer makes read() fail with ENOSPC.
        guard buffer.count >= size else { return -Int(ENOSPC) }
        var words: [UInt64] = [UInt64(group.count), leader.timeEnabled, leader.timeRunning]
        for member in group { words += [events[member]!.count, events[member]!.id] }
        for (i, word) in words.enumerated() { buffer.storeBytes(of: word, toByteOffset: i * 8, as: UInt64.self) }
        return size
    }

    func enableGroup(_ fd: Int32) -> Int32 {
        groupSwitches += 1
        return setEnabled(fd, true)
    }

    func disableGroup(_ fd: Int32) -> Int32 {
        groupSwitches += 1
        return setEnabled(fd, false)
    }

    private func setEnabled(_ fd: Int32, _ on: Bool) -> Int32 {
        guard let leader = events[fd] else { return -EBADF }
        leader.enabled = on
        for member in leader.members { events[member]!.enabled = on }
        return 0
    }

    func id(_ fd: Int32) -> Result<UInt64, CounterError> {
        guard let event = events[fd] else { return .failure(.systemCall(SystemCallError("ioctl(PERF_EVENT_IOC_ID)", Errno(EBADF)))) }
        return .success(event.id)
    }

    func close(_ fd: Int32) {
        guard let event = events.removeValue(forKey: fd) else { return }
        if event.leader != fd { events[event.leader]?.members.removeAll { $0 == fd } }
        if let pmu = event.pmu { rotation[pmu]?.removeAll { $0 == fd } }
    }

    func tracepointID(subsystem: String, name: String) -> Result<UInt64, TracepointLookupError> {
        guard tracefsReadable else {
            return .failure(.init(availability: .notPermitted, reason: "EACCES: permission denied reading tracefs"))
        }
        guard let id = tracepoints["\(subsystem):\(name)"] else {
            return .failure(.init(availability: .notSupported, reason: "no tracepoint \(subsystem):\(name)"))
        }
        return .success(id)
    }

    /// Open events (fds) right now.
    var openCount: Int { events.count }

    // MARK: What the thread does

    /// The thread runs `ns` on `cpu`, `kernelShare` of its work in the kernel.
    ///
    /// Every enabled group's enabled time grows while the thread runs (the task context's time); a hardware
    /// group runs only on a CPU of its PMU (on hybrid x86 the PMU's filter callback refuses other CPUs) and
    /// only while it holds counters. At each multiplexing interval the kernel schedules the flexible groups in
    /// order, first fit, and once a group fails to fit tries no further hardware group (kernel/events/core.c
    /// merge_sched_in sets can_add_hw = 0); when one did not fit it rotates the list (perf_rotate_context).
    func run(onCPU cpu: Int, ns: UInt64, kernelShare: Double = 0.3) {
        var left = ns
        while left > 0 {
            let tick = min(left, muxIntervalNs)
            left -= tick
            runTick(onCPU: cpu, ns: tick, kernelShare: kernelShare)
            takeSamples(ns: tick, kernelShare: kernelShare)
            clockNs += tick
        }
    }

    private func runTick(onCPU cpu: Int, ns: UInt64, kernelShare: Double) {
        let leaders = events.filter { $0.key == $0.value.leader && $0.value.enabled }
        for (_, leader) in leaders { leader.timeEnabled += ns }
        for (_, leader) in leaders where leader.pmu == nil {
            // Software groups always schedule. task-clock is time on the CPU, whatever exclude_kernel says.
            leader.timeRunning += ns
            for fd in [leader.leader] + leader.members {
                if case .software(let config) = events[fd]!.kind,
                    config == UInt64(PERF_COUNT_SW_TASK_CLOCK.rawValue) || config == UInt64(PERF_COUNT_SW_CPU_CLOCK.rawValue)
                {
                    events[fd]!.count += ns
                }
            }
        }
        guard let pmu = pmus.first(where: { $0.cpus.contains(cpu) }) else { return }
        // The NMI watchdog's pinned cycles event (kernel/watchdog_perf.c) is scheduled first and takes the
        // fixed cycles counter where there is one (arch/x86/events/intel/core.c, FIXED_EVENT_CONSTRAINT(0x003c, 1)),
        // else a general counter.
        var fixedFree = Set(pmu.fixedCounters.values)
        var generalFree = pmu.generalCounters
        if nmiWatchdog {
            if let slot = pmu.fixedCounters[HardwareEventKey(.cycles)!] { fixedFree.remove(slot) } else { generalFree -= 1 }
        }
        var order = rotation[pmu.name] ?? []
        var someDidNotFit = false
        var offcoreHeld = siblingOffcore
        for fd in order {
            guard let leader = events[fd], leader.enabled, leader.cpu == -1 || leader.cpu == Int32(cpu) else { continue }
            guard let used = Self.assign(hardwareKeys(of: fd), on: pmu, fixedFree: fixedFree, generalFree: generalFree),
                let held = Self.offcore(hardwareKeys(of: fd), on: pmu, held: offcoreHeld)
            else {
                someDidNotFit = true
                break
            }
            offcoreHeld = held
            fixedFree = used.fixedFree
            generalFree = used.generalFree
            leader.timeRunning += ns
            for member in [fd] + leader.members {
                let event = events[member]!
                guard case .hardware(_, let key) = event.kind else { continue }
                let share = event.excludeKernel ? 1 - kernelShare : 1
                event.fractionalCount += pmu.ratePerNs[key]! * Double(ns) * share
                let whole = event.fractionalCount.rounded(.down)
                event.count += UInt64(whole)
                event.fractionalCount -= whole
            }
        }
        if someDidNotFit, !order.isEmpty {
            order.append(order.removeFirst())
            rotation[pmu.name] = order
        }
    }

    /// The thread is switched out once. The software event fires in kernel context with the scheduler's
    /// registers (perf_sw_event_sched, perf_fetch_caller_regs), so exclude_kernel drops it
    /// (kernel/events/core.c perf_exclude_event: exclude_kernel && !user_mode(regs)).
    func contextSwitch() {
        rusageSwitches += 1
        fireSoftware(UInt64(PERF_COUNT_SW_CONTEXT_SWITCHES.rawValue), userMode: false)
    }

    /// The thread moves to another CPU (also a kernel-context software event).
    func migrate(toCPU cpu: Int) {
        fireSoftware(UInt64(PERF_COUNT_SW_CPU_MIGRATIONS.rawValue), userMode: false)
    }

    /// A page fault, taken in user mode (a touch of a fresh page) or in kernel mode (copy_to_user in a
    /// recv): the fault handler passes the faulting registers (arch/x86/mm/fault.c do_user_addr_fault).
    func pageFault(userMode: Bool) {
        fireSoftware(UInt64(PERF_COUNT_SW_PAGE_FAULTS.rawValue), userMode: userMode)
    }

    /// A tracepoint fires in kernel context; exclude_kernel drops it (kernel/events/core.c perf_tp_event_match).
    func tracepointHit(_ id: UInt64) {
        for event in events.values where event.enabled {
            if case .tracepoint(let tp) = event.kind, tp == id, !event.excludeKernel { event.count += 1 }
        }
    }

    private func fireSoftware(_ config: UInt64, userMode: Bool) {
        for event in events.values where event.enabled {
            if case .software(let c) = event.kind, c == config, !(event.excludeKernel && !userMode) { event.count += 1 }
        }
    }

    // MARK: Sampling

    /// What a sampling attr asks for. A frequency becomes a period: 10^9 / freq ns for the hrtimer events
    /// (kernel/events/core.c `perf_swevent_init_hrtimer`), for a hardware event the period the kernel settles on
    /// at the PMU's rate (perf_adjust_period; here at once).
    private func samplingState(_ attr: perf_event_attr, kind: Event.Kind) -> SimulatedSamplingState {
        var period = attr.sample_period
        if attr.freq == 1 {
            switch kind {
            case .hardware(let pmuName, let key):
                let rate = pmus.first { $0.name == pmuName }!.ratePerNs[key]!
                period = max(1, UInt64(rate * 1e9 / Double(attr.sample_freq)))
            default:
                period = 1_000_000_000 / attr.sample_freq
            }
        }
        let callchain = attr.sample_type & UInt64(PERF_SAMPLE_CALLCHAIN.rawValue) != 0
        return SimulatedSamplingState(
            sampleType: attr.sample_type, period: period,
            maxStack: callchain ? (attr.sample_max_stack == 0 ? maxStack : Int(attr.sample_max_stack)) : 0,
            readsLost: attr.read_format & UInt64(PERF_FORMAT_LOST.rawValue) != 0, precise: Int(attr.precise_ip))
    }

    /// Each enabled sampling event takes the samples its count is due, into its ring.
    ///
    /// A throttled event is restarted first, with PERF_RECORD_UNTHROTTLE (kernel/events/core.c
    /// perf_adjust_freq_unthr_context, at the next tick). At most DIV_ROUND_UP(perf_event_max_sample_rate, HZ)
    /// samples per tick (HZ 1000) are taken; past them the event is throttled with PERF_RECORD_THROTTLE
    /// (__perf_event_account_interrupt, perf_log_throttle). A sample in kernel mode of an event opened with
    /// exclude_kernel is not taken (perf_exclude_event). A record the ring has no room for is lost: rb->lost and
    /// the event's lost_samples (__perf_output_begin).
    private func takeSamples(ns: UInt64, kernelShare: Double) {
        let perTick = (maxSampleRate + 999) / 1000 * max(1, ns / 1_000_000)
        for fd in events.keys.sorted() {
            guard let event = events[fd], event.enabled, let sampling = event.sampling else { continue }
            func write(_ record: [UInt64]) {
                guard let ring = sampling.ring else { return }
                if !ring.output(record, eventID: event.id) { sampling.lostSamples += 1 }
            }
            if sampling.throttled {
                sampling.throttled = false
                write(RecordWords.throttle(false, time: clockNs, id: event.id))
            }
            let due = (event.count - sampling.sampledUpTo) / sampling.period
            guard due > 0 else { continue }
            sampling.sampledUpTo += due * sampling.period
            let taken = min(due, perTick)
            let isHardware = event.pmu != nil
            for i in 0..<taken {
                var kernelMode = false
                if !(isHardware && event.excludeKernel) {
                    sampling.kernelShareCarry += kernelShare
                    if sampling.kernelShareCarry >= 1 {
                        sampling.kernelShareCarry -= 1
                        kernelMode = true
                    }
                }
                if kernelMode && event.excludeKernel { continue }
                samplesTaken[event.id, default: 0] += 1
                let ip: UInt64 = kernelMode ? 0xffff_ffff_8100_0000 + event.id : 0x40_0000 + event.id
                var misc = kernelMode ? RecordWords.kernel : RecordWords.user
                if isHardware && sampling.precise > 0 { misc |= RecordWords.exactIP }
                write(
                    RecordWords.sample(
                        misc: misc, identifier: sampling.hasIdentifier ? event.id : nil, ip: ip, pid: pid, tid: tid,
                        time: clockNs + UInt64(i) * ns / due, period: sampling.period,
                        callchain: sampling.hasCallchain
                            ? sampling.callchain(kernelMode: kernelMode, ip: ip, userIP: 0x40_1000) : nil))
            }
            if due > perTick {
                sampling.throttled = true
                throttleCount += 1
                write(RecordWords.throttle(true, time: clockNs + ns, id: event.id))
            }
        }
    }

    // MARK: Counter assignment

    private static func key(_ kind: Event.Kind) -> HardwareEventKey? {
        if case .hardware(_, let key) = kind { return key }
        return nil
    }

    private func hardwareKeys(of leaderFD: Int32) -> [HardwareEventKey] {
        guard let leader = events[leaderFD] else { return [] }
        return ([leaderFD] + leader.members).compactMap { Self.key(events[$0]!.kind) }
    }

    /// Places a group's events on free counters: its fixed counter when the event has one and it is free,
    /// else a general counter. Returns what is left free, or nil when the group does not fit.
    static func assign(_ keys: [HardwareEventKey], on pmu: SimulatedCorePMU, fixedFree: Set<Int>, generalFree: Int)
        -> (fixedFree: Set<Int>, generalFree: Int)?
    {
        var fixed = fixedFree
        var general = generalFree
        for key in keys {
            if let slot = pmu.fixedCounters[key], fixed.contains(slot) {
                fixed.remove(slot)
            } else {
                general -= 1
                if general < 0 { return nil }
            }
        }
        return (fixed, general)
    }
}

// MARK: - Access, routing and shared registers (issue 21: the fallbacks)

extension SimulatedKernel {
    /// Why perf_event_open refuses the call before looking at the event, in the kernel's order:
    /// - a seccomp filter (EPERM: Docker's and Podman's default profiles without CAP_PERFMON or CAP_SYS_ADMIN,
    ///   moby profiles/seccomp/default_linux.go, default action SCMP_ACT_ERRNO with EPERM);
    /// - Debian's and Ubuntu's "security,perf: Allow further restriction of perf_event_open": above paranoid 2,
    ///   `perf_paranoid_any() && !capable(CAP_SYS_ADMIN)` is EACCES, before the attributes are read;
    /// - kernel counting needs perf_event_paranoid <= 1 or CAP_PERFMON (perf_allow_kernel): EACCES.
    /// exclude_hv needs no permission for counting (only branch stacks' HV bit does).
    func accessRefusal(_ attr: perf_event_attr) -> Int32? {
        callerRefusal() ?? kernelRefusal(attr)
    }

    /// The refusals that come before the attr is read: seccomp, then the distributions' paranoid > 2.
    func callerRefusal() -> Int32? {
        if seccompRefusesPerfEventOpen { return -EPERM }
        if restrictsAboveParanoid2, paranoid > 2, !(sysAdmin ?? privileged) { return -EACCES }
        return nil
    }

    /// perf_allow_kernel, after perf_copy_attr: kernel counting or sampling without the permission.
    func kernelRefusal(_ attr: perf_event_attr) -> Int32? {
        if attr.exclude_kernel == 0, paranoid > 1, !privileged { return -EACCES }
        return nil
    }

    struct RouteRefusal: Error {
        var errno: Int32
    }

    /// The core PMU a hardware or cache event lands on, as kernel/events/core.c perf_init_event finds it:
    /// - config bits 32-63 = T: the PMU of type T, which must have PERF_PMU_CAP_EXTENDED_HW_TYPE (else ENOENT);
    ///   no second try elsewhere;
    /// - 0 (the legacy encoding): the PMU registered as PERF_TYPE_RAW (x86: cpu, or cpu_core on hybrid) if any;
    ///   if it answers ENOENT, or there is none (Arm: core PMUs get dynamic types), every PMU in turn, in
    ///   registration order, while they answer ENOENT.
    /// A PMU answers ENOENT for an event bound to a CPU it does not handle (drivers/perf/arm_pmu.c
    /// armpmu_event_init; arch/x86/events/core.c for hybrid PMUs) and for an event it does not map, and EOPNOTSUPP
    /// without exclude_guest when it requires it (drivers/perf/apple_m1_cpu_pmu.c m1_pmu_set_event_filter); a
    /// precise_ip above the PMU's precision is refused (arch/x86/events/core.c x86_pmu_hw_config: EOPNOTSUPP).
    func route(_ attr: perf_event_attr, cpu: Int32) -> Result<(pmu: String, key: HardwareEventKey), RouteRefusal> {
        let config = attr.config & 0xffff_ffff
        let key: HardwareEventKey = attr.type == PERF_TYPE_HARDWARE.rawValue ? .hardware(config) : .cache(config)
        func initEvent(_ pmu: SimulatedCorePMU) -> Int32 {
            if cpu != -1, !pmu.cpus.contains(Int(cpu)) { return ENOENT }
            if pmu.ratePerNs[key] == nil { return ENOENT }
            if pmu.requiresExcludeGuest, attr.exclude_guest == 0 { return EOPNOTSUPP }
            if Int(attr.precise_ip) > pmu.maxPrecise { return pmu.preciseRefusal }
            return 0
        }
        let extended = UInt32(truncatingIfNeeded: attr.config >> 32)
        if extended != 0 {
            guard let pmu = pmus.first(where: { $0.type == extended }), pmu.extendedHWType else {
                return .failure(RouteRefusal(errno: ENOENT))
            }
            let result = initEvent(pmu)
            return result == 0 ? .success((pmu.name, key)) : .failure(RouteRefusal(errno: result))
        }
        if let raw = pmus.first(where: { $0.type == PERF_TYPE_RAW.rawValue }) {
            let result = initEvent(raw)
            if result == 0 { return .success((raw.name, key)) }
            if result != ENOENT { return .failure(RouteRefusal(errno: result)) }
        }
        for pmu in pmus {
            let result = initEvent(pmu)
            if result == 0 { return .success((pmu.name, key)) }
            if result != ENOENT { return .failure(RouteRefusal(errno: result)) }
        }
        return .failure(RouteRefusal(errno: ENOENT))
    }

    /// Places a group's offcore-response events on the core's registers (arch/x86/events/intel/core.c
    /// __intel_shared_reg_get_constraints): a register is free, or holds the same value (shared), else the event
    /// cannot be scheduled (intel_alt_er lets an event take the other register). Both hyperthreads of a core share
    /// the registers (intel_pmu_cpu_starting shares cpuc->shared_regs between siblings), so the sibling's values
    /// start in `held`. Returns the values held after, or nil when the group does not fit.
    static func offcore(_ keys: [HardwareEventKey], on pmu: SimulatedCorePMU, held: [UInt64]) -> [UInt64]? {
        var held = held
        for key in keys {
            guard let value = pmu.offcoreEvents[key], !held.contains(value) else { continue }
            if held.count >= 2 { return nil }
            held.append(value)
        }
        return held
    }
}

// MARK: - Sampling: the ring, SET_OUTPUT, the limits

/// The sampling calls over the same events: the ring's mmap with the locked-memory limit, SET_OUTPUT, the limits.
extension SimulatedKernel: PerfSamplingSystem {
    var samplingLimits: SamplingLimits {
        defer { staleMaxSampleRate = nil }
        return SamplingLimits(maxSampleRate: staleMaxSampleRate ?? maxSampleRate, maxStack: maxStack, mlockKB: mlockKB)
    }

    /// kernel/events/core.c perf_mmap: 2^n data pages or EINVAL; one ring per event; pages past the user's
    /// locked-memory budget need CAP_IPC_LOCK (here: privileged) or the mmap is refused with EPERM.
    func mapRing(_ fd: Int32, dataPages: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        let result = mapRingChecked(fd, dataPages: dataPages)
        switch result {
        case .success: mapLog.append((dataPages, 0))
        case .failure(let errno): mapLog.append((dataPages, errno.code))
        }
        return result
    }

    private func mapRingChecked(_ fd: Int32, dataPages: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        guard let sampling = samplingEvent(fd) else { return .failure(Errno(EBADF)) }
        guard dataPages > 0, dataPages & (dataPages - 1) == 0, sampling.ring == nil else { return .failure(Errno(EINVAL)) }
        if !privileged, let limit = ringPageLimit, lockedRingPages + dataPages + 1 > limit { return .failure(Errno(EPERM)) }
        if !privileged { lockedRingPages += dataPages + 1 }
        let ring = SimulatedRing(dataPages: dataPages, pageSize: pageSize)
        sampling.ring = ring
        sampling.ownsRing = true
        rings[ring.memory] = ring
        return .success(ring.memory)
    }

    /// kernel/events/core.c perf_mmap_close: the last unmap of a ring detaches every event from it
    /// (ring_buffer_attach(event, NULL)), so that the owner may be mapped again, at another size.
    func unmapRing(_ mapping: UnsafeMutableRawPointer, dataPages: Int) {
        guard let ring = rings.removeValue(forKey: mapping) else { return }
        if !privileged { lockedRingPages -= dataPages + 1 }
        for event in events.values where event.sampling?.ring === ring {
            event.sampling?.ring = nil
            event.sampling?.ownsRing = false
        }
    }

    /// kernel/events/core.c perf_event_set_output: the target must have a ring; an event with its own mmap
    /// cannot be redirected; and "Don't allow cross-cpu buffers": both events bound to the same CPU, or both
    /// following the thread (output_event->cpu != event->cpu is EINVAL).
    func redirectOutput(_ fd: Int32, to target: Int32) -> Int32 {
        guard let sampling = samplingEvent(fd), let ring = samplingEvent(target)?.ring, !sampling.ownsRing,
            events[fd]?.cpu == events[target]?.cpu
        else {
            return -EINVAL
        }
        sampling.ring = ring
        return 0
    }

    /// Rings mapped now.
    var mappedRings: Int { rings.count }

    private func samplingEvent(_ fd: Int32) -> SimulatedSamplingState? { events[fd]?.sampling }

    /// The lost_samples count of every sampling event, summed.
    var lostSamples: UInt64 { events.values.reduce(0) { $0 + ($1.sampling?.lostSamples ?? 0) } }
}
