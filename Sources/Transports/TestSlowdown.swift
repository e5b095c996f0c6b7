#if canImport(Glibc)
import Glibc
#endif

/// A sender that does what `Base` does plus `copies` extra copies of a message-sized buffer per message: a transport
/// deliberately made slower, for testing that a comparison finds a real change (`copyprof run
/// --test-slow-transport`). Chosen when a run is set up (``FaultInjection/extraCopies``), so the senders' own loops
/// are untouched: a run without it never sees this type.
struct ExtraCopySender<Base: MessageSender & ~Copyable>: MessageSender, ~Copyable {
    private var base: Base
    private let copies: Int
    private let count: Int
    private let source: UnsafeMutableRawPointer
    private let destination: UnsafeMutableRawPointer

    init(_ base: consuming Base, copies: Int, layout: MessageLayout) {
        self.base = base
        self.copies = copies
        count = layout.messageSize
        source = .allocate(byteCount: count, alignment: 64)
        destination = .allocate(byteCount: count, alignment: 64)
        MessageLayout.fillPattern(source, count: count, messageOffset: 0)
        memset(destination, 0, count)
    }

    deinit {
        source.deallocate()
        destination.deallocate()
    }

    @inline(__always)
    mutating func sendMessage(sequence: UInt64) -> Result<Void, TransportError> {
        for _ in 0..<copies { opaqueCopy(destination, source, count) }
        return base.sendMessage(sequence: sequence)
    }

    mutating func finishSending() -> Result<Void, TransportError> { base.finishSending() }

    var stats: SenderStats { base.stats }
}

/// One `memcpy` the optimizer cannot see into from the caller, so that repeated copies to the same buffer are not
/// folded into one (dead-store elimination would keep only the last).
@inline(never)
func opaqueCopy(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) {
    memcpy(destination, source, count)
}
