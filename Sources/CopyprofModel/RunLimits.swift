/// The one set of limits every layer checks a run against: the command line, a sweep plan, a transport run, the
/// server's set-up of a cell and the reader of a profile.
///
/// Keeping them in one place means a value the command line accepts is one the server accepts, and a profile that
/// passes the reader describes a run copyprof could have made. The module depends on nothing.
public enum RunLimits {
    /// Bytes per message: 8 fields of 8-byte multiples, so a multiple of 64; at most 16 MiB, so that the buffers of a
    /// run (connections × 2 × size, times the zero-copy pool) stay far below a machine's memory.
    public static let messageSize: ClosedRange<Int> = 64...(16 << 20)
    /// Messages are 8 fields of whole 8-byte words.
    public static let messageSizeMultiple = 64
    /// Connections of one run; each has a sender and a receiver thread.
    public static let connections: ClosedRange<Int> = 1...256
    /// Seconds of one trial's timed loop.
    public static let duration: ClosedRange<Double> = 0.001...3600
    /// Seconds a socket operation may make no progress before a run fails.
    public static let ioTimeout: ClosedRange<Double> = 0.1...600
    /// Field sets a zero-copy sender rotates through.
    public static let zeroCopyPoolSize: ClosedRange<Int> = 1...4096
    /// Recorded trials per cell.
    public static let trials: ClosedRange<Int> = 1...100_000
    /// Unrecorded warm-up trials per cell.
    public static let warmup: ClosedRange<Int> = 0...1000
    /// Samples per second of a thread's CPU time a sweep may ask for (`--sample-frequency`): the kernel lowers
    /// anything above perf_event_max_sample_rate (100000 by default) and throttles well below it.
    public static let sampleFrequency: ClosedRange<Int> = 1...100_000
    /// Frames of a sample's call chain a sweep keeps (kernel and user together; 0: the sampled address only).
    public static let callchainDepth: ClosedRange<Int> = 0...64
    /// Field sets a zero-copy sender rotates through unless told otherwise (the transports' default).
    public static let defaultZeroCopyPoolSize = 64
    /// Bytes of memory the buffers of one run may take (senders, receivers and zero-copy pools).
    public static let runMemory = 4 << 30

    /// Why `size` is not a message size copyprof can run, or nil when it is.
    public static func messageSizeProblem(_ size: Int) -> String? {
        if !messageSize.contains(size) || size % messageSizeMultiple != 0 {
            return "\(size) B is not a multiple of \(messageSizeMultiple) from \(messageSize.lowerBound) B to "
                + "\(formatBytes(messageSize.upperBound)) (a message is 8 fields of whole 8-byte words)"
        }
        return nil
    }

    /// Bytes the buffers of a run take: each connection's sender and receiver buffers, and the zero-copy pool.
    ///
    /// A receiver holds 2 messages (its buffer and the pattern it verifies against); a copying sender at most 2
    /// (marshal's fields and staging buffer), a zero-copy sender its pool. So `zeroCopyPoolSize` is the pool for a
    /// zero-copy sender, 2 for another sender, 0 for receivers only (a stream server).
    public static func runMemoryBytes(messageSize: Int, connections: Int, zeroCopyPoolSize: Int) -> Int {
        let (perConnection, o1) = messageSize.multipliedReportingOverflow(by: 2 + zeroCopyPoolSize)
        let (total, o2) = perConnection.multipliedReportingOverflow(by: connections)
        return o1 || o2 ? Int.max : total
    }
}
