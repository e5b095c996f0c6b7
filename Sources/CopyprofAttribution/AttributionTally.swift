import CopyprofModel

/// Samples and their weight per category, for one key (a cell and role, chosen by the caller).
public struct CategoryTotals: Sendable, Hashable {
    /// Samples charged to each category (categories without samples are absent).
    public private(set) var samples: [AttributionCategory: Int] = [:]
    /// The samples' periods summed per category: nanoseconds for `cpu-clock`, events for a hardware event.
    public private(set) var weight: [AttributionCategory: UInt64] = [:]
    public private(set) var sampleCount = 0
    public private(set) var totalWeight: UInt64 = 0
    /// The leaf functions of the samples charged to `other`.
    public private(set) var otherLeaves: [String: OtherFunction] = [:]

    public init() {}

    mutating func add(_ attribution: Attribution, samples count: Int, weight period: UInt64) {
        samples[attribution.category, default: 0] += count
        weight[attribution.category, default: 0] &+= period
        sampleCount += count
        totalWeight &+= period
        if attribution.category == .other {
            let name = attribution.leaf ?? "[no frames]"
            otherLeaves[name, default: OtherFunction(name: name, samples: 0, weight: 0)].add(samples: count, weight: period)
        }
    }

    /// The functions most often at the leaf of `other`'s samples, most samples first (ties by name).
    public func topOtherFunctions(_ limit: Int) -> [OtherFunction] {
        Array(
            otherLeaves.values.sorted { a, b in
                a.samples != b.samples ? a.samples > b.samples : a.name < b.name
            }.prefix(limit))
    }
}

/// A function `other`'s samples ended in.
public struct OtherFunction: Sendable, Hashable {
    public var name: String
    public var samples: Int
    public var weight: UInt64

    mutating func add(samples count: Int, weight period: UInt64) {
        samples += count
        weight &+= period
    }
}

/// Attributed samples summed per key: the caller's choice of key (a cell and role, a thread), opaque here.
public struct AttributionTally<Key: Hashable & Sendable>: Sendable {
    public private(set) var totals: [Key: CategoryTotals] = [:]

    public init() {}

    /// Adds one sample of weight `period` under `key`.
    public mutating func add(_ attribution: Attribution, period: UInt64, key: Key) {
        totals[key, default: CategoryTotals()].add(attribution, samples: 1, weight: period)
    }

    /// Adds `count` samples of one stack, weighing `weight` together, under `key`: attributing each distinct
    /// stack once (after folding) costs a fraction of attributing every sample.
    public mutating func add(_ attribution: Attribution, samples count: Int, weight: UInt64, key: Key) {
        guard count > 0 else { return }
        totals[key, default: CategoryTotals()].add(attribution, samples: count, weight: weight)
    }

    /// Attributes a sample's frames with `attributor` and adds it.
    public mutating func add(
        kernelFrames: [String], userFrames: [String], period: UInt64, key: Key, attributor: Attributor
    ) {
        add(attributor.attribute(kernelFrames: kernelFrames, userFrames: userFrames), period: period, key: key)
    }
}
