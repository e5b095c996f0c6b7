import CPerfEvent
import Glibc
import Testing

@testable import PerfCounters

/// The ring reader and record decoder on rings built by hand, word by word, as the kernel lays them out
/// (include/uapi/linux/perf_event.h): the header page's data_head and data_tail, records that wrap at the data
/// area's end, and every record type the sampler meets.
@Suite struct SampleRingTests {
    static let basic = SampleLayout(sampleType: SampleLayout.samplerType(callchain: false, identifier: false))!
    static let chains = SampleLayout(sampleType: SampleLayout.samplerType(callchain: true, identifier: false))!
    static let identified = SampleLayout(sampleType: SampleLayout.samplerType(callchain: false, identifier: true))!

    /// Drains `ring` (as mmap would give it) with `layout`; returns the decoder and the bytes skipped.
    static func drain(_ ring: SimulatedRing, _ layout: SampleLayout, ids: [UInt64] = []) -> (SampleDecoder, Int) {
        let reader = SampleRing(mapping: ring.memory, dataPages: ring.dataPages, pageSize: ring.pageSize)
        var decoder = SampleDecoder(layout: layout, eventIDs: ids)
        let skipped = reader.consume { decoder.decode($0) }
        return (decoder, skipped)
    }

    @Test func layoutOffsetsFollowTheABIOrder() throws {
        // IDENTIFIER, IP, TID, TIME, ADDR, ID, STREAM_ID, CPU, PERIOD, READ, CALLCHAIN: with ADDR and CPU in
        // between, PERIOD moves two words down.
        let type = UInt64(
            PERF_SAMPLE_IDENTIFIER.rawValue | PERF_SAMPLE_IP.rawValue | PERF_SAMPLE_TID.rawValue
                | PERF_SAMPLE_TIME.rawValue | PERF_SAMPLE_ADDR.rawValue | PERF_SAMPLE_CPU.rawValue
                | PERF_SAMPLE_PERIOD.rawValue | PERF_SAMPLE_CALLCHAIN.rawValue)
        let layout = try #require(SampleLayout(sampleType: type))
        #expect(layout.identifierOffset == 8)
        #expect([layout.ipOffset, layout.tidOffset, layout.timeOffset, layout.periodOffset] == [16, 24, 32, 56])
        #expect(layout.callchainOffset == 64)
        #expect(layout.fixedSize == 64)
        #expect(Self.basic.fixedSize == 40 && Self.basic.identifierOffset == nil && Self.basic.callchainOffset == nil)
        // READ has a variable size, and a sample without TIME is not one the sampler asks for.
        #expect(SampleLayout(sampleType: type | UInt64(PERF_SAMPLE_READ.rawValue)) == nil)
        #expect(SampleLayout(sampleType: type & ~UInt64(PERF_SAMPLE_TIME.rawValue)) == nil)
    }

    @Test func aSampleDecodesFieldByField() {
        let ring = SimulatedRing(dataPages: 1)
        // header: type 9 (SAMPLE), misc 2 (USER) | EXACT_IP, size 40; ip; pid 100, tid 101; time; period.
        ring.append([
            0x0028_4002_0000_0009, 0x0000_0000_0040_1a2b, 0x0000_0065_0000_0064, 5_000_000_123, 250_000,
        ])
        let (decoder, skipped) = Self.drain(ring, Self.basic)
        #expect(skipped == 0)
        #expect(
            decoder.samples == [
                Sample(
                    ip: 0x40_1a2b, pid: 100, tid: 101, time: 5_000_000_123, period: 250_000, event: 0, cpuMode: .user,
                    exactIP: true)
            ])
        #expect(ring.tail == 40, "data_tail is stored at the head once the records are read")
    }

    @Test func aRecordSplitAcrossTheRingsEndIsCopiedOutWhole() {
        let ring = SimulatedRing(dataPages: 1)
        // Three laps and 4080 bytes in: the sample's first 16 bytes are the data area's last, its other 24 its first.
        let start = UInt64(3 * 4096 + 4080)
        ring.head = start
        ring.tail = start
        let sample = RecordWords.sample(misc: RecordWords.kernel, ip: 0xffff_ffff_8123_4567, pid: 7, tid: 8, time: 99, period: 1_000_000)
        ring.append(sample)
        let next = RecordWords.sample(misc: RecordWords.user, ip: 0x40_2000, pid: 7, tid: 8, time: 100, period: 1_000_000)
        ring.append(next)
        #expect(ring.memory.load(fromByteOffset: 4096 + 4080, as: UInt64.self) == sample[0], "the header sits at the end")
        #expect(ring.memory.load(fromByteOffset: 4096, as: UInt64.self) == sample[2], "tid and pid wrapped to the start")
        let (decoder, skipped) = Self.drain(ring, Self.basic)
        #expect(skipped == 0)
        #expect(decoder.samples.map(\.ip) == [0xffff_ffff_8123_4567, 0x40_2000])
        #expect(decoder.samples.map(\.tid) == [8, 8])
        #expect(decoder.samples.map(\.time) == [99, 100])
        #expect(decoder.samples.map(\.cpuMode) == [.kernel, .user])
        #expect(ring.tail == start + 80)
    }

    @Test func lostRecordsAreCounted() {
        let ring = SimulatedRing(dataPages: 1)
        ring.append(RecordWords.lost(id: 7, lost: 12))
        ring.append(RecordWords.sample(misc: RecordWords.user, ip: 1, pid: 1, tid: 1, time: 1, period: 1))
        ring.append(RecordWords.lost(id: 7, lost: 30))
        // PERF_RECORD_LOST_SAMPLES: { u64 lost; } — samples the PMU (PEBS) dropped.
        ring.append([RecordWords.header(type: PERF_RECORD_LOST_SAMPLES.rawValue, words: 2), 3])
        let (decoder, _) = Self.drain(ring, Self.basic)
        #expect(decoder.lostInRecords == 42)
        #expect(decoder.lostByPMU == 3)
        #expect(decoder.samples.count == 1)
        #expect(decoder.otherRecords == 0)
    }

    @Test func throttleAndUnthrottleAreCounted() {
        let ring = SimulatedRing(dataPages: 1)
        ring.append(RecordWords.throttle(true, time: 10, id: 1))
        ring.append(RecordWords.throttle(false, time: 20, id: 1))
        ring.append(RecordWords.throttle(true, time: 30, id: 1))
        let (decoder, _) = Self.drain(ring, Self.basic)
        #expect(decoder.throttles == 2)
        #expect(decoder.unthrottles == 1)
        #expect(decoder.samples.isEmpty && decoder.otherRecords == 0)
    }

    @Test func unknownRecordsAreSkippedAndCounted() {
        let ring = SimulatedRing(dataPages: 1)
        // A PERF_RECORD_MMAP2 of 6 words and a type no kernel has yet, then a sample that must still decode.
        ring.append([RecordWords.header(type: PERF_RECORD_MMAP2.rawValue, words: 6), 1, 2, 3, 4, 5])
        ring.append([RecordWords.header(type: 77, words: 2), 0xdead_beef])
        ring.append(RecordWords.sample(misc: RecordWords.user, ip: 0x40_0042, pid: 5, tid: 6, time: 7, period: 8))
        let (decoder, skipped) = Self.drain(ring, Self.basic)
        #expect(decoder.otherRecords == 2)
        #expect(decoder.samples.map(\.ip) == [0x40_0042])
        #expect(skipped == 0 && decoder.undecodedBytes == 0)
    }

    @Test func callchainsSplitIntoKernelAndUserFrames() {
        let ring = SimulatedRing(dataPages: 1)
        let kernel = RecordWords.contextKernel
        let user = RecordWords.contextUser
        // In the kernel: three kernel frames, then two user frames.
        ring.append(
            RecordWords.sample(
                misc: RecordWords.kernel, ip: 0xffff_ffff_8100_0001, pid: 1, tid: 2, time: 3, period: 4,
                callchain: [kernel, 0xffff_ffff_8100_0001, 0xffff_ffff_8100_0002, 0xffff_ffff_8100_0003, user, 0x40_1000, 0x40_2000]))
        // In user space: user frames only.
        ring.append(
            RecordWords.sample(misc: RecordWords.user, ip: 0x40_3000, pid: 1, tid: 2, time: 5, period: 4, callchain: [user, 0x40_3000]))
        // Frames under a guest marker (PERF_CONTEXT_GUEST_KERNEL) are neither the thread's kernel nor its user frames.
        ring.append(
            RecordWords.sample(
                misc: RecordWords.kernel, ip: 0xffff_ffff_8100_0009, pid: 1, tid: 2, time: 6, period: 4,
                callchain: [kernel, 0xffff_ffff_8100_0009, UInt64(PERF_CONTEXT_GUEST_KERNEL.rawValue), 0x1234, user, 0x40_4000]))
        let (decoder, _) = Self.drain(ring, Self.chains)
        #expect(decoder.samples.count == 3)
        let batch = SampleBatch(
            events: [], samples: decoder.samples, frames: decoder.frames, lostSamples: 0, lostSamplesSource: .eventCounter,
            mode: .userAndKernel, ring: SampleRingDescription(dataPages: 1, pageSize: 4096, requestedDataPages: 1, sampleCapacity: 1),
            clock: .monotonic)
        let (first, second, third) = (batch.samples[0], batch.samples[1], batch.samples[2])
        #expect(Array(batch.kernelFrames(of: first)) == [0xffff_ffff_8100_0001, 0xffff_ffff_8100_0002, 0xffff_ffff_8100_0003])
        #expect(Array(batch.userFrames(of: first)) == [0x40_1000, 0x40_2000])
        #expect(batch.kernelFrames(of: second).isEmpty)
        #expect(Array(batch.userFrames(of: second)) == [0x40_3000])
        #expect(Array(batch.kernelFrames(of: third)) == [0xffff_ffff_8100_0009])
        #expect(Array(batch.userFrames(of: third)) == [0x40_4000])
        #expect(batch.frames.count == 8, "one flat buffer, no markers, no guest frames")
        #expect([first.frameStart, second.frameStart, third.frameStart] == [0, 5, 6])
    }

    @Test func theIdentifierNamesEachSamplesEvent() {
        let ring = SimulatedRing(dataPages: 1)
        ring.append(RecordWords.sample(misc: RecordWords.user, identifier: 22, ip: 1, pid: 1, tid: 1, time: 1, period: 1))
        ring.append(RecordWords.sample(misc: RecordWords.user, identifier: 11, ip: 2, pid: 1, tid: 1, time: 2, period: 1))
        ring.append(RecordWords.sample(misc: RecordWords.user, identifier: 99, ip: 3, pid: 1, tid: 1, time: 3, period: 1))
        let (decoder, _) = Self.drain(ring, Self.identified, ids: [11, 22])
        #expect(decoder.samples.map(\.event) == [1, 0])
        #expect(decoder.samples.map(\.ip) == [1, 2])
        #expect(decoder.otherRecords == 1, "a sample of an event not in the batch is counted, not decoded")
    }

    @Test func onlyTheRecordsBetweenTailAndAWrappedHeadAreRead() {
        let ring = SimulatedRing(dataPages: 1)
        // Records already consumed sit before the tail; they must not be read again.
        ring.head = 0
        for ip in UInt64(1)...UInt64(50) {
            ring.append(RecordWords.sample(misc: RecordWords.user, ip: ip, pid: 1, tid: 1, time: ip, period: 1))
        }
        // 50 records of 40 bytes: the head is at 2000. Consume the first 20, by hand.
        ring.tail = 800
        var (decoder, _) = Self.drain(ring, Self.basic)
        #expect(decoder.samples.map(\.ip) == Array(21...50))
        #expect(ring.tail == 2000)
        // The head laps the 4096-byte ring: 200 more records end at 10000, 2.44 laps in; the reader still has the
        // last 100 of them (4000 bytes) unread, and nothing more.
        for ip in UInt64(51)...UInt64(250) {
            ring.append(RecordWords.sample(misc: RecordWords.user, ip: ip, pid: 1, tid: 1, time: ip, period: 1))
        }
        ring.tail = 10_000 - 4_000
        (decoder, _) = Self.drain(ring, Self.basic)
        #expect(decoder.samples.map(\.ip) == Array(151...250))
        #expect(ring.tail == 10_000)
        // Nothing new: nothing read.
        (decoder, _) = Self.drain(ring, Self.basic)
        #expect(decoder.samples.isEmpty)
    }

    @Test func aRecordThatDoesNotParseSkipsTheRestAndSaysHowMuch() {
        let ring = SimulatedRing(dataPages: 1)
        ring.append(RecordWords.sample(misc: RecordWords.user, ip: 1, pid: 1, tid: 1, time: 1, period: 1))
        // A header of size 0 cannot be stepped over: the 24 bytes from it to the head are skipped.
        ring.append([RecordWords.header(type: PERF_RECORD_SAMPLE.rawValue, words: 0), 0, 0])
        var (decoder, skipped) = Self.drain(ring, Self.basic)
        #expect(decoder.samples.count == 1)
        #expect(skipped == 24)
        #expect(ring.tail == ring.head)
        // A sample shorter than its layout is counted as undecoded bytes.
        ring.append([RecordWords.header(type: PERF_RECORD_SAMPLE.rawValue, misc: RecordWords.user, words: 3), 1, 2])
        (decoder, skipped) = Self.drain(ring, Self.basic)
        #expect(decoder.samples.isEmpty && decoder.undecodedBytes == 24 && skipped == 0)
        // More unread bytes than the ring holds: the head is not to be believed.
        ring.head += 8192
        (decoder, skipped) = Self.drain(ring, Self.basic)
        #expect(skipped == 8192 && decoder.samples.isEmpty)
    }

    @Test func ringsAreSizedForTheRegionInPowersOfTwo() {
        // 1000 samples of 64 bytes and an eighth more: 72000 bytes, 18 pages, rounded up to 32.
        #expect(SampleRingDescription.dataPages(forSamples: 1000, bytesPerSample: 64, pageSize: 4096, maxPages: 1024) == 32)
        #expect(SampleRingDescription.dataPages(forSamples: 0, bytesPerSample: 64, pageSize: 4096, maxPages: 1024) == 1)
        // Bounded: 10^6 samples would need 16384 pages; at most 1000 allowed, 512 given (a power of two).
        #expect(SampleRingDescription.dataPages(forSamples: 1_000_000, bytesPerSample: 64, pageSize: 4096, maxPages: 1000) == 512)
        // The largest sample: 40 bytes fixed, then nr, 64 frames and two context markers.
        #expect(Self.chains.maxSampleSize(callchainDepth: 64) == 40 + 8 + 8 * 66)
    }
}
