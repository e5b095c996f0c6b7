import CopyprofModel

/// Where one sample was charged, and why.
public struct Attribution: Sendable, Hashable {
    /// How the category was found.
    public enum Rule: String, Sendable, Hashable {
        /// The first frame from the leaf that the table knows as an owner (or as enclosing, with no owner under it).
        case owner
        /// A frame the table knows as enclosing, above the first owner and in its context (no interrupt-enable site
        /// between them): the owner's work was done for it (the error-queue read's copy of a notification).
        case enclosing
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
/// `irq-enable-site`, but under `tcp_write_xmit` it is `tcp-ip`); when none is known, `other`. An enclosing kernel
/// frame above the first owner takes the sample from it, unless an interrupt-enable site lies between the two (the
/// owner then ran in an interrupt or softirq on top of the enclosing function, not for it): `skb_copy_datagram_iter`
/// under `ip_recv_error` is the zero-copy completion's read, not a receive's copy to user memory. Without a
/// callchain the leaf is the only frame, and the same rules apply to it. Unresolved frames (`[kernel, unresolved]`,
/// `libc.so.6+0x…`) are names the table does not know.
public struct Attributor: Sendable {
    public let entries: [AttributionEntry]
    private let kernelNames: [String: Int]
    private let userNames: [String: Int]
    private let userPrefixes: [(prefix: String, entry: Int)]
    private let userModules: [(module: String, entry: Int)]
    /// Whether any kernel entry is enclosing: only then does the walk go on above the first owner.
    private let hasEnclosingEntries: Bool

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
        hasEnclosingEntries = entries.contains { $0.role == .enclosing }
    }

    /// The category of one sample from its frames' names, each list leaf first.
    public func attribute(kernelFrames: [String], userFrames: [String]) -> Attribution {
        let leaf = kernelFrames.first ?? userFrames.first
        guard leaf != nil else { return Attribution(category: .other, rule: .noFrames, decidingFrame: nil, leaf: nil) }
        var firstTransparent: (entry: AttributionEntry, frame: String)?
        // The first kernel owner from the leaf, kept while the walk looks above it for an enclosing frame.
        var firstOwner: Attribution?
        for frame in kernelFrames {
            guard let entry = kernelEntry(frame) else { continue }
            switch entry.role {
            case .enclosing:
                if let firstOwner, firstOwner.category == entry.category { return firstOwner }
                let rule: Attribution.Rule = firstOwner == nil ? .owner : .enclosing
                return Attribution(category: entry.category, rule: rule, decidingFrame: frame, leaf: leaf)
            case .owner:
                guard firstOwner == nil else { continue }
                let found = Attribution(category: entry.category, rule: .owner, decidingFrame: frame, leaf: leaf)
                guard hasEnclosingEntries else { return found }
                firstOwner = found
            case .transparent:
                // An interrupt-enable site above the owner: what lies under it ran on top of its callers, not for them.
                if let firstOwner {
                    if entry.category == .irqEnableSite { return firstOwner }
                } else if firstTransparent == nil {
                    firstTransparent = (entry, frame)
                }
            }
        }
        if let firstOwner { return firstOwner }
        for frame in userFrames {
            guard let entry = userEntry(frame) else { continue }
            guard entry.role == .transparent else {
                return Attribution(category: entry.category, rule: .owner, decidingFrame: frame, leaf: leaf)
            }
            if firstTransparent == nil { firstTransparent = (entry, frame) }
        }
        if let (entry, frame) = firstTransparent {
            return Attribution(category: entry.category, rule: .transparentOnly, decidingFrame: frame, leaf: leaf)
        }
        return Attribution(category: .other, rule: .unknown, decidingFrame: nil, leaf: leaf)
    }

    /// The entry for a kernel function name (compiler suffixes ignored), or nil.
    public func kernelEntry(_ name: String) -> AttributionEntry? {
        if let index = kernelNames[name] { return entries[index] }
        let base = FunctionName.withoutCompilerSuffix(name)
        guard base.utf8.count != name.utf8.count, let index = kernelNames[base] else { return nil }
        return entries[index]
    }

    /// The entry for a user-space function name (a C name, or a demangled Swift name), or nil.
    public func userEntry(_ name: String) -> AttributionEntry? {
        let plain = FunctionName.withoutInternalAlias(
            FunctionName.withoutCompilerSuffix(FunctionName.withoutSymbolVersion(name)))
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
        // On UTF-8 bytes: called for every frame of every sample, and Character iteration costs ~10× more.
        let bytes = name.utf8
        guard let firstDot = bytes.firstIndex(of: UInt8(ascii: ".")), firstDot != bytes.startIndex else { return name }
        var isFirst = true
        for part in bytes[bytes.index(after: firstDot)...].split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            let known = compilerSuffixes.contains { $0.elementsEqual(part) }
            let number = !part.isEmpty && part.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            if isFirst ? !known : !(known || number) { return name }
            isFirst = false
        }
        return String(name[..<firstDot])
    }

    private static let compilerSuffixes: [String.UTF8View] = [
        "isra", "constprop", "part", "cold", "llvm", "lto_priv", "localalias",
    ].map(\.utf8)

    /// `__GI___recv` → `__recv`: glibc's internal aliases (`hidden_def`, include/libc-symbols.h) name the same
    /// function as its public name, and a debug file's table lists both at one address, where perf's choice and
    /// ours may differ.
    public static func withoutInternalAlias(_ name: String) -> String {
        name.utf8.starts(with: "__GI_".utf8) && name.utf8.count > 5 ? String(name.dropFirst(5)) : name
    }

    /// `memcpy@GLIBC_2.2.5` → `memcpy`.
    public static func withoutSymbolVersion(_ name: String) -> String {
        guard let at = name.utf8.firstIndex(of: UInt8(ascii: "@")), at != name.utf8.startIndex else { return name }
        return String(name[..<at])
    }

    /// Whether `moduleDot` (`Transports.`) starts the name or follows a space or an opening bracket in it.
    static func mentions(module moduleDot: String, in name: String) -> Bool {
        let bytes = Array(name.utf8)
        let wanted = Array(moduleDot.utf8)
        guard bytes.count >= wanted.count else { return false }
        for start in 0...(bytes.count - wanted.count) where bytes[start] == wanted[0] {
            guard bytes[start..<start + wanted.count].elementsEqual(wanted) else { continue }
            if start == 0 { return true }
            switch bytes[start - 1] {
            case UInt8(ascii: " "), UInt8(ascii: "("), UInt8(ascii: "<"), UInt8(ascii: "["), UInt8(ascii: ","):
                return true
            default:
                continue
            }
        }
        return false
    }
}
