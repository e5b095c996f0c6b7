import CopyprofProfile
import Foundation
import PerfCounters

extension EnvironmentInfo {
    /// Reads the environment of this host now, probing `events` on the calling thread. `twoHost`: the data goes to
    /// or comes from another host, over the route a profile records in its `remote` paths (``NetworkPath``); loopback's
    /// MTU is then not the path's, and is left out.
    public static func capture(
        events: [PerfEvent], label: String?, commandLine: [String], copyprofVersion: String, twoHost: Bool
    ) -> EnvironmentInfo {
        let host = HostCounters.probe(events)
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") || $0.hasPrefix("Model") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown"
        let virtualized = cpuinfo.split(separator: "\n").contains { $0.hasPrefix("flags") && $0.contains(" hypervisor") }
        let (vendor, family) = cpuVendorAndFamily(cpuinfo)
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
            events: host.events.map(EventProbeRecord.init),
            loopbackMTU: twoHost ? nil : firstLine("/sys/class/net/lo/mtu").flatMap { Int($0) },
            optmemMax: firstLine("/proc/sys/net/core/optmem_max").flatMap { Int($0) },
            tcpWmem: firstLine("/proc/sys/net/ipv4/tcp_wmem").map(normalizeSpaces),
            tcpRmem: firstLine("/proc/sys/net/ipv4/tcp_rmem").map(normalizeSpaces),
            swiftVersion: compilerVersion,
            copyprofVersion: copyprofVersion,
            commandLine: commandLine,
            startTime: iso8601(Date()),
            endTime: nil,
            label: label,
            cpuVendor: vendor,
            cpuFamily: family)
    }

    /// The vendor and family of the first CPU in /proc/cpuinfo's text: x86's `vendor_id` and `cpu family`, or Arm's
    /// `CPU implementer` (as `CPU implementer 0x41`, no family).
    static func cpuVendorAndFamily(_ cpuinfo: String) -> (vendor: String?, family: Int?) {
        func field(_ name: String) -> String? {
            cpuinfo.split(separator: "\n").first { $0.hasPrefix(name) && $0.dropFirst(name.count).first.map { $0 == " " || $0 == "\t" || $0 == ":" } == true }
                .flatMap { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } }
        }
        if let vendor = field("vendor_id") { return (vendor, field("cpu family").flatMap { Int($0) }) }
        if let implementer = field("CPU implementer") { return ("CPU implementer \(implementer)", nil) }
        return (nil, nil)
    }

}

func firstLine(_ path: String) -> String? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    return text.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) }
}

func normalizeSpaces(_ text: String) -> String {
    text.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
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
