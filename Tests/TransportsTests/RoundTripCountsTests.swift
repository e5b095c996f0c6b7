import Histogram
import Testing

@testable import Transports

/// The ping-pong client counts round trips in a flat array with HdrHistogram's bucket layout and turns it into a
/// `Histogram` after the timed loop: the result must be what recording every value into the histogram gives.
@Suite struct RoundTripCountsTests {
    @Test func countsMatchRecordingIntoTheHistogram() {
        var counts = RoundTripCounts()
        var direct = Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: RoundTripCounts.highestTrackableValue,
            numberOfSignificantValueDigits: .three)
        // Every bucket boundary region: exact small values, then values spread over 1 ns ... 60 s (xorshift, fixed seed).
        var values: [UInt64] = Array(0...4100)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<50_000 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            values.append(state % (1 << UInt64(1 + state % 36)))
        }
        values += [RoundTripCounts.highestTrackableValue, 59_999_999_999, 1 << 35]
        for value in values {
            counts.record(value)
            _ = direct.record(value)
        }
        let built = counts.histogram()
        #expect(built.totalCount == direct.totalCount)
        #expect(built.max == direct.max)
        #expect(built.min == direct.min && built.minNonZero == direct.minNonZero)
        #expect(built.maxRecorded == direct.maxRecorded)
        for percentile in [0.0, 1, 10, 50, 90, 99, 99.9, 99.99, 100] {
            #expect(built.valueAtPercentile(percentile) == direct.valueAtPercentile(percentile), "p\(percentile)")
        }
        let builtBuckets = built.recordedValues().map { [$0.value, $0.count] }
        let directBuckets = direct.recordedValues().map { [$0.value, $0.count] }
        #expect(builtBuckets == directBuckets)
    }

    @Test func valuesAboveTheRangeAreCountedAsOverflowsNotRecorded() {
        var counts = RoundTripCounts()
        counts.record(RoundTripCounts.highestTrackableValue * 4)
        counts.record(5)
        let overflows = counts.overflows
        #expect(overflows == 1)
        #expect(counts.histogram().totalCount == 1)
    }
}
