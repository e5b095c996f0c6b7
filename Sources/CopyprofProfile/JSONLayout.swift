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
