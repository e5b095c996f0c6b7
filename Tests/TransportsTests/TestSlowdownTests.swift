import CopyprofModel
import Testing

@testable import Transports

/// The test-only slower transport: the same messages, verified as usual, with extra copies per message.
@Suite struct TestSlowdownTests {
    @Test(arguments: TransportKind.allCases)
    func aSlowedTransportStillDeliversVerifiedMessages(transport: TransportKind) throws {
        for workload in Workload.allCases {
            var configuration = RunConfiguration(
                transport: transport, workload: workload, messageSize: 512, duration: 0.05, verification: .full)
            configuration.faults.extraCopies = 3
            let result = try runTransport(configuration) { _ in NoRegion() }
            let cell = "\(transport.rawValue) \(workload.rawValue)"
            #expect(result.integrityErrors == 0, "\(cell)")
            #expect(result.messagesVerified > 0, "\(cell)")
            let sent = result.workers.reduce(0) { $0 + ($1.sent?.messages ?? 0) }
            let drained = result.workers.reduce(0) { $0 + ($1.received?.drainedMessages ?? 0) }
            #expect(sent == result.messagesVerified + drained, "\(cell): the wrapper passes the sender's statistics through")
        }
    }
}
