import CopyprofModel
import Foundation
import PerfSymbols
import Testing

@testable import CopyprofAttribution

extension AttributionEntry: CustomTestStringConvertible {
    public var testDescription: String { "\(match.example) → \(category.rawValue) (\(role.rawValue))" }
}

/// The table is data: every entry is checked on its own, and as root against the running kernel's symbols.
@Suite struct AttributionTableTests {
    let attributor = Attributor()

    @Test(arguments: AttributionTable.entries)
    func everyEntryChargesASampleWhoseOnlyKnownFrameItIs(_ entry: AttributionEntry) throws {
        let name = entry.match.example
        let unknownLeaf = "a_function_no_table_knows"
        let unknownRoot = "another_function_no_table_knows"
        let frames = [unknownLeaf, name, unknownRoot]
        let attribution =
            entry.presence.isKernel
            ? attributor.attribute(kernelFrames: frames, userFrames: ["main"])
            : attributor.attribute(kernelFrames: [], userFrames: frames)
        #expect(attribution.category == entry.category)
        #expect(attribution.decidingFrame == name)
        #expect(attribution.rule == (entry.role == .transparent ? .transparentOnly : .owner))
        #expect(attribution.leaf == unknownLeaf)
        if entry.role == .enclosing {
            // An owner of another category under it is its callee; one that ran in an interrupt on top of it is not.
            let callee = try #require(AttributionTable.entries.first {
                $0.role == .owner && $0.presence.isKernel && $0.category != entry.category
            })
            let enclosed = attributor.attribute(
                kernelFrames: [unknownLeaf, callee.match.example, unknownLeaf, name, unknownRoot], userFrames: ["main"])
            #expect(enclosed == Attribution(category: entry.category, rule: .enclosing, decidingFrame: name, leaf: unknownLeaf))
            let interrupted = attributor.attribute(
                kernelFrames: [callee.match.example, "handle_softirqs", "asm_sysvec_apic_timer_interrupt", name],
                userFrames: [])
            #expect(interrupted.category == callee.category && interrupted.decidingFrame == callee.match.example)
        }
        if entry.presence.isKernel {
            // The compiler's clone of the function is the function.
            let clone = attributor.attribute(kernelFrames: [name + ".isra.0"], userFrames: [])
            #expect(clone.category == entry.category && clone.decidingFrame == name + ".isra.0")
            // A kernel name in user space is another function.
            #expect(attributor.userEntry(name) == nil || attributor.userEntry(name)?.presence.isKernel == false)
        }
    }

    @Test func entriesAreConsistent() throws {
        var kernelNames: Set<String> = []
        var userNames: Set<String> = []
        for entry in AttributionTable.entries {
            switch (entry.match, entry.presence) {
            case (.exact(let name), .kernel(let first, let last)):
                #expect(kernelNames.insert(name).inserted, "\(name) is listed twice")
                #expect(first <= AttributionTable.newestChecked, "\(name) first seen after the newest release checked")
                if let last {
                    #expect(first <= last && last < AttributionTable.newestChecked, "\(name): \(first)…\(last)")
                }
                #expect(FunctionName.withoutCompilerSuffix(name) == name, "\(name) carries a compiler suffix")
            case (.exact(let name), .kernelInline):
                #expect(kernelNames.insert(name).inserted, "\(name) is listed twice")
            case (.exact(let name), .userSpace):
                #expect(userNames.insert(name).inserted, "\(name) is listed twice")
            case (.prefix, .userSpace), (.module, .userSpace):
                break
            default:
                Issue.record("a kernel entry must name one function: \(entry.testDescription)")
            }
            // Transparent entries are the kernel's helpers and interrupt-enable sites; their fallback is either
            // the interrupt-enable category or `other` (a helper alone does not say which copy it served).
            if entry.role == .transparent {
                #expect(entry.presence.isKernel && [.irqEnableSite, .other].contains(entry.category))
            }
            if entry.category == .irqEnableSite { #expect(entry.role == .transparent) }
            // Enclosing entries are kernel functions that do a category's work through callees of other categories.
            if entry.role == .enclosing {
                #expect(entry.presence.isKernel && ![.irqEnableSite, .other].contains(entry.category))
            }
        }
        // Every category but `other` can be the answer; `other` is only ever the fallback.
        let reachable = Set(AttributionTable.entries.map(\.category))
        for category in AttributionCategory.allCases where category != .other {
            #expect(reachable.contains(category), "no entry charges \(category.rawValue)")
        }
        #expect(!AttributionTable.entries.contains { $0.category == .other && $0.role == .owner })
    }

    @Test func categoryIdsAreTheOnesEveryOutputUses() {
        #expect(AttributionCategory.allCases.map(\.rawValue) == [
            "copy-from-user", "copy-to-user", "user-memcpy", "zerocopy-pinning", "zerocopy-completion",
            "deferred-copy", "tcp-ip", "syscall", "scheduler", "memory", "irq-enable-site", "user-loop", "other",
        ])
    }

    @Test func kernelVersionsParseFromReleases() {
        #expect(KernelVersion(release: "6.18.44-fc-v1300") == KernelVersion(6, 18))
        #expect(KernelVersion(release: "5.15.0-25-generic") == "5.15")
        #expect(KernelVersion(release: "6.4") == KernelVersion(6, 4))
        #expect(KernelVersion(release: "linux") == nil && KernelVersion(release: "6") == nil)
        #expect(KernelVersion(6, 4) < "6.18" && KernelVersion(5, 19) < "6.1")
        let renamed = FramePresence.kernel(firstSeen: "4.4", lastSeen: "6.3")
        #expect(renamed.isExpected(in: "6.1") && !renamed.isExpected(in: "6.4") && !renamed.isExpected(in: "4.3"))
        let current = FramePresence.kernel(firstSeen: "6.4", lastSeen: nil)
        #expect(current.isExpected(in: "6.18") && current.isExpected(in: "7.2") && !current.isExpected(in: "6.2"))
        #expect(!FramePresence.kernelInline.isExpected(in: "6.18"))
    }

    @Test func compilerSuffixesAndSymbolVersionsAreIgnored() {
        #expect(FunctionName.withoutCompilerSuffix("finish_task_switch.isra.0") == "finish_task_switch")
        #expect(FunctionName.withoutCompilerSuffix("__netif_receive_skb_core.constprop.0") == "__netif_receive_skb_core")
        #expect(FunctionName.withoutCompilerSuffix("tcp_ack.part.0.cold") == "tcp_ack")
        #expect(FunctionName.withoutCompilerSuffix("foo.llvm.123456") == "foo")
        #expect(FunctionName.withoutCompilerSuffix("Transports.TwoCopySender.run()") == "Transports.TwoCopySender.run()")
        #expect(FunctionName.withoutCompilerSuffix("a.b") == "a.b")
        #expect(FunctionName.withoutCompilerSuffix(".isra") == ".isra")
        #expect(FunctionName.withoutSymbolVersion("memcpy@GLIBC_2.2.5") == "memcpy")
        #expect(FunctionName.withoutSymbolVersion("memcpy@@GLIBC_2.14") == "memcpy")
        // glibc's internal aliases, which a debug file lists beside the public names (the sweep named the receivers'
        // system-call wrapper __GI___recv, perf named it __recv).
        #expect(FunctionName.withoutInternalAlias("__GI___recv") == "__recv")
        #expect(FunctionName.withoutInternalAlias("__GI_") == "__GI_")
        #expect(Attributor().userEntry("__GI___recv")?.category == .syscall)
        #expect(Attributor().userEntry("__GI_memcpy")?.category == .userMemcpy)
    }

    /// As root on a kernel whose /proc/kallsyms shows addresses: every entry the table expects on this kernel's
    /// version is one of its functions. A rename in a new kernel fails here, not silently in `other`.
    @Test func everyEntryExpectedOnThisKernelIsInItsKallsyms() throws {
        let release = try String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let version = try #require(KernelVersion(release: release), "cannot read a version from \(release)")
        let symbols = KernelSymbols.load()
        switch symbols.status {
        case .resolvable: break
        case .hidden(let reason), .unreadable(let reason): try Test.cancel("\(reason)")
        }
        var addresses: [String: [UInt64]] = [:]
        for function in symbols.functions {
            addresses[FunctionName.withoutCompilerSuffix(function.name), default: []].append(function.address)
        }
        let names = Set(addresses.keys)
        let expected = AttributionTable.entries.filter { $0.presence.isExpected(in: version) }
        let missing = expected.map(\.match.example).filter { !names.contains($0) }
        #expect(missing.isEmpty, "expected on \(version) but not in /proc/kallsyms: \(missing)")
        #expect(expected.count > 200, "only \(expected.count) entries expected on \(version)")
        // Where a name has aliases, lookups report one of them: that one must be charged the same way.
        var inconsistent: [String] = []
        for entry in expected {
            for address in addresses[entry.match.example, default: []] {
                let reported = symbols.lookup(address).symbol ?? "unresolved"
                let found = attributor.kernelEntry(reported)
                if found?.category != entry.category || found?.role != entry.role {
                    inconsistent.append("\(entry.match.example) is reported as \(reported)")
                }
            }
        }
        #expect(inconsistent.isEmpty, "\(inconsistent)")
    }
}
