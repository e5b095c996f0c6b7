import CopyprofModel

// Schema 3: where each worker thread's time went, from samples taken in the counted trials, attributed to the
// categories of AttributionCategory. Profiles of schema 1 and 2 have none of this: their attribution is n/a.

/// How the sweep sampled its worker threads: one record per profile, nil when it did not sample (`--sample off`, or
/// a profile written before sampling).
public struct SamplingRecord: Codable, Sendable, Hashable {
    /// The event sampled, as perf names it: `cpu-clock` (an hrtimer, no PMU needed), `cycles:ppp`, `cycles:u`.
    public var event: String
    /// True when samples come from a timer interrupt, which can only fire with interrupts enabled: time spent with
    /// them off is charged to where they are re-enabled (the `irq-enable-site` category). NMI-based `cycles`
    /// sampling does not have this skew.
    public var timerBased: Bool
    /// What the samples cover: user and kernel, or user space only (kernel categories are then not permitted).
    public var mode: CountingMode
    /// Why the mode is what it is (the fallback's reason), when it is not user and kernel.
    public var modeReason: String?
    /// Samples per second asked for (`--sample-frequency`).
    public var frequency: Int
    /// Samples per second the kernel granted (lowered to perf_event_max_sample_rate), when it differs.
    public var grantedFrequency: Int?
    /// The deepest call chain recorded per sample; 0 when samples carry their leaf only.
    public var callchainDepth: Int
    /// Why kernel addresses could not be named (kptr_restrict, an unprivileged reader), with the fix; nil when they
    /// were.
    public var kernelSymbolsUnresolved: String?
    /// Anything else the sampler or the symbolizer said once for the whole sweep.
    public var notes: [String]?

    public init(
        event: String, timerBased: Bool, mode: CountingMode, modeReason: String? = nil, frequency: Int,
        grantedFrequency: Int? = nil, callchainDepth: Int, kernelSymbolsUnresolved: String? = nil, notes: [String]? = nil
    ) {
        self.event = event
        self.timerBased = timerBased
        self.mode = mode
        self.modeReason = modeReason
        self.frequency = frequency
        self.grantedFrequency = grantedFrequency
        self.callchainDepth = callchainDepth
        self.kernelSymbolsUnresolved = kernelSymbolsUnresolved
        self.notes = notes
    }

    /// True when kernel samples were taken: else every kernel category is "not permitted", never 0%.
    public var seesKernel: Bool { mode != .userOnly }
}

/// Where one worker thread's time went in one trial: its samples, each charged to one category.
public struct AttributionRecord: Codable, Sendable, Hashable {
    /// Samples per category; a category with none is absent.
    public var samples: [AttributionCategory: UInt64]
    /// The samples' periods summed per category (ns for `cpu-clock`, events for `cycles`): shares are taken from
    /// these, as `perf report` weighs samples by period.
    public var weights: [AttributionCategory: UInt64]
    /// Samples the kernel took but the ring could not hold (PERF_RECORD_LOST, the event's lost count): counted,
    /// never dropped silently.
    public var lost: UInt64
    /// PERF_RECORD_THROTTLE records: times the kernel lowered the rate because sampling took too long.
    public var throttled: UInt64?

    public init(
        samples: [AttributionCategory: UInt64], weights: [AttributionCategory: UInt64], lost: UInt64 = 0,
        throttled: UInt64? = nil
    ) {
        self.samples = samples
        self.weights = weights
        self.lost = lost
        self.throttled = throttled
    }

    /// Samples over every category.
    public var totalSamples: UInt64 { samples.values.reduce(0, &+) }
    /// Weight over every category.
    public var totalWeight: UInt64 { weights.values.reduce(0, &+) }
}

/// The call stacks of one role's samples in a cell, summed over its counted trials and threads: what a flame graph
/// of the cell draws and `copyprof export --folded` writes.
public struct StackSummary: Codable, Sendable, Hashable {
    public var role: WorkerRole
    /// The most frequent stacks, most samples first, until they cover most of the samples (the rest is counted in
    /// `omittedSamples`).
    public var stacks: [StackRecord]
    /// Samples of the stacks left out to keep the profile small.
    public var omittedSamples: UInt64
    /// Weight of the stacks left out.
    public var omittedWeight: UInt64

    public init(role: WorkerRole, stacks: [StackRecord], omittedSamples: UInt64 = 0, omittedWeight: UInt64 = 0) {
        self.role = role
        self.stacks = stacks
        self.omittedSamples = omittedSamples
        self.omittedWeight = omittedWeight
    }
}

/// One distinct call stack and what its samples add up to.
public struct StackRecord: Codable, Sendable, Hashable {
    /// Indices into ``Profile/frameNames``, root first (user frames, then kernel frames, the leaf last).
    public var frames: [Int]
    /// The category every sample of this stack was charged to.
    public var category: AttributionCategory
    public var samples: UInt64
    public var weight: UInt64

    public init(frames: [Int], category: AttributionCategory, samples: UInt64, weight: UInt64) {
        self.frames = frames
        self.category = category
        self.samples = samples
        self.weight = weight
    }
}
