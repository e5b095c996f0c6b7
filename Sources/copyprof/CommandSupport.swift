import CopyprofFiles
import CopyprofModel
import ArgumentParser
import CopyprofProfile
import Foundation
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
/// the option and the allowed values.
func parseChoices<T: NamedChoice>(_ text: String, option: String) throws -> [T] {
    var values: [T] = []
    for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
        guard let value = T(name: part) else {
            throw ValidationError("\(option): '\(part)' is not one of \(choices(T.self))")
        }
        if !values.contains(value) { values.append(value) }
    }
    if values.isEmpty { throw ValidationError("\(option) is empty") }
    return values
}

/// Parses a comma-separated list of positive whole numbers (`64,512`).
func parseIntegers(_ text: String, option: String) throws -> [Int] {
    var values: [Int] = []
    for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
        guard let value = Int(part), value > 0 else { throw ValidationError("\(option): '\(part)' is not a positive whole number") }
        if !values.contains(value) { values.append(value) }
    }
    if values.isEmpty { throw ValidationError("\(option) is empty") }
    return values
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

extension Verification: ExpressibleByArgument {}
