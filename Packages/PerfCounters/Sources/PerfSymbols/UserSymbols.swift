#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// This process's user-space functions: its executable mappings (/proc/self/maps) and, for each mapped file, its
/// ELF function symbols, read once.
///
/// An address becomes a file offset through its mapping (`address - start + offset`), then the value symbols are
/// given in through the PT_LOAD segment holding that offset (`offset - p_offset + p_vaddr`): the same arithmetic
/// for an executable, a PIE and a shared library. Symbols come from `.symtab`; a file without one (glibc as
/// Debian ships it) is paired with its debug file found by build-id under `/usr/lib/debug/.build-id/xx/rest.debug`,
/// as perf does (`libc6-dbg` installs glibc's there), and only then falls back to `.dynsym`, which lacks local
/// functions such as `__memmove_avx_unaligned_erms`. An address outside every symbol's `[value, value + size)` is
/// `file+0xoffset` with the reason, never the nearest symbol's name.
///
/// The mappings are those at load time: code mapped later (dlopen) is "in no mapping". Safe to share between
/// threads: the tables are immutable and the demangled-name cache is behind a mutex.
public final class UserSymbols: Sendable {
    /// One mapped file (or the vDSO) and what became of its symbols.
    public struct Object: Sendable {
        /// The path as mapped (`[vdso]` for the vDSO).
        public var path: String
        /// Where its names came from: `.symtab`, the debug file's path, `.dynsym`; nil when none could be read.
        public var symbolSource: String?
        /// Functions known.
        public var functionCount: Int
        /// Why names may be missing (no `.symtab` and no debug file, unreadable, replaced), or nil.
        public var limitation: String?
        /// Bytes its symbol table holds.
        public var retainedBytes: Int { table?.retainedBytes ?? 0 }
        /// The path's last component, for `libc.so.6+0x1529f5`.
        public var fileName: String { UserSymbols.baseName(path) }

        fileprivate var table: FunctionSymbolTable?
        fileprivate var segments: [ElfImage.LoadSegment]
        fileprivate var inode: UInt64?
    }

    /// The executable mappings, sorted by address.
    public let mappings: [MemoryMapping]
    /// The objects those mappings are of.
    public let objects: [Object]
    private let objectOfMapping: [Int?]
    private let fileNames: [String]
    private let tables: [FunctionSymbolTable?]
    /// The symbol and its display name per symbol looked up: demangling costs microseconds.
    private let names = Mutex<[NameKey: (symbol: String, name: String)]>([:])

    private struct NameKey: Hashable {
        var object: Int
        var symbol: Int
    }

    /// Reads this process's maps and the symbols of every executable file in them.
    /// `debugRoot` is where debug files are looked for (`/usr/lib/debug`).
    public static func loadSelf(mapsPath: String = "/proc/self/maps", debugRoot: String = "/usr/lib/debug")
        -> UserSymbols
    {
        let text: String
        switch FileBytes.read(mapsPath) {
        case .success(let bytes): text = String(decoding: bytes, as: UTF8.self)
        case .failure: text = ""
        }
        return UserSymbols(mappings: MemoryMapping.parse(text), debugRoot: debugRoot)
    }

    /// The symbols of the executable mappings among `mappings` (as /proc/PID/maps lists them for this process:
    /// the vDSO is read from this process's memory).
    public init(mappings: [MemoryMapping], debugRoot: String = "/usr/lib/debug") {
        let executable = mappings.filter(\.isExecutable).sorted { $0.addresses.lowerBound < $1.addresses.lowerBound }
        var objects: [Object] = []
        var objectIndex: [String: Int] = [:]
        var objectOfMapping: [Int?] = []
        for mapping in executable {
            if let index = objectIndex[mapping.path] {
                objectOfMapping.append(index)
                continue
            }
            guard let object = Self.loadObject(for: mapping, debugRoot: debugRoot) else {
                objectOfMapping.append(nil)
                continue
            }
            objectIndex[mapping.path] = objects.count
            objectOfMapping.append(objects.count)
            objects.append(object)
        }
        self.mappings = executable
        self.objects = objects
        self.objectOfMapping = objectOfMapping
        fileNames = objects.map(\.fileName)
        tables = objects.map(\.table)
    }

    /// The function holding `address`, or why none can be named.
    public func lookup(_ address: UInt64) -> SymbolizedFrame {
        var low = 0
        var high = mappings.count
        while low < high {
            let middle = (low + high) / 2
            if mappings[middle].addresses.lowerBound <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0, mappings[low - 1].addresses.contains(address) else {
            return unresolved(
                address, name: SymbolizedFrame.unknownName, object: "[unknown]",
                "0x\(String(address, radix: 16)) is in no executable mapping of this process (as /proc/self/maps "
                    + "listed them when the symbols were loaded)")
        }
        let mappingIndex = low - 1
        guard let objectIndex = objectOfMapping[mappingIndex] else {
            let path = mappings[mappingIndex].path
            let what = path.isEmpty ? "anonymous executable memory (generated code)" : path
            return unresolved(
                address, name: SymbolizedFrame.unknownName, object: path.isEmpty ? "[anonymous]" : path,
                "0x\(String(address, radix: 16)) is in \(what), which has no symbol table")
        }
        let fileOffset = address - mappings[mappingIndex].addresses.lowerBound + mappings[mappingIndex].fileOffset
        // Built only for an unresolved address: formatting costs more than the lookup.
        func unresolvedInObject(_ reason: String) -> SymbolizedFrame {
            unresolved(
                address, name: "\(fileNames[objectIndex])+0x\(String(fileOffset, radix: 16))",
                object: objects[objectIndex].path, reason)
        }
        guard let table = tables[objectIndex] else {
            let object = objects[objectIndex]
            return unresolvedInObject(object.limitation ?? "\(object.path) has no function symbols")
        }
        guard
            let segment = objects[objectIndex].segments.first(where: {
                fileOffset >= $0.fileOffset && fileOffset - $0.fileOffset < $0.fileSize
            })
        else {
            return unresolvedInObject(
                "offset 0x\(String(fileOffset, radix: 16)) of \(objects[objectIndex].path) is in no loadable segment")
        }
        let value = fileOffset - segment.fileOffset &+ segment.virtualAddress
        guard let index = table.index(containing: value) else {
            let object = objects[objectIndex]
            var reason = "no function symbol of \(object.path) (\(object.symbolSource ?? "no table")) covers 0x"
                + String(value, radix: 16)
            if let limitation = object.limitation { reason += "; \(limitation)" }
            return unresolvedInObject(reason)
        }
        let key = NameKey(object: objectIndex, symbol: index)
        let (symbol, name) =
            names.withLock { $0[key] }
            ?? {
                let symbol = table.name(at: index)
                let names = (symbol: symbol, name: SymbolDemangler.displayName(symbol))
                self.names.withLock { $0[key] = names }
                return names
            }()
        return SymbolizedFrame(
            address: address, space: .user, symbol: symbol, name: name, offset: value - table.start(at: index),
            object: objects[objectIndex].path, unresolvedReason: nil)
    }

    /// The runtime address range of each function named `symbol` in the object whose path ends with
    /// `pathSuffix`, for tests and cross-checks.
    public func addresses(ofSymbol symbol: String, inObjectEndingWith pathSuffix: String) -> [Range<UInt64>] {
        guard let objectIndex = objects.firstIndex(where: { $0.path.hasSuffix(pathSuffix) }),
            let table = objects[objectIndex].table
        else { return [] }
        var result: [Range<UInt64>] = []
        for range in table.ranges(named: symbol) {
            for (mappingIndex, mapping) in mappings.enumerated() where objectOfMapping[mappingIndex] == objectIndex {
                for segment in objects[objectIndex].segments
                where range.lowerBound >= segment.virtualAddress
                    && range.lowerBound - segment.virtualAddress < segment.fileSize
                {
                    let fileOffset = range.lowerBound - segment.virtualAddress + segment.fileOffset
                    guard fileOffset >= mapping.fileOffset,
                        fileOffset - mapping.fileOffset < UInt64(mapping.addresses.count)
                    else { continue }
                    let start = mapping.addresses.lowerBound + (fileOffset - mapping.fileOffset)
                    result.append(start..<start + UInt64(range.count))
                }
            }
        }
        return result
    }

    private func unresolved(_ address: UInt64, name: String, object: String, _ reason: String) -> SymbolizedFrame {
        SymbolizedFrame(
            address: address, space: .user, symbol: nil, name: name, offset: 0, object: object,
            unresolvedReason: reason)
    }

    static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    // MARK: Loading

    private static func loadObject(for mapping: MemoryMapping, debugRoot: String) -> Object? {
        if mapping.path == "[vdso]" { return loadVDSO(mapping) }
        guard mapping.path.hasPrefix("/") else { return nil }  // anonymous memory, [vsyscall]
        if mapping.path.hasSuffix(" (deleted)") {
            return Object(
                path: mapping.path, symbolSource: nil, functionCount: 0,
                limitation: "\(mapping.path): the file was deleted after it was mapped", table: nil, segments: [],
                inode: nil)
        }
        let file: MappedFile
        switch MappedFile.map(mapping.path) {
        case .success(let mapped): file = mapped
        case .failure(let error):
            return Object(
                path: mapping.path, symbolSource: nil, functionCount: 0, limitation: "\(error)", table: nil,
                segments: [], inode: nil)
        }
        if file.inode != mapping.inode {
            return Object(
                path: mapping.path, symbolSource: nil, functionCount: 0,
                limitation: "\(mapping.path) was replaced after it was mapped (inode \(file.inode), mapped "
                    + "\(mapping.inode)): its symbols would not match the code",
                table: nil, segments: [], inode: file.inode)
        }
        return object(path: mapping.path, image: file.bytes, inode: file.inode, debugRoot: debugRoot)
    }

    private static func loadVDSO(_ mapping: MemoryMapping) -> Object? {
        // The vDSO is an ELF image in this process's memory, mapped whole: its start is the auxiliary vector's
        // AT_SYSINFO_EHDR (getauxval(3)), its extent the [vdso] line of /proc/self/maps. Memory is read only when
        // the mapping is this process's own vDSO.
        guard let start = vdsoStart, start == mapping.addresses.lowerBound,
            let base = UnsafeRawPointer(bitPattern: UInt(start))
        else { return nil }
        let bytes = UnsafeRawBufferPointer(start: base, count: Int(mapping.addresses.count))
        return object(path: mapping.path, image: bytes, inode: nil, debugRoot: nil)
    }

    /// AT_SYSINFO_EHDR (33) from /proc/self/auxv: pairs of native words, ending with AT_NULL.
    private static var vdsoStart: UInt64? {
        guard case .success(let bytes) = FileBytes.read("/proc/self/auxv") else { return nil }
        return bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset + 16 <= raw.count {
                let type = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                if type == 0 { return nil }
                if type == 33 { return raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self) }
                offset += 16
            }
            return nil
        }
    }

    private static func object(path: String, image bytes: UnsafeRawBufferPointer, inode: UInt64?, debugRoot: String?)
        -> Object
    {
        let image: ElfImage
        do {
            image = try ElfImage(bytes)
        } catch {
            return Object(
                path: path, symbolSource: nil, functionCount: 0, limitation: "\(path): \(error)", table: nil,
                segments: [], inode: inode)
        }
        let segments = image.loadSegments
        if image.hasSymtab, let table = image.functionSymbols(from: .symtab) {
            return Object(
                path: path, symbolSource: ".symtab", functionCount: table.count, limitation: nil, table: table,
                segments: segments, inode: inode)
        }
        // No .symtab: the debug file by build-id, as perf's DSO_BINARY_TYPE__BUILDID_DEBUGINFO
        // (tools/perf/util/dso.c: /usr/lib/debug/.build-id/xx/rest.debug).
        var debugPath: String?
        if let debugRoot, let id = image.buildID, id.count >= 2 {
            let hex = id.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
            let candidate = "\(debugRoot)/.build-id/\(hex[0])/\(hex.dropFirst().joined()).debug"
            debugPath = candidate
            if case .success(let debugFile) = MappedFile.map(candidate),
                let debugImage = try? ElfImage(debugFile.bytes), debugImage.buildID == id,
                let table = debugImage.functionSymbols(from: .symtab)
            {
                return Object(
                    path: path, symbolSource: candidate, functionCount: table.count, limitation: nil, table: table,
                    segments: segments, inode: inode)
            }
        }
        let missing =
            "\(baseName(path)) has no .symtab"
            + (debugPath.map { " and no debug file at \($0)" } ?? (debugRoot == nil ? "" : " and no build-id"))
            + ": only its exported functions (.dynsym) can be named; local functions are not. "
            + debugSymbolsHint(for: path)
        guard let table = image.functionSymbols(from: .dynsym) else {
            return Object(
                path: path, symbolSource: nil, functionCount: 0, limitation: missing, table: nil,
                segments: segments, inode: inode)
        }
        return Object(
            path: path, symbolSource: ".dynsym", functionCount: table.count, limitation: missing, table: table,
            segments: segments, inode: inode)
    }

    /// What to install for a file's debug symbols.
    static func debugSymbolsHint(for path: String) -> String {
        let name = baseName(path)
        if name.hasPrefix("libc.so") || name.hasPrefix("libm.so") || name.hasPrefix("ld-linux") {
            return "Install glibc's debug symbols to name them: apt-get install libc6-dbg"
        }
        return "Install the debug symbols of the package that ships it (its -dbg or -dbgsym package)"
    }
}
