package import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// A change perf makes to an event's attributes when the kernel refuses it, named after the attribute it sets.
///
/// Recorded in ``EventAvailability/fallbacks`` for every event that was opened only after one. The known ones are
/// static members; a name is just a string, so other openers (a sampler's `precise_ip` steps) can name their own.
public struct AttrFallback: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The attribute the fallback sets, as `perf_event_attr` names it (`exclude_guest`, `exclude_kernel` ...).
    public var rawValue: String

    /// A fallback named after the attribute it sets.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// `exclude_guest`: Apple M1/M2's PMU (drivers/perf/apple_m1_cpu_pmu.c `m1_pmu_set_event_filter`, when the
    /// kernel is not in hyp mode) refuses with EOPNOTSUPP an event that would count guest time; perf retries with
    /// `exclude_guest` (tools/perf/util/evsel.c `evsel__fallback`, "Apple M1 requires exclude_guest"). The thread
    /// runs no guest, so the count is the same.
    public static let excludeGuest = AttrFallback(rawValue: "exclude_guest")
    /// `exclude_kernel`: the kernel refuses kernel counting with EACCES at `perf_event_paranoid` 2 without
    /// `CAP_PERFMON` (kernel/events/core.c `perf_event_open`, `perf_allow_kernel`); perf retries user space only
    /// and marks the event `:u` (tools/perf/util/evsel.c `evsel__fallback`). The kernel side of send and recv is
    /// then not in the count.
    public static let excludeKernel = AttrFallback(rawValue: "exclude_kernel")
    /// `exclude_hv`: the hypervisor's part, as a step of its own after `exclude_kernel`, as in Namhyung Kim's
    /// "perf tools: Separate exclude_hv fallback" (LKML, September 2024, v2 and v3 of the exclude_guest series;
    /// mainline perf still sets `exclude_kernel` and `exclude_hv` together). The kernel checks no permission for
    /// the hypervisor when counting (it does for branch stacks with their HV bit), so a count rarely needs it.
    public static let excludeHypervisor = AttrFallback(rawValue: "exclude_hv")
    /// `precise_ip` one level lower: a sampler's `cycles:P` starts at 3 and steps down while the PMU refuses the
    /// level (tools/perf/util/evsel.c `evsel__precise_ip_fallback`; x86 answers EOPNOTSUPP above its PEBS precision,
    /// arch/x86/events/core.c `x86_pmu_hw_config`; a PMU that rejects the attr whole answers EINVAL).
    public static let preciseIP = AttrFallback(rawValue: "precise_ip")

    /// What an event opened with `exclude_guest` says, once: `what` is its count or its samples.
    static func excludeGuestNote(_ what: String) -> String {
        "opened with exclude_guest, which this PMU requires (EOPNOTSUPP without it, as Apple M1/M2 under Linux "
            + "answer); the thread runs no guest, so \(what) the same"
    }

    /// The attribute's name.
    public var description: String { rawValue }

    /// Decodes the attribute's name.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes the attribute's name.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// One step of a ``FallbackLadder``: the errnos it answers, whether it can still change the attributes, and the
/// change.
///
/// A step may apply more than once while ``canApply`` holds (a sampler's step that lowers `precise_ip` by one).
package struct FallbackRung: Sendable {
    /// What the step sets, recorded when an open succeeds after it.
    package var fallback: AttrFallback
    /// The errnos of a refusal this step answers.
    package var answers: Set<Int32>
    /// True when the step can still change `attr` (the attribute is not yet set).
    package var canApply: @Sendable (perf_event_attr) -> Bool
    /// The change.
    package var apply: @Sendable (inout perf_event_attr) -> Void
    /// A nested step is tried before the others on every refusal, and undone when another step is taken, so that
    /// it is tried again from the start under each of them: perf's `precise_ip` steps, which
    /// `evsel__precise_ip_fallback` (tools/perf/util/evsel.c) runs first, then restores to the level asked for
    /// once they are exhausted, before `evsel__fallback`'s steps reopen the event.
    package var nested: Bool

    /// A step answering `answers` with `apply`, while `canApply` holds.
    package init(
        _ fallback: AttrFallback, answers: Set<Int32>, nested: Bool = false,
        canApply: @escaping @Sendable (perf_event_attr) -> Bool, apply: @escaping @Sendable (inout perf_event_attr) -> Void
    ) {
        self.fallback = fallback
        self.answers = answers
        self.nested = nested
        self.canApply = canApply
        self.apply = apply
    }

    /// `precise_ip` one level lower on EOPNOTSUPP or EINVAL, down to 0, nested: the level asked for is tried again
    /// after any other step (on an Apple M1 the EOPNOTSUPP is exclude_guest's, and the level stands once it is
    /// set; drivers/perf/arm_pmu.c does not look at `precise_ip`).
    package static let preciseIP = FallbackRung(
        .preciseIP, answers: [EOPNOTSUPP, EINVAL], nested: true, canApply: { $0.precise_ip > 0 },
        apply: { $0.precise_ip -= 1 })

    /// `exclude_guest` on EOPNOTSUPP (Apple M1/M2).
    package static let excludeGuest = FallbackRung(
        .excludeGuest, answers: [EOPNOTSUPP], canApply: { $0.exclude_guest == 0 }, apply: { $0.exclude_guest = 1 })
    /// `exclude_kernel` on EACCES (`perf_event_paranoid` ≥ 2 without `CAP_PERFMON`). EPERM is not answered: the
    /// paranoid checks answer EACCES, and EPERM comes from a seccomp filter or a rule no exclude bit lifts.
    package static let excludeKernel = FallbackRung(
        .excludeKernel, answers: [EACCES], canApply: { $0.exclude_kernel == 0 && $0.exclude_user == 0 },
        apply: { $0.exclude_kernel = 1 })
    /// `exclude_hv` on EACCES, after `exclude_kernel`.
    package static let excludeHypervisor = FallbackRung(
        .excludeHypervisor, answers: [EACCES],
        canApply: { $0.exclude_kernel == 1 && $0.exclude_hv == 0 && $0.exclude_user == 0 },
        apply: { $0.exclude_hv = 1 })
}

/// What became of an open through a ``FallbackLadder``.
package struct FallbackOutcome: Sendable {
    /// The file descriptor, or -errno of the last refusal.
    package var result: Int32
    /// The steps applied, in order (also when the open failed in the end).
    package var applied: [AttrFallback]
    /// The errno each step in ``applied`` answered.
    package var answered: [Int32] = []
    /// How many times perf_event_open was called.
    package var attempts: Int

    /// True when the event was opened.
    package var opened: Bool { result >= 0 }
    /// The errno of the final refusal; nil when opened.
    package var errno: Int32? { result < 0 ? -result : nil }
}

/// perf's fallbacks as data: an ordered list of attribute changes, each answering some errnos
/// (tools/perf/util/evsel.c `evsel__fallback` for the exclude bits; `evsel__detect_missing_features` and the
/// `precise_ip` steps of `evsel__open_cpu` are of the same kind).
///
/// ``open(_:otherwise:_:)`` calls perf_event_open; on a refusal it takes the first step, in order, that answers the
/// errno and can still change the attributes (a nested step first: ``FallbackRung/nested``), applies it and tries
/// again, until the kernel takes the event or no step answers. Each successful open records the steps it needed.
/// Counting climbs ``counting(excludeKernel:host:)``; the sampler climbs the same with perf's `precise_ip` steps
/// nested in it (``sampling(excludeKernel:host:)``), and its own probes as the `otherwise` step.
package struct FallbackLadder: Sendable {
    /// The steps, in the order they are tried.
    package var rungs: [FallbackRung]

    /// A ladder of these steps.
    package init(_ rungs: [FallbackRung]) {
        self.rungs = rungs
    }

    /// The ladder for counting: `exclude_guest` on EOPNOTSUPP first (Namhyung Kim's series moved it to the
    /// front: an M1 refuses for it whatever the other bits), then, when `excludeKernel` allows it, `exclude_kernel`
    /// and `exclude_hv` on EACCES — but only at `perf_event_paranoid` ≥ 2, as perf (`paranoid > 1`): below, EACCES
    /// is not the paranoid check and user space only would not lift it.
    package static func counting(excludeKernel: Bool, host: HostFacts) -> FallbackLadder {
        var rungs = [FallbackRung.excludeGuest]
        if excludeKernel, (host.paranoid ?? 2) > 1 {
            rungs += [.excludeKernel, .excludeHypervisor]
        }
        return FallbackLadder(rungs)
    }

    /// The ladder for sampling: counting's, with perf's `precise_ip` steps nested in it (``FallbackRung/preciseIP``).
    package static func sampling(excludeKernel: Bool, host: HostFacts) -> FallbackLadder {
        FallbackLadder([.preciseIP] + counting(excludeKernel: excludeKernel, host: host).rungs)
    }

    /// Sets in `attr` the fallbacks an earlier open needed (a group's leader, an earlier event of a sampler), so
    /// that the open starts where that one ended rather than climbing the same steps again.
    package func apply(_ inherited: [AttrFallback], to attr: inout perf_event_attr) {
        for fallback in inherited {
            rungs.first { $0.fallback == fallback && !$0.nested && $0.canApply(attr) }?.apply(&attr)
        }
    }

    /// Opens `attr` with `open` (one perf_event_open returning a file descriptor or -errno), climbing the ladder on
    /// refusals: the nested steps first, then the others in order, then `otherwise` — a step of the caller's that
    /// needs more than the attributes (a probe, a limit read again): given the errno and the attributes as they
    /// were before the nested steps, it changes them and names the change, or returns nil. `attr` ends as the
    /// kernel took it, or as last refused.
    package func open(
        _ attr: inout perf_event_attr, otherwise: (Int32, inout perf_event_attr) -> AttrFallback? = { _, _ in nil },
        _ open: (inout perf_event_attr) -> Int32
    ) -> FallbackOutcome {
        var applied: [AttrFallback] = []
        var answered: [Int32] = []
        var attempts = 0
        // The attributes before the nested steps since the last other step, and how many of `applied` they are.
        var beforeNested = attr
        var nestedApplied = 0
        // Each step changes one bit or lowers one field, the nested ones once more under each other step: a bound
        // keeps a step that does not change `attr` from looping.
        let bound = 8 * (rungs.count + 8)
        while true {
            let result = open(&attr)
            attempts += 1
            if result >= 0 || attempts >= bound {
                return FallbackOutcome(result: result, applied: applied, answered: answered, attempts: attempts)
            }
            let code = -result
            if let rung = rungs.first(where: { $0.nested && $0.answers.contains(code) && $0.canApply(attr) }) {
                rung.apply(&attr)
                applied.append(rung.fallback)
                answered.append(code)
                nestedApplied += 1
                continue
            }
            var restored = beforeNested
            let step: AttrFallback
            if let rung = rungs.first(where: { !$0.nested && $0.answers.contains(code) && $0.canApply(restored) }) {
                rung.apply(&restored)
                step = rung.fallback
            } else if let other = otherwise(code, &restored) {
                step = other
            } else {
                return FallbackOutcome(result: result, applied: applied, answered: answered, attempts: attempts)
            }
            applied.removeLast(nestedApplied)
            answered.removeLast(nestedApplied)
            applied.append(step)
            answered.append(code)
            nestedApplied = 0
            attr = restored
            beforeNested = restored
        }
    }
}

/// Whether this process may call perf_event_open at all, checked once before anything is opened.
///
/// Two refusals no attribute lifts, so retrying event by event (or user space only) is futile:
/// - Debian's and Ubuntu's kernel patch "security,perf: Allow further restriction of perf_event_open" (Ben
///   Hutchings): above `perf_event_paranoid` 2 (Debian's default 3; Ubuntu counts from 4, its default) every
///   perf_event_open of a process without `CAP_SYS_ADMIN` is refused with EACCES, before the event is looked at
///   (`perf_paranoid_any() && !capable(CAP_SYS_ADMIN)`). Ubuntu's `CAP_PERFMON` does not lift it (Launchpad bug
///   2131046). Upstream kernels treat these levels as 2.
/// - A seccomp filter that refuses the system call, as Docker's and Podman's default profiles do for a container
///   without `CAP_PERFMON` or `CAP_SYS_ADMIN`: their default action is `SCMP_ACT_ERRNO` with EPERM (moby
///   profiles/seccomp/default_linux.go). The paranoid checks never answer EPERM (they answer EACCES).
enum PerfAccess {
    /// The one open that tells: task-clock (or another software event: a sampler's feature probes open the dummy
    /// event), user space only, disabled — permitted at any upstream `perf_event_paranoid` level to any user.
    static func probeAttr(config: UInt64 = UInt64(PERF_COUNT_SW_TASK_CLOCK.rawValue)) -> perf_event_attr {
        var attr = perf_event_attr()
        attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
        attr.type = PERF_TYPE_SOFTWARE.rawValue
        attr.config = config
        attr.disabled = 1
        attr.exclude_kernel = 1
        attr.exclude_hv = 1
        return attr
    }

    /// Whether to check before the first open: where the host says the process may be refused outright (a
    /// `perf_event_paranoid` above 2 without `CAP_SYS_ADMIN`, or a seccomp filter).
    static func checkFirst(_ host: HostFacts) -> Bool {
        ((host.paranoid ?? 0) > 2 && host.sysAdmin != true) || host.seccompFilter == true
    }

    /// Why perf_event_open is refused to this process outright, or nil when the probe event opens (it is closed).
    static func refusal<System: PerfEventSystem>(_ system: System) -> EventAvailability? {
        var attr = probeAttr()
        let fd = system.open(&attr, cpu: -1, groupFD: -1)
        if fd >= 0 {
            system.close(fd)
            return nil
        }
        return refusal(errno: -fd, host: system.host)
    }

    /// The availability every event gets when the probe event was refused with `errno`; nil when that errno does
    /// not mean an outright refusal.
    static func refusal(errno: Int32, host: HostFacts) -> EventAvailability? {
        switch errno {
        case EPERM:
            return EventAvailability(state: .notPermitted, reason: seccompReason(host), errno: EPERM)
        case EACCES where (host.paranoid ?? 0) > 2:
            return EventAvailability(state: .notPermitted, reason: paranoidReason(host), errno: EACCES)
        default:
            return nil
        }
    }

    /// Debian's or Ubuntu's `perf_event_paranoid` above 2, in one line.
    static func paranoidReason(_ host: HostFacts) -> String {
        let level = host.paranoid.map(String.init) ?? "unknown"
        let perfmon = host.perfmon == true ? "; CAP_PERFMON does not lift it" : ""
        return "EACCES: this kernel forbids perf_event_open to unprivileged users (perf_event_paranoid = \(level), "
            + "a Debian/Ubuntu kernel patch\(perfmon)): as root, sysctl kernel.perf_event_paranoid=2, or run as root"
    }

    /// A seccomp filter's EPERM, in one line, with what lifts it in a container.
    static func seccompReason(_ host: HostFacts) -> String {
        let filter =
            host.seccompFilter == true
            ? "a seccomp filter on this thread refuses perf_event_open (Seccomp: 2 in /proc/thread-self/status)"
            : "perf_event_open itself is refused (EPERM, not the paranoid check's EACCES: a seccomp filter or a "
                + "security module)"
        return "EPERM: \(filter), as a container's default profile does without CAP_PERFMON or CAP_SYS_ADMIN: "
            + "run the container with --cap-add PERFMON (or --cap-add SYS_ADMIN), or with --security-opt "
            + "seccomp=unconfined or a profile that allows perf_event_open (docker run and podman run alike)"
    }
}

/// Whether perf_event_open is refused to this process outright (``PerfAccess``), asked at most once by one opener
/// — a counter set's or a sampler's: before the first open where the host says it may be, else after the first
/// EPERM.
struct PerfAccessCheck {
    /// Why perf_event_open is refused outright, once known: then nothing more is opened.
    private(set) var refusal: EventAvailability?
    private var asked = false

    /// Asks before anything is opened where the host says the process may be refused outright
    /// (``PerfAccess/checkFirst(_:)``): one probe open, and no futile retries event by event.
    mutating func beforeFirstOpen<System: PerfEventSystem>(_ system: System) {
        if PerfAccess.checkFirst(system.host) { ask(system) }
    }

    /// After an EPERM: asks once whether perf_event_open is refused outright (a seccomp filter).
    mutating func afterEPERM<System: PerfEventSystem>(_ system: System) {
        ask(system)
    }

    private mutating func ask<System: PerfEventSystem>(_ system: System) {
        guard !asked else { return }
        asked = true
        refusal = PerfAccess.refusal(system)
    }
}

/// An event the kernel refused in the end: the errno, and why, in the words every opener uses.
struct OpenRefusal: Error {
    var errno: Int32
    var availability: EventAvailability
}

extension FallbackLadder {
    /// One event opened as counting and sampling both open them: from the fallbacks `inherited`, climbing the
    /// ladder (and the caller's `otherwise` step) on refusals. A final EPERM asks once whether perf_event_open is
    /// refused outright (``PerfAccessCheck``), and is then that one reason; any other refusal is sorted by
    /// ``EventAvailability/classify(errno:event:paranoid:attrSize:host:pmu:)``, naming the core PMU on hybrid hosts.
    func openEvent<System: PerfEventSystem>(
        _ attr: inout perf_event_attr, event: PerfEvent, pmu: CorePMU?, cpu: Int32, groupFD: Int32,
        inherited: [AttrFallback] = [], system: System, access: inout PerfAccessCheck,
        otherwise: (Int32, inout perf_event_attr) -> AttrFallback? = { _, _ in nil }
    ) -> Result<FallbackOutcome, OpenRefusal> {
        apply(inherited, to: &attr)
        let outcome = open(&attr, otherwise: otherwise) { system.open(&$0, cpu: cpu, groupFD: groupFD) }
        guard let code = outcome.errno else { return .success(outcome) }
        if code == EPERM {
            access.afterEPERM(system)
            if let refusal = access.refusal { return .failure(OpenRefusal(errno: code, availability: refusal)) }
        }
        let host = system.host
        let why = EventAvailability.classify(
            errno: code, event: event, paranoid: host.paranoid, attrSize: MemoryLayout<perf_event_attr>.size,
            host: host, pmu: host.isHybrid ? pmu?.name : nil)
        return .failure(OpenRefusal(errno: code, availability: why))
    }
}
