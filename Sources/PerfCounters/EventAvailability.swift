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
        /// The kernel refused it at this `perf_event_paranoid` level (EACCES, EPERM).
        case notPermitted = "not-permitted"
        /// Any other failure (EMFILE, E2BIG, EBUSY, ...).
        case failed
    }

    public var state: State
    /// Why, in one line, with what to do where something can be done. Nil when counted.
    public var reason: String?
    /// The errno that perf_event_open returned, if any.
    public var errno: Int32?

    public init(state: State, reason: String? = nil, errno: Int32? = nil) {
        self.state = state
        self.reason = reason
        self.errno = errno
    }

    /// True when the event produces values (`counted` or `user-only`).
    public var isOpen: Bool { state == .counted || state == .userOnly }

    public static let counted = EventAvailability(state: .counted)
}

extension EventAvailability: CustomStringConvertible {
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
    public static func classify(errno: Int32, event: PerfEvent, paranoid: Int?, attrSize: Int = 0) -> EventAvailability {
        let code = "\(errnoName(errno))"
        switch errno {
        case ENOENT:
            if event.isHardware {
                return .init(
                    state: .notSupported,
                    reason: "\(code): no hardware PMU offers this event (typical of a virtual machine without PMU passthrough)",
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
        case EACCES, EPERM:
            let level = paranoid.map { String($0) } ?? "unknown"
            return .init(
                state: .notPermitted,
                reason: "\(code): not permitted at /proc/sys/kernel/perf_event_paranoid = \(level); "
                    + "run as root, grant CAP_PERFMON, or lower it (sysctl kernel.perf_event_paranoid=1)",
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
            return .init(state: .failed, reason: "\(code): \(errnoText(errno))", errno: errno)
        }
    }
}

/// `strerror(errno)` as a Swift string.
func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// The symbolic name of common errno values (`ENOENT`), or `errno N`.
func errnoName(_ code: Int32) -> String {
    switch code {
    case EPERM: return "EPERM"
    case ENOENT: return "ENOENT"
    case EINTR: return "EINTR"
    case EBADF: return "EBADF"
    case EACCES: return "EACCES"
    case EFAULT: return "EFAULT"
    case EBUSY: return "EBUSY"
    case ENODEV: return "ENODEV"
    case ENXIO: return "ENXIO"
    case EINVAL: return "EINVAL"
    case ENFILE: return "ENFILE"
    case EMFILE: return "EMFILE"
    case ENOSPC: return "ENOSPC"
    case E2BIG: return "E2BIG"
    case EOPNOTSUPP: return "EOPNOTSUPP"
    case ESRCH: return "ESRCH"
    default: return "errno \(code)"
    }
}
