import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Finds tracepoint ids in tracefs, which the kernel mounts at /sys/kernel/tracing
/// (older systems: /sys/kernel/debug/tracing).
public enum Tracefs {
    /// Where tracefs may be mounted, in the order they are tried.
    public static let mountPoints = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    /// The mount point that has an `events` folder this user can reach, or nil.
    public static var mountPoint: String? {
        if case .mounted(let path) = status { return path }
        return nil
    }

    /// Mounted and readable, mounted but not readable by this user, or not mounted.
    ///
    /// The kernel mounts tracefs with mode 0700, so for a user other than root `access()` of its `events`
    /// folder fails with EACCES: that is a permission problem, not a missing mount.
    public static var status: TracefsStatus {
        var denied: String?
        for root in mountPoints {
            switch SystemFiles.accessError(root + "/events") {
            case 0: return .mounted(root)
            case EACCES, EPERM: denied = denied ?? root
            default: continue
            }
        }
        return denied.map { .permissionDenied($0) } ?? .notMounted
    }

    /// Why this user cannot read tracefs at `path`, from its mode: `mode 0700 (root only) here` as the kernel mounts
    /// it (fs/tracefs/inode.c, `TRACEFS_DEFAULT_MODE`), or `readable by root only here` when the mode is unknown.
    static func rootOnly(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "readable by root only here" }
        let mode = String(info.st_mode & 0o7777, radix: 8)
        return "mode \(mode.count < 4 ? String(repeating: "0", count: 4 - mode.count) + mode : mode)"
            + (info.st_uid == 0 && info.st_mode & 0o077 == 0 ? " (root only) here" : " here, not readable by this user")
    }

    /// The id of `subsystem:name` (the `config` of a `PERF_TYPE_TRACEPOINT` event), or why there is none.
    public static func id(subsystem: String, name: String) -> Result<UInt64, TracepointLookupError> {
        let root: String
        switch status {
        case .mounted(let path):
            root = path
        case .permissionDenied(let path):
            return .failure(.init(
                availability: .notPermitted,
                reason: "EACCES: permission denied reading \(path): tracefs is \(rootOnly(path)), and "
                    + "counting a tracepoint also needs kernel counting; run as root or with CAP_PERFMON, or as root: "
                    + "mount -o remount,mode=755 \(path) and sysctl kernel.perf_event_paranoid=1"))
        case .notMounted:
            return .failure(.init(
                availability: .notSupported,
                reason: "tracefs is not mounted; as root: mount -t tracefs nodev /sys/kernel/tracing"))
        }
        let path = "\(root)/events/\(subsystem)/\(name)/id"
        switch SystemFiles.read(path) {
        case .success(let text):
            guard let id = UInt64(text.split(separator: "\n").first.map { $0.trimmingWhitespace() } ?? "") else {
                return .failure(.init(availability: .failed, reason: "\(path) does not hold a number"))
            }
            return .success(id)
        case .failure(let error):
            if error.errno == Errno(EACCES) || error.errno == Errno(EPERM) {
                return .failure(.init(
                    availability: .notPermitted,
                    reason: "cannot read \(path) (\(error.errno.name)); tracepoints need root or CAP_PERFMON"))
            }
            return .failure(.init(
                availability: .notSupported, reason: "no tracepoint \(subsystem):\(name) in \(root)/events"))
        }
    }
}

/// Why a tracepoint id could not be found.
public struct TracepointLookupError: Error, Sendable {
    /// What the event's availability becomes: not supported (no such tracepoint, tracefs not mounted), not
    /// permitted, or failed.
    public var availability: EventAvailability.State
    /// Why, in one line, with what to do.
    public var reason: String

    /// Creates a lookup failure.
    public init(availability: EventAvailability.State, reason: String) {
        self.availability = availability
        self.reason = reason
    }
}
