/// Stacks with their counts in the folded format of Brendan Gregg's FlameGraph (`stackcollapse-perf.pl`'s output),
/// which flamegraph.pl, inferno and speedscope read: one stack per line, frames from the root to the leaf joined by
/// `;`, a space, the count.
///
///     copyprof-sender;Transports.TwoCopySender.sendMessage(sequence:);__libc_send;entry_SYSCALL_64;…;_copy_from_iter 42
///
/// It lives in CopyprofModel, below both the sweep's attribution (which folds the samples it charges) and the report
/// (whose `copyprof export --folded` writes a profile's stacks), so that there is one writer and one parser.
///
/// Frame names are sanitized so that every line parses back: a `;` becomes `:` (as stackcollapse-perf.pl does), a
/// newline, carriage return or tab a space, surrounding spaces are trimmed, and an empty name is `[unknown]`.
public struct FoldedStacks: Sendable, Hashable {
    /// Each distinct stack (root first, names sanitized) and its count.
    public private(set) var counts: [[String]: UInt64] = [:]

    public init() {}

    /// Adds `count` samples of a stack given root first. An empty stack is not a stack and is ignored.
    public mutating func add(rootFirst frames: [String], count: UInt64 = 1) {
        guard !frames.isEmpty, count > 0 else { return }
        counts[frames.map(Self.sanitize), default: 0] &+= count
    }

    /// Adds `count` samples of a stack given leaf first, as callchains and CopyprofAttribution's `Attributor` take frames.
    public mutating func add(leafFirst frames: [String], count: UInt64 = 1) {
        add(rootFirst: frames.reversed(), count: count)
    }

    /// The total of all counts.
    public var total: UInt64 { counts.values.reduce(0, &+) }

    /// The folded text: one line per stack, sorted by the stack's bytes (as stackcollapse-perf.pl sorts), each
    /// ending in a newline.
    public var text: String {
        counts.map { (stack: $0.key.joined(separator: ";"), count: $0.value) }
            .sorted { $0.stack.utf8.lexicographicallyPrecedes($1.stack.utf8) }
            .map { "\($0.stack) \($0.count)\n" }
            .joined()
    }

    /// A frame name as it can stand in a folded line.
    public static func sanitize(_ name: String) -> String {
        // Most names need nothing: check their bytes first.
        let bytes = name.utf8
        if let first = bytes.first, let last = bytes.last, first != UInt8(ascii: " "), last != UInt8(ascii: " "),
            !bytes.contains(where: { $0 == UInt8(ascii: ";") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") })
        {
            return name
        }
        var result = ""
        result.reserveCapacity(name.utf8.count)
        for character in name {
            switch character {
            case ";": result.append(":")
            case "\n", "\r", "\r\n", "\t": result.append(" ")
            default: result.append(character)
            }
        }
        let trimmed = result.drop(while: { $0 == " " })
        let end = trimmed.lastIndex(where: { $0 != " " }).map { trimmed.index(after: $0) } ?? trimmed.startIndex
        let name = String(trimmed[..<end])
        return name.isEmpty ? "[unknown]" : name
    }

    /// Parses folded text; lines of the same stack add up. Blank lines are skipped; any other line that is not
    /// `frame;frame count` is an error naming the line.
    public static func parse(_ text: String) throws(FoldedStacksError) -> FoldedStacks {
        var stacks = FoldedStacks()
        var number = 0
        // "\r\n" is one Character in Swift: split on both.
        for content in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            if content.allSatisfy({ $0 == " " }) { continue }
            guard let space = content.lastIndex(of: " ") else {
                throw FoldedStacksError(line: number, problem: "no count: a line is `frame;frame;frame COUNT`")
            }
            let countText = content[content.index(after: space)...]
            guard let count = UInt64(countText) else {
                throw FoldedStacksError(
                    line: number, problem: "the count `\(countText)` is not a whole number of samples")
            }
            let stack = content[..<space]
            guard !stack.isEmpty else { throw FoldedStacksError(line: number, problem: "no frames before the count") }
            let frames = stack.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
            if let empty = frames.firstIndex(where: { $0.isEmpty }) {
                throw FoldedStacksError(line: number, problem: "frame \(empty + 1) is empty (`;;` or a `;` at an end)")
            }
            if let spaced = frames.firstIndex(where: { $0 != sanitize($0) }) {
                throw FoldedStacksError(
                    line: number, problem: "frame \(spaced + 1) starts or ends with a space or holds a tab")
            }
            stacks.counts[frames, default: 0] &+= count
        }
        return stacks
    }
}

/// A line of folded text that is not a stack and a count.
public struct FoldedStacksError: Error, Hashable, CustomStringConvertible {
    /// 1-based.
    public var line: Int
    public var problem: String

    public var description: String { "folded stacks, line \(line): \(problem)" }
}
