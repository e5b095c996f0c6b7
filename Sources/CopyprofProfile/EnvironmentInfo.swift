import Foundation

/// The machine a profile was measured on, so that two profiles can be told apart and compared fairly.
public struct EnvironmentInfo: Codable, Sendable {
    public var hostname: String
    public var cpuModel: String
    /// The CPU's vendor as /proc/cpuinfo names it (`GenuineIntel`, `AuthenticAMD`; on Arm `CPU implementer 0x41`): the
    /// generic cache events count different things on each (``CacheEvents``). Absent in profiles before copyprof
    /// recorded it.
    public var cpuVendor: String?
    /// The x86 CPU family (`cpu family`, 6 for Intel's cores, 0x17 and up for AMD's Zen): which of a vendor's cache
    /// event tables the kernel uses. Absent elsewhere and in older profiles.
    public var cpuFamily: Int?
    public var cpuCount: Int
    /// Whether /proc/cpuinfo shows the `hypervisor` flag (a virtual machine).
    public var virtualized: Bool
    public var memoryBytes: UInt64
    public var kernelRelease: String
    public var distribution: String
    public var perfEventParanoid: Int?
    public var pmus: [String]
    public var tracefs: String?
    /// Each event of the plan and whether this host could count it.
    public var events: [EventProbeRecord]
    /// Loopback's MTU (/sys/class/net/lo/mtu): the path of a one-host run's data. Absent from a two-host run's
    /// environments, whose paths (interface and MTU of the route each way) are ``RemoteInfo/clientPath`` and
    /// ``RemoteInfo/serverPath``; profiles of two-host runs before copyprof left it out still hold it.
    public var loopbackMTU: Int?
    public var optmemMax: Int?
    /// net.ipv4.tcp_wmem and tcp_rmem: min, default, max.
    public var tcpWmem: String?
    public var tcpRmem: String?
    public var swiftVersion: String
    public var copyprofVersion: String
    public var commandLine: [String]
    /// ISO 8601, UTC.
    public var startTime: String
    public var endTime: String?
    public var label: String?

    public init(
        hostname: String, cpuModel: String, cpuCount: Int, virtualized: Bool, memoryBytes: UInt64, kernelRelease: String, distribution: String, perfEventParanoid: Int?, pmus: [String], tracefs: String?, events: [EventProbeRecord], loopbackMTU: Int?, optmemMax: Int?, tcpWmem: String?, tcpRmem: String?, swiftVersion: String, copyprofVersion: String, commandLine: [String], startTime: String, endTime: String?, label: String?,
        cpuVendor: String? = nil, cpuFamily: Int? = nil
    ) {
        self.cpuVendor = cpuVendor
        self.cpuFamily = cpuFamily
        self.hostname = hostname
        self.cpuModel = cpuModel
        self.cpuCount = cpuCount
        self.virtualized = virtualized
        self.memoryBytes = memoryBytes
        self.kernelRelease = kernelRelease
        self.distribution = distribution
        self.perfEventParanoid = perfEventParanoid
        self.pmus = pmus
        self.tracefs = tracefs
        self.events = events
        self.loopbackMTU = loopbackMTU
        self.optmemMax = optmemMax
        self.tcpWmem = tcpWmem
        self.tcpRmem = tcpRmem
        self.swiftVersion = swiftVersion
        self.copyprofVersion = copyprofVersion
        self.commandLine = commandLine
        self.startTime = startTime
        self.endTime = endTime
        self.label = label
    }

    /// True when the host has a hardware PMU.
    public var hasHardwarePMU: Bool {
        pmus.contains { $0 == "cpu" || $0.hasPrefix("cpu_") || $0.hasPrefix("armv") || $0.hasPrefix("arm_") }
    }

    /// The names of the events this host counted (fully or user-only).
    public var countedEvents: [String] { events.filter { $0.availability.isOpen }.map(\.name) }

    /// The differences that make two profiles' numbers hard to compare: CPU, core count, kernel, PMU, paranoid level.
    public func differences(from other: EnvironmentInfo) -> [String] {
        var out: [String] = []
        if cpuModel != other.cpuModel { out.append("CPU: \(cpuModel) vs \(other.cpuModel)") }
        if let a = cpuVendor, let b = other.cpuVendor, a != b { out.append("CPU vendor: \(a) vs \(b)") }
        if cpuCount != other.cpuCount { out.append("CPUs: \(cpuCount) vs \(other.cpuCount)") }
        if kernelRelease != other.kernelRelease { out.append("kernel: \(kernelRelease) vs \(other.kernelRelease)") }
        if hasHardwarePMU != other.hasHardwarePMU {
            out.append("hardware PMU: \(hasHardwarePMU ? "yes" : "no") vs \(other.hasHardwarePMU ? "yes" : "no")")
        }
        if perfEventParanoid != other.perfEventParanoid {
            out.append("perf_event_paranoid: \(perfEventParanoid.map(String.init) ?? "?") vs \(other.perfEventParanoid.map(String.init) ?? "?")")
        }
        if hostname != other.hostname { out.append("host: \(hostname) vs \(other.hostname)") }
        return out
    }
}

/// A date as ISO 8601 in UTC, as profiles store times.
public func iso8601(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
}
