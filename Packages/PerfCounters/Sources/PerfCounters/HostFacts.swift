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

    /// Facts given by hand (tests, or a host described elsewhere); ``current()`` reads this host's.
    public init(corePMUs: [CorePMU], paranoid: Int?, nmiWatchdog: Bool?, hypervisor: Bool, cpuModel: String?) {
        self.corePMUs = corePMUs
        self.paranoid = paranoid
        self.nmiWatchdog = nmiWatchdog
        self.hypervisor = hypervisor
        self.cpuModel = cpuModel
    }

    /// True when hardware events must name their core PMU: more than one core PMU (hybrid CPUs). A
    /// `PERF_TYPE_HARDWARE` or `PERF_TYPE_HW_CACHE` event with config bits 32–63 zero opens on one core
    /// type only (include/uapi/linux/perf_event.h, the comment on `PERF_PMU_TYPE_SHIFT`).
    public var isHybrid: Bool { corePMUs.count > 1 }

    /// The facts of this host now. The PMUs and /proc/cpuinfo are read once per process; the sysctls each time.
    public static func current() -> HostFacts {
        let fixed = Self.fixedFacts
        return HostFacts(
            corePMUs: fixed.corePMUs, paranoid: HostCounters.paranoidLevel, nmiWatchdog: nmiWatchdogEnabled,
            hypervisor: fixed.hypervisor, cpuModel: fixed.cpuModel)
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
            return "\(path) (permission denied: tracefs is readable by root only here; run as root, or as root: "
                + "mount -o remount,mode=755 \(path))"
        case .notMounted:
            return "not mounted (as root: mount -t tracefs nodev /sys/kernel/tracing)"
        }
    }
}
