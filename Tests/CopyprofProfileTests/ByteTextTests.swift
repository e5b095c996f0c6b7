import CopyprofModel
import Testing

/// The one byte formatter of copyprof's modules (limits, report, command line): binary units.
@Suite struct ByteTextTests {
    @Test func bytesInBinaryUnits() {
        #expect(formatBytes(100) == "100 B" && formatBytes(1023) == "1023 B")
        #expect(formatBytes(48 << 10) == "48 KiB" && formatBytes(16 << 20) == "16 MiB")
        #expect(formatBytes(1536 << 10) == "1.5 MiB")
        #expect(formatBytes(UInt64(1_000_000)) == "977 KiB", "from 100 up: whole")
        #expect(formatBytes(4_400_000_000) == "4.1 GiB")
        #expect(formatBytes(UInt64.max) == "17179869184 GiB")
    }
}
