#if canImport(Glibc)
import Glibc
#endif

/// Readable names for mangled symbols: Swift's through the runtime's own `swift_demangle`, C++'s through the C++
/// runtime's `__cxa_demangle`, both found with dlsym in this process (every Swift process has libswiftCore and
/// libstdc++ loaded), so no C shim is needed.
public enum SymbolDemangler {
    /// `swift_demangle(mangledName, length, outputBuffer, outputBufferSize, flags)`: a malloc'd string or NULL
    /// (swift/include/swift/Demangling/Demangle.h; the runtime's public entry point).
    private typealias SwiftDemangle = @convention(c) (
        UnsafePointer<CChar>?, Int, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<Int>?, UInt32
    ) -> UnsafeMutablePointer<CChar>?
    /// `__cxa_demangle(mangled, buffer, length, status)` (the Itanium C++ ABI).
    private typealias CxxDemangle = @convention(c) (
        UnsafePointer<CChar>?, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<Int>?, UnsafeMutablePointer<Int32>?
    ) -> UnsafeMutablePointer<CChar>?

    private static let swiftDemangle: SwiftDemangle? = function("swift_demangle", as: SwiftDemangle.self)
    private static let cxxDemangle: CxxDemangle? = function("__cxa_demangle", as: CxxDemangle.self)

    private static func function<F>(_ name: String, as type: F.Type) -> F? {
        guard let process = dlopen(nil, RTLD_NOW), let address = dlsym(process, name) else { return nil }
        return unsafeBitCast(address, to: type)
    }

    /// Whether the runtime's demangler was found (it always is in a Swift process).
    public static var canDemangleSwift: Bool { swiftDemangle != nil }

    /// The full demangled form (`Transports.TwoCopySender.run(duration: Swift.Double) -> ()`), or nil when the
    /// name is not mangled or not understood.
    public static func demangle(_ symbol: String) -> String? {
        if isSwiftMangled(symbol) {
            guard let swiftDemangle else { return nil }
            return symbol.withCString { name in
                guard let result = swiftDemangle(name, strlen(name), nil, nil, 0) else { return nil }
                defer { free(result) }
                return String(cString: result)
            }
        }
        if symbol.hasPrefix("_Z"), let cxxDemangle {
            return symbol.withCString { name in
                var status: Int32 = 0
                guard let result = cxxDemangle(name, nil, nil, &status), status == 0 else { return nil }
                defer { free(result) }
                return String(cString: result)
            }
        }
        return nil
    }

    /// What to show for a symbol: the simplified demangled form of a mangled name; otherwise the name without a
    /// symbol version (`memcpy@GLIBC_2.2.5` → `memcpy`).
    public static func displayName(_ symbol: String) -> String {
        if let demangled = demangle(symbol) {
            return isSwiftMangled(symbol) ? simplify(demangled) : demangled
        }
        if let at = symbol.firstIndex(of: "@"), at != symbol.startIndex { return String(symbol[..<at]) }
        return symbol
    }

    /// Swift mangling prefixes: `$s` (Swift 5+), `$S` (4.2), `_T0` (4.0), `$e` (Embedded), `_$s` (Apple platforms).
    public static func isSwiftMangled(_ symbol: String) -> Bool {
        symbol.hasPrefix("$s") || symbol.hasPrefix("$S") || symbol.hasPrefix("_T0") || symbol.hasPrefix("$e")
            || symbol.hasPrefix("_$s")
    }

    /// A demangled Swift name made readable, keeping what says whose code it is (the module):
    /// - a function's parameter list becomes its argument labels, its `throws`/`async` and result go:
    ///   `Transports.TwoCopySender.run(duration: Swift.Double) -> ()` → `Transports.TwoCopySender.run(duration:)`;
    /// - a closure's or accessor's type goes: `closure #1 (Swift.Int) -> () in X.f(_:)` → `closure #1 in X.f(_:)`,
    ///   `X.stats.getter : X.Stats` → `X.stats.getter`;
    /// - a private entity's discriminator goes: `X.(helper in _5974…)(_:)` → `X.helper(_:)`;
    /// - an extension's context and a generic signature's constraints go:
    ///   `(extension in M):M.P< where A: ~Swift.Copyable>.send(…)` → `M.P.send(…)`;
    /// - `generic specialization <…> of` and `function signature specialization <…> of` become `specialized`.
    /// Text that does not parse as expected is returned unchanged.
    public static func simplify(_ demangled: String) -> String {
        var simplifier = SwiftNameSimplifier(Array(demangled))
        return simplifier.run() ?? demangled
    }
}

/// The rewriting `SymbolDemangler.simplify` describes, over the demangled text's characters.
struct SwiftNameSimplifier {
    private let text: [Character]
    private var position = 0
    private var output = ""

    init(_ text: [Character]) { self.text = text }

    /// The simplified text, or nil when brackets do not balance.
    mutating func run() -> String? {
        while position < text.count {
            if matches("generic specialization <") || matches("function signature specialization <") {
                // "… specialization <…> of " → "specialized "
                guard let close = closing(from: text.firstIndex(of: "<", after: position)!) else { return nil }
                var next = close + 1
                if matches(" of ", at: next) { next += 4 }
                output += "specialized "
                position = next
                continue
            }
            if let skipped = skipClosureSignature() {
                position = skipped
                continue
            }
            let character = text[position]
            if character == "(" {
                if matches("(extension in ") {
                    // "(extension in Module):Module.Type…": the name that follows says the module already.
                    guard let close = closing(from: position) else { return nil }
                    position = close + 1
                    if matches(":") { position += 1 }
                    continue
                }
                if let name = privateName(at: position) {
                    output += name.text
                    position = name.end
                    continue
                }
                if let last = output.last, last.isLetter || last.isNumber || last == "_" || last == ">" || last == "`" {
                    // A function's parameter list: keep the labels.
                    guard let close = closing(from: position) else { return nil }
                    output += labels(position + 1, close)
                    position = skipSignatureTail(from: close + 1)
                    continue
                }
            }
            if character == "<", matches("< where ") {
                // A generic signature's constraints (`Type< where A: ~Swift.Copyable>`).
                guard let close = closing(from: position) else { return nil }
                position = close + 1
                continue
            }
            if character == " ", matches(" : ") {
                // An accessor's or variable's type, up to " in " or the end.
                position = skipToIn(from: position + 3)
                continue
            }
            output.append(character)
            position += 1
        }
        return output
    }

    /// After `closure #N` (or `implicit closure #N`), the closure's type up to ` in `.
    private mutating func skipClosureSignature() -> Int? {
        guard matches("closure #") else { return nil }
        var index = position + "closure #".count
        while index < text.count, text[index].isNumber { index += 1 }
        guard index < text.count, text[index] == " ", !matches(" in ", at: index) else { return nil }
        output += String(text[position..<index])
        return skipToIn(from: index + 1, keepingIn: true)
    }

    /// From `index`, skips a type at bracket depth 0 up to ` in ` (kept as " in " when `keepingIn`) or the end.
    private mutating func skipToIn(from index: Int, keepingIn: Bool = true) -> Int {
        var depth = 0
        var index = index
        while index < text.count {
            switch text[index] {
            case "(", "<", "[": depth += 1
            case ")", ">", "]": if depth > 0 { depth -= 1 }
            default:
                if depth == 0, matches(" in ", at: index) {
                    output += " in "
                    return index + 4
                }
            }
            // "->" is not a closing bracket.
            if text[index] == "-", index + 1 < text.count, text[index + 1] == ">" { index += 2; continue }
            index += 1
        }
        return index
    }

    /// After a parameter list: ` throws(…)`, ` async`, ` -> Result` up to ` in ` or the end.
    private mutating func skipSignatureTail(from index: Int) -> Int {
        if matches(" ", at: index), !matches(" in ", at: index),
            matches(" throws", at: index) || matches(" async", at: index) || matches(" -> ", at: index)
                || matches(" rethrows", at: index)
        {
            return skipToIn(from: index)
        }
        return index
    }

    /// `(name in _HEX)` → `name`.
    private func privateName(at index: Int) -> (text: String, end: Int)? {
        guard let close = text[index...].firstIndex(of: ")") else { return nil }
        let inside = String(text[(index + 1)..<close])
        guard let range = inside.firstRange(of: " in _"), !inside[..<range.lowerBound].contains(" "),
            !inside[..<range.lowerBound].isEmpty
        else { return nil }
        return (String(inside[..<range.lowerBound]), close + 1)
    }

    /// `(duration: Swift.Double, _: Swift.Int)` → `(duration:_:)`; a parameter without a label is `_`.
    private func labels(_ start: Int, _ end: Int) -> String {
        if start == end { return "()" }
        var result = "("
        var depth = 0
        var parameterStart = start
        var index = start
        func label(_ from: Int, _ to: Int) -> String {
            let parameter = String(text[from..<to]).drop(while: { $0 == " " })
            if let colon = parameter.firstRange(of: ": "),
                !parameter[..<colon.lowerBound].contains(where: { "(<[ ".contains($0) })
            {
                return String(parameter[..<colon.lowerBound]) + ":"
            }
            return "_:"
        }
        while index < end {
            switch text[index] {
            case "(", "<", "[": depth += 1
            case ")", ">", "]": if depth > 0 { depth -= 1 }
            case "," where depth == 0:
                result += label(parameterStart, index)
                parameterStart = index + 1
            default: break
            }
            if text[index] == "-", index + 1 < end, text[index + 1] == ">" { index += 2; continue }
            index += 1
        }
        return result + label(parameterStart, end) + ")"
    }

    /// The index of the bracket closing the one at `open`, or nil.
    private func closing(from open: Int) -> Int? {
        var depth = 0
        var index = open
        while index < text.count {
            switch text[index] {
            case "(", "<", "[": depth += 1
            case ")", ">", "]":
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
            if text[index] == "-", index + 1 < text.count, text[index + 1] == ">" { index += 2; continue }
            index += 1
        }
        return nil
    }

    private func matches(_ literal: String, at index: Int? = nil) -> Bool {
        let start = index ?? position
        var i = start
        for character in literal {
            guard i < text.count, text[i] == character else { return false }
            i += 1
        }
        return true
    }
}

extension Array where Element == Character {
    fileprivate func firstIndex(of character: Character, after start: Int) -> Int? {
        self[start...].firstIndex(of: character)
    }
}
