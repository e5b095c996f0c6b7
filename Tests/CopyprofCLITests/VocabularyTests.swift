import CopyprofProfile
import Testing
import Transports

/// The profile keeps its own vocabulary (`CopyprofProfile`), and `RecordConversion` maps the transports' onto it by
/// raw value: the two must name the same cases, or a run of a new transport or receiver would fail to convert.
@Suite struct VocabularyTests {
    @Test func profileAndTransportsNameTheSameCases() {
        #expect(CopyprofProfile.TransportKind.allCases.map(\.rawValue) == Transports.TransportKind.allCases.map(\.rawValue))
        #expect(CopyprofProfile.ReceiverKind.allCases.map(\.rawValue) == Transports.ReceiverKind.allCases.map(\.rawValue))
        #expect(CopyprofProfile.Workload.allCases.map(\.rawValue) == Transports.Workload.allCases.map(\.rawValue))
        #expect(CopyprofProfile.Verification.allCases.map(\.rawValue) == Transports.Verification.allCases.map(\.rawValue))
    }
}
