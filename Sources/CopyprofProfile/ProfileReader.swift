import Foundation

// MARK: - Reading and writing

extension Profile {
    /// Encodes the profile as compact JSON with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    /// Writes the profile atomically: a temporary file beside `path`, fsync, then rename. A profile read from an older
    /// schema is written in the current one.
    public func write(to path: String) throws(CopyprofError) {
        var current = self
        current.schemaVersion = Self.currentSchemaVersion
        let data: Data
        do { data = try current.jsonData() } catch { throw .io(path: path, problem: "cannot encode the profile: \(error)") }
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
    ///
    /// The cells are decoded one by one from their own bytes, on every CPU, after the rest of the document: a
    /// profile's time and peak memory to read then grow with its largest cell, not with the whole file.
    public static func decode(_ data: Data, path: String) throws(CopyprofError) -> Profile {
        let result: Result<Profile, CopyprofError> = data.withUnsafeBytes { raw in
            do throws(CopyprofError) {
                return .success(try decode(raw, path: path))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    private static func decode(_ raw: UnsafeRawBufferPointer, path: String) throws(CopyprofError) -> Profile {
        func fail(_ problem: String) -> CopyprofError { .unreadableProfile(path: path, problem: problem) }
        guard let layout = JSONLayout(raw) else {
            throw fail(raw.isEmpty ? "not a copyprof profile: the file is empty" : "not a copyprof profile: the file is truncated or is not JSON")
        }
        func value(_ key: String) -> Range<Int>? { layout.members.last { $0.key == key }?.value }
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: raw[range]), as: UTF8.self) }
        guard let tool = value("tool"), text(tool) == "\"copyprof\"", let versionRange = value("schemaVersion"),
            let version = Int(text(versionRange))
        else {
            throw fail("not a copyprof profile (no \"tool\": \"copyprof\" and schemaVersion)")
        }
        guard readableSchemaVersions.contains(version) else {
            throw fail(
                "schema version \(version) is not supported by this copyprof (it reads versions \(readableSchemaVersions.lowerBound) "
                    + "to \(readableSchemaVersions.upperBound)); use the copyprof that wrote it")
        }
        // Everything but the cells, with the cells replaced by an empty array.
        let cellsRange = value("cells")
        var rest = Data(capacity: raw.count - (cellsRange?.count ?? 0) + 2)
        if let cellsRange {
            rest.append(contentsOf: raw[0..<cellsRange.lowerBound])
            rest.append(contentsOf: Array("[]".utf8))
            rest.append(contentsOf: raw[cellsRange.upperBound...])
        } else {
            rest.append(contentsOf: raw)
        }
        var profile: Profile
        do { profile = try makeDecoder().decode(Profile.self, from: rest) } catch let error as DecodingError {
            throw fail(describe(error))
        } catch {
            throw fail("\(error)")
        }
        guard let cellsRange else { return profile }
        guard let elements = JSONLayout.arrayElements(raw, in: cellsRange) else {
            throw fail("wrong type at cells: expected an array of cells")
        }
        let cells = CellSlots(count: elements.count)
        let source = SharedBytes(bytes: raw)
        let chunks = min(elements.count, max(1, ProcessInfo.processInfo.activeProcessorCount) * 4)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let decoder = makeDecoder()
            for index in stride(from: chunk, to: elements.count, by: chunks) {
                let bytes = Data(source.bytes[elements[index]])
                do {
                    cells.store(.success(try decoder.decode(CellRecord.self, from: bytes)), at: index)
                } catch let error as DecodingError {
                    cells.store(.failure(describe(error, prefix: "cells[\(index)]")), at: index)
                } catch {
                    cells.store(.failure(DecodingProblem(text: "bad value at cells[\(index)]: \(error)")), at: index)
                }
            }
        }
        profile.cells.reserveCapacity(elements.count)
        for result in cells.results {
            switch result {
            case .success(let cell): profile.cells.append(cell)
            case .failure(let problem): throw fail(problem.text)
            case nil: throw fail("a cell was not decoded")
            }
        }
        return profile
    }

    static func describe(_ error: DecodingError, prefix: String = "") -> DecodingProblem {
        DecodingProblem(text: describeText(error, prefix: prefix))
    }

    static func describe(_ error: DecodingError) -> String { describeText(error, prefix: "") }

    static func describeText(_ error: DecodingError, prefix: String) -> String {
        func at(_ path: [CodingKey]) -> String {
            let inner = path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            let full = (prefix + inner).trimmingCharacters(in: CharacterSet(charactersIn: "."))
            return full.isEmpty ? "the top level" : full
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

/// A cell's decoding error, as one line.
struct DecodingProblem: Error {
    var text: String
}

/// The decoded cells, each slot written by exactly one of the decoding threads.
///
/// `@unchecked Sendable`: `concurrentPerform` gives every index to one iteration, so no slot is written twice or
/// read before the loop has returned.
private final class CellSlots: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<Result<CellRecord, DecodingProblem>?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    func store(_ result: Result<CellRecord, DecodingProblem>, at index: Int) { slots[index] = result }

    var results: [Result<CellRecord, DecodingProblem>?] { Array(slots) }
}

/// The profile's bytes, read by the decoding threads while the caller's `withUnsafeBytes` is in progress.
///
/// `@unchecked Sendable`: the bytes are only read, and `concurrentPerform` returns before the buffer goes away.
private struct SharedBytes: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
}
