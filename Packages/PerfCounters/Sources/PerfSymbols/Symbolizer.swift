/// Kernel and user symbols together: turns a sample's frames (addresses, leaf first) into named frames.
public struct Symbolizer: Sendable {
    public let kernel: KernelSymbols
    public let user: UserSymbols

    public init(kernel: KernelSymbols, user: UserSymbols) {
        self.kernel = kernel
        self.user = user
    }

    /// Loads /proc/kallsyms and this process's user symbols.
    public static func loadForThisProcess() -> Symbolizer {
        Symbolizer(kernel: .load(), user: .loadSelf())
    }

    /// One sample's frames, leaf first: its kernel frames, then its user frames (as a callchain lists them once its
    /// `PERF_CONTEXT_*` markers are taken out).
    ///
    /// Every frame but the first is a return address, the instruction after a call: it is looked up one byte
    /// earlier, inside the call, so that a call that ends a function is not charged to the function after it (as
    /// unwinders do). The frame keeps the address as sampled.
    public func frames(kernel kernelAddresses: [UInt64], user userAddresses: [UInt64]) -> [SymbolizedFrame] {
        var frames: [SymbolizedFrame] = []
        frames.reserveCapacity(kernelAddresses.count + userAddresses.count)
        for address in kernelAddresses {
            frames.append(frame(address, in: .kernel, isLeaf: frames.isEmpty))
        }
        for address in userAddresses {
            frames.append(frame(address, in: .user, isLeaf: frames.isEmpty))
        }
        return frames
    }

    /// One frame of a call chain, as ``frames(kernel:user:)`` names it: the leaf (`isLeaf`) at its address, a caller's
    /// return address one byte earlier. For callers that cache names per address.
    public func frame(_ address: UInt64, in space: SymbolizedFrame.Space, isLeaf: Bool) -> SymbolizedFrame {
        let probe = isLeaf || address == 0 ? address : address - 1
        var frame = space == .kernel ? kernel.lookup(probe) : user.lookup(probe)
        if frame.isResolved { frame.offset += address - probe }
        frame.address = address
        return frame
    }
}
