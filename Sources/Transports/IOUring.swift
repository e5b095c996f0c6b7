import CLinuxNet
#if canImport(Glibc)
import Glibc
#endif

/// An io_uring instance used by one thread: the submission and completion rings mapped from the kernel, as
/// `tools/testing/selftests/net/io_uring_zerocopy_tx.c` maps them, with the raw system calls (no liburing).
///
/// It owns nothing by itself (like swift-system's `FileDescriptor`): its owner calls ``close()`` once, before it frees
/// any buffer a request in flight may still read — closing the ring cancels them.
struct IOUring {
    let fd: Int32
    private let sqHead: UnsafeMutablePointer<UInt32>
    private let sqTail: UnsafeMutablePointer<UInt32>
    private let sqMask: UInt32
    private let sqArray: UnsafeMutablePointer<UInt32>
    private let sqes: UnsafeMutablePointer<CLinuxNet_io_uring_sqe>
    private let cqHead: UnsafeMutablePointer<UInt32>
    private let cqTail: UnsafeMutablePointer<UInt32>
    private let cqMask: UInt32
    private let cqes: UnsafeMutablePointer<CLinuxNet_io_uring_cqe>
    private let sqRing: (UnsafeMutableRawPointer, Int)
    private let cqRing: (UnsafeMutableRawPointer, Int)
    private let sqesMapping: (UnsafeMutableRawPointer, Int)
    /// The wait's timeout for `io_uring_enter`, as IORING_ENTER_EXT_ARG takes it (a getevents argument pointing at a
    /// timespec); allocated once.
    private let waitArgument: UnsafeMutablePointer<CLinuxNet_io_uring_getevents_arg>
    private let waitTimeout: UnsafeMutablePointer<CLinuxNet_kernel_timespec>

    /// A ring of `entries` submissions and at least `completions` completions; waits end after `timeout` seconds.
    ///
    /// Tries `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN` first (Linux 6.1: completions are posted when
    /// this thread waits, not by interrupting it), then without them.
    init(entries: UInt32, completions: UInt32, timeout: Double) throws(TransportError) {
        var params = CLinuxNet_io_uring_params()
        var ring: Int32 = -1
        for flags in [CLinuxNet_IORING_SETUP_CQSIZE | CLinuxNet_IORING_SETUP_SINGLE_ISSUER | CLinuxNet_IORING_SETUP_DEFER_TASKRUN, CLinuxNet_IORING_SETUP_CQSIZE] {
            params = CLinuxNet_io_uring_params()
            params.flags = flags
            params.cq_entries = completions
            ring = CLinuxNet_io_uring_setup(entries, &params)
            if ring >= 0 || errno != EINVAL { break }
        }
        if ring < 0 {
            let code = errno
            throw TransportError(.notSupported(KernelSupport.ioUringSetupProblem(code)))
        }
        guard params.features & CLinuxNet_IORING_FEAT_EXT_ARG != 0 else {
            Glibc.close(ring)
            throw TransportError(.notSupported("this kernel's io_uring cannot wait with a timeout (IORING_FEAT_EXT_ARG, Linux 5.11)"))
        }
        func map(_ size: Int, _ offset: UInt64) throws(TransportError) -> UnsafeMutableRawPointer {
            guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, off_t(offset)),
                p != MAP_FAILED
            else {
                let code = errno
                Glibc.close(ring)
                throw .system("mmap of the io_uring", code, activity: "preparing the sender")
            }
            return p
        }
        let sqSize = Int(params.sq_off.array) + Int(params.sq_entries) * MemoryLayout<UInt32>.size
        let cqSize = Int(params.cq_off.cqes) + Int(params.cq_entries) * MemoryLayout<CLinuxNet_io_uring_cqe>.size
        let sqesSize = Int(params.sq_entries) * MemoryLayout<CLinuxNet_io_uring_sqe>.size
        let sq = try map(sqSize, CLinuxNet_IORING_OFF_SQ_RING)
        let cq: UnsafeMutableRawPointer
        do { cq = try map(cqSize, CLinuxNet_IORING_OFF_CQ_RING) } catch {
            munmap(sq, sqSize)
            throw error
        }
        let entriesMapping: UnsafeMutableRawPointer
        do { entriesMapping = try map(sqesSize, CLinuxNet_IORING_OFF_SQES) } catch {
            munmap(sq, sqSize)
            munmap(cq, cqSize)
            throw error
        }
        fd = ring
        sqRing = (sq, sqSize)
        cqRing = (cq, cqSize)
        sqesMapping = (entriesMapping, sqesSize)
        sqHead = (sq + Int(params.sq_off.head)).assumingMemoryBound(to: UInt32.self)
        sqTail = (sq + Int(params.sq_off.tail)).assumingMemoryBound(to: UInt32.self)
        sqMask = (sq + Int(params.sq_off.ring_mask)).load(as: UInt32.self)
        sqArray = (sq + Int(params.sq_off.array)).assumingMemoryBound(to: UInt32.self)
        sqes = entriesMapping.assumingMemoryBound(to: CLinuxNet_io_uring_sqe.self)
        cqHead = (cq + Int(params.cq_off.head)).assumingMemoryBound(to: UInt32.self)
        cqTail = (cq + Int(params.cq_off.tail)).assumingMemoryBound(to: UInt32.self)
        cqMask = (cq + Int(params.cq_off.ring_mask)).load(as: UInt32.self)
        cqes = (cq + Int(params.cq_off.cqes)).assumingMemoryBound(to: CLinuxNet_io_uring_cqe.self)
        waitTimeout = .allocate(capacity: 1)
        waitTimeout.initialize(to: CLinuxNet_kernel_timespec(
            tv_sec: Int64(timeout), tv_nsec: Int64((timeout - Double(Int64(timeout))) * 1e9)))
        waitArgument = .allocate(capacity: 1)
        var argument = CLinuxNet_io_uring_getevents_arg()
        argument.ts = UInt64(UInt(bitPattern: waitTimeout))
        waitArgument.initialize(to: argument)
    }

    /// Closes the ring (the kernel cancels what is in flight) and unmaps it. Call once.
    func close() {
        _ = Glibc.close(fd)
        munmap(sqesMapping.0, sqesMapping.1)
        munmap(cqRing.0, cqRing.1)
        munmap(sqRing.0, sqRing.1)
        waitArgument.deallocate()
        waitTimeout.deallocate()
    }

    /// The next submission entry, zeroed, to fill and then ``publish()``; nil when the ring is full.
    @inline(__always)
    func nextEntry() -> UnsafeMutablePointer<CLinuxNet_io_uring_sqe>? {
        let tail = sqTail.pointee
        if tail &- CLinuxNet_loadAcquire(sqHead) > sqMask { return nil }
        let entry = sqes + Int(tail & sqMask)
        UnsafeMutableRawPointer(entry).initializeMemory(as: UInt64.self, repeating: 0, count: 8)
        return entry
    }

    /// Makes the entry ``nextEntry()`` returned visible to the kernel.
    @inline(__always)
    func publish() {
        let tail = sqTail.pointee
        sqArray[Int(tail & sqMask)] = tail & sqMask
        CLinuxNet_storeRelease(sqTail, tail &+ 1)
    }

    /// `io_uring_enter`: submits `submit` published entries, posts the completions the kernel has (with
    /// DEFER_TASKRUN they are posted only here) and waits until at least `wait` are posted or the timeout passes.
    /// Returns 0, or the errno (ETIME: the timeout passed; EINTR: a signal).
    @inline(__always)
    func enter(submit: UInt32, wait: UInt32) -> Int32 {
        let flags = CLinuxNet_IORING_ENTER_GETEVENTS | CLinuxNet_IORING_ENTER_EXT_ARG
        let result = CLinuxNet_io_uring_enter(
            fd, submit, wait, flags, waitArgument, MemoryLayout<CLinuxNet_io_uring_getevents_arg>.size)
        return result < 0 ? errno : 0
    }

    /// Entries published and not yet taken by the kernel (a submission that failed with EAGAIN or EBUSY, or EINTR).
    var unsubmitted: UInt32 { sqTail.pointee &- CLinuxNet_loadAcquire(sqHead) }

    /// The first completion not yet consumed; consume through ``consumeCompletions(through:)``.
    @inline(__always)
    var completionHead: UInt32 { cqHead.pointee }

    /// One past the last completion the kernel has posted.
    @inline(__always)
    var completionTail: UInt32 { CLinuxNet_loadAcquire(cqTail) }

    /// The completion at index `index` (from ``completionHead`` up to ``completionTail``).
    @inline(__always)
    func completion(_ index: UInt32) -> CLinuxNet_io_uring_cqe { cqes[Int(index & cqMask)] }

    /// Frees the completion slots before `head` for the kernel.
    @inline(__always)
    func consumeCompletions(through head: UInt32) { CLinuxNet_storeRelease(cqHead, head) }
}
