import CopyprofModel

/// A kernel release as `major.minor` (`6.18` of `6.18.44-fc-v1300`): what the table's version ranges are in.
public struct KernelVersion: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var major: Int
    public var minor: Int

    public init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// The version at the start of a release string (`uname -r`: `6.18.44-fc-v1300`, `5.15.0-25-generic`), or
    /// nil when it does not start with `major.minor`.
    public init?(release: String) {
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard parts.count == 2, release.first?.isNumber == true else { return nil }
        self.init(parts[0], parts[1])
    }

    /// For the table's literals (`"6.4"`); a malformed literal is a defect of the table, caught by its tests.
    public init(stringLiteral value: String) {
        guard let version = KernelVersion(release: value) else { preconditionFailure("not a kernel version: \(value)") }
        self = version
    }

    public static func < (a: KernelVersion, b: KernelVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }

    public var description: String { "\(major).\(minor)" }
}

/// How a table entry names the frames it applies to.
public enum FrameMatch: Sendable, Hashable {
    /// One function name (a kernel name without its compiler suffix: `finish_task_switch` matches
    /// `finish_task_switch.isra.0`).
    case exact(String)
    /// Every name that starts with the prefix (glibc's `__memmove_avx_unaligned_erms` and its dozen kin);
    /// `example` is one real name, for the tests.
    case prefix(String, example: String)
    /// Every demangled Swift name of a module: `module.` at the start or after a space or bracket
    /// (`Transports.TwoCopySender.sendMessage(sequence:)`, `closure #1 in Transports.…`).
    case module(String, example: String)

    /// A name this entry matches.
    public var example: String {
        switch self {
        case .exact(let name): name
        case .prefix(_, let example), .module(_, let example): example
        }
    }
}

/// Where a table entry's function lives, and in which kernels it has been seen.
public enum FramePresence: Sendable, Hashable {
    /// A kernel function seen as a symbol from `firstSeen` through `lastSeen` (nil: still in the newest release
    /// checked, ``AttributionTable/newestChecked``). The releases checked are Ubuntu's 4.4, 4.8, 4.10, 4.13, 4.15,
    /// 4.18, 5.0, 5.3, 5.4, 5.8, 5.11, 5.13, 5.15, 5.19, 6.2, 6.5 and 6.8 builds (the DepSurf dataset,
    /// depsurf.github.io, from their DWARF and symbol tables) and 6.18 (this project's VM, /proc/kallsyms): so
    /// `firstSeen` 4.4 means "at least since 4.4", and a name first seen in 6.18 may be older than that but newer
    /// than 6.8. Assembly functions are absent from DepSurf before 5.19; their versions come from the commits that
    /// added or removed them (the entry's note says which).
    case kernel(firstSeen: KernelVersion, lastSeen: KernelVersion?)
    /// A `static inline` function of a kernel header: a frame only where a compiler emits it out of line.
    case kernelInline
    /// A user-space function of `library` (glibc, copyprof): kernel versions do not apply.
    case userSpace(library: String)

    /// Whether frames of this entry are kernel frames.
    public var isKernel: Bool {
        if case .userSpace = self { return false }
        return true
    }

    /// Whether the function is expected as a symbol of kernel `version`: inside the seen range (a range still
    /// open at the newest release checked stays open).
    public func isExpected(in version: KernelVersion) -> Bool {
        guard case .kernel(let first, let last) = self else { return false }
        return version >= first && (last.map { version <= $0 } ?? true)
    }
}

/// Whether a frame the table knows decides the sample's category or passes it on to its caller.
public enum FrameRole: String, Sendable, Hashable {
    /// The frame's category is the sample's (the first owner from the leaf wins).
    case owner
    /// A helper charged to what called it: a copy routine (`rep_movs_alternative`, `__pi_memcpy`) or a point where
    /// interrupts are re-enabled (`_raw_spin_unlock_irqrestore`, `handle_softirqs`, `finish_task_switch`). Its own
    /// category applies only when no owner is found in the call graph.
    case transparent
    /// A function whose callees' work is its own: its category takes a sample even when an owner of another
    /// category lies under it, unless an interrupt-enable site lies between them (an interrupt or softirq that ran
    /// on top of it, whose work is not its own). The error-queue read of MSG_ZEROCOPY notifications (`ip_recv_error`)
    /// copies each to user memory through `skb_copy_datagram_iter` and frees its skb through `consume_skb`: owners
    /// of `copy-to-user` and `memory` everywhere else, the completion's work here.
    case enclosing
}

/// One row of the attribution table: a function, its category, its role, where and since when it exists.
public struct AttributionEntry: Sendable, Hashable {
    public var match: FrameMatch
    public var category: AttributionCategory
    public var role: FrameRole
    public var presence: FramePresence
    /// Why the entry is as it is, where that is not obvious (a rename, an assembly function's history).
    public var note: String?

    public init(
        match: FrameMatch, category: AttributionCategory, role: FrameRole, presence: FramePresence, note: String? = nil
    ) {
        self.match = match
        self.category = category
        self.role = role
        self.presence = presence
        self.note = note
    }

    /// A kernel function that decides the category.
    static func owner(
        kernel name: String, _ category: AttributionCategory, _ firstSeen: KernelVersion,
        _ lastSeen: KernelVersion? = nil, note: String? = nil
    ) -> AttributionEntry {
        kernel(name, category, .owner, firstSeen, lastSeen, note)
    }

    /// A kernel function whose callees' work is its own (``FrameRole/enclosing``).
    static func enclosing(
        kernel name: String, _ category: AttributionCategory, _ firstSeen: KernelVersion,
        _ lastSeen: KernelVersion? = nil, note: String? = nil
    ) -> AttributionEntry {
        kernel(name, category, .enclosing, firstSeen, lastSeen, note)
    }

    /// A kernel helper charged to its caller; `category` when nothing owning is found.
    static func transparent(
        kernel name: String, _ category: AttributionCategory, _ firstSeen: KernelVersion,
        _ lastSeen: KernelVersion? = nil, note: String? = nil
    ) -> AttributionEntry {
        kernel(name, category, .transparent, firstSeen, lastSeen, note)
    }

    private static func kernel(
        _ name: String, _ category: AttributionCategory, _ role: FrameRole, _ firstSeen: KernelVersion,
        _ lastSeen: KernelVersion?, _ note: String?
    ) -> AttributionEntry {
        AttributionEntry(
            match: .exact(name), category: category, role: role,
            presence: .kernel(firstSeen: firstSeen, lastSeen: lastSeen), note: note)
    }

    /// A kernel header's inline function that decides the category where it is emitted out of line.
    static func owner(inlineKernel name: String, _ category: AttributionCategory) -> AttributionEntry {
        AttributionEntry(match: .exact(name), category: category, role: .owner, presence: .kernelInline)
    }

    /// A user-space function that decides the category.
    static func owner(user match: FrameMatch, _ category: AttributionCategory, library: String) -> AttributionEntry {
        AttributionEntry(match: match, category: category, role: .owner, presence: .userSpace(library: library))
    }
}
