import CopyprofModel
import CopyprofProfile
import Transports

extension SweepPlan {
    /// The transport run of one trial of a cell, connecting to `address`.
    ///
    /// - Parameters:
    ///   - peerReceiveBufferLimit: the receiving host's `tcp_rmem` maximum when it is another host (a sendfile sender's
    ///     ring must outlast what it may hold unread); nil: this host's.
    ///   - faults: test-only switches (a simulated absence of a kernel feature).
    public func configuration(
        _ key: CellKey, address: String, ioTimeout: Double, peerReceiveBufferLimit: Int? = nil,
        faults: FaultInjection = .none
    ) -> RunConfiguration {
        RunConfiguration(
            key, duration: duration, verification: verification, address: address, ioTimeout: ioTimeout,
            peerReceiveBufferLimit: peerReceiveBufferLimit, faults: faults)
    }
}
