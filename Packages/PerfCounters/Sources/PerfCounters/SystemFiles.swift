import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// Small readers of /proc and /sys files, without Foundation.
enum SystemFiles {
    /// The whole content of a small file, or why open or read failed.
    static func read(_ path: String) -> Result<String, SystemCallError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(SystemCallError("open(\(path))")) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = retryingOnInterrupt { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if n < 0 { return .failure(SystemCallError("read(\(path))")) }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return .success(String(decoding: bytes, as: UTF8.self))
    }

    /// At most `limit` bytes from the start of a file, or nil when unreadable.
    static func prefix(_ path: String, upTo limit: Int) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        var filled = 0
        while filled < limit {
            let n = retryingOnInterrupt { bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, limit - filled) } }
            if n < 0 { return nil }
            if n == 0 { break }
            filled += n
        }
        return String(decoding: bytes[0..<filled], as: UTF8.self)
    }

    /// 0 when `path` can be reached, else the errno `access(F_OK)` set (ENOENT, EACCES ...).
    static func accessError(_ path: String) -> Int32 {
        access(path, F_OK) == 0 ? 0 : errno
    }

    /// The file's first line without surrounding white space, or nil when unreadable.
    static func firstLine(_ path: String) -> String? {
        guard case .success(let text) = read(path) else { return nil }
        return text.split(separator: "\n", omittingEmptySubsequences: false).first.map { $0.trimmingWhitespace() }
    }

    /// True when the path exists (any type).
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Names in a directory, sorted; empty when it cannot be read.
    static func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
