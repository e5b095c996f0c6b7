internal import CPerfEvent
import SystemCalls

/// A sampler of the calling thread (perf_event_open with pid 0, disabled; cpu -1, or each CPU of a core PMU the
/// kernel reaches only through a CPU): where the thread is, every so often, with optional call chains, read from an
/// mmap ring inside the process.
///
/// The event is chosen as `perf record` chooses it (``SamplingEventChoice``): `cycles` at the highest
/// `precise_ip` the PMU accepts where a core PMU exists (one group per core PMU on hybrid CPUs), with optional
/// cache-miss events beside it; `cpu-clock`, an hrtimer, otherwise. Every event climbs the counters' fallbacks
/// (``AttrFallback``): where the kernel refuses kernel samples (`perf_event_paranoid` 2 without CAP_PERFMON) it
/// samples user space only and says so in ``mode`` and ``modeReason``; where perf_event_open is refused outright
/// (a seccomp filter, Debian's and Ubuntu's `perf_event_paranoid` above 2) it throws that one reason. A frequency above the kernel's maximum is lowered to it and the event's notes say so.
///
/// Nothing is read while the region runs: ``enable()`` just before it, ``disable()`` just after (one ioctl each
/// on a host with one core PMU), then ``drain()``. The ring is sized for the region's expected samples
/// (``SamplerOptions/expectedSamples``); samples beyond it are lost and counted in
/// ``SampleBatch/lostSamples``.
///
/// Create it on the thread to be sampled: the events follow the thread that opened them.
///
/// ```swift
/// let sampler = try ThreadSampler(options: SamplerOptions(rate: .frequency(hertz: 1000), callchainDepth: 32))
/// try sampler.enable()
/// work()
/// try sampler.disable()
/// let batch = try sampler.drain()
/// print(batch.samples.count, "samples of", batch.events.map(\.perfName), batch.mode)
/// ```
public final class ThreadSampler {
    /// The events sampled, as granted (``Sample/event`` indexes it).
    public var events: [SampledEvent] { core.events }
    /// The events asked for that could not be opened, with their reasons.
    public var refused: [RefusedSamplingEvent] { core.refused }
    /// User and kernel, or user only.
    public var mode: CountingMode { core.mode }
    /// Why samples are user space only (refused at this paranoid level, or asked); nil when they are not.
    public var modeReason: String? { core.modeReason }
    /// The ring as mapped (or the rings, one per CPU: ``SampleRingDescription/ringCount``).
    public var ring: SampleRingDescription { core.ringDescription }
    /// The clock of the samples' times.
    public var clock: SampleClock { core.clock }
    /// The kernel thread id sampled (a `pid_t`, as `gettid()` returns it).
    public let threadID: Int32

    private let core: SamplingEvents<KernelPerfEvents>

    /// Opens the sampling events for the calling thread, disabled, and maps their ring.
    ///
    /// - Throws: ``CounterError/nothingAvailable(_:)`` when no event can be opened;
    ///   ``CounterError/systemCall(_:)`` when even a one-page ring cannot be mapped.
    public init(options: SamplerOptions = SamplerOptions()) throws(CounterError) {
        threadID = CPerfEvent_gettid()
        core = try SamplingEvents(options: options, system: KernelPerfEvents())
    }

    /// Enables the sampling events (one ioctl per group). Call on the thread that created the sampler.
    public func enable() throws(CounterError) {
        try core.enable()
    }

    /// Disables the sampling events (one ioctl per group).
    public func disable() throws(CounterError) {
        try core.disable()
    }

    /// Reads every record in the ring, and each event's count and lost samples since the last drain. Call it
    /// after ``disable()``: draining while enabled works, but costs the sampled thread the time it takes.
    public func drain() throws(CounterError) -> SampleBatch {
        try core.drain()
    }
}

/// What a ``SampledRegion`` measured: the counters, rusage and wall time of the region, and its samples.
public struct SampledMeasurement: Sendable {
    /// Counters (if any were asked for), rusage and wall time of the region.
    public var region: RegionMeasurement
    /// The region's samples.
    public var samples: SampleBatch

    /// A measurement given by hand; ``SampledRegion/end()`` makes one from a region.
    public init(region: RegionMeasurement, samples: SampleBatch) {
        self.region = region
        self.samples = samples
    }
}

/// Counters, rusage and samples of the calling thread around a region: ``begin()`` just before it, ``end()``
/// just after.
///
/// The sampler is innermost: enabled after the counters start and disabled before they stop, so that the samples
/// are of the region alone, and drained after everything was read, so that the drain is in nothing measured.
/// Around the region there is one ioctl for the sampler on each side (one per core PMU on hybrid hosts), beside
/// the counters' own calls.
///
/// A class of its own rather than a sampler inside ``CountedRegion``: a ``RegionMeasurement`` stays what it is
/// (counters, rusage, wall time), and a caller that does not sample opens no sampler and pays nothing for one.
public final class SampledRegion {
    /// The counters and rusage of the region.
    public let counted: CountedRegion
    /// The sampler.
    public let sampler: ThreadSampler

    /// Opens `events` (none: rusage and time only) and a sampler for the calling thread.
    public init(
        events: [PerfEvent] = [], counterOptions: CounterOptions = CounterOptions(),
        samplerOptions: SamplerOptions = SamplerOptions()
    ) throws(CounterError) {
        counted = try CountedRegion(events: events, options: counterOptions)
        sampler = try ThreadSampler(options: samplerOptions)
    }

    /// Starts the counters, then enables the sampler. When the sampler cannot be enabled the counters are stopped
    /// again before the error is thrown.
    public func begin() throws(CounterError) {
        try counted.begin()
        do {
            try sampler.enable()
        } catch {
            _ = try? counted.end()
            throw error
        }
    }

    /// Disables the sampler, reads the counters, then drains the samples. The counters are read even when the
    /// sampler cannot be disabled; that error is thrown after.
    public func end() throws(CounterError) -> SampledMeasurement {
        var disableError: CounterError?
        do { try sampler.disable() } catch { disableError = error }
        let region = try counted.end()
        if let disableError { throw disableError }
        return SampledMeasurement(region: region, samples: try sampler.drain())
    }
}
