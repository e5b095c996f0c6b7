import CopyprofFiles
import CopyprofModel
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

    /// Writes the profile with ``OutputFile/write(_:to:replacing:keepWaitingForReader:)``: a regular file
    /// atomically (temporary file, fsync, rename; an existing one only with `replacing`), a device or FIFO in place,
    /// `-` to standard output. A profile read from an older schema is written in the current one.
    public func write(
        to path: String, replacing: Bool = true, keepWaitingForReader: (String) -> Bool = { _ in true }
    ) throws(CopyprofError) {
        var current = self
        current.schemaVersion = Self.currentSchemaVersion
        let data: Data
        do { data = try current.jsonData() } catch { throw .io(path: path, problem: "cannot encode the profile: \(error)") }
        try OutputFile.write(data, to: path, replacing: replacing, keepWaitingForReader: keepWaitingForReader)
    }

    /// Reads a profile; every problem becomes one line naming the file.
    ///
    /// After decoding, the profile is checked for values no run of copyprof can produce (``validate()``), so that
    /// what reads it can trust its counts.
    public static func read(from path: String) throws(CopyprofError) -> Profile {
        try decode(ProfileFile.contents(of: path), path: path)
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
        if raw.isEmpty { throw fail("empty file: not a copyprof profile") }
        guard let layout = JSONLayout(raw) else { throw fail("not a copyprof profile: the file is truncated or is not JSON") }
        func value(_ key: String) -> Range<Int>? { layout.members.last { $0.key == key }?.value }
        func text(_ range: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: raw[range]), as: UTF8.self) }
        // A key twice in one object would let what checks a value (the version check below) and the decoder see two
        // different ones: refused, everywhere but in the cells, which are checked as they are decoded.
        let cellsRange = value("cells")
        if let duplicate = JSONLayout.duplicateKey(raw, in: 0..<raw.count, skipping: cellsRange) { throw fail(duplicate) }
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
            throw fail(locatedNumber(error, in: rest, decoding: Profile.self, prefix: "") ?? describe(error))
        } catch {
            throw fail(abbreviated("\(error)"))
        }
        guard let cellsRange else {
            if let problem = profile.validate() { throw fail(problem) }
            return profile
        }
        guard let elements = JSONLayout.arrayElements(raw, in: cellsRange) else {
            throw fail("wrong type at cells: expected an array of cells")
        }
        let cells = CellSlots(count: elements.count)
        let source = SharedBytes(bytes: raw)
        let chunks = min(elements.count, max(1, ProcessInfo.processInfo.activeProcessorCount) * 4)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let decoder = makeDecoder()
            for index in stride(from: chunk, to: elements.count, by: chunks) {
                if let duplicate = JSONLayout.duplicateKey(source.bytes, in: elements[index], prefix: "cells[\(index)]") {
                    cells.store(.failure(DecodingProblem(text: duplicate)), at: index)
                    continue
                }
                // The cell's bytes in place, not a copy: the profile's buffer outlives the decoding, which only reads.
                let range = elements[index]
                let bytes = Data(
                    bytesNoCopy: UnsafeMutableRawPointer(mutating: source.bytes.baseAddress! + range.lowerBound),
                    count: range.count, deallocator: .none)
                do {
                    cells.store(.success(try decoder.decode(CellRecord.self, from: bytes)), at: index)
                } catch let error as DecodingError {
                    let prefix = "cells[\(index)]"
                    let located = locatedNumber(error, in: bytes, decoding: CellRecord.self, prefix: prefix)
                    cells.store(.failure(located.map { DecodingProblem(text: $0) } ?? describe(error, prefix: prefix)), at: index)
                } catch {
                    cells.store(.failure(DecodingProblem(text: abbreviated("bad value at cells[\(index)]: \(error)"))), at: index)
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
        if let problem = profile.validate() { throw fail(problem) }
        return profile
    }

    /// "bad number at PATH: TEXT does not fit TYPE" when the decoder failed on a number that does not fit its field
    /// (it says only "not valid JSON", with no path); nil for other errors and for parts over 32 MiB.
    static func locatedNumber<T: Decodable>(_ error: DecodingError, in data: Data, decoding type: T.Type, prefix: String) -> String? {
        guard case .dataCorrupted(let context) = error, context.codingPath.isEmpty else { return nil }
        // Finding the number takes about 10 decodes of the part: done up to 32 MiB (a few seconds).
        if data.count > NumberLocator.maximumSize { return "a number does not fit its field (not JSON for this profile's types)" }
        return NumberLocator.locate(in: data, decoding: type, with: makeDecoder(), prefix: prefix)
    }

    static func describe(_ error: DecodingError, prefix: String = "") -> DecodingProblem {
        DecodingProblem(text: describeText(error, prefix: prefix))
    }

    static func describe(_ error: DecodingError) -> String { describeText(error, prefix: "") }

    static func describeText(_ error: DecodingError, prefix: String) -> String {
        func jsonPath(_ path: [CodingKey]) -> String { Profile.jsonPath(path, prefix: prefix) }
        switch error {
        case .typeMismatch(let type, let context):
            return "wrong type at \(jsonPath(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context):
            return "missing value at \(jsonPath(context.codingPath)): expected \(type)"
        case .keyNotFound(let key, let context):
            return "missing key '\(abbreviated(key.stringValue, limit: 60))' at \(jsonPath(context.codingPath))"
        case .dataCorrupted(let context):
            return "bad value at \(jsonPath(context.codingPath)): \(abbreviated(context.debugDescription))"
        @unknown default:
            return abbreviated("does not decode: \(error)")
        }
    }

    /// `cells[0].trials[1].bytes`, with long keys shortened; `prefix` is the path of the part decoded on its own.
    static func jsonPath(_ path: [CodingKey], prefix: String = "") -> String {
        let full = (prefix + path.map { $0.intValue.map { "[\($0)]" } ?? ".\(abbreviated($0.stringValue, limit: 60))" }.joined())
            .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        return full.isEmpty ? "the top level" : full
    }
}

/// `text` itself when it is short; otherwise its start, an ellipsis and its length, so that a 100 MB string in a
/// file does not become a 100 MB error message.
public func abbreviated(_ text: String, limit: Int = 200) -> String {
    guard text.utf8.count > limit else { return text }
    var end = text.startIndex
    var bytes = 0
    for index in text.indices {
        let next = bytes + text[index].utf8.count
        if next > limit { break }
        bytes = next
        end = text.index(after: index)
    }
    let shown = String(text[..<end]).map { $0.isNewline ? " " : String($0) }.joined()
    return shown + "… (\(text.utf8.count) bytes)"
}

/// Finds the number that made Foundation's JSONDecoder fail with "The given data was not valid JSON" — its answer
/// for a well-formed number that does not fit its field (-1 or 1.5 for a UInt64, 1e400 for a Double), which names
/// neither the number nor where it is.
enum NumberLocator {
    /// The largest file searched for its bad number.
    static let maximumSize = 32 << 20

    /// "bad number at cells[0].trials[0].bytes: -1 does not fit UInt64", or nil when no single number is to blame.
    static func locate<T: Decodable>(in data: Data, decoding type: T.Type, with decoder: JSONDecoder, prefix: String = "") -> String? {
        let bytes = [UInt8](data)
        // Whole numbers from 0 to 999999999 fit every numeric field of a profile (Int32 up, Double): the search
        // looks at the others first, and at every number only if none of those is to blame.
        let all = numberRanges(in: bytes)
        let suspects = all.filter { range in
            range.count > 9 || bytes[range].contains { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 | 0x20 == UInt8(ascii: "e") }
        }
        for numbers in [suspects, all] where !numbers.isEmpty {
            if let found = locate(in: bytes, numbers: numbers, decoding: type, with: decoder, prefix: prefix) { return found }
        }
        return nil
    }

    private static func locate<T: Decodable>(
        in bytes: [UInt8], numbers: [Range<Int>], decoding type: T.Type, with decoder: JSONDecoder, prefix: String
    ) -> String? {
        func rewritten(_ replace: (Int) -> [UInt8]?) -> Data {
            var out = [UInt8]()
            out.reserveCapacity(bytes.count)
            var position = 0
            for (i, range) in numbers.enumerated() {
                guard let replacement = replace(i) else { continue }
                out += bytes[position..<range.lowerBound]
                out += replacement
                position = range.upperBound
            }
            out += bytes[position...]
            return Data(out)
        }
        /// True when the document still fails as not JSON with the first `k` numbers replaced by 0.
        func stillFails(zeroing k: Int) -> Bool {
            do {
                _ = try decoder.decode(type, from: rewritten { $0 < k ? Array("0".utf8) : nil })
                return false
            } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
                return true
            } catch {
                return false
            }
        }
        guard !stillFails(zeroing: numbers.count) else { return nil }
        // The smallest k with stillFails(k) false: the number k-1 is one that does not fit.
        var low = 0, high = numbers.count
        while low < high {
            let mid = (low + high) / 2
            if stillFails(zeroing: mid) { low = mid + 1 } else { high = mid }
        }
        let culprit = low - 1
        guard culprit >= 0 else { return nil }
        let text = String(decoding: bytes[numbers[culprit]], as: UTF8.self)
        // The same document with every other number 0 and this one a string: the decoder names its path and type.
        let probe = rewritten { $0 == culprit ? Array("\"?\"".utf8) : Array("0".utf8) }
        do {
            _ = try decoder.decode(type, from: probe)
        } catch DecodingError.typeMismatch(let expected, let context) {
            return "bad number at \(Profile.jsonPath(context.codingPath, prefix: prefix)): \(abbreviated(text, limit: 40)) does not fit \(expected)"
        } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
            return "bad number at \(Profile.jsonPath(context.codingPath, prefix: prefix)): \(abbreviated(text, limit: 40)) does not fit"
        } catch {}
        return nil
    }

    /// The byte ranges of the number tokens of a JSON text (outside strings).
    static func numberRanges(in bytes: [UInt8]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                while i < bytes.count && bytes[i] != UInt8(ascii: "\"") {
                    i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                }
                i += 1
            } else if c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) {
                let start = i
                i += 1
                while i < bytes.count, case let d = bytes[i],
                    (d >= UInt8(ascii: "0") && d <= UInt8(ascii: "9")) || d == UInt8(ascii: ".") || d == UInt8(ascii: "e")
                        || d == UInt8(ascii: "E") || d == UInt8(ascii: "+") || d == UInt8(ascii: "-")
                {
                    i += 1
                }
                ranges.append(start..<i)
            } else {
                i += 1
            }
        }
        return ranges
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
