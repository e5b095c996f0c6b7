import CopyprofProfile
import Foundation

extension NetworkPath {
    /// Finds the route to `peer` with `ip -o route get`, then reads the interface's MTU and kind from sysfs.
    public static func toward(_ peer: String) -> NetworkPath {
        guard let output = run("/usr/sbin/ip", ["-o", "route", "get", peer]) ?? run("/sbin/ip", ["-o", "route", "get", peer]) ?? run("/bin/ip", ["-o", "route", "get", peer]),
            let device = word(after: "dev", in: output)
        else { return NetworkPath(peer: peer, interface: nil, mtu: nil, kind: .unknown) }
        let mtu = (try? String(contentsOfFile: "/sys/class/net/\(device)/mtu", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return NetworkPath(peer: peer, interface: device, mtu: mtu, kind: kind(of: device))
    }

    static func kind(of device: String) -> Kind {
        if device == "lo" { return .loopback }
        if FileManager.default.fileExists(atPath: "/sys/class/net/\(device)/device") { return .device }
        let details = run("/usr/sbin/ip", ["-d", "-o", "link", "show", "dev", device]) ?? run("/sbin/ip", ["-d", "-o", "link", "show", "dev", device]) ?? ""
        if details.contains(" veth ") || details.hasSuffix(" veth") || details.contains("veth ") { return .veth }
        return FileManager.default.fileExists(atPath: "/sys/class/net/\(device)") ? .virtual : .unknown
    }

    static func word(after key: String, in text: String) -> String? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        guard let i = words.firstIndex(of: key), i + 1 < words.count else { return nil }
        return words[i + 1]
    }

    static func run(_ path: String, _ arguments: [String]) -> String? {
        guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }

}
