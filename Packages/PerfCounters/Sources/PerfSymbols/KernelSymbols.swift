#if canImport(Glibc)
import Glibc
#endif

/// The kernel's function symbols from /proc/kallsyms, parsed once, sorted by address, looked up by address.
///
/// kallsyms gives each symbol's start but not its size, so a symbol ends where the next one starts (as perf's
/// `symbols__fixup_end` does). The kernel's text ends at `_etext` (and the init text at `_einittext`); these and
/// the `__*_text_end` section markers are boundaries, not functions: an address at or past one is unresolved,
/// never charged to the symbol before it. A module's last symbol ends at the module's end from /proc/modules; where
/// that is unknown the address is unresolved. When every address reads as 0 (`kernel.kptr_restrict`, or an
/// unprivileged reader), every lookup is "kernel, unresolved" with the reason and the fix.
public struct KernelSymbols: Sendable {
    /// Whether lookups can name kernel addresses, and if not, why.
    public enum Status: Sendable, Hashable {
        /// Addresses resolve.
        case resolvable
        /// kallsyms was read but showed every address as 0; the text says why and what would show them.
        case hidden(reason: String)
        /// kallsyms could not be read at all.
        case unreadable(reason: String)
    }

    public let status: Status
    /// Symbols kept (one per address: aliases are reduced to one name, as perf's `choose_best_symbol`).
    public var count: Int { starts.count }

    /// Bytes the table's arrays hold (addresses, ends, name offsets, the name pool, the aliases).
    public var retainedBytes: Int {
        starts.count * (8 + 8 + 4 + 2 + 2 + 1) + namePool.count + aliasStarts.count * (8 + 4 + 2)
    }

    // Parallel arrays sorted by start: compact, one allocation each (≈120k symbols on a 6.18 kernel).
    private let starts: [UInt64]
    /// Exclusive end; `unknownEnd` when nothing bounds the symbol.
    private let ends: [UInt64]
    private let nameOffsets: [UInt32]
    private let nameLengths: [UInt16]
    /// Index into `modules`; 0 is the kernel image itself.
    private let moduleIndices: [UInt16]
    /// Whether the entry is a boundary (`_etext`, `__irqentry_text_end` ...) rather than a function.
    private let isBoundary: [Bool]
    private let namePool: [UInt8]
    private let modules: [String]
    /// The other names at an address, dropped from lookups but kept for look-ups by name.
    private let aliasStarts: [UInt64]
    private let aliasNameOffsets: [UInt32]
    private let aliasNameLengths: [UInt16]

    private static let unknownEnd = UInt64.max

    /// Reads /proc/kallsyms (and /proc/modules for the modules' ends). Never throws: an unreadable or zeroed file
    /// gives a table whose lookups say why they cannot name anything.
    public static func load(kallsymsPath: String = "/proc/kallsyms", modulesPath: String = "/proc/modules")
        -> KernelSymbols
    {
        switch FileBytes.read(kallsymsPath) {
        case .failure(let error):
            return KernelSymbols(
                status: .unreadable(
                    reason: "kernel symbols unavailable: \(error) (a kernel built without CONFIG_KALLSYMS, "
                        + "or /proc not mounted)"))
        case .success(let bytes):
            let modules: [UInt8]? = try? FileBytes.read(modulesPath).get()
            return KernelSymbols(kallsyms: bytes, modules: modules, hiddenReason: hiddenAddressesReason())
        }
    }

    /// Parses kallsyms text (`ffffffff81000000 T _stext`, module symbols with a tab and `[module]`) and optionally
    /// /proc/modules text (`tls 151552 0 - Live 0xffffffffc0a00000`), whose sizes end each module's last symbol.
    /// `hiddenReason` is the text used when every address is 0.
    public init(
        kallsyms: [UInt8], modules: [UInt8]? = nil,
        hiddenReason: @autoclosure () -> String = KernelSymbols.hiddenAddressesReason()
    ) {
        var parser = KallsymsParser()
        parser.parse(kallsyms)
        if parser.symbols.isEmpty {
            self.init(status: .unreadable(reason: "kernel symbols unavailable: /proc/kallsyms lists no function"))
            return
        }
        if !parser.sawNonZeroAddress {
            self.init(status: .hidden(reason: hiddenReason()))
            return
        }
        let extents = modules.map(ModuleExtents.parse) ?? [:]
        self.init(parsed: parser, moduleExtents: extents)
    }

    /// The same from text, for tests and saved copies of kallsyms.
    public init(
        kallsymsText: String, modulesText: String? = nil,
        hiddenReason: @autoclosure () -> String = KernelSymbols.hiddenAddressesReason()
    ) {
        self.init(kallsyms: Array(kallsymsText.utf8), modules: modulesText.map { Array($0.utf8) }, hiddenReason: hiddenReason())
    }

    private init(status: Status) {
        self.status = status
        starts = []
        ends = []
        nameOffsets = []
        nameLengths = []
        moduleIndices = []
        isBoundary = []
        namePool = []
        modules = []
        aliasStarts = []
        aliasNameOffsets = []
        aliasNameLengths = []
    }

    private init(parsed: KallsymsParser, moduleExtents: [String: Range<UInt64>]) {
        var symbols = parsed.symbols
        symbols.sort { $0.address < $1.address }
        // One symbol per address, chosen as perf does; a boundary only where nothing else starts.
        var kept: [KallsymsParser.Symbol] = []
        var aliases: [KallsymsParser.Symbol] = []
        kept.reserveCapacity(symbols.count)
        for symbol in symbols {
            if let last = kept.last, last.address == symbol.address, last.module == symbol.module {
                if Self.prefer(symbol, over: last, names: parsed.namePool) {
                    kept[kept.count - 1] = symbol
                    if !last.isBoundary { aliases.append(last) }
                } else if !symbol.isBoundary {
                    aliases.append(symbol)
                }
            } else {
                kept.append(symbol)
            }
        }
        var ends = [UInt64](repeating: Self.unknownEnd, count: kept.count)
        for index in kept.indices {
            let symbol = kept[index]
            if index + 1 < kept.count, kept[index + 1].module == symbol.module {
                ends[index] = kept[index + 1].address
            } else if symbol.module != 0, let extent = moduleExtents[parsed.modules[Int(symbol.module)]],
                extent.contains(symbol.address)
            {
                ends[index] = extent.upperBound
            }
        }
        status = .resolvable
        starts = kept.map(\.address)
        self.ends = ends
        nameOffsets = kept.map(\.nameOffset)
        nameLengths = kept.map(\.nameLength)
        moduleIndices = kept.map(\.module)
        isBoundary = kept.map(\.isBoundary)
        namePool = parsed.namePool
        modules = parsed.modules
        aliasStarts = aliases.map(\.address)
        aliasNameOffsets = aliases.map(\.nameOffset)
        aliasNameLengths = aliases.map(\.nameLength)
    }

    /// perf's `choose_best_symbol` (tools/perf/util/symbol.c) for symbols at one address: a function over a section
    /// boundary, then non-weak over weak, global over local, fewer leading underscores, the longer name. One rule
    /// first: a system call without arguments has one body for its x86-64 and ia32 entry points
    /// (`__x64_sys_sched_yield`, `__ia32_sys_sched_yield`); the x86-64 name is the one this process calls.
    private static func prefer(_ a: KallsymsParser.Symbol, over b: KallsymsParser.Symbol, names: [UInt8]) -> Bool {
        if a.isBoundary != b.isBoundary { return !a.isBoundary }
        let aName = names[Int(a.nameOffset)..<Int(a.nameOffset) + Int(a.nameLength)]
        let bName = names[Int(b.nameOffset)..<Int(b.nameOffset) + Int(b.nameLength)]
        let aNative = aName.starts(with: "__x64_sys_".utf8)
        let bNative = bName.starts(with: "__x64_sys_".utf8)
        if aNative != bNative { return aNative }
        return SymbolChoice.prefers(aName, a.binding, over: bName, b.binding) ?? false
    }

    /// The function holding `address`, or why none can be named.
    public func lookup(_ address: UInt64) -> SymbolizedFrame {
        switch status {
        case .hidden(let reason), .unreadable(let reason):
            return unresolved(address, reason)
        case .resolvable:
            break
        }
        if address < 0x8000_0000_0000_0000 {
            return unresolved(address, "0x\(hex(address)) is not a kernel address (it is in the user half)")
        }
        // The last symbol starting at or below the address.
        var low = 0
        var high = starts.count
        while low < high {
            let middle = (low + high) / 2
            if starts[middle] <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else {
            return unresolved(address, "0x\(hex(address)) is below the kernel's first text symbol")
        }
        let index = low - 1
        let module = Int(moduleIndices[index])
        let object = module == 0 ? "kernel" : modules[module]
        if isBoundary[index] {
            return unresolved(
                address, "0x\(hex(address)) is past \(name(at: index)): outside the kernel's text", object: object)
        }
        if ends[index] == Self.unknownEnd {
            let owner = module == 0 ? "the kernel's last text symbol" : "the last symbol of module \(object)"
            return unresolved(
                address,
                "0x\(hex(address)) is at or past \(owner) (\(name(at: index))), whose end is unknown",
                object: object)
        }
        if address >= ends[index] {
            return unresolved(address, "0x\(hex(address)) is past the end of module \(object)", object: object)
        }
        let name = name(at: index)
        return SymbolizedFrame(
            address: address, space: .kernel, symbol: name, name: name, offset: address - starts[index],
            object: object, unresolvedReason: nil)
    }

    /// The address of every function named `name`, aliases included (several for local symbols of one name):
    /// for tests and look-ups by name.
    public func addresses(of name: String) -> [UInt64] {
        let wanted = Array(name.utf8)
        func matches(_ offset: UInt32, _ length: UInt16) -> Bool {
            Int(length) == wanted.count && namePool[Int(offset)..<Int(offset) + wanted.count].elementsEqual(wanted)
        }
        let kept = starts.indices.filter { !isBoundary[$0] && matches(nameOffsets[$0], nameLengths[$0]) }
        let aliases = aliasStarts.indices.filter { matches(aliasNameOffsets[$0], aliasNameLengths[$0]) }
        return (kept.map { starts[$0] } + aliases.map { aliasStarts[$0] }).sorted()
    }

    /// Every function with its address, aliases included (a lookup names an address by one of its aliases only),
    /// without the section boundaries; in address order.
    public var functions: [(name: String, address: UInt64)] {
        let kept = starts.indices.filter { !isBoundary[$0] }.map { (name: name(at: $0), address: starts[$0]) }
        let aliases = aliasStarts.indices.map { index in
            let start = Int(aliasNameOffsets[index])
            return (
                name: String(decoding: namePool[start..<start + Int(aliasNameLengths[index])], as: UTF8.self),
                address: aliasStarts[index]
            )
        }
        return (kept + aliases).sorted { $0.address < $1.address }
    }

    private func name(at index: Int) -> String {
        let start = Int(nameOffsets[index])
        return String(decoding: namePool[start..<start + Int(nameLengths[index])], as: UTF8.self)
    }

    private func unresolved(_ address: UInt64, _ reason: String, object: String = "kernel") -> SymbolizedFrame {
        SymbolizedFrame(
            address: address, space: .kernel, symbol: nil, name: SymbolizedFrame.kernelUnresolvedName, offset: 0,
            object: object, unresolvedReason: reason)
    }

    private func hex(_ value: UInt64) -> String { String(value, radix: 16) }

    /// Why /proc/kallsyms shows this process only zeros, with the fix, from the rules of
    /// kernel/ksyms_common.c `kallsyms_show_value`: kptr_restrict 0 shows addresses to everyone when
    /// perf_event_paranoid ≤ 1, else to CAP_SYSLOG; 1 only to CAP_SYSLOG; 2 to no one.
    public static func hiddenAddressesReason(kptrRestrict: Int?, paranoid: Int?, isRoot: Bool) -> String {
        let prefix = "kernel, unresolved: /proc/kallsyms shows every address as 0 to this process"
        switch kptrRestrict {
        case 2?:
            return prefix + " (kernel.kptr_restrict = 2 hides them even from root); to name kernel frames, as root: "
                + "sysctl kernel.kptr_restrict=1 and run as root"
        case 1?:
            return prefix + " (kernel.kptr_restrict = 1: only a process with CAP_SYSLOG sees them); run as root"
                + (isRoot ? " with CAP_SYSLOG" : "")
        case 0?:
            let level = paranoid.map(String.init) ?? "unknown"
            return prefix + " (kernel.kptr_restrict = 0, but kernel.perf_event_paranoid = \(level) > 1: only a "
                + "process with CAP_SYSLOG sees them); run as root, or as root: sysctl kernel.perf_event_paranoid=1"
        default:
            return prefix + "; run as root, or as root: sysctl kernel.kptr_restrict=0 kernel.perf_event_paranoid=1"
        }
    }

    /// The reason for this host and process, from /proc/sys/kernel/{kptr_restrict,perf_event_paranoid}.
    public static func hiddenAddressesReason() -> String {
        func level(_ path: String) -> Int? { FileBytes.firstLine(path).flatMap { Int($0) } }
        return hiddenAddressesReason(
            kptrRestrict: level("/proc/sys/kernel/kptr_restrict"),
            paranoid: level("/proc/sys/kernel/perf_event_paranoid"), isRoot: geteuid() == 0)
    }
}

/// One pass over kallsyms bytes: text symbols (T t W w) with their names in one pool.
struct KallsymsParser {
    struct Symbol {
        var address: UInt64
        var nameOffset: UInt32
        var nameLength: UInt16
        var module: UInt16
        var binding: SymbolBinding
        var isBoundary: Bool
    }

    var symbols: [Symbol] = []
    var namePool: [UInt8] = []
    var modules: [String] = ["kernel"]
    var sawNonZeroAddress = false
    private var moduleIndex: [String: UInt16] = [:]

    mutating func parse(_ bytes: [UInt8]) {
        namePool.reserveCapacity(bytes.count / 2)
        symbols.reserveCapacity(bytes.count / 40)
        bytes.withUnsafeBufferPointer { buffer in
            var position = 0
            let end = buffer.count
            while position < end {
                var lineEnd = position
                while lineEnd < end && buffer[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                parseLine(buffer, position, lineEnd)
                position = lineEnd + 1
            }
        }
    }

    private mutating func parseLine(_ buffer: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) {
        var position = start
        var address: UInt64 = 0
        var digits = 0
        while position < end, let digit = hexValue(buffer[position]) {
            address = address << 4 | UInt64(digit)
            digits += 1
            position += 1
        }
        // "ADDRESS TYPE NAME": one space, the type, one space.
        guard digits > 0, digits <= 16, position + 3 <= end, buffer[position] == UInt8(ascii: " "),
            buffer[position + 2] == UInt8(ascii: " ")
        else { return }
        let type = buffer[position + 1]
        let binding: SymbolBinding
        switch type {
        case UInt8(ascii: "T"): binding = .global
        case UInt8(ascii: "t"): binding = .local
        case UInt8(ascii: "W"), UInt8(ascii: "w"): binding = .weak
        default: return
        }
        let nameStart = position + 3
        var nameEnd = nameStart
        while nameEnd < end && buffer[nameEnd] != UInt8(ascii: "\t") && buffer[nameEnd] != UInt8(ascii: " ") {
            nameEnd += 1
        }
        guard nameEnd > nameStart, nameEnd - nameStart <= Int(UInt16.max) else { return }
        var module: UInt16 = 0
        if nameEnd < end {
            // "\t[module]"
            var moduleStart = nameEnd
            while moduleStart < end && (buffer[moduleStart] == UInt8(ascii: "\t") || buffer[moduleStart] == UInt8(ascii: " ")) {
                moduleStart += 1
            }
            var moduleEnd = end
            while moduleEnd > moduleStart && buffer[moduleEnd - 1] == UInt8(ascii: " ") { moduleEnd -= 1 }
            if moduleEnd - moduleStart > 2, buffer[moduleStart] == UInt8(ascii: "["),
                buffer[moduleEnd - 1] == UInt8(ascii: "]")
            {
                let name = String(decoding: buffer[(moduleStart + 1)..<(moduleEnd - 1)], as: UTF8.self)
                module = index(ofModule: name)
            }
        }
        if address != 0 { sawNonZeroAddress = true }
        let name = UnsafeBufferPointer(rebasing: buffer[nameStart..<nameEnd])
        symbols.append(
            Symbol(
                address: address, nameOffset: UInt32(namePool.count), nameLength: UInt16(name.count), module: module,
                binding: binding, isBoundary: Self.isBoundary(name)))
        namePool.append(contentsOf: name)
    }

    private mutating func index(ofModule name: String) -> UInt16 {
        if let index = moduleIndex[name] { return index }
        let index = UInt16(truncatingIfNeeded: modules.count)
        modules.append(name)
        moduleIndex[name] = index
        return index
    }

    /// `_etext`, `_einittext` and the `__*_text_end` markers (`__irqentry_text_end`): ends of text, not functions.
    static func isBoundary(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        if name.elementsEqual("_etext".utf8) || name.elementsEqual("_einittext".utf8) { return true }
        return name.starts(with: "__".utf8) && name.reversed().starts(with: "_text_end".utf8.reversed())
    }

    private func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// /proc/modules: `name size refcount deps state address`; each module's memory `[address, address + size)`.
enum ModuleExtents {
    static func parse(_ bytes: [UInt8]) -> [String: Range<UInt64>] {
        var extents: [String: Range<UInt64>] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count >= 6,
                let size = UInt64(String(decoding: fields[1], as: UTF8.self)),
                case let addressText = String(decoding: fields[5], as: UTF8.self), addressText.hasPrefix("0x"),
                let address = UInt64(addressText.dropFirst(2), radix: 16), address != 0,
                address <= UInt64.max - size
            else { continue }
            extents[String(decoding: fields[0], as: UTF8.self)] = address..<(address + size)
        }
        return extents
    }
}
