internal import CPerfEvent

/// A calibration workload run alone, without counters, so that another tool can count it:
/// `perf stat -e instructions:u copyprof counters --workload instruction-loop`, or valgrind's cachegrind.
public enum CalibrationWorkload: String, Sendable, CaseIterable {
    /// The 2-instruction loop, ``CalibrationSizes/instructionLoop`` turns.
    case instructionLoop = "instruction-loop"
    /// The pointer chase larger than L1d and inside L2.
    case l1dWalk = "l1d-walk"
    /// The pointer chase over 4 × the LLC.
    case llcWalk = "llc-walk"
    /// Branches on random bits.
    case branchLoop = "branch-loop"

    /// Runs the workload on the calling thread and returns what it did and what its count should be.
    public func run(sizes: CalibrationSizes = .standard, caches: CacheSizes = .current()) -> String {
        switch self {
        case .instructionLoop:
            let n = sizes.instructionLoop
            _ = CPerfEvent_instruction_loop(n)
            return "\(grouped(n)) turns of the 2-instruction loop: \(grouped(2 * n)) instructions in the loop"
        case .l1dWalk, .llcWalk:
            let l1 = caches.l1d ?? 32 << 10
            let bytes = self == .l1dWalk ? min(4 * l1, (caches.l2 ?? 8 * l1) / 2) : 4 * (caches.llc ?? 8 << 20)
            let steps = self == .l1dWalk ? sizes.l1Loads : bytes / 64
            guard let chase = Workloads.PointerChase(bytes: bytes, hugePages: self == .llcWalk) else {
                return "could not map \(bytesText(bytes))"
            }
            if self == .l1dWalk { _ = chase.walk(steps: chase.lines * 2) }
            let end = chase.walk(steps: steps)
            withExtendedLifetime(end) {}
            return "\(grouped(steps)) dependent loads over \(bytesText(bytes))"
                + (self == .l1dWalk ? " after \(grouped(chase.lines * 2)) warming loads" : "")
        case .branchLoop:
            let bytes = Workloads.randomBytes(sizes.branches)
            let taken = bytes.withUnsafeBufferPointer { CPerfEvent_branch_loop($0.baseAddress, UInt64($0.count)) }
            return "\(grouped(sizes.branches)) branches on random bits, \(grouped(taken)) taken"
        }
    }
}
