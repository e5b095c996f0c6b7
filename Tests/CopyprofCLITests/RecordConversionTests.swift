import CopyprofModel
import CopyprofProfile
import Testing
import Transports

@testable import CopyprofSweep

/// The record of a `mmap` receiver that mapped nothing says why, from the MTU its socket's path had (loopback's on
/// one host, the route's between two) and the sender's way of filling the socket.
struct RecordConversionTests {
    func reason(_ transport: TransportKind, size: Int = 65536, pathMTU: Int?) -> String? {
        var stats = ZeroCopyReceiveStats()
        stats.copiedBytes = 1 << 20
        stats.copyCalls = 16
        stats.pathMTU = pathMTU
        let configuration = RunConfiguration(transport: transport, receiver: .mmap, messageSize: size)
        return ZeroCopyReceiveRecord(stats, configuration: configuration).unmappedReason
    }

    @Test func theReasonNamesThePathsMTUWhenNoSegmentCanHoldAPage() {
        #expect(reason(.zeroCopy, pathMTU: 1500)
            == "the path's MTU (1500) is below a page plus headers: no segment can carry a whole page")
        #expect(reason(.twoCopy, pathMTU: 9000)?.contains("sk_page_frag") == true, "9000 carries pages: the sender's reason")
        #expect(reason(.zeroCopy, size: 512, pathMTU: 65536) == "messages of 512 B are smaller than a page: no segment holds a whole page")
        #expect(reason(.zeroCopy, pathMTU: nil) == "no received segment held a whole, page-aligned page", "an MTU not known is not assumed")
    }

    @Test func aReceiverThatMappedSomethingHasNoReason() {
        var stats = ZeroCopyReceiveStats()
        stats.mappedBytes = 4096
        stats.copiedBytes = 100
        stats.pathMTU = 1500
        #expect(ZeroCopyReceiveRecord(stats, configuration: RunConfiguration(transport: .zeroCopy, receiver: .mmap, messageSize: 65536)).unmappedReason == nil)
    }
}
