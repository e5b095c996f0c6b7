import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// What became of one requested event when it was opened: counted, counted for user space only,
/// or not counted with a reason a person can act on.
public struct EventAvailability: Sendable, Hashable, Codable {
    /// The outcome of opening an event.
    public enum State: String, Sendable, Codable, CaseIterable {
        /// Opened and counting kernel and user space.
        case counted
        /// Opened only with `exclude_kernel`/`exclude_hv` after the kernel refused the full event
        /// (perf marks these `:u`). The kernel side of send/recv, where the copies are, is not in the count.
        case userOnly = "user-only"
        /// The kernel or CPU has no such event (ENOENT, ENODEV, ENXIO, EOPNOTSUPP, EINVAL; tracepoint missing).
        case notSupported = "not-supported"
        /// The kernel refused it to this process: at this `perf_event_paranoid` level (EACCES), or outright (a
        /// seccomp filter's EPERM, Debian's and Ubuntu's `perf_event_paranoid` above 2).
        case notPermitted = "not-permitted"
        /// Any other failure (EMFILE, E2BIG, EBUSY, ...).
        case failed
        /// Opened, but its group never got a hardware counter while it was enabled (`time_running` 0): other
        /// groups, other programs or the NMI watchdog held the counters. Its value is unknown, not 0.
        case notCounted = "not-counted"
    }

    /// Counted, user-only, or why not in one word.
    public var state: State
    /// Why, in one line, with what to do where something can be done. Nil when counted.
    public var reason: String?
    /// The errno that perf_event_open returned, if any.
    public var errno: Int32?
    /// The attribute changes the event was opened with after the kernel refused it without them, in the order
    /// they were made (perf's fallbacks: ``AttrFallback``); nil when none was needed.
    public var fallbacks: [AttrFallback]?

    /// Creates an outcome; `reason` says why in one line, `errno` is perf_event_open's, `fallbacks` the attribute
    /// changes it needed.
    public init(state: State, reason: String? = nil, errno: Int32? = nil, fallbacks: [AttrFallback]? = nil) {
        self.state = state
        self.reason = reason
        self.errno = errno
        self.fallbacks = fallbacks
    }

    /// True when the event produces values (`counted` or `user-only`).
    public var isOpen: Bool { state == .counted || state == .userOnly }

    /// Opened and counting kernel and user space, nothing more to say.
    public static let counted = EventAvailability(state: .counted)
}

extension EventAvailability: CustomStringConvertible {
    /// The state, then the reason when there is one: `not-permitted: EACCES: ...`.
    public var description: String {
        if let reason { return "\(state.rawValue): \(reason)" }
        return state.rawValue
    }
}

extension EventAvailability {
    /// Sorts a perf_event_open failure the way perf does (tools/perf/util/evsel.c `evsel__open_strerror`).
    ///
    /// - Parameters:
    ///   - errno: the errno perf_event_open set.
    ///   - event: the event that failed.
    ///   - paranoid: the value of /proc/sys/kernel/perf_event_paranoid, if readable.
    ///   - attrSize: the perf_event_attr size this build passes (for E2BIG).
    ///   - host: what is known of the host (core PMUs, the `hypervisor` flag); nil reads this host's.
    ///   - pmu: the core PMU the event was opened on, when it named one.
    public static func classify(
        errno: Int32, event: PerfEvent, paranoid: Int?, attrSize: Int = 0, host: HostFacts? = nil, pmu: String? = nil
    ) -> EventAvailability {
        let code = Errno(errno).name
        switch errno {
        case ENOENT:
            if event.isHardware {
                return .init(
                    state: .notSupported, reason: "\(code): " + missingHardwareEvent(event, host: host ?? .current(), pmu: pmu),
                    errno: errno)
            }
            return .init(state: .notSupported, reason: "\(code): this kernel does not know this event", errno: errno)
        case ENODEV, ENXIO:
            return .init(state: .notSupported, reason: "\(code): no PMU for this event on this CPU", errno: errno)
        case EOPNOTSUPP:
            return .init(
                state: .notSupported, reason: "\(code): the PMU cannot count this event in this mode", errno: errno)
        case EINVAL:
            return .init(
                state: .notSupported,
                reason: "\(code): the kernel rejected the event's encoding (not offered by this CPU or kernel)",
                errno: errno)
        case EACCES:
            let level = paranoid.map { String($0) } ?? "unknown"
            return .init(
                state: .notPermitted,
                reason: "\(code): not permitted at /proc/sys/kernel/perf_event_paranoid = \(level); "
                    + "run as root, grant CAP_PERFMON, or lower it (sysctl kernel.perf_event_paranoid=1)",
                errno: errno)
        case EPERM:
            // Not the paranoid check (EACCES). The counters first ask whether a seccomp filter refuses the call
            // outright (PerfAccess); past that, the kernel refuses this event to this user (tools/perf/util/evsel.c
            // evsel__open_strerror: "No permission to enable %s event"), as it does the ftrace function tracepoint
            // to all but root (kernel/trace/trace_event_perf.c perf_trace_event_perm), or a security module does.
            return .init(
                state: .notPermitted,
                reason: "\(code): the kernel refuses this event to this user (an event only root may open, or a "
                    + "security module's rule; not the perf_event_paranoid check, which answers EACCES)",
                errno: errno)
        case EMFILE, ENFILE:
            return .init(
                state: .failed, reason: "\(code): out of file descriptors; raise the limit (ulimit -n)", errno: errno)
        case E2BIG:
            return .init(
                state: .failed,
                reason: "\(code): this kernel is older than the perf_event_attr this build uses (\(attrSize) bytes)",
                errno: errno)
        case EBUSY:
            return .init(
                state: .failed, reason: "\(code): another process holds the PMU exclusively", errno: errno)
        default:
            return .init(state: .failed, reason: "\(code): \(Errno(errno).text)", errno: errno)
        }
    }
}

extension EventAvailability {
    /// Why a hardware event opened ENOENT, from what the host is: a VM without a PMU (only when the CPU's
    /// `hypervisor` flag says it is a VM), a bare-metal kernel without a PMU driver, or a PMU that lacks this
    /// generic event (AMD Zen has no generic `LLC-loads`: arch/x86/events/amd/core.c maps it to nothing).
    static func missingHardwareEvent(_ event: PerfEvent, host: HostFacts, pmu: String?) -> String {
        let pmus = pmu.map { [$0] } ?? host.corePMUs.map(\.name)
        if pmus.isEmpty {
            if host.hypervisor {
                return "no hardware PMU offers this event: a virtual machine without PMU passthrough "
                    + "(hypervisor flag in /proc/cpuinfo, no core PMU registered)"
            }
            return "no hardware PMU offers this event: the kernel registered no core PMU under "
                + "/sys/bus/event_source/devices (no perf driver for this CPU, or it is disabled)"
        }
        let model = host.cpuModel.map { " (\($0))" } ?? ""
        let names = pmus.joined(separator: " and ")
        let guest = host.hypervisor ? "; this is a virtual machine, whose hypervisor chooses which events the PMU offers" : ""
        return "the \(names) PMU\(model) has no generic \(event.name) event\(guest)"
    }
}

