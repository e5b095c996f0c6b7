import CopyprofProfile
import Transports

/// The one place where a cell of a sweep becomes a transport run, for local trials, the client of a two-host run and
/// the server.
///
/// - Parameters:
///   - peerReceiveBufferLimit: the receiving host's `tcp_rmem` maximum when it is another host (a sendfile sender's
///     ring must outlast what it may hold unread); nil: this host's.
///   - faults: test-only switches (a simulated absence of a kernel feature).
public func runConfiguration(
    _ key: CellKey, duration: Double, verification: CopyprofProfile.Verification, address: String, ioTimeout: Double,
    zeroCopyPoolSize: Int? = nil, peerReceiveBufferLimit: Int? = nil, faults: FaultInjection = .none
) -> RunConfiguration {
    var configuration = RunConfiguration(
        transport: Transports.TransportKind(key.transport), receiver: Transports.ReceiverKind(key.receiver),
        workload: Transports.Workload(key.mode), messageSize: key.messageSize, connections: key.threads,
        duration: duration, verification: Transports.Verification(verification), address: address, ioTimeout: ioTimeout,
        peerReceiveBufferLimit: peerReceiveBufferLimit, faults: faults)
    if let zeroCopyPoolSize { configuration.zeroCopyPoolSize = zeroCopyPoolSize }
    return configuration
}

extension SweepPlan {
    /// The transport run of one trial of a cell, connecting to `address`.
    public func configuration(
        _ key: CellKey, address: String, ioTimeout: Double, peerReceiveBufferLimit: Int? = nil,
        faults: FaultInjection = .none
    ) -> RunConfiguration {
        runConfiguration(
            key, duration: duration, verification: verification, address: address, ioTimeout: ioTimeout,
            peerReceiveBufferLimit: peerReceiveBufferLimit, faults: faults)
    }
}
