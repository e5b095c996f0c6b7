import CopyprofModel
import CopyprofProfile
import Testing
import Transports

/// The profile keeps its own vocabulary (`CopyprofProfile`), and `RecordConversion` maps the transports' onto it by
/// raw value: the two must name the same cases, or a run of a new transport or receiver would fail to convert.
@Suite struct VocabularyTests {
    @Test func profileAndTransportsNameTheSameCases() {
        #expect(TransportKind.allCases.map(\.rawValue) == TransportKind.allCases.map(\.rawValue))
        #expect(ReceiverKind.allCases.map(\.rawValue) == ReceiverKind.allCases.map(\.rawValue))
        #expect(Workload.allCases.map(\.rawValue) == Workload.allCases.map(\.rawValue))
        #expect(Verification.allCases.map(\.rawValue) == Verification.allCases.map(\.rawValue))
    }
}
