import CopyprofModel

/// Where one sample was charged, and why.
public struct Attribution: Sendable, Hashable {
    /// How the category was found.
    public enum Rule: String, Sendable, Hashable {
        /// The first frame from the leaf that the table knows as an owner.
        case owner
        /// No owner in the frames: the first transparent frame's category (an interrupt-enable site, a copy helper).
        case transparentOnly
        /// No frame the table knows: `other`.
        case unknown
        /// The sample had no frame at all: `other`.
        case noFrames
    }

    public var category: AttributionCategory
    public var rule: Rule
    /// The frame whose entry decided the category, as the sample named it; nil for `unknown` and `noFrames`.
    public var decidingFrame: String?
    /// The sample's leaf frame (its first), kept so that `other` can list its top functions.
    public var leaf: String?

    public init(category: AttributionCategory, rule: Rule, decidingFrame: String?, leaf: String?) {
        self.category = category
        self.rule = rule
        self.decidingFrame = decidingFrame
        self.leaf = leaf
    }
}

/// Charges samples to categories by walking their call graph against the attribution table.
///
/// A sample's frames come leaf first: its kernel frames, then its user frames. It is charged to the first frame
/// the table knows as an owner; transparent frames (copy helpers, interrupt-enable sites) are passed over; when
/// only transparent frames are known, the first of them decides (so a lone `_raw_spin_unlock_irqrestore` is
/// `irq-enable-site`, but under `tcp_write_xmit` it is `tcp-ip`); when none is known, `other`. Without a callchain
/// the leaf is the only frame, and the same rules apply to it. Unresolved frames (`[kernel, unresolved]`,
/// `libc.so.6+0x…`) are names the table does not know.
public struct Attributor: Sendable {
    public let entries: [AttributionEntry]
    private let kernelNames: [String: Int]
    private let userNames: [String: Int]
    private let userPrefixes: [(prefix: String, entry: Int)]
    private let userModules: [(module: String, entry: Int)]

    /// An attributor over `entries` (the table by default). A name listed twice in one space keeps its first entry.
    public init(entries: [AttributionEntry] = AttributionTable.entries) {
        self.entries = entries
        var kernelNames: [String: Int] = [:]
        var userNames: [String: Int] = [:]
        var userPrefixes: [(String, Int)] = []
        var userModules: [(String, Int)] = []
        for (index, entry) in entries.enumerated() {
            switch (entry.match, entry.presence.isKernel) {
            case (.exact(let name), true): if kernelNames[name] == nil { kernelNames[name] = index }
            case (.exact(let name), false): if userNames[name] == nil { userNames[name] = index }
            case (.prefix(let prefix, _), false): userPrefixes.append((prefix, index))
            case (.module(let module, _), false): userModules.append((module + ".", index))
            case (.prefix, true), (.module, true):
                preconditionFailure("kernel entries match exact names: \(entry.match)")
            }
        }
        self.kernelNames = kernelNames
        self.userNames = userNames
        self.userPrefixes = userPrefixes
        self.userModules = userModules
    }

    /// The category of one sample from its frames' names, each list leaf first.
    public func attribute(kernelFrames: [String], userFrames: [String]) -> Attribution {
        let leaf = kernelFrames.first ?? userFrames.first
        guard leaf != nil else { return Attribution(category: .other, rule: .noFrames, decidingFrame: nil, leaf: nil) }
        var firstTransparent: (entry: AttributionEntry, frame: String)?
        func visit(_ frame: String, _ entry: AttributionEntry?) -> Attribution? {
            guard let entry else { return nil }
            if entry.role == .owner {
                return Attribution(category: entry.category, rule: .owner, decidingFrame: frame, leaf: leaf)
            }
            if firstTransparent == nil { firstTransparent = (entry, frame) }
            return nil
        }
        for frame in kernelFrames {
            if let found = visit(frame, kernelEntry(frame)) { return found }
        }
        for frame in userFrames {
            if let found = visit(frame, userEntry(frame)) { return found }
        }
        if let (entry, frame) = firstTransparent {
            return Attribution(category: entry.category, rule: .transparentOnly, decidingFrame: frame, leaf: leaf)
        }
        return Attribution(category: .other, rule: .unknown, decidingFrame: nil, leaf: leaf)
    }

    /// The entry for a kernel function name (compiler suffixes ignored), or nil.
    public func kernelEntry(_ name: String) -> AttributionEntry? {
        if let index = kernelNames[name] ?? kernelNames[FunctionName.withoutCompilerSuffix(name)] {
            return entries[index]
        }
        return nil
    }

    /// The entry for a user-space function name (a C name, or a demangled Swift name), or nil.
    public func userEntry(_ name: String) -> AttributionEntry? {
        let plain = FunctionName.withoutCompilerSuffix(FunctionName.withoutSymbolVersion(name))
        if let index = userNames[plain] { return entries[index] }
        if let found = userPrefixes.first(where: { plain.hasPrefix($0.prefix) }) { return entries[found.entry] }
        if let found = userModules.first(where: { FunctionName.mentions(module: $0.module, in: plain) }) {
            return entries[found.entry]
        }
        return nil
    }
}

/// What the table compares: function names without what compilers and linkers append.
public enum FunctionName {
    /// GCC's and LLVM's suffixes for clones and split parts: `.isra.0`, `.constprop.0`, `.part.0`, `.cold`,
    /// `.llvm.123`, `.lto_priv.0`, `.localalias` (`finish_task_switch.isra.0` → `finish_task_switch`). A name whose
    /// dotted parts are anything else (a Swift name) is returned unchanged.
    public static func withoutCompilerSuffix(_ name: String) -> String {
        guard let firstDot = name.firstIndex(of: "."), firstDot != name.startIndex else { return name }
        let parts = name[name.index(after: firstDot)...].split(separator: ".", omittingEmptySubsequences: false)
        guard let first = parts.first, compilerSuffixes.contains(String(first)) else { return name }
        let allKnown = parts.allSatisfy { part in
            compilerSuffixes.contains(String(part)) || (!part.isEmpty && part.allSatisfy(\.isNumber))
        }
        return allKnown ? String(name[..<firstDot]) : name
    }

    private static let compilerSuffixes: Set<String> = [
        "isra", "constprop", "part", "cold", "llvm", "lto_priv", "localalias",
    ]

    /// `memcpy@GLIBC_2.2.5` → `memcpy`.
    public static func withoutSymbolVersion(_ name: String) -> String {
        guard let at = name.firstIndex(of: "@"), at != name.startIndex else { return name }
        return String(name[..<at])
    }

    /// Whether `moduleDot` (`Transports.`) starts the name or follows a space or an opening bracket in it.
    static func mentions(module moduleDot: String, in name: String) -> Bool {
        var search = name[...]
        while let range = search.firstRange(of: moduleDot) {
            if range.lowerBound == name.startIndex { return true }
            let before = name[name.index(before: range.lowerBound)]
            if before == " " || before == "(" || before == "<" || before == "[" || before == "," { return true }
            search = name[range.upperBound...]
        }
        return false
    }
}
