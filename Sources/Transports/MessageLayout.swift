import CopyprofModel
#if canImport(Glibc)
import Glibc
#endif

/// The wire layout of a message: 8 fields of `messageSize / 8` bytes, back to back.
///
/// Each field starts with a 64-bit stamp derived from the message's sequence number (field 0's stamp *is*
/// the sequence number); the rest of each field holds a fixed pattern of its offset in the message.
/// Senders write the 8 stamps per message and never touch the pattern, so a field set that is rewritten
/// before the kernel has taken its bytes shows up at the receiver as a wrong stamp. In 64-byte messages the
/// fields are exactly their stamps.
public struct MessageLayout: Sendable, Hashable {
    /// Fields per message.
    public static let fieldCount = 8
    /// Bytes of each field's stamp.
    public static let stampSize = 8

    /// Bytes per message.
    public let messageSize: Int
    /// Bytes per field.
    public var fieldSize: Int { messageSize / Self.fieldCount }

    /// - Throws: when the size is not a multiple of 8 or is below 64 (each field must hold its stamp).
    public init(messageSize: Int) throws(TransportError) {
        if let problem = RunLimits.messageSizeProblem(messageSize) {
            throw TransportError(.invalidConfiguration("message size \(problem)"))
        }
        self.messageSize = messageSize
    }

    /// The stamp of `field` in message `sequence`: `sequence ^ stamp(sequence: 0, field: field)` (senders rely on it).
    @inline(__always)
    public static func stamp(sequence: UInt64, field: Int) -> UInt64 {
        sequence ^ (UInt64(truncatingIfNeeded: field) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// The pattern byte at `offset` in every message (where no stamp is).
    @inline(__always)
    public static func patternByte(at offset: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: offset &* 131 &+ (offset >> 8) &+ 17)
    }

    /// Fills `count` bytes of a field whose first byte sits at message offset `offset` with the pattern.
    static func fillPattern(_ pointer: UnsafeMutableRawPointer, count: Int, messageOffset offset: Int) {
        for i in 0..<count {
            pointer.storeBytes(of: patternByte(at: offset + i), toByteOffset: i, as: UInt8.self)
        }
    }

    /// Writes a field's stamp at `pointer`.
    @inline(__always)
    static func writeStamp(_ pointer: UnsafeMutableRawPointer, sequence: UInt64, field: Int) {
        pointer.storeBytes(of: stamp(sequence: sequence, field: field).littleEndian, as: UInt64.self)
    }

    @inline(__always)
    static func readStamp(_ pointer: UnsafeRawPointer, at offset: Int) -> UInt64 {
        UInt64(littleEndian: pointer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// A complete message `sequence` as bytes (tests, the reference).
    public func message(sequence: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: messageSize)
        bytes.withUnsafeMutableBytes { raw in
            Self.fillPattern(raw.baseAddress!, count: messageSize, messageOffset: 0)
            for field in 0..<Self.fieldCount {
                Self.writeStamp(raw.baseAddress! + field * fieldSize, sequence: sequence, field: field)
            }
        }
        return bytes
    }

    /// The first offset at which `bytes` differs from message `sequence`, or nil when it matches.
    ///
    /// `header` checks the first field's stamp only (the sequence number); `full` checks every byte, comparing
    /// the pattern with `template` (a message of any sequence) by memcmp and stamps one by one.
    @inline(__always)
    func firstMismatch(
        in bytes: UnsafeRawPointer, sequence: UInt64, verification: Verification, template: UnsafeRawPointer
    ) -> Int? {
        guard verification == .full else {
            // Field 0's stamp is the sequence itself.
            if Self.readStamp(bytes, at: 0) != sequence { return firstDifferingByte(bytes, at: 0, sequence: sequence, field: 0) }
            return nil
        }
        let fieldSize = self.fieldSize
        for field in 0..<Self.fieldCount {
            let start = field * fieldSize
            if Self.readStamp(bytes, at: start) != Self.stamp(sequence: sequence, field: field) {
                return firstDifferingByte(bytes, at: start, sequence: sequence, field: field)
            }
            let payload = fieldSize - Self.stampSize
            if payload > 0, memcmp(bytes + start + Self.stampSize, template + start + Self.stampSize, payload) != 0 {
                for i in (start + Self.stampSize)..<(start + fieldSize)
                where bytes.load(fromByteOffset: i, as: UInt8.self) != template.load(fromByteOffset: i, as: UInt8.self) {
                    return i
                }
            }
        }
        return nil
    }

    /// The first message offset at which `count` bytes, which hold bytes `offset ..< offset + count` of message
    /// `sequence`, differ from it; nil when they match (`header`: only the sequence's stamp is checked).
    ///
    /// For receivers that see a message in pieces (a mapped page, then what `recv()` copied): the same checks as
    /// ``firstMismatch(in:sequence:verification:template:)`` on the part of the message the piece holds.
    func firstMismatch(
        inPiece piece: UnsafeRawPointer, count: Int, at offset: Int, sequence: UInt64, verification: Verification,
        template: UnsafeRawPointer
    ) -> Int? {
        let end = offset + count
        let fieldSize = self.fieldSize
        var field = offset / fieldSize
        while field < Self.fieldCount && field * fieldSize < end {
            if verification == .header && field > 0 { return nil }
            let start = field * fieldSize
            // The stamp's bytes that the piece holds.
            let stampStart = max(start, offset), stampEnd = min(start + Self.stampSize, end)
            if stampStart < stampEnd {
                let stamp = Self.stamp(sequence: sequence, field: field).littleEndian
                let bad = withUnsafeBytes(of: stamp) { bytes -> Int? in
                    for i in stampStart..<stampEnd
                    where piece.load(fromByteOffset: i - offset, as: UInt8.self) != bytes[i - start] {
                        return i
                    }
                    return nil
                }
                if let bad { return bad }
            }
            if verification == .full {
                let payloadStart = max(start + Self.stampSize, offset), payloadEnd = min(start + fieldSize, end)
                if payloadStart < payloadEnd,
                    memcmp(piece + (payloadStart - offset), template + payloadStart, payloadEnd - payloadStart) != 0
                {
                    for i in payloadStart..<payloadEnd
                    where piece.load(fromByteOffset: i - offset, as: UInt8.self) != template.load(fromByteOffset: i, as: UInt8.self) {
                        return i
                    }
                }
            }
            field += 1
        }
        return nil
    }

    private func firstDifferingByte(_ bytes: UnsafeRawPointer, at start: Int, sequence: UInt64, field: Int) -> Int {
        let expected = Self.stamp(sequence: sequence, field: field).littleEndian
        return withUnsafeBytes(of: expected) { stamp in
            for i in 0..<Self.stampSize where bytes.load(fromByteOffset: start + i, as: UInt8.self) != stamp[i] {
                return start + i
            }
            return start
        }
    }
}

/// A test-only switch: the sender flips one byte of one message, so that verification can be shown to catch it.
public struct Corruption: Sendable, Hashable, Codable {
    /// The message to corrupt.
    public var sequence: UInt64
    /// The byte offset within the message.
    public var offset: Int

    public init(sequence: UInt64, offset: Int) {
        self.sequence = sequence
        self.offset = offset
    }
}

/// Where the receiver found a message that was not what was sent.
public struct IntegrityMismatch: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The sequence number the receiver expected.
    public var sequence: UInt64
    /// The first bad byte offset within that message.
    public var offset: Int

    public var description: String { "message \(sequence), byte \(offset)" }
}
