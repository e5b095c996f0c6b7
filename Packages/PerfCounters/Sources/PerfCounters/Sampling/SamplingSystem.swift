internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// The kernel's limits on sampling, read from /proc/sys/kernel when an event is opened (the kernel lowers
/// `perf_event_max_sample_rate` by itself when its sampling interrupts take too long, so it is read each time).
package struct SamplingLimits: Sendable, Hashable {
    /// /proc/sys/kernel/perf_event_max_sample_rate: a `sample_freq` above it is refused with EINVAL
    /// (kernel/events/core.c `perf_event_open`); nil when unreadable.
    package var maxSampleRate: UInt64?
    /// /proc/sys/kernel/perf_event_max_stack: a `sample_max_stack` above it is refused with EOVERFLOW
    /// (kernel/events/callchain.c `get_callchain_buffers`); nil when unreadable.
    package var maxStack: Int?
    /// /proc/sys/kernel/perf_event_mlock_kb: the ring memory each user may lock per online CPU beyond
    /// RLIMIT_MEMLOCK without CAP_IPC_LOCK (kernel/events/core.c `perf_mmap`); nil when unreadable.
    package var mlockKB: Int?

    package init(maxSampleRate: UInt64?, maxStack: Int?, mlockKB: Int?) {
        self.maxSampleRate = maxSampleRate
        self.maxStack = maxStack
        self.mlockKB = mlockKB
    }

    /// This host's limits now.
    package static func current() -> SamplingLimits {
        func value(_ name: String) -> String? { SystemFiles.firstLine("/proc/sys/kernel/" + name) }
        return SamplingLimits(
            maxSampleRate: value("perf_event_max_sample_rate").flatMap { UInt64($0) },
            maxStack: value("perf_event_max_stack").flatMap { Int($0) },
            mlockKB: value("perf_event_mlock_kb").flatMap { Int($0) })
    }
}

/// What sampling needs of the kernel beyond counting: its limits, the ring's mmap and munmap, and
/// `PERF_EVENT_IOC_SET_OUTPUT`.
///
/// A sibling of ``PerfEventSystem`` (it refines it), so that the simulated kernel can hand the ring decoder a
/// ring it wrote itself, following the kernel's output rules. ``SamplingEvents`` is generic over it; the real
/// path, ``KernelPerfEvents``, is specialized.
package protocol PerfSamplingSystem: PerfEventSystem {
    /// The kernel's sampling limits now.
    var samplingLimits: SamplingLimits { get }
    /// The page size the ring is measured in (sysconf(_SC_PAGESIZE)).
    var pageSize: Int { get }
    /// mmap(NULL, (1 + dataPages) pages, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0): the control page and
    /// `dataPages` (a power of two) pages of records. Returns the mapping, or the errno.
    func mapRing(_ fd: Int32, dataPages: Int) -> Result<UnsafeMutableRawPointer, Errno>
    /// munmap of a mapping ``mapRing(_:dataPages:)`` returned.
    func unmapRing(_ mapping: UnsafeMutableRawPointer, dataPages: Int)
    /// ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, target): `fd` writes its records into `target`'s ring.
    /// Returns 0, or -errno.
    func redirectOutput(_ fd: Int32, to target: Int32) -> Int32
}

extension KernelPerfEvents: PerfSamplingSystem {
    package var samplingLimits: SamplingLimits { .current() }

    package var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

    package func mapRing(_ fd: Int32, dataPages: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        let bytes = (1 + dataPages) * pageSize
        guard let mapping = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            return .failure(.current)
        }
        return .success(mapping)
    }

    package func unmapRing(_ mapping: UnsafeMutableRawPointer, dataPages: Int) {
        _ = munmap(mapping, (1 + dataPages) * pageSize)
    }

    package func redirectOutput(_ fd: Int32, to target: Int32) -> Int32 {
        CPerfEvent_set_output(fd, target) == 0 ? 0 : -errno
    }
}
