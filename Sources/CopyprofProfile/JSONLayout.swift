import Foundation

/// The byte layout of a JSON document's top-level object: where each member's value starts and ends, and where each
/// element of an array member lies. It validates only the structure it walks (strings, brackets, separators), and
/// lets the profile reader hand each cell to the JSON decoder on its own, in parallel, so that neither time nor
/// memory grows with the whole document at once. It also finds a key given twice in one object
/// (``firstDuplicateKey(_:)``), which a JSON decoder would silently resolve to one of the two values.
package struct JSONLayout {
    /// A top-level member: its key and the byte range of its value.
    struct Member {
        var key: String
        var value: Range<Int>
    }

    let members: [Member]

    /// Walks the top-level object of `bytes`; nil when it is not one well-formed JSON object.
    init?(_ bytes: UnsafeRawBufferPointer) {
        var scanner = Scanner(bytes: bytes)
        guard let members = scanner.topLevelMembers() else { return nil }
        self.members = members
    }

    /// The first key that appears twice in one object, at any depth, or nil when there is none.
    ///
    /// RFC 8259 §4 says only that names "SHOULD be unique", and leaves what a reader does with a repeated one to the
    /// reader: Foundation's JSONDecoder keeps one of the values without a word, so a check that reads the document
    /// another way (a version read before decoding) can see the other one. A document that repeats a key is refused
    /// instead. Keys are compared as the decoder reads them: escapes decoded, so `"a"` and `"\u0061"` are the same key.
    ///
    /// It walks the document once, with an explicit stack (no recursion, whatever the nesting); it checks no more of
    /// the syntax than it must to tell keys from values, and leaves the rest to the decoder that reads the document
    /// next.
    package static func firstDuplicateKey(_ bytes: UnsafeRawBufferPointer) -> String? {
        var scanner = Scanner(bytes: bytes)
        // One entry per open object (its keys so far) or array (nil).
        var open: [Set<String>?] = []
        var expectingKey = false
        while scanner.position < scanner.end {
            let byte = bytes[scanner.position]
            switch byte {
            case UInt8(ascii: "\""):
                let start = scanner.position
                guard scanner.skipString() else { return nil }
                guard expectingKey, let last = open.indices.last, open[last] != nil else { continue }
                let key = Scanner.key(UnsafeRawBufferPointer(rebasing: bytes[start..<scanner.position]))
                if open[last]!.insert(key).inserted == false { return key }
                expectingKey = false
                continue
            case UInt8(ascii: "{"):
                open.append([])
                expectingKey = true
            case UInt8(ascii: "["):
                open.append(nil)
                expectingKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = open.popLast()
                expectingKey = false
            case UInt8(ascii: ","):
                expectingKey = open.last.map { $0 != nil } ?? false
            default:
                break
            }
            scanner.position += 1
        }
        return nil
    }

    /// The byte ranges of the elements of the array at `range`; nil when it is not a well-formed array.
    static func arrayElements(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) -> [Range<Int>]? {
        var scanner = Scanner(bytes: bytes, position: range.lowerBound, end: range.upperBound)
        return scanner.arrayElements()
    }

    struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var position: Int
        let end: Int

        init(bytes: UnsafeRawBufferPointer, position: Int = 0, end: Int? = nil) {
            self.bytes = bytes
            self.position = position
            self.end = end ?? bytes.count
        }

        /// A key as the decoder reads it, from its quoted bytes: escapes decoded (by the JSON decoder itself), the
        /// bytes as they are otherwise.
        static func key(_ quoted: UnsafeRawBufferPointer) -> String {
            let inner = UnsafeRawBufferPointer(rebasing: quoted[1..<(quoted.count - 1)])
            guard inner.contains(UInt8(ascii: "\\")),
                let decoded = try? JSONDecoder().decode(String.self, from: Data(quoted))
            else { return String(decoding: inner, as: UTF8.self) }
            return decoded
        }

        mutating func skipSpace() {
            while position < end {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        /// Skips a string starting at a quote; false when it does not end.
        mutating func skipString() -> Bool {
            guard position < end, bytes[position] == UInt8(ascii: "\"") else { return false }
            position += 1
            while position < end {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\\") {
                    position += 2
                } else if byte == UInt8(ascii: "\"") {
                    position += 1
                    return true
                } else {
                    position += 1
                }
            }
            return false
        }

        /// Skips one value: a string, an object or array (brackets balanced outside strings), or a scalar.
        mutating func skipValue() -> Bool {
            skipSpace()
            guard position < end else { return false }
            switch bytes[position] {
            case UInt8(ascii: "\""):
                return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while position < end {
                    switch bytes[position] {
                    case UInt8(ascii: "\""):
                        if !skipString() { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["):
                        depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            position += 1
                            return true
                        }
                    default:
                        break
                    }
                    position += 1
                }
                return false
            default:
                let start = position
                while position < end {
                    switch bytes[position] {
                    case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D:
                        return position > start
                    default:
                        position += 1
                    }
                }
                return position > start
            }
        }

        mutating func topLevelMembers() -> [Member]? {
            skipSpace()
            guard position < end, bytes[position] == UInt8(ascii: "{") else { return nil }
            position += 1
            var members: [Member] = []
            skipSpace()
            if position < end, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return trailingSpaceOnly() ? members : nil
            }
            while true {
                skipSpace()
                let keyStart = position
                guard skipString() else { return nil }
                let key = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(keyStart + 1)..<(position - 1)]), as: UTF8.self)
                skipSpace()
                guard position < end, bytes[position] == UInt8(ascii: ":") else { return nil }
                position += 1
                skipSpace()
                let valueStart = position
                guard skipValue() else { return nil }
                members.append(Member(key: key, value: valueStart..<position))
                skipSpace()
                guard position < end else { return nil }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                guard bytes[position] == UInt8(ascii: "}") else { return nil }
                position += 1
                return trailingSpaceOnly() ? members : nil
            }
        }

        mutating func trailingSpaceOnly() -> Bool {
            skipSpace()
            return position == end
        }

        mutating func arrayElements() -> [Range<Int>]? {
            skipSpace()
            guard position < end, bytes[position] == UInt8(ascii: "[") else { return nil }
            position += 1
            var elements: [Range<Int>] = []
            skipSpace()
            if position < end, bytes[position] == UInt8(ascii: "]") { return elements }
            while true {
                skipSpace()
                let start = position
                guard skipValue() else { return nil }
                elements.append(start..<position)
                skipSpace()
                guard position < end else { return nil }
                if bytes[position] == UInt8(ascii: ",") {
                    position += 1
                    continue
                }
                return bytes[position] == UInt8(ascii: "]") ? elements : nil
            }
        }
    }
}

extension JSONLayout {
    /// "duplicate key 'K' at PATH" for the first key that appears twice in one object of the JSON value at `range`,
    /// at any depth; nil when every object has each key once, or when the value is not well formed (the decoder then
    /// says what is wrong with it). `prefix` is the path of the value (`cells[3]`); the value at `skipping` (the
    /// profile's cells, checked one by one on their own) is stepped over.
    ///
    /// Keys are compared as the JSON decoder compares them, so that the reader and the decoder can never see two
    /// different values of one key: escapes decoded (`"\u0061"` is `"a"`), then as Swift strings, where canonically
    /// equivalent spellings are one key (its keyed containers look keys up in a `[String: …]`).
    static func duplicateKey(
        _ bytes: UnsafeRawBufferPointer, in range: Range<Int>, prefix: String = "", skipping: Range<Int>? = nil
    ) -> String? {
        var finder = DuplicateKeyFinder(bytes: bytes, position: range.lowerBound, end: range.upperBound, skipping: skipping)
        return finder.run(prefix: prefix)
    }
}

/// Walks a JSON value once, with an explicit stack (no recursion, whatever the depth), keeping the keys of every object
/// open at the moment.
struct DuplicateKeyFinder {
    /// A key of an open object: its bytes between the quotes, their first and last 8 (which tell most keys apart
    /// at the cost of two loads, and are the whole key up to 16 bytes), and where its decoded text is in
    /// `decodedKeys` when it has escapes or non-ASCII bytes (-1: the bytes are the key). Plain data, so that the
    /// stack of keys costs no reference counting.
    struct Key {
        var start: Int
        var count: Int
        var head: UInt64
        var tail: UInt64
        var decoded: Int
    }

    /// An open object (its keys are `keys[firstKey...]`, the last one the member being read, their decoded texts
    /// `decodedKeys[firstDecoded...]`) or array (the element being read).
    struct Frame {
        var isObject: Bool
        var firstKey: Int
        var firstDecoded: Int
        var element: Int
    }

    /// Keys an object holds before they go into a set.
    static let linearKeys = 24

    let bytes: UnsafeRawBufferPointer
    var position: Int
    let end: Int
    let skipping: Range<Int>?
    var keys: [Key] = []
    var frames: [Frame] = []
    /// The decoded text of the keys that need it (see ``Key/decoded``).
    var decodedKeys: [String] = []
    /// The keys of each open object of many keys, by its depth, so that a hostile object of 10⁶ keys is checked in
    /// linear time.
    var keySets: [Int: Set<String>] = [:]

    init(bytes: UnsafeRawBufferPointer, position: Int, end: Int, skipping: Range<Int>?) {
        self.bytes = bytes
        self.position = position
        self.end = end
        self.skipping = skipping
    }

    mutating func skipSpace() {
        while position < end {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    /// The problem, or nil (no duplicate, or not well formed).
    mutating func run(prefix: String) -> String? {
        while true {
            // A value.
            skipSpace()
            guard position < end else { return nil }
            if let skipping, position == skipping.lowerBound {
                position = skipping.upperBound
            } else {
                switch bytes[position] {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    let isObject = bytes[position] == UInt8(ascii: "{")
                    position += 1
                    frames.append(Frame(isObject: isObject, firstKey: keys.count, firstDecoded: decodedKeys.count, element: 0))
                    skipSpace()
                    if position < end && bytes[position] == UInt8(ascii: isObject ? "}" : "]") {
                        // Empty.
                        position += 1
                        frames.removeLast()
                    } else {
                        if isObject, let problem = readKey(prefix: prefix) { return problem.isEmpty ? nil : problem }
                        continue
                    }
                case UInt8(ascii: "\""):
                    guard stringEnd() != nil else { return nil }
                default:
                    let start = position
                    while position < end {
                        let byte = bytes[position]
                        if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == 0x20
                            || byte == 0x09 || byte == 0x0A || byte == 0x0D
                        {
                            break
                        }
                        position += 1
                    }
                    guard position > start else { return nil }
                }
            }
            // After a value: the next member or element, or the end of one or more containers.
            while true {
                guard !frames.isEmpty else { return nil }
                skipSpace()
                guard position < end else { return nil }
                let byte = bytes[position]
                position += 1
                let top = frames.count - 1
                if byte == UInt8(ascii: ",") {
                    if frames[top].isObject {
                        if let problem = readKey(prefix: prefix) { return problem.isEmpty ? nil : problem }
                    } else {
                        frames[top].element += 1
                    }
                    break
                }
                guard byte == UInt8(ascii: frames[top].isObject ? "}" : "]") else { return nil }
                keys.removeLast(keys.count - frames[top].firstKey)
                decodedKeys.removeLast(decodedKeys.count - frames[top].firstDecoded)
                if !keySets.isEmpty { keySets[top] = nil }
                frames.removeLast()
            }
        }
    }

    /// Reads `"key":` in the innermost object and records the key: nil when it is new, the problem when it is
    /// already there, "" when the text is not well formed.
    mutating func readKey(prefix: String) -> String? {
        skipSpace()
        let quote = position
        guard position < end, bytes[position] == UInt8(ascii: "\""), let plain = stringEnd() else { return "" }
        let start = quote + 1, count = position - 1 - start
        var head: UInt64 = 0, tail: UInt64 = 0
        if count >= 8 {
            head = bytes.loadUnaligned(fromByteOffset: start, as: UInt64.self)
            tail = bytes.loadUnaligned(fromByteOffset: start + count - 8, as: UInt64.self)
        } else {
            for index in start..<(start + count) { head = head << 8 | UInt64(bytes[index]) }
        }
        var key = Key(start: start, count: count, head: head, tail: tail, decoded: -1)
        if !plain {
            key.decoded = decodedKeys.count
            decodedKeys.append(Self.decodeString(UnsafeRawBufferPointer(rebasing: bytes[(quote + 1)..<(position - 1)])))
        }
        skipSpace()
        guard position < end, bytes[position] == UInt8(ascii: ":") else { return "" }
        position += 1
        let top = frames.count - 1
        let first = frames[top].firstKey
        if keys.count - first < Self.linearKeys {
            for index in first..<keys.count where same(keys[index], key) { return problem(key, prefix: prefix) }
        } else {
            if keySets[top] == nil { keySets[top] = Set(keys[first...].map(text(of:))) }
            if keySets[top]!.insert(text(of: key)).inserted == false { return problem(key, prefix: prefix) }
        }
        keys.append(key)
        return nil
    }

    /// Steps over a string at a quote; true when it is plain (ASCII without escapes: its bytes are its text), nil
    /// when it does not end.
    mutating func stringEnd() -> Bool? {
        position += 1
        var plain = true
        while position < end {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\\") {
                plain = false
                position += 2
            } else if byte == UInt8(ascii: "\"") {
                position += 1
                return plain
            } else {
                if byte >= 0x80 { plain = false }
                position += 1
            }
        }
        return nil
    }

    func same(_ a: Key, _ b: Key) -> Bool {
        if a.decoded < 0 && b.decoded < 0 {
            return a.head == b.head && a.tail == b.tail && a.count == b.count
                && (a.count <= 16 || memcmp(bytes.baseAddress! + a.start, bytes.baseAddress! + b.start, a.count) == 0)
        }
        return text(of: a) == text(of: b)
    }

    func text(of key: Key) -> String {
        key.decoded >= 0
            ? decodedKeys[key.decoded]
            : String(decoding: UnsafeRawBufferPointer(rebasing: bytes[key.start..<(key.start + key.count)]), as: UTF8.self)
    }

    /// "duplicate key 'K' at PATH": the path of the object that has it twice.
    func problem(_ key: Key, prefix: String) -> String {
        var path = prefix
        for (depth, frame) in frames.dropLast().enumerated() {
            if frame.isObject {
                // The member being read: the last key of this object, which the next frame lies in.
                let next = depth + 1 < frames.count ? frames[depth + 1].firstKey : keys.count
                path += "." + abbreviated(text(of: keys[next - 1]), limit: 60)
            } else {
                path += "[\(frame.element)]"
            }
        }
        if path.hasPrefix(".") { path.removeFirst() }
        return "duplicate key '\(abbreviated(text(of: key), limit: 60))' at \(path.isEmpty ? "the top level" : path): "
            + "an object has each key once (which of the two would count is not defined)"
    }

    /// The text of a JSON string's content: escapes decoded (`\u` surrogate pairs joined; a lone surrogate becomes
    /// U+FFFD), bytes that are not UTF-8 replaced.
    static func decodeString(_ content: UnsafeRawBufferPointer) -> String {
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        func flush() {
            if !utf8.isEmpty {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll(keepingCapacity: true)
            }
        }
        func hex(_ at: Int) -> UInt32? {
            guard at + 4 <= content.count else { return nil }
            var value: UInt32 = 0
            for byte in content[at..<(at + 4)] {
                guard let digit = Character(UnicodeScalar(byte)).hexDigitValue else { return nil }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        var index = 0
        while index < content.count {
            let byte = content[index]
            guard byte == UInt8(ascii: "\\"), index + 1 < content.count else {
                utf8.append(byte)
                index += 1
                continue
            }
            flush()
            let escaped = content[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                guard var code = hex(index) else {
                    scalars.append("\u{FFFD}")
                    continue
                }
                index += 4
                if (0xD800..<0xDC00).contains(code), index + 6 <= content.count, content[index] == UInt8(ascii: "\\"),
                    content[index + 1] == UInt8(ascii: "u"), let low = hex(index + 2), (0xDC00..<0xE000).contains(low)
                {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                }
                scalars.append(UnicodeScalar(code) ?? "\u{FFFD}")
            default: scalars.append(UnicodeScalar(escaped))
            }
        }
        flush()
        return String(scalars)
    }
}
