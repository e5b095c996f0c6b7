import CopyprofModel
import Foundation
import Synchronization
import SystemCalls

/// Where an output goes, decided before anything is written.
public enum OutputDestination: Sendable, Equatable {
    /// `-`: standard output.
    case standardOutput
    /// A regular file, or a path that does not exist yet (symbolic links followed): written to a temporary file
    /// beside it and renamed over it, so that a reader sees the old content or the new, never a part.
    case regularFile(String)
    /// A character device or a FIFO (symbolic links followed): opened and written in place; replacing it with a
    /// regular file would destroy it.
    case inPlace(String)

    /// True when the destination is a file in a folder (where a report can put its charts beside it).
    public var isRegularFile: Bool {
        if case .regularFile = self { return true }
        return false
    }
}

/// Writes outputs without destroying what was there and without losing a byte silently: every write is checked,
/// a short write or an error is a ``CopyprofError/io(path:problem:)``.
public enum OutputFile {
    /// What writing to `path` would do: `-` is standard output; symbolic links are followed (up to 40); a directory,
    /// a block device or a socket is refused with a one-line reason.
    public static func destination(of path: String) throws(CopyprofError) -> OutputDestination {
        if path == "-" { return .standardOutput }
        if path.isEmpty { throw .io(path: "''", problem: "no path given") }
        var current = path
        for _ in 0..<40 {
            var status = stat()
            if lstat(current, &status) != 0 {
                if errno == ENOENT { return .regularFile(current) }
                throw .io(path: path, problem: "cannot use it: \(Errno.current.text)")
            }
            switch status.st_mode & S_IFMT {
            case S_IFLNK:
                guard let target = linkTarget(current) else {
                    throw .io(path: path, problem: "cannot read the symbolic link \(current): \(Errno.current.text)")
                }
                current = target.hasPrefix("/") ? target : ((current as NSString).deletingLastPathComponent as NSString).appendingPathComponent(target)
            case S_IFREG: return .regularFile(current)
            case S_IFDIR: throw .io(path: path, problem: "is a directory; give a file name inside it")
            case S_IFCHR, S_IFIFO: return .inPlace(current)
            case S_IFBLK: throw .io(path: path, problem: "is a block device; copyprof does not write to disks")
            default: throw .io(path: path, problem: "is a socket or another special file; give a regular file")
            }
        }
        throw .io(path: path, problem: "too many levels of symbolic links")
    }

    /// Fails now, with the reason, if `path` cannot be written later: creates a missing folder, then creates and
    /// removes a temporary file beside a regular file; with `replacing: false`, an existing file (or a symbolic link to
    /// one) is refused. A device or FIFO is never opened here — opening a device can act (a tape rewinds), and opening
    /// and closing a FIFO would hand its waiting reader an end of file — only its permissions are checked.
    /// For long work whose result must not be lost at the end.
    public static func checkWritable(_ path: String, replacing: Bool = true) throws(CopyprofError) {
        switch try destination(of: path) {
        case .standardOutput:
            var status = stat()
            if fstat(1, &status) != 0 { throw .io(path: "standard output", problem: "is closed") }
        case .inPlace(let device):
            if faccessat(AT_FDCWD, device, W_OK, AT_EACCESS) != 0 {
                throw .io(path: path, problem: "cannot write: \(Errno.current.text)")
            }
        case .regularFile(let file):
            if !replacing { try refuseExisting(path) }
            try makeFolder(of: file, for: path)
            let (fd, temporary) = try createTemporary(beside: file, for: path)
            close(fd)
            unlink(temporary)
            TemporaryFiles.forget(temporary)
            if access(file, F_OK) == 0 && access(file, W_OK) != 0 && geteuid() != 0 {
                throw .io(path: path, problem: "cannot write: \(Errno.current.text)")
            }
        }
    }

    /// Writes `data` to `path` (see ``OutputDestination``). With `replacing: false`, an existing file is never
    /// replaced: the write fails instead (the rename is a `link`, which does not replace).
    ///
    /// A FIFO is opened once, here, and gets all of `data`. Without a reader yet (fifo(7): a non-blocking open for
    /// writing fails with ENXIO), the open is tried again every 50 ms for as long as `keepWaitingForReader(fifo)`
    /// says so; when it says stop, the write fails, so that the caller can save the data elsewhere. (A blocking open
    /// would wait through a signal that came just before it.)
    public static func write(
        _ data: Data, to path: String, replacing: Bool = true, keepWaitingForReader: (String) -> Bool = { _ in true }
    ) throws(CopyprofError) {
        switch try destination(of: path) {
        case .standardOutput:
            try StandardOutput.write(data)
        case .inPlace(let device):
            var fd = open(device, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            while fd < 0 && errno == ENXIO {
                guard keepWaitingForReader(device) else { throw .io(path: path, problem: "no reader opened it") }
                usleep(50_000)
                fd = open(device, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            }
            if fd < 0 { throw .io(path: path, problem: "cannot open for writing: \(Errno.current.text)") }
            // The writes themselves block, as a pipe's do.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            defer { close(fd) }
            if let failure = writeAll(fd, data) { throw .io(path: path, problem: "cannot write: \(failure)") }
        case .regularFile(let file):
            try makeFolder(of: file, for: path)
            let (fd, temporary) = try createTemporary(beside: file, for: path)
            var failure = writeAll(fd, data)
            var existing = stat()
            if failure == nil && stat(file, &existing) == 0 { _ = fchmod(fd, existing.st_mode & 0o7777) }
            if failure == nil && fsync(fd) != 0 { failure = Errno.current.text }
            if close(fd) != 0 && failure == nil { failure = Errno.current.text }
            if failure == nil {
                if replacing {
                    if rename(temporary, file) != 0 { failure = Errno.current.text }
                } else if link(temporary, file) != 0 {
                    // Filesystems without hard links: check, then rename (a race window, but no silent loss here).
                    if errno == EEXIST || access(file, F_OK) == 0 {
                        unlink(temporary)
                        TemporaryFiles.forget(temporary)
                        throw existingFile(path, file: file)
                    } else if rename(temporary, file) != 0 {
                        failure = Errno.current.text
                    }
                }
            }
            unlink(temporary)
            TemporaryFiles.forget(temporary)
            if let failure { throw .io(path: path, problem: "cannot write: \(failure)") }
            syncFolder(of: file)
        }
    }

    /// Writes `data` to the first of `candidates` that does not exist yet, never replacing a file (two runs that
    /// pick the same name both keep their output); returns the path written.
    public static func writeNew(_ data: Data, candidates: [String]) throws(CopyprofError) -> String {
        var lastError: CopyprofError?
        for candidate in candidates {
            do {
                try write(data, to: candidate, replacing: false)
                return candidate
            } catch {
                // Taken by someone else: the next name. Any other failure is the answer.
                if case .regularFile(let file) = try? destination(of: candidate), access(file, F_OK) == 0 {
                    lastError = error
                    continue
                }
                throw error
            }
        }
        throw lastError ?? .io(path: candidates.first ?? "''", problem: "no name to write to")
    }

    /// Writes every byte or says why not (EINTR retried; a write of 0 bytes is an error, not a loop).
    public static func writeAll(_ fd: Int32, _ data: Data) -> String? {
        data.withUnsafeBytes { raw -> String? in
            var offset = 0
            while offset < raw.count {
                let n = retryingOnInterrupt { Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset) }
                if n < 0 {
                    if errno == EAGAIN {
                        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                        _ = poll(&pfd, 1, 1000)
                        continue
                    }
                    return Errno.current.text
                }
                if n == 0 { return "short write (\(offset) of \(raw.count) bytes)" }
                offset += n
            }
            return nil
        }
    }

    /// Fails when `path` names an existing regular file, or a symbolic link to one; creates nothing. For a command
    /// about to write an output it must not replace, before it does the work (the write itself refuses too).
    public static func refuseExisting(_ path: String) throws(CopyprofError) {
        if case .regularFile(let file) = try destination(of: path), access(file, F_OK) == 0 { throw existingFile(path, file: file) }
    }

    /// "PATH: exists (a symbolic link to FILE); not replaced without --force": one line for every command.
    static func existingFile(_ path: String, file: String) -> CopyprofError {
        .io(path: path, problem: "exists\(file == path ? "" : " (a symbolic link to \(file))"); not replaced without --force")
    }

    private static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func makeFolder(of file: String, for path: String) throws(CopyprofError) {
        let directory = (file as NSString).deletingLastPathComponent
        guard !directory.isEmpty else { return }
        var status = stat()
        if stat(directory, &status) == 0 {
            if status.st_mode & S_IFMT != S_IFDIR { throw .io(path: path, problem: "\(directory) is not a folder") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(path: path, problem: "cannot create the folder \(directory): \(foundationErrorText(error))")
        }
    }

    /// A new file `FILE.tmp-PID-N` beside `file`, registered for removal on a signal.
    private static func createTemporary(beside file: String, for path: String) throws(CopyprofError) -> (Int32, String) {
        for _ in 0..<100 {
            let temporary = "\(file).tmp-\(getpid())-\(TemporaryFiles.nextNumber())"
            TemporaryFiles.remember(temporary)
            let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 { return (fd, temporary) }
            let code = errno
            TemporaryFiles.forget(temporary)
            if code == EEXIST { continue }
            throw .io(path: path, problem: "cannot create a file in \((file as NSString).deletingLastPathComponent.isEmpty ? "." : (file as NSString).deletingLastPathComponent): \(Errno(code).text)")
        }
        throw .io(path: path, problem: "cannot create a temporary file beside it")
    }

    /// fsync of the folder, so that the rename itself survives a crash (failures ignored: not every filesystem can).
    private static func syncFolder(of file: String) {
        let directory = (file as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }
}

/// Standard output, written with checked `write(2)` calls (not `print`, whose errors are lost in stdio's buffer).
public enum StandardOutput {
    public static func write(_ text: String) throws(CopyprofError) {
        try write(Data(text.utf8))
    }

    public static func write(_ data: Data) throws(CopyprofError) {
        if let failure = OutputFile.writeAll(1, data) { throw .io(path: "standard output", problem: "cannot write: \(failure)") }
    }
}

/// The temporary files being written, so that a signal handler can remove them before the process dies.
///
/// The handler may run at any instruction, so the paths live in fixed C buffers published with atomics, and
/// ``removeAllFromSignalHandler()`` calls only `unlink` (async-signal-safe).
public enum TemporaryFiles {
    static let slotCount = 8
    static let slotSize = Int(PATH_MAX) + 1
    /// `nonisolated(unsafe)`: allocated once, never freed; a slot's bytes are written only while its state is 0
    /// and read by the handler only while it is 1 (the atomic's release/acquire orders the two).
    nonisolated(unsafe) static let buffers = UnsafeMutablePointer<CChar>.allocate(capacity: slotCount * slotSize)
    /// Each slot's state: 0 free, 2 being written, 1 holds a path. `nonisolated(unsafe)`: allocated once, never
    /// freed; only its atomics are used.
    nonisolated(unsafe) static let slots: UnsafeMutablePointer<Atomic<Int>> = {
        let pointer = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: slotCount)
        for i in 0..<slotCount { (pointer + i).initialize(to: Atomic<Int>(0)) }
        return pointer
    }()
    private static let counter = Atomic<Int>(0)

    static func nextNumber() -> Int { counter.add(1, ordering: .relaxed).newValue }

    /// Records a path about to be created (before `open`, so that no moment leaves it unrecorded).
    static func remember(_ path: String) {
        let bytes = Array(path.utf8)
        guard bytes.count < slotSize else { return }
        for i in 0..<slotCount {
            // 0 free → 2 being written → 1 published.
            guard slots[i].compareExchange(expected: 0, desired: 2, ordering: .acquiring).exchanged else { continue }
            let buffer = buffers + i * slotSize
            for (j, byte) in bytes.enumerated() { buffer[j] = CChar(bitPattern: byte) }
            buffer[bytes.count] = 0
            slots[i].store(1, ordering: .releasing)
            return
        }
    }

    /// Drops a path once it is renamed or removed.
    static func forget(_ path: String) {
        for i in 0..<slotCount where slots[i].load(ordering: .acquiring) == 1 {
            if String(cString: buffers + i * slotSize) == path { slots[i].store(0, ordering: .releasing) }
        }
    }

    /// Removes every temporary file being written. Only `unlink`: safe in a signal handler.
    public static func removeAllFromSignalHandler() {
        for i in 0..<slotCount where slots[i].load(ordering: .acquiring) == 1 {
            unlink(buffers + i * slotSize)
        }
    }
}
