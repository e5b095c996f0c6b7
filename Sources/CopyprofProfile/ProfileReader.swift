import Foundation

// MARK: - Reading and writing

extension Profile {
    /// Encodes the profile as compact JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    /// Writes the profile atomically: a temporary file beside `path`, fsync, then rename.
    public func write(to path: String) throws(CopyprofError) {
        let data: Data
        do { data = try jsonData() } catch { throw .io(path: path, problem: "cannot encode the profile: \(error)") }
        try AtomicFile.write(data, to: path)
    }

    /// Reads a profile; every problem becomes one line naming the file.
    public static func read(from path: String) throws(CopyprofError) -> Profile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadableProfile(path: path, problem: "cannot read: \(Self.reason(error))")
        }
        return try decode(data, path: path)
    }

    /// Decodes profile JSON; `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws(CopyprofError) -> Profile {
        struct Header: Decodable {
            var tool: String?
            var schemaVersion: Int?
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let header: Header
        do { header = try decoder.decode(Header.self, from: data) } catch {
            throw .unreadableProfile(path: path, problem: "not a copyprof profile: the file is truncated or is not JSON")
        }
        guard header.tool == "copyprof", let version = header.schemaVersion else {
            throw .unreadableProfile(path: path, problem: "not a copyprof profile (no \"tool\": \"copyprof\" and schemaVersion)")
        }
        guard version == currentSchemaVersion else {
            throw .unreadableProfile(
                path: path,
                problem: "schema version \(version) is not supported by this copyprof (it reads version \(currentSchemaVersion)); "
                    + "use the copyprof that wrote it")
        }
        do { return try decoder.decode(Profile.self, from: data) } catch let error as DecodingError {
            throw .unreadableProfile(path: path, problem: describe(error))
        } catch {
            throw .unreadableProfile(path: path, problem: "\(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "the top level" : path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "wrong type at \(at(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "missing value at \(at(context.codingPath)): expected \(type)"
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(at(context.codingPath))"
        case .dataCorrupted(let context):
            return "bad value at \(at(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "does not decode: \(error)"
        }
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSCocoaErrorDomain && ns.code == NSFileReadNoSuchFileError { return "no such file" }
        return ns.localizedDescription
    }
}

/// Writes files so that a reader sees the old content or the new, never a part.
public enum AtomicFile {
    /// Writes `data` to a temporary file in the same folder, flushes it to disk, and renames it over `path`.
    public static func write(_ data: Data, to path: String) throws(CopyprofError) {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw .io(path: directory, problem: "cannot create the folder: \(Profile.reason(error))")
            }
        }
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw .io(path: path, problem: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw .io(path: path, problem: "cannot write: \(failure)")
        }
    }
}
