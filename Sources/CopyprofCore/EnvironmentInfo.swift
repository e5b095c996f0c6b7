import Foundation
import PerfCounters

/// The machine a profile was measured on, so that two profiles can be told apart and compared fairly.
public struct EnvironmentInfo: Codable, Sendable {
    public var hostname: String
    public var cpuModel: String
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
    public var events: [HostCounters.Probe]
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

    /// True when the host has a hardware PMU.
    public var hasHardwarePMU: Bool { HostCounters.hasHardwarePMU(pmus) }

    /// The names of the events this host counted (fully or user-only).
    public var countedEvents: [String] { events.filter { $0.availability.isOpen }.map(\.name) }

    /// Reads the environment of this host now, probing `events` on the calling thread.
    public static func capture(
        events: [PerfEvent], label: String?, commandLine: [String], copyprofVersion: String
    ) -> EnvironmentInfo {
        let host = HostCounters.probe(events)
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") || $0.hasPrefix("Model") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown"
        let virtualized = cpuinfo.split(separator: "\n").contains { $0.hasPrefix("flags") && $0.contains(" hypervisor") }
        let memKB = firstLine("/proc/meminfo").flatMap { line in
            line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) }
        } ?? 0
        let os = (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("PRETTY_NAME=") }
            .map { String($0.dropFirst("PRETTY_NAME=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        return EnvironmentInfo(
            hostname: ProcessInfo.processInfo.hostName,
            cpuModel: model,
            cpuCount: sysconf(Int32(_SC_NPROCESSORS_ONLN)),
            virtualized: virtualized,
            memoryBytes: memKB * 1024,
            kernelRelease: release,
            distribution: os ?? "unknown",
            perfEventParanoid: host.paranoid,
            pmus: host.pmus,
            tracefs: host.tracefs,
            events: host.events,
            loopbackMTU: firstLine("/sys/class/net/lo/mtu").flatMap { Int($0) },
            optmemMax: firstLine("/proc/sys/net/core/optmem_max").flatMap { Int($0) },
            tcpWmem: firstLine("/proc/sys/net/ipv4/tcp_wmem").map(normalizeSpaces),
            tcpRmem: firstLine("/proc/sys/net/ipv4/tcp_rmem").map(normalizeSpaces),
            swiftVersion: compilerVersion,
            copyprofVersion: copyprofVersion,
            commandLine: commandLine,
            startTime: iso8601(Date()),
            endTime: nil,
            label: label)
    }

    /// The differences that make two profiles' numbers hard to compare: CPU, core count, kernel, PMU, paranoid level.
    public func differences(from other: EnvironmentInfo) -> [String] {
        var out: [String] = []
        if cpuModel != other.cpuModel { out.append("CPU: \(cpuModel) vs \(other.cpuModel)") }
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

func firstLine(_ path: String) -> String? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    return text.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) }
}

func normalizeSpaces(_ text: String) -> String {
    text.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
}

func iso8601(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return formatter.string(from: date)
}

/// The Swift compiler this build was made with.
let compilerVersion: String = {
    #if compiler(>=6.4)
    return "6.4 or later"
    #elseif compiler(>=6.3)
    return "6.3"
    #elseif compiler(>=6.2)
    return "6.2"
    #else
    return "6.1 or earlier"
    #endif
}()
