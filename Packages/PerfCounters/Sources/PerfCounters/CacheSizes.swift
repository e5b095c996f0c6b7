#if canImport(Glibc)
import Glibc
#endif

/// The CPU's cache sizes, from /sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}.
public struct CacheSizes: Sendable, Hashable, Codable {
    /// Level 1 data cache, bytes.
    public var l1d: Int?
    /// Level 2 cache, bytes.
    public var l2: Int?
    /// The last level (the highest level listed), bytes.
    public var llc: Int?
    /// The level of `llc`.
    public var llcLevel: Int?

    /// Creates cache sizes; nil where a size is unknown.
    public init(l1d: Int?, l2: Int?, llc: Int?, llcLevel: Int?) {
        self.l1d = l1d
        self.l2 = l2
        self.llc = llc
        self.llcLevel = llcLevel
    }

    /// The sizes of cpu0's caches, as sysfs lists them.
    public static func current(root: String = "/sys/devices/system/cpu/cpu0/cache") -> CacheSizes {
        var sizes = CacheSizes(l1d: nil, l2: nil, llc: nil, llcLevel: nil)
        for entry in SystemFiles.directoryEntries(root) where entry.hasPrefix("index") {
            let dir = "\(root)/\(entry)"
            guard let level = SystemFiles.firstLine(dir + "/level").flatMap({ Int($0) }),
                let type = SystemFiles.firstLine(dir + "/type"),
                let size = SystemFiles.firstLine(dir + "/size").flatMap(parseSize)
            else { continue }
            if type == "Instruction" { continue }
            if level == 1 { sizes.l1d = size }
            if level == 2 { sizes.l2 = size }
            if level >= (sizes.llcLevel ?? 0) {
                sizes.llc = size
                sizes.llcLevel = level
            }
        }
        return sizes
    }

    /// `48K`, `1024K`, `32M` or a plain byte count as bytes.
    public static func parseSize(_ text: String) -> Int? {
        guard let last = text.last else { return nil }
        let multiplier: Int
        switch last {
        case "K", "k": multiplier = 1 << 10
        case "M", "m": multiplier = 1 << 20
        case "G", "g": multiplier = 1 << 30
        default: return Int(text)
        }
        return Int(text.dropLast()).map { $0 * multiplier }
    }
}
