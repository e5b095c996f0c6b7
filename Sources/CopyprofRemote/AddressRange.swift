import CopyprofModel
import CopyprofProfile
import Foundation

/// A client address or network a server accepts (`--allow`): `192.0.2.7`, `10.0.0.0/8`, `::1`, `fd00::/8`.
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    /// The network's address bytes: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]
    /// Leading bits that must match.
    public let prefixLength: Int

    /// Parses `ADDRESS` or `ADDRESS/PREFIX` (numeric only). An IPv4-mapped IPv6 address is its IPv4 address.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let address = AddressRange.parse(parts[0]) else { return nil }
        let maximum = address.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...maximum).contains(length) else { return nil }
            prefixLength = length
        } else {
            prefixLength = maximum
        }
        bytes = address
    }

    /// The bytes of a numeric address; IPv4-mapped IPv6 (`::ffff:192.0.2.7`) as IPv4.
    static func parse(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: v6) { Array($0) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12...]) }
            return bytes
        }
        return nil
    }

    /// True when `host` (numeric) is in the range.
    public func contains(_ host: String) -> Bool {
        guard let address = AddressRange.parse(host), address.count == bytes.count else { return false }
        var bits = prefixLength
        for (a, b) in zip(address, bytes) where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if a & mask != b & mask { return false }
            bits -= 8
        }
        return true
    }

    public var description: String {
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        bytes.withUnsafeBytes { _ = inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
        let host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return prefixLength == bytes.count * 8 ? host : "\(host)/\(prefixLength)"
    }

    /// Parses a comma-separated `--allow` list; the error names the entry that is not an address or network.
    public static func list(_ text: String) throws(CopyprofError) -> [AddressRange] {
        var ranges: [AddressRange] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let range = AddressRange(part) else {
                throw .invalidArgument("--allow: '\(abbreviated(part, limit: 60))' is not a numeric address or ADDRESS/PREFIX network (e.g. 192.0.2.7, 10.0.0.0/8, fd00::/8)")
            }
            ranges.append(range)
        }
        if ranges.isEmpty { throw .invalidArgument("--allow is empty") }
        return ranges
    }
}
