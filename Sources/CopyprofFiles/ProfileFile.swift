import CopyprofModel
import Foundation
import SystemCalls

/// Reading a profile's bytes with errors a user can act on.
public enum ProfileFile {
    /// The largest file read: far above any profile copyprof writes, and a bound on what `/dev/zero` can take.
    public static let maximumSize = 1 << 30

    /// The bytes of the profile at `path` (at most ``maximumSize``); a missing, unreadable or directory path is a
    /// ``CopyprofError/unreadableProfile(path:problem:)`` that says what to do.
    public static func contents(of path: String) throws(CopyprofError) -> Data {
        if path.isEmpty { throw .unreadableProfile(path: "''", problem: "no path given") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            switch code {
            case ENOENT: throw .unreadableProfile(path: path, problem: "cannot read: no such file")
            case EACCES, EPERM:
                throw .unreadableProfile(path: path, problem: "cannot read: permission denied (check the file's mode and owner)")
            default: throw .unreadableProfile(path: path, problem: "cannot read: \(Errno(code).text)")
            }
        }
        defer { close(fd) }
        var status = stat()
        if fstat(fd, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR {
            throw .unreadableProfile(path: path, problem: "is a directory, not a profile (give the path of a .json file in it)")
        }
        // Room for the whole of a regular file at once: growing by doubling would copy a large profile several times.
        let expected = status.st_mode & S_IFMT == S_IFREG ? min(Int(status.st_size), maximumSize) + 1 : 0
        var data = Data(capacity: expected)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = retryingOnInterrupt { chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { break }
            if n < 0 {
                let code = errno
                if code == EISDIR {
                    throw .unreadableProfile(path: path, problem: "is a directory, not a profile (give the path of a .json file in it)")
                }
                throw .unreadableProfile(path: path, problem: "cannot read: \(Errno(code).text)")
            }
            data.append(contentsOf: chunk[0..<n])
            if data.count > maximumSize {
                throw .unreadableProfile(path: path, problem: "larger than \(maximumSize >> 30) GiB: not a profile copyprof wrote")
            }
        }
        return data
    }
}
