/// Where a sampled moment of a thread's time went: the one category each sample is charged to. The raw values are
/// the ids every output uses (profile, CSV, report), so they never change.
public enum AttributionCategory: String, Sendable, Codable, CodingKeyRepresentable, CaseIterable, Hashable {
    /// The kernel copying a message from user memory into socket buffers (`send()`'s copy: `_copy_from_iter`).
    case copyFromUser = "copy-from-user"
    /// The kernel copying received bytes out to user memory (`recv()`'s copy: `_copy_to_iter`, `skb_copy_datagram_iter`).
    case copyToUser = "copy-to-user"
    /// A copy in user space by the C library's `memcpy`/`memmove` family (marshal's assembly copy).
    case userMemcpy = "user-memcpy"
    /// Zero-copy's set-up: pinning user pages and attaching them to socket buffers (`skb_zerocopy_iter_stream`, GUP).
    case zerocopyPinning = "zerocopy-pinning"
    /// Zero-copy's completions: notifications built, queued and read from the error queue (`ip_recv_error`).
    case zerocopyCompletion = "zerocopy-completion"
    /// The kernel copying "zero-copy" pages after all, where they cannot stay pinned (loopback, veth: `skb_copy_ubufs`).
    case deferredCopy = "deferred-copy"
    /// The TCP/IP stack's own work: segmentation, transmit, loopback delivery, receive processing, ACKs.
    case tcpIP = "tcp-ip"
    /// Entering and leaving the kernel, and the socket layer between the system call and TCP.
    case syscall = "syscall"
    /// Blocking, waking and switching threads (`schedule`, `try_to_wake_up`, `sock_def_readable`).
    case scheduler = "scheduler"
    /// Page faults, page and slab allocation and freeing, socket memory accounting.
    case memory = "memory"
    /// A point where interrupts are re-enabled, whose caller the call graph could not place (timer-sampling skew).
    case irqEnableSite = "irq-enable-site"
    /// copyprof's own code: the transports' loops in user space.
    case userLoop = "user-loop"
    /// Anything the attribution table does not know.
    case other = "other"
}

extension AttributionCategory {
    /// True for the categories whose work happens in the kernel: with user-only sampling (perf_event_paranoid 2 for
    /// an unprivileged user) they cannot be seen, so their share is "not permitted", never 0%.
    public var isKernel: Bool {
        switch self {
        case .userMemcpy, .userLoop, .other: false
        default: true
        }
    }
}
