/// Finds tracepoint ids in tracefs, which the kernel mounts at /sys/kernel/tracing
/// (older systems: /sys/kernel/debug/tracing).
public enum Tracefs {
    /// Where tracefs may be mounted, in the order they are tried.
    public static let mountPoints = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    /// The mount point that has an `events` folder, or nil.
    public static var mountPoint: String? {
        mountPoints.first { SystemFiles.exists($0 + "/events") }
    }

    /// The id of `subsystem:name` (the `config` of a `PERF_TYPE_TRACEPOINT` event), or why there is none.
    public static func id(subsystem: String, name: String) -> Result<UInt64, TracepointLookupError> {
        guard let root = mountPoint else {
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
            if error.errno == 13 || error.errno == 1 {  // EACCES, EPERM
                return .failure(.init(
                    availability: .notPermitted,
                    reason: "cannot read \(path) (\(errnoName(error.errno))); tracepoints need root or CAP_PERFMON"))
            }
            return .failure(.init(
                availability: .notSupported, reason: "no tracepoint \(subsystem):\(name) in \(root)/events"))
        }
    }
}

/// Why a tracepoint id could not be found.
public struct TracepointLookupError: Error, Sendable {
    public var availability: EventAvailability.State
    public var reason: String
}
