import CopyprofFiles
import CopyprofModel
import ArgumentParser
import CopyprofProfile
import Foundation
import PerfCounters
import Transports

/// A line on stderr, prefixed with the tool's name.
func note(_ text: String) {
    writeStandardError("copyprof: \(text)\n")
}

/// Writes to stderr with `write(2)`; a failure is ignored (there is nowhere left to report it), never a trap as
/// `FileHandle.write` would be.
func writeStandardError(_ text: String) {
    _ = OutputFile.writeAll(2, Data(text.utf8))
}

/// Writes to stdout, checked: a full disk or a closed file is an error (exit status 1), not silently lost output.
func writeStandardOutput(_ text: String) throws {
    try StandardOutput.write(text)
}


/// Parses a comma-separated list of choices (`two-copy,zero-copy`), keeping the first of duplicates; the error names
/// the option and the allowed values, and the one meant when it is close (`zerocopy`: did you mean zero-copy?).
func parseChoices<T: NamedChoice>(_ text: String, option: String) throws -> [T] {
    try parseList(text, option: option) { try parseChoice($0, option: option) }
}

/// Parses one choice (`--verify full`); the error as ``parseChoices(_:option:)``'s.
func parseChoice<T: NamedChoice>(_ text: String, option: String) throws -> T {
    let name = text.trimmingCharacters(in: .whitespaces)
    if let value = T(name: name) { return value }
    throw ValidationError("\(option): '\(name)' is not one of \(choices(T.self))" + didYouMean(name, among: T.allCases.map(\.name)))
}

/// Parses a comma-separated list of positive whole numbers (`1,2,4`).
func parseIntegers(_ text: String, option: String) throws -> [Int] {
    try parseList(text, option: option) { part in
        guard let value = Int(part), value > 0 else { throw ValidationError("\(option): '\(part)' is not a positive whole number") }
        return value
    }
}

/// Parses a comma-separated list of byte counts (`64,4K,1MiB`; see ``parseByteCount(_:option:)``).
func parseByteCounts(_ text: String, option: String) throws -> [Int] {
    try parseList(text, option: option) { part in
        let value = try parseByteCount(part, option: option)
        guard value > 0 else { throw ValidationError("\(option): '\(part)' is not a positive size") }
        return value
    }
}

/// The parts of a comma-separated list, each parsed, the first of duplicates kept; an empty list is an error.
private func parseList<T: Equatable>(_ text: String, option: String, _ parse: (String) throws -> T) throws -> [T] {
    var values: [T] = []
    for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
        let value = try parse(part)
        if !values.contains(value) { values.append(value) }
    }
    if values.isEmpty { throw ValidationError("\(option) is empty") }
    return values
}

/// A byte count: `65536`, `512B`, or a whole number with a binary unit — `K` (or `k`, `KiB`) is 1024 bytes, `M`
/// (`MiB`) 1024², `G` (`GiB`) 1024³ — the one parser of sizes for every option (--sizes, serve's --max-memory).
/// Binary because message sizes are: a 64K message is 65536 bytes, the 64 KiB of a socket buffer or a page
/// multiple. `KB`, `MB`, `GB` are refused: other tools read them as 1000, 1000², 1000³ (dd's `KB` is 1000).
func parseByteCount(_ text: String, option: String) throws -> Int {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
    let unit = trimmed.dropFirst(digits.count)
    let scales: [String: Int] = ["": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30]
    let usage = "a whole number of bytes, or of K, M or G (binary: 64K is 65536 bytes; also 64KiB, 1MiB)"
    guard !digits.isEmpty, let value = Int(digits) else { throw ValidationError("\(option): '\(trimmed)' is not a size: \(usage)") }
    guard let scale = scales[unit.lowercased()] else {
        if ["kb", "mb", "gb"].contains(unit.lowercased()) {
            let binary = String(unit.uppercased().prefix(1))
            throw ValidationError(
                "\(option): '\(trimmed)' is ambiguous (decimal for some tools, binary for others): write \(digits)\(binary) or "
                    + "\(digits)\(binary)iB for \(binary == "K" ? "1024" : binary == "M" ? "1024²" : "1024³") bytes each")
        }
        throw ValidationError("\(option): '\(trimmed)' is not a size: \(usage)")
    }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
    guard !overflow else { throw ValidationError("\(option): '\(trimmed)' is too large") }
    return bytes
}

/// A duration in seconds: `0.5`, `2s` or `500ms`; finite and not negative (each option checks its own range).
func parseDuration(_ text: String, option: String) throws -> Double {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    var number = Substring(trimmed)
    var perSecond = 1.0
    if number.hasSuffix("ms") {
        number = number.dropLast(2)
        perSecond = 1000
    } else if number.hasSuffix("s") {
        number = number.dropLast()
    }
    // Digits and a point only: Double("inf"), Double("0x1p3") and Double("1e3") would parse too.
    guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let value = Double(number) else {
        throw ValidationError("\(option): '\(trimmed)' is not a duration: seconds (0.5, 2s) or milliseconds (500ms)")
    }
    return value / perSecond
}

/// "; did you mean zero-copy?" when `text` is close to one of `names` — the same letters but for case, `-` and `_`
/// (zerocopy, ZERO_COPY), or a small edit away (two-cpy, mmpa: at most one edit per 3 letters, at least one) — else
/// "". The closest names win; several as close are all named.
func didYouMean(_ text: String, among names: [String]) -> String {
    func normalized(_ name: String) -> [Character] { Array(name.lowercased().filter { $0 != "-" && $0 != "_" && $0 != " " }) }
    let typed = normalized(text)
    guard !typed.isEmpty else { return "" }
    var best: (distance: Int, names: [String]) = (Int.max, [])
    for name in names {
        let target = normalized(name)
        let distance = editDistance(typed, target)
        guard distance <= max(1, target.count / 3) else { continue }
        if distance < best.distance {
            best = (distance, [name])
        } else if distance == best.distance {
            best.names.append(name)
        }
    }
    return best.names.isEmpty ? "" : "; did you mean \(best.names.joined(separator: " or "))?"
}

/// The fewest insertions, deletions, substitutions and swaps of two neighbours that turn `a` into `b` (the optimal
/// string alignment distance: Levenshtein's, with a typed transposition such as `mmpa` one edit, not two).
func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var beforePrevious = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = min(current[j], beforePrevious[j - 2] + 1)
            }
        }
        (beforePrevious, previous, current) = (previous, current, beforePrevious)
    }
    return previous[b.count]
}

/// The events of `--events` (`task-clock,cycles`, tracepoints as subsystem:name), with a suggestion for a name close
/// to one of the catalog's.
func parseEvents(_ text: String, option: String) throws -> [PerfEvent] {
    do { return try PerfEvent.list(text) } catch {
        guard case .unknownEvent(let name) = error else { throw ValidationError("\(option): \(error.description)") }
        throw ValidationError("\(option): \(error.description)" + didYouMean(name, among: PerfEvent.catalog.map(\.name)))
    }
}


/// HOST:PORT or [IPv6]:PORT; HOST numeric or a name that resolves (`localhost:7115`), numeric tried first.
func parseHostPort(_ text: String, option: String) throws -> SocketAddress {
    var host = Substring(text)
    guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
        throw ValidationError("\(option) takes HOST:PORT, e.g. 192.0.2.1:7115, [::1]:7115 or localhost:7115")
    }
    host = text[..<colon]
    if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
    do { return try SocketAddress.resolving(host: String(host), port: port) } catch {
        guard case .invalidConfiguration(let what) = error.kind else { throw ValidationError("\(option): \(error.description)") }
        throw ValidationError("\(option): \(what); give a numeric address (192.0.2.1:7115, [::1]:7115) or a name that resolves")
    }
}

/// Every choice of an enum, for help texts: `two-copy, marshal, one-copy, zero-copy`.
func choices<T: NamedChoice>(_ type: T.Type) -> String {
    T.allCases.map(\.name).joined(separator: ", ")
}

