// Sampling in the sweep: each worker of a counted trial samples its own timed loop (a SampledRegion: counters and
// a sampler, one ioctl each side of the loop, the ring drained after it); after the trial, on the sweep's thread,
// the samples are symbolized and attributed to the categories of CopyprofAttribution, per worker (an
// AttributionRecord) and per cell and role (the stacks a flame graph draws). Timing trials are neither counted nor
// sampled.

#if canImport(Glibc)
import Glibc
#endif
import CopyprofAttribution
import CopyprofModel
import CopyprofProfile
import PerfCounters
import PerfSymbols
import Transports

/// How a sweep samples its worker threads in the counted trials.
public struct SweepSamplingOptions: Sendable, Hashable {
    /// Samples per second of each thread's CPU time asked for.
    public var frequency: Int
    /// `cycles` where a core PMU exists, `cpu-clock` otherwise (``SamplingEventChoice/automatic``), or `cpu-clock`.
    public var event: SamplingEventChoice
    /// Cache-miss events sampled beside cycles on a host with a PMU (`L1-dcache-load-misses`, `LLC-load-misses`).
    public var cacheMissEvents: [PerfEvent]
    /// The deepest call chain kept per sample (kernel and user frames together).
    public var callchainDepth: Int

    /// The default rate: perf record's, 4000 Hz. At the default sweep's 6 counted trials of 0.04 s, a busy thread
    /// gives about 160 samples a trial, ~960 a cell and role: a share's interval of ±2.5 points at 20%; its cost is
    /// in the counted trials' overhead (Benchmarks/sampling-cost.sh measures it).
    public static let defaultFrequency = 4000
    /// Call chains of at most 64 frames (``RunLimits/callchainDepth``): a loopback send's deepest kernel chain
    /// (sendmsg down to the receiver's wake-up in the sender's softirq) is about 45, with the user frames above it.
    public static let defaultCallchainDepth = RunLimits.callchainDepth.upperBound
    /// What the rings of one trial's workers may take together: a thread's ring is this divided by the workers, at
    /// most the sampler's 8 MiB.
    public static let ringBudgetBytes = 64 << 20

    public init(
        frequency: Int = SweepSamplingOptions.defaultFrequency, event: SamplingEventChoice = .automatic,
        cacheMissEvents: [PerfEvent] = [], callchainDepth: Int = SweepSamplingOptions.defaultCallchainDepth
    ) {
        self.frequency = frequency
        self.event = event
        self.cacheMissEvents = cacheMissEvents
        self.callchainDepth = callchainDepth
    }

    /// The cache-miss events `--sample-events` takes beside cycles.
    public static let cacheMissChoices: [PerfEvent] = [.l1dLoadMisses, .llcLoadMisses]

    /// Parses `--sample-events`: `cycles` (perf record's choice: cycles where a core PMU exists, cpu-clock otherwise)
    /// or `cpu-clock`, and the cache-miss events sampled beside cycles.
    public static func parseEvents(_ text: String) throws(CopyprofError) -> (SamplingEventChoice, [PerfEvent]) {
        var main: SamplingEventChoice?
        var misses: [PerfEvent] = []
        let known = ["cycles", "cpu-clock"] + cacheMissChoices.map(\.name)
        for part in text.split(separator: ",").map({ String($0.filter { $0 != " " }) }) where !part.isEmpty {
            let choice: SamplingEventChoice?
            switch part {
            case "cycles": choice = .automatic
            case "cpu-clock": choice = .cpuClock
            default:
                guard let miss = cacheMissChoices.first(where: { $0.name == part }) else {
                    throw .invalidArgument("'\(part)' is not one of \(known.joined(separator: ", "))")
                }
                if !misses.contains(miss) { misses.append(miss) }
                choice = nil
            }
            if let choice {
                if let main, main != choice { throw .invalidArgument("cycles and cpu-clock: give one of them") }
                main = choice
            }
        }
        if main == nil && misses.isEmpty { throw .invalidArgument("the list is empty") }
        if main == .cpuClock && !misses.isEmpty {
            throw .invalidArgument(
                "\(misses.map(\.name).joined(separator: ", ")) are sampled beside cycles, not cpu-clock: drop cpu-clock")
        }
        return (main ?? .automatic, misses)
    }

    /// The sampler's options for a worker of a trial of `duration` seconds with `workers` workers: the ring sized for
    /// the loop (frequency × duration, with room for a receiver that outlasts its sender), within the trial's budget.
    public func samplerOptions(
        duration: Double, workers: Int, pageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))
    ) -> SamplerOptions {
        let expected = SamplerOptions.expectedSamples(hertz: UInt64(frequency), seconds: duration * 1.5) + 32
        let pages = max(1, min(2048, Self.ringBudgetBytes / max(1, workers) / max(1, pageSize)))
        return SamplerOptions(
            rate: .frequency(hertz: UInt64(frequency)), callchainDepth: callchainDepth,
            cacheMissEvents: cacheMissEvents, expectedSamples: expected, maxRingPages: pages, event: event)
    }
}

/// What a worker of a trial measured: counters and rusage, and with sampling its samples or why it has none.
public struct WorkerMeasurement: Sendable {
    public var region: RegionMeasurement
    /// The loop's samples; nil in a trial that was not sampled, or when the worker's sampler could not open.
    public var samples: SampleBatch?
    /// Why a worker that was to be sampled was not (its sampler refused), one line.
    public var samplerError: String?
}

/// A worker's region in a trial: counters (none in a timing trial) and rusage, and in a sampled trial the sampler,
/// innermost (``SampledRegion``). When the sampler cannot open, the worker is counted without it and says why.
final class SweepWorkerRegion: WorkerRegion {
    private let counted: CountedRegion?
    private let sampled: SampledRegion?
    private let samplerError: String?

    init(events: [PerfEvent], sampler: SamplerOptions?) throws {
        var samplerError: String?
        if let sampler {
            do {
                sampled = try SampledRegion(events: events, samplerOptions: sampler)
                counted = nil
                self.samplerError = nil
                return
            } catch {
                samplerError = "\(error)"
            }
        }
        sampled = nil
        counted = try CountedRegion(events: events)
        self.samplerError = samplerError
    }

    func begin() throws {
        if let sampled { try sampled.begin() } else { try counted!.begin() }
    }

    func end() throws -> WorkerMeasurement {
        if let sampled {
            let measured = try sampled.end()
            return WorkerMeasurement(region: measured.region, samples: measured.samples)
        }
        return WorkerMeasurement(region: try counted!.end(), samples: nil, samplerError: samplerError)
    }
}

/// A sweep's sampling: what the sampler was granted (probed once on the sweep's thread), the symbols (kernel symbols
/// loaded once, user symbols once after the first sampled trial, when the transports' code has run), the attribution
/// of each distinct stack (cached: a trial's samples are folded by their addresses first, then each distinct stack is
/// named and attributed once), and the stacks of each cell and role.
///
/// Used on the sweep's thread only, between trials: never by a worker, never inside a timed loop.
final class SweepSampling {
    let options: SweepSamplingOptions
    /// The sampler as a worker will get it.
    let probe: SamplingProbe
    private let attributor: Attributor
    private var symbolizer: Symbolizer?
    private var frameNames = FrameNameTable()
    // Names by address: a leaf is named at its address, a caller one byte earlier (Symbolizer), so the two are kept
    // apart.
    private var kernelLeafNames: [UInt64: Int32] = [:]
    private var kernelCallerNames: [UInt64: Int32] = [:]
    private var userLeafNames: [UInt64: Int32] = [:]
    private var userCallerNames: [UInt64: Int32] = [:]
    private var categories: [NamedStack: AttributionCategory] = [:]
    private var stacks: [CellKey: [WorkerRole: [StackKey: StackTotals]]] = [:]
    private var samplerErrors: [String: Int] = [:]
    private var ringNotes: Set<String> = []

    init(options: SweepSamplingOptions, probe: SamplingProbe) {
        self.options = options
        self.probe = probe
        // With user space only, the kernel's categories cannot be seen: a user-mode sample in a C library system
        // call wrapper is charged to its caller (the loop), not to `syscall`, whose kernel part is not sampled.
        attributor = probe.mode == .userOnly
            ? Attributor(entries: AttributionTable.entries.filter { !$0.category.isKernel }) : Attributor()
    }

    /// Attributes the samples of a recorded trial of `cell`: each worker's ``WorkerRecord/attribution`` (and
    /// ``WorkerRecord/cacheMissAttribution``), and its stacks added to the cell's. `measurements` are the trial's
    /// workers' measurements, in the order of `record.workers`.
    func attribute(_ measurements: [WorkerMeasurement?], into record: inout TrialRecord, cell: CellKey) {
        for (index, measurement) in measurements.enumerated() where index < record.workers.count {
            guard let measurement else { continue }
            if let error = measurement.samplerError { samplerErrors[error, default: 0] += 1 }
            guard let batch = measurement.samples else { continue }
            if let note = batch.ring.note { ringNotes.insert(note) }
            let role = record.workers[index].role
            record.workers[index].attribution = attribute(batch, events: mainEvents(batch), cell: cell, role: role)
            var misses: [String: AttributionRecord] = [:]
            for (position, event) in batch.events.enumerated() where !event.isMainEvent {
                misses[event.perfName] = attribute(batch, events: [position], cell: nil, role: role)
            }
            if !misses.isEmpty { record.workers[index].cacheMissAttribution = misses }
        }
    }

    /// The sampling record, the frame names and each cell's stacks, once the sweep is over: the most frequent stacks
    /// of each cell and role until they cover ``stackCoverage`` of its samples, at most ``maxStacks``, the rest counted
    /// as omitted.
    func finish(_ profile: inout Profile) {
        var used = FrameNameTable()
        for index in profile.cells.indices {
            guard let roles = stacks[profile.cells[index].key] else { continue }
            var summaries: [StackSummary] = []
            for role in WorkerRole.allCases {
                guard let byStack = roles[role] else { continue }
                summaries.append(summary(role: role, byStack, names: &used))
            }
            profile.cells[index].stacks = summaries
        }
        profile.frameNames = used.names
        profile.sampling = record()
    }

    /// What a profile says of how its threads were sampled.
    func record() -> SamplingRecord {
        var notes = probe.notes
        if probe.mode == .userOnly {
            notes.append(
                "user space only: samples in a C library system-call wrapper are charged to its caller (the loop), "
                    + "as the kernel's part of the call is not sampled")
        }
        notes += ringNotes.sorted()
        notes += samplerErrors.sorted { $0.key < $1.key }.map {
            "\($0.value) worker(s) not sampled: their sampler could not open: \($0.key)"
        }
        var unresolved: String?
        if probe.mode != .userOnly, let kernel = symbolizer?.kernel {
            switch kernel.status {
            case .resolvable: break
            case .hidden(let reason), .unreadable(let reason): unresolved = reason
            }
        }
        return SamplingRecord(
            event: probe.eventName, timerBased: probe.timerBased, mode: CopyprofProfile.CountingMode(probe.mode),
            modeReason: probe.modeReason, frequency: options.frequency, grantedFrequency: probe.grantedFrequency,
            callchainDepth: probe.callchainDepth, kernelSymbolsUnresolved: unresolved,
            notes: notes.isEmpty ? nil : notes,
            cacheMissEvents: probe.cacheMissEvents.isEmpty ? nil : probe.cacheMissEvents)
    }

    /// Samples left out of a cell and role's stacks when they cover this share of its samples.
    static let stackCoverage = 0.95
    /// The most stacks kept per cell and role.
    static let maxStacks = 200
    /// The most frames kept per stack, from the leaf.
    static let maxDepth = RunLimits.callchainDepth.upperBound

    // MARK: Attribution


    private func mainEvents(_ batch: SampleBatch) -> [Int] {
        batch.events.indices.filter { batch.events[$0].isMainEvent }
    }

    /// One worker's samples of `events` (indices into the batch's events), folded, named, attributed; with a `cell`
    /// their stacks are added to the cell's.
    private func attribute(_ batch: SampleBatch, events: [Int], cell: CellKey?, role: WorkerRole) -> AttributionRecord {
        var wanted = [Bool](repeating: false, count: batch.events.count)
        for event in events { wanted[event] = true }
        // Fold by addresses: most samples repeat a stack (a `rep movsb` is one address). A key is the kernel frames,
        // the user frames and the kernel frames' count; a sample without a call chain is its ip and 1 or 0.
        var folded: [[UInt64]: StackTotals] = [:]
        for sample in batch.samples where Int(sample.event) < wanted.count && wanted[Int(sample.event)] {
            let kernel = batch.kernelFrames(of: sample)
            let user = batch.userFrames(of: sample)
            var key: [UInt64]
            if kernel.isEmpty && user.isEmpty {
                key = [sample.ip, sample.isKernel ? 1 : 0]
            } else {
                key = []
                key.reserveCapacity(kernel.count + user.count + 1)
                key.append(contentsOf: kernel)
                key.append(contentsOf: user)
                key.append(UInt64(kernel.count))
            }
            folded[key, default: StackTotals()].add(samples: 1, weight: sample.period)
        }
        var samples: [AttributionCategory: UInt64] = [:]
        var weights: [AttributionCategory: UInt64] = [:]
        if !folded.isEmpty && symbolizer == nil { symbolizer = loadSymbolizer() }
        for (addresses, totals) in folded {
            let named = name(addresses)
            let category = category(of: named)
            samples[category, default: 0] &+= totals.samples
            weights[category, default: 0] &+= totals.weight
            if let cell {
                let key = StackKey(frames: rootFirst(named), category: category)
                stacks[cell, default: [:]][role, default: [:]][key, default: StackTotals()].add(totals)
            }
        }
        return AttributionRecord(
            samples: samples, weights: weights, lost: batch.missingSamples, throttled: UInt64(batch.throttles))
    }

    private func loadSymbolizer() -> Symbolizer {
        let kernel: KernelSymbols = probe.mode == .userOnly
            ? KernelSymbols(kallsymsText: "") : KernelSymbols.load()
        return Symbolizer(kernel: kernel, user: .loadSelf())
    }

    /// The frames' names, leaf first: `addresses` is kernel frames, user frames, then the kernel frames' count.
    private func name(_ addresses: [UInt64]) -> NamedStack {
        let kernelCount = Int(addresses[addresses.count - 1])
        let frames = addresses.count - 1
        var names: [Int32] = []
        names.reserveCapacity(frames)
        for position in 0..<frames {
            let inKernel = position < kernelCount
            names.append(nameIndex(addresses[position], kernel: inKernel, leaf: position == 0))
        }
        return NamedStack(names: names, kernelCount: min(kernelCount, frames))
    }

    private func nameIndex(_ address: UInt64, kernel: Bool, leaf: Bool) -> Int32 {
        func cached(_ cache: inout [UInt64: Int32]) -> Int32 {
            if let index = cache[address] { return index }
            let frame = symbolizer!.frame(address, in: kernel ? .kernel : .user, isLeaf: leaf)
            let index = frameNames.intern(frame.name)
            cache[address] = index
            return index
        }
        switch (kernel, leaf) {
        case (true, true): return cached(&kernelLeafNames)
        case (true, false): return cached(&kernelCallerNames)
        case (false, true): return cached(&userLeafNames)
        case (false, false): return cached(&userCallerNames)
        }
    }

    private func category(of stack: NamedStack) -> AttributionCategory {
        if let known = categories[stack] { return known }
        let names = stack.names.map { frameNames.names[Int($0)] }
        let category = attributor.attribute(
            kernelFrames: Array(names[..<stack.kernelCount]), userFrames: Array(names[stack.kernelCount...])
        ).category
        categories[stack] = category
        return category
    }

    /// Root first, at most ``maxDepth`` frames from the leaf.
    private func rootFirst(_ stack: NamedStack) -> [Int32] {
        Array(stack.names.prefix(Self.maxDepth).reversed())
    }

    // MARK: Stacks

    private func summary(role: WorkerRole, _ byStack: [StackKey: StackTotals], names: inout FrameNameTable) -> StackSummary {
        let ordered = byStack.sorted { a, b in
            if a.value.samples != b.value.samples { return a.value.samples > b.value.samples }
            if a.value.weight != b.value.weight { return a.value.weight > b.value.weight }
            let left = a.key.frames.map { frameNames.names[Int($0)] }
            let right = b.key.frames.map { frameNames.names[Int($0)] }
            if left != right { return left.lexicographicallyPrecedes(right) }
            return a.key.category.rawValue < b.key.category.rawValue
        }
        let total = ordered.reduce(UInt64(0)) { $0 &+ $1.value.samples }
        var kept: [StackRecord] = []
        var covered: UInt64 = 0
        var omitted = StackTotals()
        for (key, totals) in ordered {
            if kept.count < Self.maxStacks && Double(covered) < Self.stackCoverage * Double(total) {
                covered &+= totals.samples
                kept.append(
                    StackRecord(
                        frames: key.frames.map { names.intern(frameNames.names[Int($0)]) }.map(Int.init),
                        category: key.category, samples: totals.samples, weight: totals.weight))
            } else {
                omitted.add(totals)
            }
        }
        return StackSummary(role: role, stacks: kept, omittedSamples: omitted.samples, omittedWeight: omitted.weight)
    }
}

/// What a worker's sampler will be granted, from one sampler opened on the sweep's thread before the sweep: the same
/// process, the same credentials, the same kernel.
public struct SamplingProbe: Sendable {
    /// The sampled event as perf names it (`cpu-clock`, `cycles:ppp`; hybrid: one per core PMU, comma-separated).
    public var eventName: String
    public var timerBased: Bool
    public var mode: PerfCounters.CountingMode
    public var modeReason: String?
    public var frequency: Int
    /// The frequency the kernel granted, when lower than asked.
    public var grantedFrequency: Int?
    public var callchainDepth: Int
    /// Cache-miss events opened beside the main one, as perf names them.
    public var cacheMissEvents: [String]
    /// What the sampler changed from the request and why, and what it refused.
    public var notes: [String]
    /// The events asked for that could not be sampled, each with its reason: `LLC-load-misses: not-supported: ...`.
    public var refused: [String] = []

    /// Opens a sampler as a worker would, reads what it was granted, and closes it; nil and the reason when the
    /// kernel refuses it.
    public static func run(_ options: SweepSamplingOptions) -> Result<SamplingProbe, SamplingRefusal> {
        let sampler: ThreadSampler
        do {
            sampler = try ThreadSampler(options: options.samplerOptions(duration: 0.001, workers: 1))
        } catch {
            return .failure(SamplingRefusal(reason: "the sampler could not be opened: \(error)"))
        }
        let main = sampler.events.filter(\.isMainEvent)
        let misses = sampler.events.filter { !$0.isMainEvent }
        var notes: [String] = []
        for event in sampler.events {
            for note in event.notes where !notes.contains(note) { notes.append(note) }
        }
        var refusals: [String] = []
        for refused in sampler.refused {
            let event = refused.event.name + (refused.pmu.map { " on \($0)" } ?? "")
            refusals.append("\(event): \(refused.availability)")
            notes.append("\(event): not sampled: \(refused.availability)")
        }
        if let note = sampler.ring.note { notes.append(note) }
        var granted: Int?
        if case .frequency(let hertz) = main.first?.rate, Int(hertz) != options.frequency { granted = Int(hertz) }
        return .success(
            SamplingProbe(
                eventName: main.map(\.perfName).joined(separator: ","), timerBased: main.first?.event == .cpuClock,
                mode: sampler.mode, modeReason: sampler.modeReason, frequency: options.frequency,
                grantedFrequency: granted, callchainDepth: main.first?.callchainDepth ?? 0,
                cacheMissEvents: misses.map(\.perfName), notes: notes, refused: refusals))
    }

    /// One line for a run's progress: `sampling cpu-clock at 4000 Hz, user+kernel, call chains of up to 64 frames`.
    public var summary: String {
        var text = "sampling \(eventName) at \(grantedFrequency ?? frequency) Hz"
        if grantedFrequency != nil { text += " (asked \(frequency) Hz; the kernel's maximum)" }
        if !cacheMissEvents.isEmpty { text += " and \(cacheMissEvents.joined(separator: ", "))" }
        text += mode == .userOnly ? ", user space only" : ", user+kernel"
        if callchainDepth > 0 { text += ", call chains of up to \(callchainDepth) frames" }
        if mode == .userOnly, let modeReason { text += " (\(modeReason))" }
        for refusal in refused { text += "; not sampled: \(refusal)" }
        return text
    }
}

/// Why a sweep's threads cannot be sampled.
public struct SamplingRefusal: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}

/// A stack's frames named (indices into a ``FrameNameTable``), leaf first: kernel frames, then user frames.
private struct NamedStack: Hashable {
    var names: [Int32]
    var kernelCount: Int
}

/// A stack of a cell and role: its frames root first, and the category its samples were charged to.
private struct StackKey: Hashable {
    var frames: [Int32]
    var category: AttributionCategory
}

private struct StackTotals {
    var samples: UInt64 = 0
    var weight: UInt64 = 0

    mutating func add(samples count: UInt64, weight period: UInt64) {
        samples &+= count
        weight &+= period
    }

    mutating func add(_ other: StackTotals) { add(samples: other.samples, weight: other.weight) }
}

/// Frame names, each stored once, by index.
private struct FrameNameTable {
    private(set) var names: [String] = []
    private var indices: [String: Int32] = [:]

    mutating func intern(_ name: String) -> Int32 {
        if let index = indices[name] { return index }
        let index = Int32(names.count)
        names.append(name)
        indices[name] = index
        return index
    }
}

extension SampledEvent {
    /// The event that says where time went (cycles, or cpu-clock without a PMU), as against a cache-miss event
    /// sampled beside it.
    var isMainEvent: Bool { event == .cycles || event == .cpuClock }
}
