internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// One sampling event to open: the event, its core PMU, how often, and the sample layout every event of the
/// sampler shares.
struct SamplingRequest {
    var event: PerfEvent
    /// The core PMU; nil for software events and for the one PMU of a non-hybrid host.
    var pmu: CorePMU?
    /// Put the PMU's type in config bits 32–63 (hybrid hosts), as ``CounterSet`` does for counting.
    var extendedType: Bool
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
    /// Open with `exclude_kernel` and `exclude_hv`.
    var userOnly: Bool
    /// Why user-only (asked, or refused at this paranoid level), once it is.
    var userOnlyReason: String?
    /// Retry user-only on EACCES/EPERM, as perf does.
    var fallBackToUserOnly: Bool
    /// Ask for `PERF_FORMAT_LOST` (Linux 6.0): the event's own count of lost samples.
    var lostFormat = true
    /// Ask for `use_clockid` with `CLOCK_MONOTONIC` (Linux 4.1).
    var monotonicClock = true
}

/// An event the kernel accepted: its descriptor, id and what it was granted.
struct OpenedSamplingEvent {
    var fd: Int32
    var id: UInt64
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

    /// `perf_event_attr.type` and `.config` of a hardware, cache or software event on `pmu`: with the PMU's type
    /// in config bits 32–63 when `extendedType` (include/uapi/linux/perf_event.h, `PERF_PMU_TYPE_SHIFT`). Nil for
    /// tracepoints, which need a tracefs lookup.
    func sampledTypeAndConfig(pmu: CorePMU?, extendedType: Bool) -> (type: UInt32, config: UInt64)? {
        let pmuBits = extendedType ? UInt64(pmu?.type ?? 0) << 32 : 0
        switch source {
        case .hardware(let config): return (PERF_TYPE_HARDWARE.rawValue, config | pmuBits)
        case .hardwareCache(let cache, let op, let result):
            return (PERF_TYPE_HW_CACHE.rawValue, (cache | op << 8 | result << 16) | pmuBits)
        case .software(let config): return (PERF_TYPE_SOFTWARE.rawValue, config)
        case .tracepoint: return nil
        }
    }
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

/// Opens one sampling event as `perf record` does, each retry one step perf takes, and returns it or why not.
///
/// 1. The frequency and call-chain depth are first held to the kernel's ceilings (``SamplingCeilings``).
/// 2. EOPNOTSUPP or EINVAL while `precise_ip` > 0: one level lower, down to 0 (tools/perf/util/evsel.c
///    `evsel__precise_ip_fallback`; x86 refuses a level above its PEBS precision with EOPNOTSUPP:
///    arch/x86/events/core.c `x86_pmu_hw_config`). perf steps down on EOPNOTSUPP since commit af954f76eea5;
///    other PMUs refuse the attr whole with EINVAL, which earlier perf stepped down on as well.
/// 3. EINVAL with a frequency that the kernel's maximum, read again, no longer allows (the kernel lowers it at
///    run time): lowered, and retried. EOVERFLOW with call chains: the depth capped by `perf_event_max_stack`
///    read again.
/// 4. EINVAL still: a feature this kernel lacks, found by a probe on a scratch software event as perf does
///    (tools/perf/util/evsel.c `evsel__detect_missing_features`), newest first: `PERF_FORMAT_LOST` (6.0), then
///    `use_clockid` (4.1). The feature is dropped for every later event of the sampler.
/// 5. EACCES or EPERM without `exclude_kernel`: user space only (`exclude_kernel`, `exclude_hv`), said so in the
///    mode (tools/perf/util/evsel.c `evsel__fallback`), and the ladder starts again.
/// 6. Anything else: refused, sorted as ``EventAvailability/classify(errno:event:paranoid:attrSize:host:pmu:)``
///    sorts it.
///
/// The ladder is this function alone, so that it can later go through a ladder shared with counting.
func openSamplingEvent<System: PerfSamplingSystem>(
    _ request: SamplingRequest, groupFD: Int32, state: inout SamplingOpenState, system: System
) -> SamplingOpenOutcome {
    guard let (type, config) = request.event.sampledTypeAndConfig(pmu: request.pmu, extendedType: request.extendedType)
    else {
        return .refused(errno: nil, .init(state: .notSupported, reason: "tracepoints are counted, not sampled"))
    }
    var limits = system.samplingLimits
    var notes: [String] = []
    var (rate, rateNote) = SamplingCeilings.rate(request.rate, limits: limits)
    var (depth, depthNote) = SamplingCeilings.depth(request.callchainDepth, limits: limits)
    let topPrecise = request.preciseMax ? 3 : 0
    var precise = topPrecise
    var preciseRefusal: Int32?
    var reReadRate = false
    var reReadStack = false

    while true {
        var attr = perf_event_attr()
        attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
        attr.type = type
        attr.config = config
        attr.sample_type = request.sampleType
        attr.read_format = state.lostFormat ? UInt64(PERF_FORMAT_LOST.rawValue) : 0
        attr.disabled = groupFD == -1 ? 1 : 0
        attr.exclude_kernel = state.userOnly ? 1 : 0
        attr.exclude_hv = state.userOnly ? 1 : 0
        switch rate {
        case .frequency(let hertz):
            attr.freq = 1
            attr.sample_freq = hertz
        case .period(let events):
            attr.sample_period = events
        }
        attr.precise_ip = UInt64(precise)
        if let depth { attr.sample_max_stack = UInt16(depth) }
        if state.monotonicClock {
            attr.use_clockid = 1
            attr.clockid = CLOCK_MONOTONIC
        }

        let fd = system.open(&attr, groupFD: groupFD)
        if fd >= 0 {
            let id: UInt64
            switch system.id(fd) {
            case .success(let value): id = value
            case .failure(let error):
                system.close(fd)
                let code: Int32? = if case .systemCall(_, let errno) = error { errno } else { nil }
                return .refused(errno: code, .init(state: .failed, reason: error.description, errno: code))
            }
            if let note = rateNote { notes.append(note) }
            if let note = depthNote { notes.append(note) }
            if precise < topPrecise, let code = preciseRefusal {
                notes.append(
                    "precise_ip \(precise): the PMU refused \(precise + 1)–\(topPrecise) (\(Errno(code).name)), "
                        + "as perf steps down for cycles:P")
            }
            if state.userOnly, let reason = state.userOnlyReason { notes.append(reason) }
            let granted = SampledEvent(
                event: request.event, pmu: request.pmu?.name, preciseIP: precise, requestedRate: request.rate,
                rate: rate, callchainDepth: depth, mode: state.userOnly ? .userOnly : .userAndKernel, notes: notes)
            return .opened(
                OpenedSamplingEvent(
                    fd: fd, id: id, granted: granted, readsLost: state.lostFormat, monotonicClock: state.monotonicClock))
        }

        let code = -fd
        switch code {
        case EOPNOTSUPP where precise > 0, EINVAL where precise > 0:
            preciseRefusal = preciseRefusal ?? code
            precise -= 1
            continue
        case EINVAL where !reReadRate:
            // The kernel may have lowered its maximum since it was read (kernel/events/core.c
            // perf_sample_event_took): read it again, and lower the frequency once more if it now exceeds it.
            reReadRate = true
            limits = system.samplingLimits
            let (lowered, note) = SamplingCeilings.rate(request.rate, limits: limits)
            if lowered != rate {
                (rate, rateNote) = (lowered, note)
                precise = topPrecise
                continue
            }
        case EOVERFLOW where depth != nil && !reReadStack:
            reReadStack = true
            limits = system.samplingLimits
            let (capped, note) = SamplingCeilings.depth(request.callchainDepth, limits: limits)
            if capped != depth {
                (depth, depthNote) = (capped, note)
                precise = topPrecise
                continue
            }
        default:
            break
        }
        if code == EINVAL, state.lostFormat, !probeAccepts(system: system, { $0.read_format = UInt64(PERF_FORMAT_LOST.rawValue) }) {
            state.lostFormat = false
            precise = topPrecise
            continue
        }
        if code == EINVAL, state.monotonicClock,
            !probeAccepts(system: system, { $0.use_clockid = 1; $0.clockid = CLOCK_MONOTONIC })
        {
            state.monotonicClock = false
            precise = topPrecise
            continue
        }
        if code == EACCES || code == EPERM, !state.userOnly, state.fallBackToUserOnly {
            state.userOnly = true
            state.userOnlyReason = userOnlyReason(code: code, paranoid: system.host.paranoid)
            precise = topPrecise
            continue
        }
        return .refused(
            errno: code,
            EventAvailability.classify(
                errno: code, event: request.event, paranoid: system.host.paranoid,
                attrSize: MemoryLayout<perf_event_attr>.size, host: system.host,
                pmu: system.host.isHybrid ? request.pmu?.name : nil))
    }
}

/// Why samples are user space only after the kernel refused kernel samples.
func userOnlyReason(code: Int32, paranoid: Int?) -> String {
    let level = paranoid.map(String.init) ?? "unknown"
    return "user space only: kernel samples are not permitted (\(Errno(code).name) at "
        + "/proc/sys/kernel/perf_event_paranoid = \(level) without CAP_PERFMON); the kernel drops samples taken in "
        + "the kernel, so the kernel side of send/recv, where the copies are, is not in them "
        + "(root, CAP_PERFMON or sysctl kernel.perf_event_paranoid=1 give kernel samples)"
}

/// Whether the kernel accepts a feature: opens a scratch software event (dummy, disabled, user space only, so
/// that no permission is needed) with it, and closes it. perf probes the same way
/// (tools/perf/util/evsel.c `evsel__detect_missing_features`).
private func probeAccepts<System: PerfSamplingSystem>(system: System, _ feature: (inout perf_event_attr) -> Void) -> Bool {
    var attr = perf_event_attr()
    attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
    attr.type = PERF_TYPE_SOFTWARE.rawValue
    attr.config = UInt64(PERF_COUNT_SW_DUMMY.rawValue)
    attr.disabled = 1
    attr.exclude_kernel = 1
    attr.exclude_hv = 1
    feature(&attr)
    let fd = system.open(&attr, groupFD: -1)
    if fd >= 0 {
        system.close(fd)
        return true
    }
    return -fd != EINVAL
}
