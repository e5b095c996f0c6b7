/// One line of /proc/PID/maps (proc(5)): `start-end perms offset dev inode path`.
public struct MemoryMapping: Sendable, Hashable {
    /// The mapped addresses, end exclusive.
    public var addresses: Range<UInt64>
    /// `r-xp` and the like.
    public var permissions: String
    /// Where in the file the mapping starts.
    public var fileOffset: UInt64
    public var inode: UInt64
    /// The file, a pseudo-path such as `[vdso]` or `[heap]`, or empty for anonymous memory. A file deleted since
    /// it was mapped keeps its ` (deleted)` suffix.
    public var path: String

    public init(addresses: Range<UInt64>, permissions: String, fileOffset: UInt64, inode: UInt64, path: String) {
        self.addresses = addresses
        self.permissions = permissions
        self.fileOffset = fileOffset
        self.inode = inode
        self.path = path
    }

    public var isExecutable: Bool { permissions.dropFirst(2).first == "x" }

    /// Every mapping in maps text, in order; lines that do not parse are skipped.
    public static func parse(_ text: String) -> [MemoryMapping] {
        text.split(separator: "\n").compactMap(parseLine)
    }

    static func parseLine(_ line: Substring) -> MemoryMapping? {
        // Five space-separated fields, then the path after any run of spaces (a path may itself hold spaces).
        var rest = line[...]
        var fields: [Substring] = []
        for _ in 0..<5 {
            rest = rest.drop(while: { $0 == " " })
            guard let space = rest.firstIndex(of: " ") else {
                fields.append(rest)
                rest = rest[rest.endIndex...]
                continue
            }
            fields.append(rest[..<space])
            rest = rest[space...]
        }
        guard fields.count == 5 else { return nil }
        let bounds = fields[0].split(separator: "-")
        guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16),
            start < end, let offset = UInt64(fields[2], radix: 16), let inode = UInt64(fields[4])
        else { return nil }
        let path = rest.drop(while: { $0 == " " })
        return MemoryMapping(
            addresses: start..<end, permissions: String(fields[1]), fileOffset: offset, inode: inode,
            path: String(path))
    }
}
