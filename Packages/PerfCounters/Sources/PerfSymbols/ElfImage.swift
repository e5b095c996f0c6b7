/// A 64-bit little-endian ELF file read in place: its loadable segments, its build-id and its function symbols.
///
/// Only what symbolization needs (System V gABI, "Object Files"; elf(5)): the ELF header, the program headers
/// (PT_LOAD turns a file offset into the address symbols are given in; PT_NOTE holds the build-id), the section
/// headers (SHT_SYMTAB, SHT_DYNSYM and the string tables they link to). Every offset is checked against the file's
/// size: a truncated or hostile file is an error, never a read outside it.
struct ElfImage {
    let bytes: UnsafeRawBufferPointer

    /// Why a file could not be read as ELF.
    struct FormatError: Error, CustomStringConvertible {
        var description: String
    }

    /// A PT_LOAD segment: file bytes `[fileOffset, fileOffset + fileSize)` are at `virtualAddress` in the image.
    struct LoadSegment: Sendable, Hashable {
        var fileOffset: UInt64
        var virtualAddress: UInt64
        var fileSize: UInt64
    }

    /// Which table the symbols came from.
    enum TableKind: String, Sendable {
        case symtab = ".symtab"
        case dynsym = ".dynsym"
    }

    private let sectionHeaderOffset: Int
    private let sectionCount: Int
    private let programHeaderOffset: Int
    private let programHeaderCount: Int

    init(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
        self.bytes = bytes
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == UInt8(ascii: "E"), bytes[2] == UInt8(ascii: "L"),
            bytes[3] == UInt8(ascii: "F")
        else { throw FormatError(description: "not an ELF file") }
        guard bytes[4] == 2, bytes[5] == 1 else {
            throw FormatError(description: "not a 64-bit little-endian ELF file (class \(bytes[4]), data \(bytes[5]))")
        }
        let phoff = Self.load(UInt64.self, bytes, 32)
        let shoff = Self.load(UInt64.self, bytes, 40)
        let phentsize = Int(Self.load(UInt16.self, bytes, 54))
        let phnum = Int(Self.load(UInt16.self, bytes, 56))
        let shentsize = Int(Self.load(UInt16.self, bytes, 58))
        let shnum = Int(Self.load(UInt16.self, bytes, 60))
        if phnum > 0 {
            guard phentsize == 56, Self.fits(phoff, UInt64(phnum) * 56, bytes.count) else {
                throw FormatError(description: "program headers outside the file")
            }
        }
        if shnum > 0 {
            guard shentsize == 64, Self.fits(shoff, UInt64(shnum) * 64, bytes.count) else {
                throw FormatError(description: "section headers outside the file")
            }
        }
        programHeaderOffset = Int(phoff)
        programHeaderCount = phnum
        sectionHeaderOffset = Int(shoff)
        sectionCount = shnum
    }

    /// The PT_LOAD segments.
    var loadSegments: [LoadSegment] {
        (0..<programHeaderCount).compactMap { index in
            let header = programHeaderOffset + index * 56
            guard Self.load(UInt32.self, bytes, header) == 1 else { return nil }  // PT_LOAD
            return LoadSegment(
                fileOffset: Self.load(UInt64.self, bytes, header + 8),
                virtualAddress: Self.load(UInt64.self, bytes, header + 16),
                fileSize: Self.load(UInt64.self, bytes, header + 32))
        }
    }

    /// The GNU build-id (NT_GNU_BUILD_ID in a PT_NOTE segment, else in a SHT_NOTE section), or nil.
    var buildID: [UInt8]? {
        for index in 0..<programHeaderCount {
            let header = programHeaderOffset + index * 56
            guard Self.load(UInt32.self, bytes, header) == 4 else { continue }  // PT_NOTE
            if let id = buildID(
                inNotesAt: Self.load(UInt64.self, bytes, header + 8), size: Self.load(UInt64.self, bytes, header + 32))
            {
                return id
            }
        }
        for section in sections where section.type == 7 {  // SHT_NOTE
            if let id = buildID(inNotesAt: section.offset, size: section.size) { return id }
        }
        return nil
    }

    /// Whether the file has a SHT_SYMTAB with any function in it.
    var hasSymtab: Bool { sections.contains { $0.type == 2 && $0.size > 0 } }

    /// The function symbols of the wanted table, or nil when the file has none.
    func functionSymbols(from kind: TableKind) -> FunctionSymbolTable? {
        let type: UInt32 = kind == .symtab ? 2 : 11  // SHT_SYMTAB, SHT_DYNSYM
        let all = sections
        guard let table = all.first(where: { $0.type == type && $0.entrySize == 24 }),
            Int(table.link) < all.count, Self.fits(table.offset, table.size, bytes.count)
        else { return nil }
        let strings = all[Int(table.link)]
        guard strings.type == 3, Self.fits(strings.offset, strings.size, bytes.count) else { return nil }  // SHT_STRTAB
        var builder = FunctionSymbolTable.Builder()
        let count = Int(table.size / 24)
        for index in 0..<count {
            let entry = Int(table.offset) + index * 24
            let nameOffset = UInt64(Self.load(UInt32.self, bytes, entry))
            let info = bytes[entry + 4]
            let sectionIndex = Self.load(UInt16.self, bytes, entry + 6)
            let value = Self.load(UInt64.self, bytes, entry + 8)
            let size = Self.load(UInt64.self, bytes, entry + 16)
            let symbolType = info & 0xf
            // STT_FUNC or STT_GNU_IFUNC, defined (not SHN_UNDEF), with a size: an address is only ever named by a
            // symbol whose [value, value + size) holds it.
            guard symbolType == 2 || symbolType == 10, sectionIndex != 0, size > 0, nameOffset > 0,
                nameOffset < strings.size, value <= UInt64.max - size
            else { continue }
            let nameStart = Int(strings.offset + nameOffset)
            let limit = Int(strings.offset + strings.size)
            var nameEnd = nameStart
            while nameEnd < limit && bytes[nameEnd] != 0 { nameEnd += 1 }
            guard nameEnd > nameStart else { continue }
            let binding: SymbolBinding
            switch info >> 4 {
            case 1: binding = .global
            case 2: binding = .weak
            default: binding = .local
            }
            builder.add(
                start: value, end: value + size, name: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd]),
                binding: binding)
        }
        return builder.build()
    }

    private struct Section {
        var type: UInt32
        var offset: UInt64
        var size: UInt64
        var link: UInt32
        var entrySize: UInt64
    }

    private var sections: [Section] {
        (0..<sectionCount).map { index in
            let header = sectionHeaderOffset + index * 64
            let type = Self.load(UInt32.self, bytes, header + 4)
            // SHT_NOBITS (8) has no bytes in the file: a debug file's .text, a stripped file's tables.
            return Section(
                type: type, offset: Self.load(UInt64.self, bytes, header + 24),
                size: type == 8 ? 0 : Self.load(UInt64.self, bytes, header + 32),
                link: Self.load(UInt32.self, bytes, header + 40), entrySize: Self.load(UInt64.self, bytes, header + 56))
        }
    }

    /// Walks the notes in `[offset, offset + size)` for NT_GNU_BUILD_ID (type 3, owner "GNU").
    private func buildID(inNotesAt offset: UInt64, size: UInt64) -> [UInt8]? {
        guard Self.fits(offset, size, bytes.count) else { return nil }
        var position = Int(offset)
        let end = Int(offset + size)
        func aligned(_ value: Int) -> Int { (value + 3) & ~3 }
        while position + 12 <= end {
            let nameSize = Int(Self.load(UInt32.self, bytes, position))
            let descriptorSize = Int(Self.load(UInt32.self, bytes, position + 4))
            let type = Self.load(UInt32.self, bytes, position + 8)
            let nameStart = position + 12
            let descriptorStart = nameStart + aligned(nameSize)
            let next = descriptorStart + aligned(descriptorSize)
            guard nameSize <= end, descriptorSize <= end, next <= end else { return nil }
            if type == 3, nameSize == 4, bytes[nameStart..<nameStart + 4].elementsEqual("GNU\0".utf8),
                descriptorSize > 0
            {
                return Array(bytes[descriptorStart..<descriptorStart + descriptorSize])
            }
            position = next
        }
        return nil
    }

    private static func load<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, _ offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    private static func fits(_ offset: UInt64, _ size: UInt64, _ count: Int) -> Bool {
        offset <= UInt64(count) && size <= UInt64(count) - offset
    }
}

/// One object's function symbols, each with its size: an address is named only by a symbol whose
/// `[start, start + size)` holds it (the innermost where ranges nest), never by the nearest symbol before it.
///
/// Lookups search disjoint segments, each naming the innermost symbol over it: built once by a sweep over the
/// symbols sorted by start, so that a lookup is one binary search however symbols nest or overlap. A class, so that
/// passing a table around retains one object rather than each of its arrays; immutable, hence Sendable.
final class FunctionSymbolTable: Sendable {
    private let starts: [UInt64]
    private let ends: [UInt64]
    private let nameOffsets: [UInt32]
    private let nameLengths: [UInt32]
    private let namePool: [UInt8]
    /// Disjoint, sorted: `[segmentStarts[i], segmentEnds[i])` is covered innermost by symbol `segmentSymbols[i]`.
    private let segmentStarts: [UInt64]
    private let segmentEnds: [UInt64]
    private let segmentSymbols: [Int32]

    init(
        starts: [UInt64], ends: [UInt64], nameOffsets: [UInt32], nameLengths: [UInt32], namePool: [UInt8],
        segmentStarts: [UInt64], segmentEnds: [UInt64], segmentSymbols: [Int32]
    ) {
        self.starts = starts
        self.ends = ends
        self.nameOffsets = nameOffsets
        self.nameLengths = nameLengths
        self.namePool = namePool
        self.segmentStarts = segmentStarts
        self.segmentEnds = segmentEnds
        self.segmentSymbols = segmentSymbols
    }

    var count: Int { starts.count }

    /// Bytes the table's arrays hold.
    var retainedBytes: Int { starts.count * (8 + 8 + 4 + 4) + namePool.count + segmentStarts.count * (8 + 8 + 4) }

    /// The index of the symbol holding `value`, or nil.
    func index(containing value: UInt64) -> Int? {
        var low = 0
        var high = segmentStarts.count
        while low < high {
            let middle = (low + high) / 2
            if segmentStarts[middle] <= value { low = middle + 1 } else { high = middle }
        }
        guard low > 0, value < segmentEnds[low - 1] else { return nil }
        return Int(segmentSymbols[low - 1])
    }

    func start(at index: Int) -> UInt64 { starts[index] }

    func name(at index: Int) -> String {
        let start = Int(nameOffsets[index])
        return String(decoding: namePool[start..<start + Int(nameLengths[index])], as: UTF8.self)
    }

    /// Every symbol named `name` as `(start, end)`.
    func ranges(named name: String) -> [Range<UInt64>] {
        let wanted = Array(name.utf8)
        return starts.indices.filter { index in
            Int(nameLengths[index]) == wanted.count
                && namePool[Int(nameOffsets[index])..<Int(nameOffsets[index]) + wanted.count].elementsEqual(wanted)
        }.map { starts[$0]..<ends[$0] }
    }

    /// The segments of symbols sorted by start (the larger range first at one start): a stack holds the symbols
    /// open at the sweep's position, innermost on top; a symbol that ends inside its parent gives the rest of the
    /// parent back to the parent.
    static func segments(starts: [UInt64], ends: [UInt64]) -> (starts: [UInt64], ends: [UInt64], symbols: [Int32]) {
        var segmentStarts: [UInt64] = []
        var segmentEnds: [UInt64] = []
        var segmentSymbols: [Int32] = []
        segmentStarts.reserveCapacity(starts.count)
        segmentEnds.reserveCapacity(starts.count)
        segmentSymbols.reserveCapacity(starts.count)
        var open: [Int] = []
        var position: UInt64 = 0
        func emit(until end: UInt64, _ symbol: Int) {
            if end > position {
                segmentStarts.append(position)
                segmentEnds.append(end)
                segmentSymbols.append(Int32(symbol))
                position = end
            }
        }
        func close(upTo limit: UInt64) {
            // Close every open symbol that ends at or before `limit`, innermost first.
            while let top = open.last {
                if ends[top] <= position {
                    open.removeLast()  // ended inside a symbol opened after it
                } else if ends[top] <= limit {
                    emit(until: ends[top], top)
                    open.removeLast()
                } else {
                    break
                }
            }
        }
        for index in starts.indices {
            close(upTo: starts[index])
            if let top = open.last { emit(until: starts[index], top) }
            open.append(index)
            position = max(position, starts[index])
        }
        close(upTo: UInt64.max)
        return (segmentStarts, segmentEnds, segmentSymbols)
    }

    struct Builder {
        private struct Entry {
            var start: UInt64
            var end: UInt64
            var nameOffset: UInt32
            var nameLength: UInt32
            var binding: SymbolBinding
        }

        private var entries: [Entry] = []
        private var pool: [UInt8] = []

        mutating func add(start: UInt64, end: UInt64, name: UnsafeRawBufferPointer, binding: SymbolBinding) {
            guard pool.count + name.count < Int(UInt32.max) else { return }
            entries.append(
                Entry(
                    start: start, end: end, nameOffset: UInt32(pool.count), nameLength: UInt32(name.count),
                    binding: binding))
            pool.append(contentsOf: name)
        }

        /// Sorted by start (the larger range first at one start, as the segment sweep needs); symbols
        /// with one range reduced to one name as perf's `choose_best_symbol`: non-weak over weak, global over
        /// local, fewer leading underscores, the longer name (`__memmove_avx_unaligned_erms` over its
        /// `__memcpy_…` alias).
        func build() -> FunctionSymbolTable {
            let pool = self.pool
            func name(_ entry: Entry) -> ArraySlice<UInt8> {
                pool[Int(entry.nameOffset)..<Int(entry.nameOffset + entry.nameLength)]
            }
            func better(_ a: Entry, _ b: Entry) -> Bool {
                SymbolChoice.prefers(name(a), a.binding, over: name(b), b.binding)
                    ?? name(a).lexicographicallyPrecedes(name(b))
            }
            let sorted = entries.sorted { a, b in
                if a.start != b.start { return a.start < b.start }
                if a.end != b.end { return a.end > b.end }
                return better(a, b)
            }
            var kept: [Entry] = []
            kept.reserveCapacity(sorted.count)
            for entry in sorted {
                if let last = kept.last, last.start == entry.start, last.end == entry.end { continue }
                kept.append(entry)
            }
            let starts = kept.map(\.start)
            let ends = kept.map(\.end)
            let segments = FunctionSymbolTable.segments(starts: starts, ends: ends)
            return FunctionSymbolTable(
                starts: starts, ends: ends, nameOffsets: kept.map(\.nameOffset), nameLengths: kept.map(\.nameLength),
                namePool: pool, segmentStarts: segments.starts, segmentEnds: segments.ends,
                segmentSymbols: segments.symbols)
        }
    }
}
