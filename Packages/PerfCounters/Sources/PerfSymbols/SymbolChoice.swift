/// A symbol's ELF binding (kallsyms spells it as the case of the type letter, `W` for weak).
enum SymbolBinding: UInt8, Sendable {
    case local, global, weak
}

/// Which of two symbols at one address names it: perf's `choose_best_symbol` (tools/perf/util/symbol.c), shared by
/// the kernel's and the ELF files' tables.
enum SymbolChoice {
    /// Whether `a` names the address rather than `b`: non-weak over weak, global over local, fewer leading
    /// underscores, the longer name; nil when nothing tells them apart.
    static func prefers(
        _ a: some Collection<UInt8>, _ aBinding: SymbolBinding, over b: some Collection<UInt8>,
        _ bBinding: SymbolBinding
    ) -> Bool? {
        if aBinding != bBinding {
            if aBinding == .weak || bBinding == .weak { return bBinding == .weak }
            return aBinding == .global
        }
        let aUnderscores = a.prefix(while: { $0 == UInt8(ascii: "_") }).count
        let bUnderscores = b.prefix(while: { $0 == UInt8(ascii: "_") }).count
        if aUnderscores != bUnderscores { return aUnderscores < bUnderscores }
        if a.count != b.count { return a.count > b.count }
        return nil
    }
}
