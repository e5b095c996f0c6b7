/// What one sampled address turned out to be: a function with the offset into it, or no name and the reason why.
///
/// `name` is always something to show (a folded stack or a table row needs a label): the function's readable name
/// when it resolved, otherwise a placeholder that says what is known (`[kernel, unresolved]`,
/// `libc.so.6+0x1529f5`, `[unknown]`), never the nearest symbol's name.
public struct SymbolizedFrame: Sendable, Hashable, CustomStringConvertible {
    /// Kernel or user space: the two are resolved from different tables, and one name (`memcpy`) can be in both.
    public enum Space: String, Sendable, Hashable {
        case kernel, user
    }

    /// The address as sampled.
    public var address: UInt64
    public var space: Space
    /// The symbol as its table spells it (mangled for Swift and C++; with a compiler suffix such as `.isra.0` for
    /// the kernel), or nil when no symbol holds the address.
    public var symbol: String?
    /// What to show: the demangled, simplified name when resolved, else the placeholder described above.
    public var name: String
    /// Bytes from the symbol's start; 0 when unresolved.
    public var offset: UInt64
    /// Where the address lies: `[kernel]`, a module as `[tls]`, or the mapped file's path (`[vdso]` for the vDSO).
    public var object: String
    /// Why there is no symbol and what would give one; nil when resolved.
    public var unresolvedReason: String?

    public init(
        address: UInt64, space: Space, symbol: String?, name: String, offset: UInt64, object: String,
        unresolvedReason: String?
    ) {
        self.address = address
        self.space = space
        self.symbol = symbol
        self.name = name
        self.offset = offset
        self.object = object
        self.unresolvedReason = unresolvedReason
    }

    /// True when a symbol holds the address.
    public var isResolved: Bool { symbol != nil }

    /// `tcp_sendmsg_locked+0x1f [kernel]`, or the placeholder and the reason.
    public var description: String {
        if isResolved { return "\(name)+0x\(String(offset, radix: 16)) [\(object)]" }
        return "\(name) (\(unresolvedReason ?? "unresolved"))"
    }

    /// The label of a kernel address that cannot be named.
    public static let kernelUnresolvedName = "[kernel, unresolved]"
    /// The label of a user address in no known mapping.
    public static let unknownName = "[unknown]"
}
