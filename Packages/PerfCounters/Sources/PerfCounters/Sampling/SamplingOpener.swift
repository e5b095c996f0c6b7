internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// One sampling event to open: the event, where (its core PMU, how events reach it, its CPU), how often, and the
/// sample layout every event of the sampler shares.
struct SamplingRequest {
    var event: PerfEvent
    /// The core PMU, its encoding and CPU; nil for software events.
    var placement: HardwarePlacement?
    var rate: SamplingRate
    /// Start at `precise_ip` 3 and step down (perf's `cycles:P`, `precise_max`); false: 0 only.
    var preciseMax: Bool
    /// `sample_max_stack` asked for; nil without call chains.
    var callchainDepth: Int?
    var sampleType: UInt64
}

/// What every open of one sampler shares, as perf keeps `perf_missing_features` for the whole session
/// (tools/perf/util/evsel.c): once the kernel refused kernel samples or a feature, later events start without it.
struct SamplingOpenState {
    /// Asked for user space only (`exclude_kernel`, `exclude_hv` from the start).
    var userOnlyAsked: Bool
    /// Climb counting's `exclude_kernel` step on EACCES (at `perf_event_paranoid` ≥ 2), as perf does.
    var fallBackToUserOnly: Bool
    /// The permission steps an earlier event needed (`exclude_kernel`, `exclude_hv`): they hold for the process.
    var inherited: [AttrFallback] = []
    /// `exclude_guest` where a core PMU required it (Apple M1/M2): it holds for that PMU's later events.
    var pmuFallbacks: [String: [AttrFallback]] = [:]
    /// Why user-only (asked, or refused at this paranoid level), once it is.
    var userOnlyReason: String?
    /// Ask for `PERF_FORMAT_LOST` (Linux 6.0): the event's own count of lost samples.
    var lostFormat = true
    /// Ask for `use_clockid` with `CLOCK_MONOTONIC` (Linux 4.1).
    var monotonicClock = true
    /// Whether perf_event_open is refused to this process outright, asked once for the sampler.
    var access = PerfAccessCheck()
}

/// An event the kernel accepted: its descriptor, id, CPU and what it was granted.
struct OpenedSamplingEvent {
    var fd: Int32
    var id: UInt64
    /// The CPU it is bound to; -1 when it follows the thread.
    var cpu: Int32
    var granted: SampledEvent
    /// Opened with `PERF_FORMAT_LOST`: its read() gives `{value, lost}`, else `{value}`.
    var readsLost: Bool
    /// Opened with `use_clockid` and `CLOCK_MONOTONIC`.
    var monotonicClock: Bool
}

enum SamplingOpenOutcome {
    case opened(OpenedSamplingEvent)
    case refused(errno: Int32?, EventAvailability)
}

extension PerfEvent {
    /// CPU time sampled by an hrtimer (`PERF_COUNT_SW_CPU_CLOCK`): what `perf record` samples where there is no
    /// hardware PMU. Not in ``catalog``: counting uses task-clock for the thread's CPU time.
    public static let cpuClock = PerfEvent(
        name: "cpu-clock", source: .software(config: UInt64(PERF_COUNT_SW_CPU_CLOCK.rawValue)),
        summary: "CPU time of the thread by an hrtimer, ns")
}

/// The ceilings a request meets before it is opened: the frequency at most `perf_event_max_sample_rate`
/// (perf record lowers it and warns: tools/perf/util/record.c `record_opts__config_freq`; the kernel would refuse
/// it with EINVAL), the call-chain depth at most `perf_event_max_stack` (the kernel refuses more with EOVERFLOW:
/// kernel/events/callchain.c `get_callchain_buffers`).
enum SamplingCeilings {
    static func rate(_ rate: SamplingRate, limits: SamplingLimits) -> (SamplingRate, note: String?) {
        guard case .frequency(let hertz) = rate, let max = limits.maxSampleRate, hertz > max else { return (rate, nil) }
        return (
            .frequency(hertz: max),
            "frequency lowered from \(hertz) Hz to \(max) Hz, the kernel's maximum "
                + "(/proc/sys/kernel/perf_event_max_sample_rate, which the kernel lowers when sampling interrupts take too long)"
        )
    }

    static func depth(_ depth: Int?, limits: SamplingLimits) -> (Int?, note: String?) {
        guard let depth else { return (nil, nil) }
        let capped = min(max(1, depth), Int(UInt16.max))
        guard let max = limits.maxStack, capped > max else { return (capped, nil) }
        return (max, "call-chain depth capped from \(depth) to \(max) frames (/proc/sys/kernel/perf_event_max_stack)")
    }
}

/// Opens one sampling event as `perf record` does, through the ladder counting climbs
/// (``FallbackLadder/sampling(excludeKernel:host:)``), and returns it or why not.
///
/// 1. The frequency and call-chain depth are first held to the kernel's ceilings (``SamplingCeilings``).
/// 2. The ladder's nested step: EOPNOTSUPP or EINVAL while `precise_ip` > 0, one level lower, down to 0
///    (tools/perf/util/evsel.c `evsel__precise_ip_fallback`; x86 refuses a level above its PEBS precision with
///    EOPNOTSUPP: arch/x86/events/core.c `x86_pmu_hw_config`; other PMUs refuse the attr whole with EINVAL). The
///    level asked for is tried again after any other step, as perf restores it.
/// 3. Counting's steps: `exclude_guest` on EOPNOTSUPP (Apple M1/M2), `exclude_kernel` then `exclude_hv` on EACCES
///    at `perf_event_paranoid` ≥ 2 (tools/perf/util/evsel.c `evsel__fallback`). EPERM is never retried: it asks
///    once whether perf_event_open is refused outright (a seccomp filter), as counting does.
/// 4. The sampler's own steps, which need more than the attributes: EINVAL with a frequency that the kernel's
///    maximum, read again, no longer allows (the kernel lowers it at run time): lowered. EOVERFLOW with call
///    chains: the depth capped by `perf_event_max_stack` read again. EINVAL still: a feature this kernel lacks,
///    found by a probe on a scratch software event as perf does (tools/perf/util/evsel.c
///    `evsel__detect_missing_features`), newest first: `PERF_FORMAT_LOST` (6.0), then `use_clockid` (4.1); it is
///    dropped for every later event of the sampler.
/// 5. Anything else: refused, in counting's words (``FallbackLadder/openEvent(_:event:pmu:cpu:groupFD:inherited:system:access:otherwise:)``).
func openSamplingEvent<System: PerfSamplingSystem>(
    _ request: SamplingRequest, groupFD: Int32, state: inout SamplingOpenState, system: System
) -> SamplingOpenOutcome {
    let placement = request.placement
    let extendedType = placement?.encoding == .extendedType ? placement?.pmu?.type : nil
    guard let (type, config) = request.event.typeAndConfig(extendedType: extendedType) else {
        return .refused(errno: nil, .init(state: .notSupported, reason: "tracepoints are counted, not sampled"))
    }
    let limits = system.samplingLimits
    var (rate, rateNote) = SamplingCeilings.rate(request.rate, limits: limits)
    var (depth, depthNote) = SamplingCeilings.depth(request.callchainDepth, limits: limits)
    let topPrecise = request.preciseMax ? 3 : 0

    var attr = perf_event_attr()
    attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
    attr.type = type
    attr.config = config
    attr.sample_type = request.sampleType
    attr.read_format = state.lostFormat ? UInt64(PERF_FORMAT_LOST.rawValue) : 0
    attr.disabled = groupFD == -1 ? 1 : 0
    if state.userOnlyAsked {
        attr.exclude_kernel = 1
        attr.exclude_hv = 1
    }
    setRate(&attr, rate)
    attr.precise_ip = UInt64(topPrecise)
    if let depth { attr.sample_max_stack = UInt16(depth) }
    if state.monotonicClock {
        attr.use_clockid = 1
        attr.clockid = CLOCK_MONOTONIC
    }

    let pmuName = placement?.pmu?.name
    let inherited = state.inherited + (pmuName.flatMap { state.pmuFallbacks[$0] } ?? [])
    let ladder = FallbackLadder.sampling(excludeKernel: state.fallBackToUserOnly, host: system.host)
    // The sampler's own steps work on copies of what they change, written back after the open: the ladder holds
    // the access check while they run.
    var lostFormat = state.lostFormat
    var monotonicClock = state.monotonicClock
    var reReadRate = false
    var reReadStack = false
    let outcome = ladder.openEvent(
        &attr, event: request.event, pmu: placement?.pmu, cpu: placement?.cpu ?? -1, groupFD: groupFD,
        inherited: inherited, system: system, access: &state.access
    ) { code, attr in
        if code == EINVAL, !reReadRate {
            // The kernel may have lowered its maximum since it was read (kernel/events/core.c
            // perf_sample_event_took): read it again, and lower the frequency once more if it now exceeds it.
            reReadRate = true
            let (lowered, note) = SamplingCeilings.rate(request.rate, limits: system.samplingLimits)
            if lowered != rate {
                (rate, rateNote) = (lowered, note)
                setRate(&attr, rate)
                return AttrFallback(rawValue: "sample_freq")
            }
        }
        if code == EOVERFLOW, depth != nil, !reReadStack {
            reReadStack = true
            let (capped, note) = SamplingCeilings.depth(request.callchainDepth, limits: system.samplingLimits)
            if capped != depth, let capped {
                (depth, depthNote) = (capped, note)
                attr.sample_max_stack = UInt16(capped)
                return AttrFallback(rawValue: "sample_max_stack")
            }
        }
        if code == EINVAL, lostFormat,
            !probeAccepts(system: system, { $0.read_format = UInt64(PERF_FORMAT_LOST.rawValue) })
        {
            lostFormat = false
            attr.read_format &= ~UInt64(PERF_FORMAT_LOST.rawValue)
            return AttrFallback(rawValue: "read_format")
        }
        if code == EINVAL, monotonicClock, !probeAccepts(system: system, { $0.use_clockid = 1; $0.clockid = CLOCK_MONOTONIC }) {
            monotonicClock = false
            attr.use_clockid = 0
            attr.clockid = 0
            return AttrFallback(rawValue: "use_clockid")
        }
        return nil
    }
    state.lostFormat = lostFormat
    state.monotonicClock = monotonicClock

    let opened: FallbackOutcome
    switch outcome {
    case .success(let success): opened = success
    case .failure(let refused): return .refused(errno: refused.errno, refused.availability)
    }
    let fd = opened.result
    let id: UInt64
    switch system.id(fd) {
    case .success(let value): id = value
    case .failure(let error):
        system.close(fd)
        let code: Int32? = if case .systemCall(let failure) = error { failure.errno.code } else { nil }
        return .refused(errno: code, .init(state: .failed, reason: error.description, errno: code))
    }

    // What the open needed holds for later events: the permission steps for the process, exclude_guest for the
    // PMU.
    let fallbacks = inherited + opened.applied.filter { $0 == .excludeGuest || $0 == .excludeKernel || $0 == .excludeHypervisor }
    for fallback in opened.applied {
        if fallback == .excludeGuest, let pmuName {
            state.pmuFallbacks[pmuName, default: []].append(fallback)
        } else if fallback == .excludeKernel || fallback == .excludeHypervisor {
            state.inherited.append(fallback)
        }
    }
    let userOnly = attr.exclude_kernel == 1
    if userOnly, state.userOnlyReason == nil {
        state.userOnlyReason = userOnlyReason(paranoid: system.host.paranoid)
    }

    var notes: [String] = []
    if let note = rateNote { notes.append(note) }
    if let note = depthNote { notes.append(note) }
    let precise = Int(attr.precise_ip)
    if precise < topPrecise, let step = opened.applied.firstIndex(of: .preciseIP) {
        notes.append(
            "precise_ip \(precise): the PMU refused \(precise + 1)–\(topPrecise) (\(Errno(opened.answered[step]).name)), "
                + "as perf steps down for cycles:P")
    }
    if fallbacks.contains(.excludeGuest) { notes.append(AttrFallback.excludeGuestNote("the samples are")) }
    if userOnly, let reason = state.userOnlyReason { notes.append(reason) }
    let granted = SampledEvent(
        event: request.event, pmu: pmuName, preciseIP: precise, requestedRate: request.rate, rate: rate,
        callchainDepth: depth, mode: userOnly ? .userOnly : .userAndKernel, notes: notes,
        fallbacks: fallbacks.isEmpty ? nil : fallbacks)
    return .opened(
        OpenedSamplingEvent(
            fd: fd, id: id, cpu: placement?.cpu ?? -1, granted: granted, readsLost: lostFormat,
            monotonicClock: monotonicClock))
}

/// Sets the attr's frequency or period.
private func setRate(_ attr: inout perf_event_attr, _ rate: SamplingRate) {
    switch rate {
    case .frequency(let hertz):
        attr.freq = 1
        attr.sample_freq = hertz
    case .period(let events):
        attr.freq = 0
        attr.sample_period = events
    }
}

/// Why samples are user space only after the kernel refused kernel samples (EACCES at `perf_event_paranoid` ≥ 2:
/// counting's `exclude_kernel` step).
func userOnlyReason(paranoid: Int?) -> String {
    let level = paranoid.map(String.init) ?? "unknown"
    return "user space only: kernel samples are not permitted (EACCES at "
        + "/proc/sys/kernel/perf_event_paranoid = \(level) without CAP_PERFMON); the kernel drops samples taken in "
        + "the kernel, so the kernel side of send/recv, where the copies are, is not in them "
        + "(root, CAP_PERFMON or sysctl kernel.perf_event_paranoid=1 give kernel samples)"
}

/// Whether the kernel accepts a feature: opens a scratch software event (dummy, disabled, user space only, so
/// that no permission is needed) with it, and closes it. perf probes the same way
/// (tools/perf/util/evsel.c `evsel__detect_missing_features`).
private func probeAccepts<System: PerfSamplingSystem>(system: System, _ feature: (inout perf_event_attr) -> Void) -> Bool {
    var attr = PerfAccess.probeAttr(config: UInt64(PERF_COUNT_SW_DUMMY.rawValue))
    feature(&attr)
    let fd = system.open(&attr, groupFD: -1)
    if fd >= 0 {
        system.close(fd)
        return true
    }
    return -fd != EINVAL
}
