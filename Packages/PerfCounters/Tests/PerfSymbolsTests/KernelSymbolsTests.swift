import Foundation
import Testing

@testable import PerfSymbols

/// kallsyms as the kernel prints it (kernel/kallsyms.c `s_show`: "%px %c %s\t[%s]"), with the cases that decide
/// what an address is: aliases at one address, a weak and a strong symbol, a compiler-suffixed local, a section
/// boundary, data between functions, the end of text, and modules with and without a known extent.
private let kallsymsText = """
    ffffffff81000000 T _stext
    ffffffff81000000 T srso_alias_untrain_ret
    ffffffff81000000 T _text
    ffffffff81000100 t __pfx_helper.isra.0
    ffffffff81000110 t helper.isra.0
    ffffffff81000200 T _copy_from_iter
    ffffffff81000300 W weak_hook
    ffffffff81000300 T strong_hook
    ffffffff81000380 T __ia32_sys_sched_yield
    ffffffff81000380 T __x64_sys_sched_yield
    ffffffff81000400 T __irqentry_text_end
    ffffffff81000480 T after_boundary
    ffffffff81000500 D some_data
    ffffffff81000600 T _etext
    ffffffff82000000 D __start_rodata
    ffffffffc0a00000 t tls_init\t[tls]
    ffffffffc0a00100 t tls_push\t[tls]
    ffffffffc0b00000 t bpf_prog_6deef7357e7b4530_sd_fw_egress\t[bpf]

    """

private let modulesText = "tls 4096 0 - Live 0xffffffffc0a00000\n"

@Suite struct KernelSymbolsTests {
    private let symbols = KernelSymbols(kallsymsText: kallsymsText, modulesText: modulesText, hiddenReason: "unused")

    private func resolved(_ address: UInt64) -> (String?, UInt64, String) {
        let frame = symbols.lookup(address)
        return (frame.symbol, frame.offset, frame.object)
    }

    @Test func capturedTextResolvesExactly() {
        #expect(symbols.status == .resolvable)
        // perf's choose_best_symbol: fewest leading underscores among the globals at one address.
        #expect(resolved(0xffff_ffff_8100_0000) == ("srso_alias_untrain_ret", 0, "kernel"))
        #expect(resolved(0xffff_ffff_8100_00ff) == ("srso_alias_untrain_ret", 0xff, "kernel"))
        #expect(resolved(0xffff_ffff_8100_0108) == ("__pfx_helper.isra.0", 8, "kernel"))
        #expect(resolved(0xffff_ffff_8100_0110) == ("helper.isra.0", 0, "kernel"))
        #expect(resolved(0xffff_ffff_8100_0205) == ("_copy_from_iter", 5, "kernel"))
        // A strong symbol over a weak one at the same address.
        #expect(resolved(0xffff_ffff_8100_0350) == ("strong_hook", 0x50, "kernel"))
        // A system call's x86-64 entry over its ia32 alias.
        #expect(resolved(0xffff_ffff_8100_0384) == ("__x64_sys_sched_yield", 4, "kernel"))
        // Data symbols do not end a function; _etext does.
        #expect(resolved(0xffff_ffff_8100_05ff) == ("after_boundary", 0x17f, "kernel"))
        #expect(resolved(0xffff_ffff_c0a0_0150) == ("tls_push", 0x50, "tls"))
        #expect(resolved(0xffff_ffff_c0a0_0000) == ("tls_init", 0, "tls"))
        #expect(symbols.count == 12)  // the boundaries are kept, as ends
        #expect(symbols.addresses(of: "_copy_from_iter") == [0xffff_ffff_8100_0200])
        // Aliases lose the lookup but keep their name and address.
        #expect(symbols.addresses(of: "_text") == [0xffff_ffff_8100_0000])
        #expect(symbols.addresses(of: "weak_hook") == [0xffff_ffff_8100_0300])
        let names = symbols.functions.map(\.name)
        #expect(Set(names).isSuperset(of: ["_stext", "_text", "srso_alias_untrain_ret", "weak_hook", "tls_push"]))
        #expect(!names.contains("_etext") && !names.contains("some_data") && names.count == 14)
    }

    @Test func addressesOutsideTheTextAreNotGuessed() throws {
        let cases: [(UInt64, String)] = [
            (0xffff_ffff_8100_0410, "past __irqentry_text_end"),  // a section boundary is not a function
            (0xffff_ffff_8100_0600, "past _etext"),
            (0xffff_ffff_8100_0700, "past _etext"),
            (0xffff_ffff_80ff_ffff, "below the kernel's first text symbol"),
            (0x0000_7fff_1234_0000, "not a kernel address"),
            (0xffff_ffff_c0a0_1000, "past the end of module tls"),  // /proc/modules: tls is 4096 bytes
            (0xffff_ffff_c0b0_0010, "the last symbol of module bpf"),  // no extent known for [bpf]
        ]
        for (address, reason) in cases {
            let frame = symbols.lookup(address)
            #expect(frame.symbol == nil, "0x\(String(address, radix: 16)) was named \(frame.symbol ?? "")")
            #expect(frame.name == "[kernel, unresolved]")
            let text = try #require(frame.unresolvedReason)
            #expect(text.contains(reason), "0x\(String(address, radix: 16)): \(text)")
        }
        // Without /proc/modules the last symbol of a module has no end either.
        let withoutModules = KernelSymbols(kallsymsText: kallsymsText, hiddenReason: "unused")
        #expect(withoutModules.lookup(0xffff_ffff_c0a0_0150).symbol == nil)
        #expect(withoutModules.lookup(0xffff_ffff_c0a0_0050).symbol == "tls_init")
    }

    @Test func zeroedAddressesLeaveEveryFrameUnresolvedWithTheReason() throws {
        let zeroed = kallsymsText.split(separator: "\n").map { line in
            "0000000000000000" + line.dropFirst(16)
        }.joined(separator: "\n")
        let reason = KernelSymbols.hiddenAddressesReason(kptrRestrict: 0, paranoid: 2, isRoot: false)
        let symbols = KernelSymbols(kallsymsText: zeroed, hiddenReason: reason)
        #expect(symbols.status == .hidden(reason: reason))
        for address: UInt64 in [0, 0xffff_ffff_8100_0205, 0xffff_ffff_c0a0_0150] {
            let frame = symbols.lookup(address)
            #expect(frame.symbol == nil && frame.name == "[kernel, unresolved]" && frame.unresolvedReason == reason)
        }
        #expect(reason.contains("kernel.perf_event_paranoid = 2") && reason.contains("run as root"))
        #expect(reason.contains("sysctl kernel.perf_event_paranoid=1"))
        let restricted = KernelSymbols.hiddenAddressesReason(kptrRestrict: 1, paranoid: 2, isRoot: false)
        #expect(restricted.contains("CAP_SYSLOG") && restricted.contains("run as root"))
        let closed = KernelSymbols.hiddenAddressesReason(kptrRestrict: 2, paranoid: -1, isRoot: true)
        #expect(closed.contains("even from root") && closed.contains("sysctl kernel.kptr_restrict=1"))
    }

    @Test func unreadableOrEmptyKallsymsSaysSo() throws {
        let missing = KernelSymbols.load(kallsymsPath: "/nonexistent/kallsyms")
        guard case .unreadable(let reason) = missing.status else {
            Issue.record("status \(missing.status)")
            return
        }
        #expect(reason.contains("/nonexistent/kallsyms") && reason.contains("ENOENT"))
        #expect(missing.lookup(0xffff_ffff_8100_0000).unresolvedReason == reason)
        let empty = KernelSymbols(kallsymsText: "garbage\n\nffffffff81000000 D only_data\n", hiddenReason: "unused")
        #expect(empty.status == .unreadable(reason: "kernel symbols unavailable: /proc/kallsyms lists no function"))
    }

    @Test(.enabled(if: geteuid() == 0, "reading real kernel addresses from /proc/kallsyms needs root here"))
    func realKallsymsResolvesCopyFromIter() throws {
        let symbols = KernelSymbols.load()
        try #require(symbols.status == .resolvable, "\(symbols.status)")
        let start = try #require(symbols.addresses(of: "_copy_from_iter").first)
        for offset: UInt64 in [0, 1, 16] {
            let frame = symbols.lookup(start + offset)
            #expect(frame.symbol == "_copy_from_iter" && frame.offset == offset && frame.object == "kernel")
        }
        #expect(symbols.count > 10_000)
    }

    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "needs root and setpriv to read /proc/kallsyms as an unprivileged user"))
    func realKallsymsReadByAnUnprivilegedUserIsHidden() throws {
        // What uid 65534 sees of the real file; unless this host shows addresses to everyone (kptr_restrict 0 and
        // perf_event_paranoid ≤ 1), every address is 0 and nothing may be named.
        let paranoid = Int(try String(contentsOfFile: "/proc/sys/kernel/perf_event_paranoid", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 2
        let kptr = Int(try String(contentsOfFile: "/proc/sys/kernel/kptr_restrict", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        if kptr == 0 && paranoid <= 1 { try Test.cancel("this host shows kernel addresses to every user") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "cat", "/proc/kallsyms"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let bytes = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let reason = KernelSymbols.hiddenAddressesReason(kptrRestrict: kptr, paranoid: paranoid, isRoot: false)
        let symbols = KernelSymbols(kallsyms: Array(bytes), hiddenReason: reason)
        #expect(symbols.status == .hidden(reason: reason))
        let frame = symbols.lookup(0xffff_ffff_8100_0000)
        #expect(frame.symbol == nil && frame.unresolvedReason == reason)
    }
}
