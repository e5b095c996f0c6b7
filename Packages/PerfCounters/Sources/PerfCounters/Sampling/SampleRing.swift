internal import CPerfEvent

/// The samples waiting in a ring, and their bytes (headers included).
package struct RingSurvey: Hashable, Sendable {
    package var samples = 0
    package var sampleBytes = 0
}

/// A sampling ring as mmap gives it: one control page (`struct perf_event_mmap_page`), then 2^n data pages the
/// kernel writes records into, read with the kernel's protocol.
///
/// The reader loads `data_head` with acquire semantics (the records before it are then visible), reads the
/// records from `data_tail` up to it, and stores the new `data_tail` with release semantics (the kernel may then
/// overwrite them): tools/lib/perf/mmap.c `perf_mmap__read_head` and `perf_mmap__write_tail`, and the comment on
/// `data_head` in include/uapi/linux/perf_event.h. Head and tail only grow; their offset in the data area is
/// taken modulo its size, so a record can start near the end and wrap to the start: such a record is copied
/// out whole before it is decoded (tools/lib/perf/mmap.c `perf_mmap__read_event`). Mapped writable, the ring is
/// not overwritten: a record that does not fit is dropped and counted lost (kernel/events/ring_buffer.c
/// `__perf_output_begin`).
///
/// It owns its scratch buffer, not the mapping: the sampler that mapped it unmaps it.
package final class SampleRing {
    /// The mapping: the control page, then the data area at ``dataOffset``.
    package let mapping: UnsafeMutableRawPointer
    /// Data pages mapped (a power of two).
    package let dataPages: Int
    package let pageSize: Int
    /// Where the data area starts in the mapping (`data_offset`; one page on kernels that leave it 0).
    package let dataOffset: Int
    /// The data area's size (`data_size`; dataPages × pageSize on kernels that leave it 0).
    package let dataSize: Int
    /// A record that wraps at the data area's end is copied here: 64 KiB, the largest record (`header.size` is
    /// 16 bits).
    private let scratch: UnsafeMutableRawBufferPointer

    private var control: UnsafeMutablePointer<perf_event_mmap_page> {
        mapping.assumingMemoryBound(to: perf_event_mmap_page.self)
    }

    /// A ring over `mapping`, `1 + dataPages` pages of `pageSize` bytes.
    package init(mapping: UnsafeMutableRawPointer, dataPages: Int, pageSize: Int) {
        self.mapping = mapping
        self.dataPages = dataPages
        self.pageSize = pageSize
        let page = mapping.assumingMemoryBound(to: perf_event_mmap_page.self).pointee
        dataOffset = page.data_offset != 0 ? Int(page.data_offset) : pageSize
        dataSize = page.data_size != 0 ? Int(page.data_size) : dataPages * pageSize
        scratch = .allocate(byteCount: 65_536, alignment: 8)
    }

    deinit {
        scratch.deallocate()
    }

    /// `data_head`, loaded with acquire semantics.
    package var head: UInt64 { CPerfEvent_ring_head(control) }

    /// `data_tail`: how far this reader has consumed.
    package var tail: UInt64 { control.pointee.data_tail }

    /// Bytes written and not yet consumed.
    package var unreadBytes: Int { Int(truncatingIfNeeded: head &- tail) }

    /// Counts the samples between `data_tail` and `data_head` and their bytes, from the records' headers alone,
    /// without consuming them: what a drain allocates for, exactly.
    package func survey() -> RingSurvey {
        let head = self.head
        var tail = self.tail
        var survey = RingSurvey()
        guard head &- tail <= UInt64(dataSize) else { return survey }
        let data = UnsafeRawPointer(mapping + dataOffset)
        let mask = UInt64(dataSize - 1)
        while head &- tail >= 8 {
            let header = readContiguous(data, offset: Int(tail & mask), count: 8)
            let size = Int(header.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
            guard size >= 8, UInt64(size) <= head &- tail else { break }
            if header.loadUnaligned(as: UInt32.self) == PerfRecord.sample {
                survey.samples += 1
                survey.sampleBytes += size
            }
            tail &+= UInt64(size)
        }
        return survey
    }

    /// Hands every record between `data_tail` and `data_head` to `body`, each whole and contiguous, then stores
    /// `data_tail` (release). Returns the bytes skipped because the records there did not parse (a size below
    /// the header's 8 bytes, or past the head, or more unread bytes than the ring holds): the rest of the unread
    /// data is then skipped, since record boundaries are lost.
    @discardableResult
    package func consume(_ body: (UnsafeRawBufferPointer) -> Void) -> Int {
        let head = self.head
        var tail = self.tail
        let data = UnsafeRawPointer(mapping + dataOffset)
        let mask = UInt64(dataSize - 1)
        var skipped = 0
        if head &- tail > UInt64(dataSize) {
            skipped = Int(truncatingIfNeeded: head &- tail)
            tail = head
        }
        while tail != head {
            let available = Int(head &- tail)
            let offset = Int(tail & mask)
            guard available >= 8 else {
                skipped += available
                break
            }
            // The header is 8 bytes at an 8-byte aligned offset in a data area of whole pages, so it never wraps;
            // it is read through the same copying path all the same if it did.
            let size = Int(readContiguous(data, offset: offset, count: 8).loadUnaligned(fromByteOffset: 6, as: UInt16.self))
            guard size >= 8, size <= available else {
                skipped += available
                break
            }
            body(readContiguous(data, offset: offset, count: size))
            tail &+= UInt64(size)
        }
        CPerfEvent_ring_set_tail(control, head)
        return skipped
    }

    /// `count` bytes from `offset` of the data area: in place, or copied into the scratch buffer when they wrap.
    private func readContiguous(_ data: UnsafeRawPointer, offset: Int, count: Int) -> UnsafeRawBufferPointer {
        if offset + count <= dataSize {
            return UnsafeRawBufferPointer(start: data + offset, count: count)
        }
        let first = dataSize - offset
        scratch.baseAddress!.copyMemory(from: data + offset, byteCount: first)
        (scratch.baseAddress! + first).copyMemory(from: data, byteCount: count - first)
        return UnsafeRawBufferPointer(start: scratch.baseAddress, count: count)
    }
}
