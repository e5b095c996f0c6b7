import CopyprofProfile
import Transports

/// The one place where a cell of a sweep becomes a transport run, for local trials, the client of a two-host run and
/// the server.
public func runConfiguration(
    _ key: CellKey, duration: Double, verification: CopyprofProfile.Verification, address: String, ioTimeout: Double,
    zeroCopyPoolSize: Int? = nil
) -> RunConfiguration {
    var configuration = RunConfiguration(
        transport: Transports.TransportKind(key.transport), workload: Transports.Workload(key.mode),
        messageSize: key.messageSize, connections: key.threads, duration: duration,
        verification: Transports.Verification(verification), address: address, ioTimeout: ioTimeout)
    if let zeroCopyPoolSize { configuration.zeroCopyPoolSize = zeroCopyPoolSize }
    return configuration
}

extension SweepPlan {
    /// The transport run of one trial of a cell, connecting to `address`.
    public func configuration(_ key: CellKey, address: String, ioTimeout: Double) -> RunConfiguration {
        runConfiguration(key, duration: duration, verification: verification, address: address, ioTimeout: ioTimeout)
    }
}
