package import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// The kernel calls the counters make: perf_event_open, read, the enable/disable/id ioctls, close, and the
/// tracefs lookup, plus what is known of the host.
///
/// It is the seam where tests put a simulated PMU (hardware this machine does not have: counters, hybrid
/// cores, the NMI watchdog). ``CounterSet`` is generic over it, so the real path, ``KernelPerfEvents``, is
/// specialized and called directly: no witness table, no closure.
package protocol PerfEventSystem {
    /// What is known of the host: core PMUs, paranoid level, NMI watchdog, hypervisor flag.
    var host: HostFacts { get }
    /// perf_event_open(attr, pid 0, cpu, groupFD, PERF_FLAG_FD_CLOEXEC) for the calling thread: `cpu` -1 counts
    /// the thread on every CPU; a CPU number counts it only while it runs there (and routes a legacy hardware
    /// event to that CPU's core PMU, see ``HardwareEncoding/legacyPerCPU``). Returns the new file descriptor, or
    /// -errno.
    func open(_ attr: inout perf_event_attr, cpu: Int32, groupFD: Int32) -> Int32
    /// read() of a group leader into `buffer`. Returns the byte count, or -errno.
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int
    /// ioctl(PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP). Returns 0, or -errno.
    func enableGroup(_ fd: Int32) -> Int32
    /// ioctl(PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP). Returns 0, or -errno.
    func disableGroup(_ fd: Int32) -> Int32
    /// ioctl(PERF_EVENT_IOC_ID): the id PERF_FORMAT_ID reports for this event, or -errno as the error.
    func id(_ fd: Int32) -> Result<UInt64, CounterError>
    /// close().
    func close(_ fd: Int32)
    /// The tracepoint's id (the config of a PERF_TYPE_TRACEPOINT event), or why there is none.
    func tracepointID(subsystem: String, name: String) -> Result<UInt64, TracepointLookupError>
}

extension PerfEventSystem {
    /// perf_event_open for the calling thread on every CPU (cpu -1), the common case.
    @inline(__always)
    package func open(_ attr: inout perf_event_attr, groupFD: Int32) -> Int32 {
        open(&attr, cpu: -1, groupFD: groupFD)
    }
}

/// The real kernel.
package struct KernelPerfEvents: PerfEventSystem {
    package let host: HostFacts

    package init(host: HostFacts = .current()) {
        self.host = host
    }

    @inline(__always)
    package func open(_ attr: inout perf_event_attr, cpu: Int32, groupFD: Int32) -> Int32 {
        let fd = retryingOnInterrupt { CPerfEvent_open(&attr, 0, cpu, groupFD, UInt(PERF_FLAG_FD_CLOEXEC)) }
        if fd < 0 { return -errno }
        if attr.type == PERF_TYPE_TRACEPOINT.rawValue { TracepointRegistrations.keep(attr) }
        return fd
    }

    @inline(__always)
    package func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = retryingOnInterrupt { Glibc.read(fd, buffer.baseAddress, buffer.count) }
        return n < 0 ? -Int(errno) : n
    }

    @inline(__always)
    package func enableGroup(_ fd: Int32) -> Int32 {
        CPerfEvent_enable(fd, PERF_IOC_FLAG_GROUP.rawValue) == 0 ? 0 : -errno
    }

    @inline(__always)
    package func disableGroup(_ fd: Int32) -> Int32 {
        CPerfEvent_disable(fd, PERF_IOC_FLAG_GROUP.rawValue) == 0 ? 0 : -errno
    }

    package func id(_ fd: Int32) -> Result<UInt64, CounterError> {
        var id: UInt64 = 0
        if CPerfEvent_id(fd, &id) != 0 { return .failure(.systemCall(SystemCallError("ioctl(PERF_EVENT_IOC_ID)"))) }
        return .success(id)
    }

    package func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    package func tracepointID(subsystem: String, name: String) -> Result<UInt64, TracepointLookupError> {
        Tracefs.id(subsystem: subsystem, name: name)
    }
}
