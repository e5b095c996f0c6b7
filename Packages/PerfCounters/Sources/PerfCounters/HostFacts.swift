#if canImport(Glibc)
import Glibc
#endif

/// A CPU's core PMU: the one that counts hardware and cache events for the CPUs it lists.
///
/// A machine has one (`cpu` on x86, `armv8_pmuv3_0` on many Arm hosts) or, on hybrid CPUs, one per core type
/// (`cpu_core` and `cpu_atom` on Intel Alder Lake and later), each with a `type` and a `cpus` file under
/// /sys/bus/event_source/devices (tools/perf/Documentation/intel-hybrid.txt).
public struct CorePMU: Sendable, Hashable, Codable {
    /// The PMU's name under /sys/bus/event_source/devices.
    public var name: String
    /// Its `type`: what goes in `perf_event_attr.type`, or in config bits 32–63 of a hardware or cache event.
    public var type: UInt32
    /// The CPUs it counts on (its `cpus` file); nil when there is no such file (one PMU for every CPU).
    public var cpus: [Int]?

    /// A core PMU as sysfs describes it.
    public init(name: String, type: UInt32, cpus: [Int]?) {
        self.name = name
        self.type = type
        self.cpus = cpus
    }
}

/// How hardware and cache events reach a core PMU (include/uapi/linux/perf_event.h, `PERF_PMU_TYPE_SHIFT`).
public enum HardwareEncoding: String, Sendable, Hashable, Codable {
    /// Config bits 32–63 zero, one event following the thread on every CPU: the kernel's default core PMU
    /// (`PERF_TYPE_RAW`'s, or the first in its list that takes the event). Right where there is one core PMU.
    case legacy
    /// The PMU's type in config bits 32–63, one event following the thread on every CPU; it counts while the
    /// thread runs on that PMU's CPUs. Needs `PERF_PMU_CAP_EXTENDED_HW_TYPE` (x86 hybrid PMUs; Arm PMUs since
    /// Linux 6.6): without it the kernel answers ENOENT (kernel/events/core.c `perf_init_event`).
    case extendedType = "extended-type"
    /// The legacy encoding, one event per CPU of the PMU, where the PMU lacks the extended type: the kernel routes
    /// a CPU-bound legacy event to the core PMU that handles that CPU (kernel/events/core.c `perf_init_event` tries
    /// the PMUs in turn while they answer ENOENT; drivers/perf/arm_pmu.c `armpmu_event_init` answers ENOENT for a
    /// CPU of another class). Each event counts while the thread runs on its CPU; their sum covers the PMU.
    case legacyPerCPU = "legacy-per-cpu"
}

/// What the counters need to know about the host: its core PMUs, `perf_event_paranoid`, the NMI watchdog,
/// whether it is a virtual machine, and where tracefs is.
public struct HostFacts: Sendable, Hashable, Codable {
    /// The core PMUs; empty when the kernel registered none (a VM without PMU passthrough).
    public var corePMUs: [CorePMU]
    /// /proc/sys/kernel/perf_event_paranoid, if readable.
    public var paranoid: Int?
    /// /proc/sys/kernel/nmi_watchdog = 1: the watchdog holds one hardware counter on every CPU.
    public var nmiWatchdog: Bool?
    /// The `hypervisor` flag of /proc/cpuinfo: this is a virtual machine.
    public var hypervisor: Bool
    /// The CPU's `model name` from /proc/cpuinfo, if any.
    public var cpuModel: String?
    /// The calling thread may administer the system (`CAP_SYS_ADMIN` in its effective set; root has it): no
    /// `perf_event_paranoid` level, Debian's and Ubuntu's included, refuses it. Nil when unknown.
    public var sysAdmin: Bool?
    /// `CAP_PERFMON` (Linux 5.8) is in the calling thread's effective set: kernel counting at `perf_event_paranoid` 2
    /// (kernel/events/core.c `perf_allow_kernel`). Ubuntu's `perf_event_paranoid` 4 refuses it all the same. Nil
    /// when unknown.
    public var perfmon: Bool?
    /// A seccomp filter applies to the calling thread (`Seccomp: 2` in /proc/thread-self/status), as in a container:
    /// its profile may refuse perf_event_open with EPERM. Nil when unknown.
    public var seccompFilter: Bool?
    /// The online CPUs (/sys/devices/system/cpu/online); nil when unknown.
    public var onlineCPUs: [Int]?

    /// Facts given by hand (tests, or a host described elsewhere); ``current()`` reads this host's.
    public init(
        corePMUs: [CorePMU], paranoid: Int?, nmiWatchdog: Bool?, hypervisor: Bool, cpuModel: String?,
        sysAdmin: Bool? = nil, perfmon: Bool? = nil, seccompFilter: Bool? = nil, onlineCPUs: [Int]? = nil
    ) {
        self.corePMUs = corePMUs
        self.paranoid = paranoid
        self.nmiWatchdog = nmiWatchdog
        self.hypervisor = hypervisor
        self.cpuModel = cpuModel
        self.sysAdmin = sysAdmin
        self.perfmon = perfmon
        self.seccompFilter = seccompFilter
        self.onlineCPUs = onlineCPUs
    }

    /// True when hardware events must name their core PMU: more than one core PMU (hybrid CPUs). A
    /// `PERF_TYPE_HARDWARE` or `PERF_TYPE_HW_CACHE` event with config bits 32–63 zero opens on one core
    /// type only (include/uapi/linux/perf_event.h, the comment on `PERF_PMU_TYPE_SHIFT`).
    public var isHybrid: Bool { corePMUs.count > 1 }

    /// The facts of this host now. The PMUs and /proc/cpuinfo are read once per process; the sysctls each time.
    public static func current() -> HostFacts {
        let fixed = Self.fixedFacts
        let status = ProcessStatus.read()
        return HostFacts(
            corePMUs: fixed.corePMUs, paranoid: HostCounters.paranoidLevel, nmiWatchdog: nmiWatchdogEnabled,
            hypervisor: fixed.hypervisor, cpuModel: fixed.cpuModel, sysAdmin: status.sysAdmin, perfmon: status.perfmon,
            seccompFilter: status.seccompFilter,
            onlineCPUs: SystemFiles.firstLine("/sys/devices/system/cpu/online").flatMap { parseCPUList($0) })
    }

    /// /proc/sys/kernel/nmi_watchdog as a flag, or nil where the file does not exist.
    public static var nmiWatchdogEnabled: Bool? {
        SystemFiles.firstLine("/proc/sys/kernel/nmi_watchdog").flatMap { Int($0) }.map { $0 != 0 }
    }

    private static let fixedFacts: (corePMUs: [CorePMU], hypervisor: Bool, cpuModel: String?) = {
        let cpuinfo = CPUInfo.read()
        return (discoverCorePMUs(), cpuinfo.hypervisor, cpuinfo.modelName)
    }()

    /// The core PMUs under `root`, as perf finds them (tools/perf/util/pmus.c, `is_pmu_core`): the PMU named
    /// `cpu`, and every PMU with a `cpus` file (uncore PMUs have `cpumask` instead).
    public static func discoverCorePMUs(root: String = "/sys/bus/event_source/devices") -> [CorePMU] {
        SystemFiles.directoryEntries(root).compactMap { name -> CorePMU? in
            let dir = "\(root)/\(name)"
            let cpusText = SystemFiles.firstLine(dir + "/cpus")
            guard name == "cpu" || cpusText != nil else { return nil }
            guard let type = SystemFiles.firstLine(dir + "/type").flatMap({ UInt32($0) }) else { return nil }
            return CorePMU(name: name, type: type, cpus: cpusText.flatMap { parseCPUList($0) })
        }
    }

    /// Parses a kernel CPU list (`0-3,8,10-11`) into CPU numbers; nil when malformed.
    public static func parseCPUList(_ text: String) -> [Int]? {
        var cpus: [Int] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-")
            if bounds.count == 1, let cpu = Int(bounds[0].trimmingWhitespace()) {
                cpus.append(cpu)
            } else if bounds.count == 2, let low = Int(bounds[0].trimmingWhitespace()),
                let high = Int(bounds[1].trimmingWhitespace()), low <= high
            {
                cpus.append(contentsOf: low...high)
            } else {
                return nil
            }
        }
        return cpus
    }

    /// The core PMU that counts on `cpu`, if known.
    public func corePMU(forCPU cpu: Int) -> CorePMU? {
        corePMUs.first { $0.cpus?.contains(cpu) ?? true }
    }
}

/// What /proc/thread-self/status says of the calling thread's privileges (counters are opened by the thread they
/// count; capabilities and seccomp filters belong to threads): its effective capabilities (`CapEff`, a hex mask:
/// bit 21 `CAP_SYS_ADMIN`, bit 38 `CAP_PERFMON`, include/uapi/linux/capability.h) and its seccomp mode (`Seccomp`:
/// 0 none, 1 strict, 2 filter). /proc/self/status, the main thread's, where thread-self is missing (before 3.17).
struct ProcessStatus {
    var sysAdmin: Bool?
    var perfmon: Bool?
    var seccompFilter: Bool?

    static func read() -> ProcessStatus {
        guard let text = SystemFiles.prefix("/proc/thread-self/status", upTo: 8_192)
            ?? SystemFiles.prefix("/proc/self/status", upTo: 8_192)
        else { return ProcessStatus() }
        return parse(text)
    }

    static func parse(_ text: String) -> ProcessStatus {
        var status = ProcessStatus()
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = parts[1].trimmingWhitespace()
            switch parts[0] {
            case "CapEff":
                if let mask = UInt64(value, radix: 16) {
                    status.sysAdmin = mask & (1 << 21) != 0
                    status.perfmon = mask & (1 << 38) != 0
                }
            case "Seccomp":
                status.seccompFilter = Int(value).map { $0 == 2 }
            default:
                continue
            }
        }
        return status
    }
}

/// The few fields of /proc/cpuinfo the counters use, read from the first CPU's block only.
struct CPUInfo {
    var hypervisor = false
    var modelName: String?

    static func read(_ path: String = "/proc/cpuinfo") -> CPUInfo {
        var info = CPUInfo()
        guard let text = SystemFiles.prefix(path, upTo: 16_384) else { return info }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else {
                continue
            }
            let key = parts[0].trimmingWhitespace()
            if key == "flags" {
                info.hypervisor = parts[1].split(separator: " ").contains("hypervisor")
                break
            }
            if key == "model name", info.modelName == nil {
                info.modelName = parts[1].trimmingWhitespace()
            }
        }
        return info
    }
}

/// Whether tracefs can be used here.
public enum TracefsStatus: Sendable, Hashable {
    /// Mounted at this path and readable.
    case mounted(String)
    /// Mounted at this path, but this user may not read it (the kernel mounts it mode 0700).
    case permissionDenied(String)
    /// Mounted nowhere tried.
    case notMounted

    /// One line for people.
    public var description: String {
        switch self {
        case .mounted(let path):
            return path
        case .permissionDenied(let path):
            return "\(path) (permission denied: tracefs is \(Tracefs.rootOnly(path)); run as root, or as root: "
                + "mount -o remount,mode=755 \(path))"
        case .notMounted:
            return "not mounted (as root: mount -t tracefs nodev /sys/kernel/tracing)"
        }
    }
}
