import Foundation
import Testing

@testable import PerfSymbols

/// A C-named function of this test binary: its address comes from a function pointer, and `dladdr` cross-checks it.
@_cdecl("perfSymbolsTestProbe")
@inline(never)
public func perfSymbolsTestProbe(_ x: Int) -> Int { x &* 3 &+ 1 }

/// A Swift method whose own return address comes from glibc's `backtrace`: resolving it names the method as its
/// mangled symbol demangles.
enum BacktraceProbe {
    private typealias Backtrace = @convention(c) (UnsafeMutablePointer<UnsafeMutableRawPointer?>?, Int32) -> Int32

    @inline(never)
    static func returnAddresses() -> [UInt64] {
        let process = dlopen(nil, RTLD_NOW)
        guard let symbol = dlsym(process, "backtrace") else { return [] }
        let backtrace = unsafeBitCast(symbol, to: Backtrace.self)
        var frames = [UnsafeMutableRawPointer?](repeating: nil, count: 8)
        let count = Int(backtrace(&frames, Int32(frames.count)))
        return frames.prefix(count).map { UInt64(UInt(bitPattern: $0)) }
    }
}

/// glibc's `Dl_info` (dlfcn.h), filled by `dladdr`, which Swift does not import without _GNU_SOURCE.
private struct DlInfo {
    var fileName: UnsafePointer<CChar>? = nil
    var fileBase: UnsafeMutableRawPointer? = nil
    var symbolName: UnsafePointer<CChar>? = nil
    var symbolAddress: UnsafeMutableRawPointer? = nil
}

/// `dladdr(address, &info)`, found with dlsym.
private func dladdr(_ address: UInt64) -> DlInfo? {
    typealias Dladdr = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?) -> Int32
    guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "dladdr") else { return nil }
    var info = DlInfo()
    let found = withUnsafeMutableBytes(of: &info) { raw in
        unsafeBitCast(symbol, to: Dladdr.self)(UnsafeRawPointer(bitPattern: UInt(address)), raw.baseAddress)
    }
    return found == 0 ? nil : info
}

private func address(ofC name: String) -> UInt64? {
    guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, name) else { return nil }
    return UInt64(UInt(bitPattern: symbol))
}

private let selfSymbols = UserSymbols.loadSelf()

@Suite struct UserSymbolsTests {
    @Test func ownCFunctionResolvesAndAgreesWithDladdr() throws {
        let pointer: @convention(c) (Int) -> Int = perfSymbolsTestProbe
        let start = UInt64(UInt(bitPattern: unsafeBitCast(pointer, to: UnsafeRawPointer.self)))
        #expect(pointer(2) == 7)
        for offset: UInt64 in [0, 1] {
            let frame = selfSymbols.lookup(start + offset)
            #expect(frame.symbol == "perfSymbolsTestProbe" && frame.name == "perfSymbolsTestProbe", "\(frame)")
            #expect(frame.offset == offset && frame.space == .user)
        }
        // dladdr(3) agrees on the file (and on the symbol where the dynamic symbol table has it).
        let info = try #require(dladdr(start), "dladdr found no object for the function")
        let file = try #require(info.fileName.map { String(cString: $0) })
        let frame = selfSymbols.lookup(start)
        #expect(URL(fileURLWithPath: file).resolvingSymlinksInPath().path
            == URL(fileURLWithPath: frame.object).resolvingSymlinksInPath().path)
        if let name = info.symbolName.map({ String(cString: $0) }) {
            #expect(name == "perfSymbolsTestProbe" && UInt64(UInt(bitPattern: info.symbolAddress)) == start)
        }
    }

    @Test func ownSwiftMethodResolvesToItsDemangledName() throws {
        let addresses = BacktraceProbe.returnAddresses()
        let returnAddress = try #require(addresses.first, "glibc's backtrace returned no frame")
        // A return address: look up the call before it, as the symbolizer does for callers.
        let frame = selfSymbols.lookup(returnAddress - 1)
        let symbol = try #require(frame.symbol, "\(frame)")
        #expect(SymbolDemangler.isSwiftMangled(symbol), "\(symbol)")
        #expect(frame.name == "static PerfSymbolsTests.BacktraceProbe.returnAddresses()", "\(frame.name)")
        let caller = selfSymbols.lookup(try #require(addresses.dropFirst().first) - 1)
        #expect(caller.name.contains("ownSwiftMethodResolvesToItsDemangledName"), "\(caller.name)")
    }

    @Test func anAddressJustPastAFunctionIsNeverNamedAfterIt() throws {
        let range = try #require(
            selfSymbols.addresses(ofSymbol: "perfSymbolsTestProbe", inObjectEndingWith: "PerfCountersPackageTests.xctest")
                .first)
        let pointer: @convention(c) (Int) -> Int = perfSymbolsTestProbe
        #expect(range.lowerBound == UInt64(UInt(bitPattern: unsafeBitCast(pointer, to: UnsafeRawPointer.self))))
        let past = selfSymbols.lookup(range.upperBound)
        #expect(past.symbol != "perfSymbolsTestProbe", "\(past)")
        if past.symbol == nil {
            #expect(past.name.hasPrefix("PerfCountersPackageTests.xctest+0x") && past.unresolvedReason != nil)
        }
        #expect(selfSymbols.lookup(range.upperBound - 1).symbol == "perfSymbolsTestProbe")
    }

    @Test func libcMemcpyIsNamedFromItsDebugFile() throws {
        let libc = try #require(selfSymbols.objects.first { UserSymbols.baseName($0.path).hasPrefix("libc.so") })
        guard let source = libc.symbolSource, source.hasSuffix(".debug") else {
            try Test.cancel("glibc's debug symbols are not installed (apt-get install libc6-dbg): \(libc.limitation ?? "")")
        }
        #expect(source.hasPrefix("/usr/lib/debug/.build-id/"))
        // dlsym returns the implementation the IFUNC resolver chose for this CPU: a function's start.
        for name in ["memcpy", "memmove"] {
            let start = try #require(address(ofC: name))
            let frame = selfSymbols.lookup(start)
            #expect(frame.name.contains("memmove") || frame.name.contains("memcpy"), "\(name): \(frame)")
            #expect(frame.offset == 0 && frame.object == libc.path, "\(name): \(frame)")
        }
    }

    @Test func withoutItsDebugFileLibcsLocalFunctionsAreNotNamed() throws {
        let mappings = MemoryMapping.parse(try String(contentsOfFile: "/proc/self/maps", encoding: .utf8))
        let symbols = UserSymbols(mappings: mappings, debugRoot: "/nonexistent")
        let libc = try #require(symbols.objects.first { UserSymbols.baseName($0.path).hasPrefix("libc.so") })
        guard libc.symbolSource == ".dynsym" else {
            try Test.cancel("this libc has a .symtab of its own (\(libc.symbolSource ?? "none"))")
        }
        #expect(libc.limitation?.contains("apt-get install libc6-dbg") == true, "\(libc.limitation ?? "")")
        // The copy routine memcpy resolves to is a local function: inside libc's mapping, outside every .dynsym
        // symbol, so it is libc.so.6+0x… with the reason, not the exported function before it.
        let start = try #require(address(ofC: "memcpy"))
        let frame = symbols.lookup(start + 4)
        #expect(frame.symbol == nil, "\(frame)")
        #expect(frame.name.hasPrefix("libc.so.6+0x"), "\(frame.name)")
        let reason = try #require(frame.unresolvedReason)
        #expect(reason.contains(".dynsym") && reason.contains("libc6-dbg"), "\(reason)")
        // An exported function still resolves from .dynsym.
        let send = symbols.lookup(try #require(address(ofC: "send")))
        #expect(send.name == "send" || send.name == "__send", "\(send)")
    }

    @Test func vdsoFunctionsResolveFromTheImageInMemory() throws {
        let vdso = try #require(selfSymbols.objects.first { $0.path == "[vdso]" }, "no [vdso] mapping")
        #expect(vdso.functionCount > 0)
        let range = try #require(
            selfSymbols.addresses(ofSymbol: "__vdso_clock_gettime", inObjectEndingWith: "[vdso]").first)
        #expect(selfSymbols.lookup(range.lowerBound + 2).symbol == "__vdso_clock_gettime")
    }

    @Test func addressesOutsideEveryMappingAreUnknown() throws {
        let frame = selfSymbols.lookup(0x10)
        #expect(frame.symbol == nil && frame.name == "[unknown]")
        #expect(frame.unresolvedReason?.contains("no executable mapping") == true)
    }

    @Test func returnAddressesAreLookedUpInsideTheirCall() throws {
        let pointer: @convention(c) (Int) -> Int = perfSymbolsTestProbe
        let start = UInt64(UInt(bitPattern: unsafeBitCast(pointer, to: UnsafeRawPointer.self)))
        let range = try #require(
            selfSymbols.addresses(ofSymbol: "perfSymbolsTestProbe", inObjectEndingWith: "PerfCountersPackageTests.xctest")
                .first)
        let symbolizer = Symbolizer(kernel: KernelSymbols(kallsymsText: "", hiddenReason: ""), user: selfSymbols)
        // The leaf is exact; a caller's return address at the very end of a function (a call as its last
        // instruction) still belongs to that function.
        let frames = symbolizer.frames(kernel: [], user: [start, range.upperBound])
        #expect(frames.map(\.symbol) == ["perfSymbolsTestProbe", "perfSymbolsTestProbe"])
        #expect(frames.map(\.address) == [start, range.upperBound])
        #expect(frames[1].offset == UInt64(range.count))
        let kernelFirst = symbolizer.frames(kernel: [0xffff_ffff_8100_0000], user: [start])
        #expect(kernelFirst.map(\.space) == [.kernel, .user] && kernelFirst[0].name == "[kernel, unresolved]")
    }

    @Test func nestedAndOverlappingSymbolsNameTheInnermostAndGapsNothing() {
        // A[0x100,0x200) holds B[0x110,0x120) and C[0x150,0x160); D[0x1f0,0x230) overlaps A's end; E starts with A
        // but is smaller; nothing covers [0x230,0x300); F[0x300,0x310).
        let symbols: [(UInt64, UInt64, String)] = [
            (0x100, 0x200, "A"), (0x100, 0x108, "E"), (0x110, 0x120, "B"), (0x150, 0x160, "C"), (0x1f0, 0x230, "D"),
            (0x300, 0x310, "F"),
        ]
        var builder = FunctionSymbolTable.Builder()
        for (start, end, name) in symbols.shuffled() {
            Array(name.utf8).withUnsafeBytes { builder.add(start: start, end: end, name: $0, binding: .global) }
        }
        let table = builder.build()
        let expected: [(UInt64, String?)] = [
            (0xff, nil), (0x100, "E"), (0x107, "E"), (0x108, "A"), (0x110, "B"), (0x11f, "B"), (0x120, "A"),
            (0x155, "C"), (0x160, "A"), (0x1ef, "A"), (0x1f0, "D"), (0x22f, "D"), (0x230, nil), (0x2ff, nil),
            (0x300, "F"), (0x30f, "F"), (0x310, nil),
        ]
        for (value, name) in expected {
            #expect(table.index(containing: value).map(table.name(at:)) == name, "0x\(String(value, radix: 16))")
        }
    }

    @Test func mapsLinesParse() {
        let text = """
            55d0c0a00000-55d0c0a8e000 r--p 00000000 fd:01 1311 /opt/my app/bin/copyprof
            55d0c0a8e000-55d0c1000000 r-xp 0008e000 fd:01 1311 /opt/my app/bin/copyprof
            7f3c10000000-7f3c10021000 rw-p 00000000 00:00 0
            7f3c12000000-7f3c12001000 r-xp 00000000 00:00 0 
            7f3c14026000-7f3c1417b000 r-xp 00026000 fd:01 2222                       /usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)
            7ffd5b7f1000-7ffd5b7f3000 r-xp 00000000 00:00 0                          [vdso]
            not a mapping line
            """
        let mappings = MemoryMapping.parse(text)
        #expect(mappings.count == 6)
        #expect(mappings[1].path == "/opt/my app/bin/copyprof" && mappings[1].fileOffset == 0x8e000)
        #expect(mappings[1].addresses == 0x55d0_c0a8_e000..<0x55d0_c100_0000 && mappings[1].inode == 1311)
        #expect(mappings.map(\.isExecutable) == [false, true, false, true, true, true])
        #expect(mappings[2].path.isEmpty && mappings[5].path == "[vdso]")
        #expect(mappings[4].path == "/usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)")
        // A foreign [vdso] line is never read from this process's memory; anonymous and deleted code is unnamed.
        let symbols = UserSymbols(mappings: mappings, debugRoot: "/nonexistent")
        #expect(symbols.lookup(0x7f3c_1200_0010).unresolvedReason?.contains("anonymous executable memory") == true)
        #expect(symbols.lookup(0x7f3c_1402_6010).unresolvedReason?.contains("deleted") == true)
        #expect(symbols.lookup(0x55d0_c0a8_e010).unresolvedReason?.contains("/opt/my app/bin/copyprof") == true)
    }

    @Test func truncatedOrForeignFilesAreErrorsNotCrashes() throws {
        let libc = try #require(selfSymbols.objects.first { UserSymbols.baseName($0.path).hasPrefix("libc.so") })
        let bytes = try Data(contentsOf: URL(fileURLWithPath: libc.path))
        bytes.prefix(4096).withUnsafeBytes { raw in
            _ = #expect(throws: ElfImage.FormatError.self) { try ElfImage(raw) }
        }
        let text = Array("#!/bin/sh\necho not an ELF file at all, just text\n".utf8)
        text.withUnsafeBytes { raw in
            _ = #expect { try ElfImage(raw) } throws: { "\($0)" == "not an ELF file" }
        }
        // Every header in place but the tables cut off: no symbols, and no read past the end.
        try bytes.withUnsafeBytes { whole in
            let image = try ElfImage(whole)
            #expect(image.functionSymbols(from: .dynsym) != nil)
        }
    }
}

@Suite struct DemanglerTests {
    @Test func swiftNamesDemangleAndSimplify() throws {
        try #require(SymbolDemangler.canDemangleSwift, "swift_demangle not found in this process")
        let cases: [(String, String)] = [
            (
                "$s10Transports13TwoCopySenderV11sendMessage8sequences6ResultOyytAA14TransportErrorVGs6UInt64V_tF",
                "Transports.TwoCopySender.sendMessage(sequence:)"
            ),
            ("$s10Transports13MarshalSenderV5statsAA0C5StatsVvg", "Transports.MarshalSender.stats.getter"),
            (
                "$s10Transports13MessageSenderPAARi_zrlE4send8sequenceys6UInt64V_tAA14TransportErrorVYKF",
                "Transports.MessageSender.send(sequence:)"
            ),
            ("$s10Transports8FieldSetV8pageSizeSivgZ", "static Transports.FieldSet.pageSize.getter"),
        ]
        for (symbol, expected) in cases {
            #expect(SymbolDemangler.displayName(symbol) == expected, "\(symbol)")
        }
        #expect(SymbolDemangler.demangle("_copy_from_iter") == nil)
        #expect(SymbolDemangler.displayName("memcpy@GLIBC_2.2.5") == "memcpy")
        #expect(SymbolDemangler.displayName("_ZNSt6vectorIiSaIiEE9push_backERKi").hasPrefix("std::vector<int"))
    }

    @Test func simplificationOfDemangledForms() {
        let cases: [(String, String)] = [
            (
                "closure #1 (Swift.UnsafeRawBufferPointer) -> Swift.Int? in Transports.MessageLayout.firstMismatch(inPiece: Swift.UnsafeRawPointer, count: Swift.Int) -> Swift.Int?",
                "closure #1 in Transports.MessageLayout.firstMismatch(inPiece:count:)"
            ),
            (
                "closure #1 (Swift.UInt8) -> Swift.Bool in closure #1 (Swift.UnsafeRawBufferPointer) -> Swift.String in static Transports.KernelSupport.kernelRelease() -> Swift.String",
                "closure #1 in closure #1 in static Transports.KernelSupport.kernelRelease()"
            ),
            (
                "Transports.MessageLayout.(firstDifferingByte in _5974098233904D73C8F8773BEBE17389)(_: Swift.UnsafeRawPointer, at: Swift.Int) -> Swift.Int",
                "Transports.MessageLayout.firstDifferingByte(_:at:)"
            ),
            (
                "generic specialization <Swift.UInt8> of Swift.Array._copyToContiguousArray() -> Swift.ContiguousArray<A>",
                "specialized Swift.Array._copyToContiguousArray()"
            ),
            (
                "static Transports.KernelSupport.kernelVersion() -> (Swift.Int, Swift.Int)?",
                "static Transports.KernelSupport.kernelVersion()"
            ),
            (
                "Transports.TCPSocket.peerAddress() throws(Transports.TransportError) -> Transports.SocketAddress",
                "Transports.TCPSocket.peerAddress()"
            ),
            ("type metadata accessor for Transports.MarshalSender", "type metadata accessor for Transports.MarshalSender"),
            ("Transports.f((Swift.Int, Swift.Int) -> ()) -> ()", "Transports.f(_:)"),
            ("unbalanced (Swift.Int", "unbalanced (Swift.Int"),
        ]
        for (demangled, expected) in cases {
            #expect(SymbolDemangler.simplify(demangled) == expected, "\(demangled)")
        }
    }
}
