#if canImport(Glibc)
import Glibc
#endif
import SystemCalls

/// Reading whole files for the symbol tables: /proc files by read(2) (their size reads as 0), ELF files by mmap.
enum FileBytes {
    /// Every byte of a file read to its end (works for /proc files, whose stat size is 0).
    static func read(_ path: String) -> Result<[UInt8], SystemCallError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(SystemCallError("open(\(path))")) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1 << 16)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = retryingOnInterrupt { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if n < 0 { return .failure(SystemCallError("read(\(path))")) }
            if n == 0 { return .success(bytes) }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    /// The first line of a small file without its newline, or nil when it cannot be read.
    static func firstLine(_ path: String) -> String? {
        guard case .success(let bytes) = read(path) else { return nil }
        return String(decoding: bytes.prefix(while: { $0 != UInt8(ascii: "\n") }), as: UTF8.self)
    }
}

/// A file mapped read-only for as long as this object lives: the ELF reader looks at its bytes in place.
final class MappedFile {
    let bytes: UnsafeRawBufferPointer
    /// The file's inode, to tell whether it is still the file a process mapped.
    let inode: UInt64

    private init(bytes: UnsafeRawBufferPointer, inode: UInt64) {
        self.bytes = bytes
        self.inode = inode
    }

    /// Maps `path`, or says why it could not.
    static func map(_ path: String) -> Result<MappedFile, SystemCallError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(SystemCallError("open(\(path))")) }
        defer { close(fd) }
        var status = stat()
        if fstat(fd, &status) != 0 { return .failure(SystemCallError("fstat(\(path))")) }
        let size = Int(status.st_size)
        if size == 0 { return .success(MappedFile(bytes: UnsafeRawBufferPointer(start: nil, count: 0), inode: UInt64(status.st_ino))) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            return .failure(SystemCallError("mmap(\(path))"))
        }
        return .success(MappedFile(bytes: UnsafeRawBufferPointer(start: base, count: size), inode: UInt64(status.st_ino)))
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
