internal import CPerfEvent
import SystemCalls
#if canImport(Glibc)
import Glibc
#endif

/// What this host can count: its PMUs, its `perf_event_paranoid` level and each event's availability,
/// like `perf list` joined with a probe.
public struct HostCounters: Sendable, Codable {
    /// The PMUs the kernel registered (/sys/bus/event_source/devices): `cpu` or `cpu_core` means a hardware PMU.
    public var pmus: [String]
    /// /proc/sys/kernel/perf_event_paranoid, if readable.
    public var paranoid: Int?
    /// Where tracefs is mounted, if it is and this user can read it.
    public var tracefs: String?
    /// Each probed event and what became of it.
    public var events: [Probe]
    /// The core PMUs, the NMI watchdog and the hypervisor flag (nil in JSON written before they were recorded).
    public var host: HostFacts?
    /// tracefs in one line: its mount point, or why it cannot be used.
    public var tracefsStatus: String?
    /// The perf groups the probe opened the events in, as a run opens them.
    public var groups: [CounterGroupDescription]?
    /// Why perf_event_open is refused to this process outright — a seccomp filter (EPERM), Debian's or Ubuntu's
    /// `perf_event_paranoid` above 2 (EACCES) — so that no event can be counted whatever its attributes; nil when
    /// it is not.
    public var refusal: EventAvailability?

    /// One event's probe result.
    public struct Probe: Sendable, Codable {
        /// The event's stable name (``PerfEvent/name``).
        public var name: String
        /// `hardware`, `cache`, `software` or `tracepoint` (``PerfEvent/kind``).
        public var kind: String
        /// One line on what it counts (``PerfEvent/summary``).
        public var summary: String
        /// What became of it: counted, user-only, not counted in the probe's region, or why not.
        public var availability: EventAvailability
        /// The privilege levels it was counted for; nil when not counted (and in older profiles).
        public var mode: CountingMode?
        /// The core PMUs a hardware event counted on; nil for software events and tracepoints.
        public var pmus: [String]?

        /// Creates a probe result; the fields are as their properties say.
        public init(
            name: String, kind: String, summary: String, availability: EventAvailability, mode: CountingMode? = nil,
            pmus: [String]? = nil
        ) {
            self.name = name
            self.kind = kind
            self.summary = summary
            self.availability = availability
            self.mode = mode
            self.pmus = pmus
        }
    }

    /// True when a hardware PMU is registered (`cpu`, `cpu_core`, `cpu_atom`, `armv8_*` ...).
    public var hasHardwarePMU: Bool { Self.hasHardwarePMU(pmus) }

    /// True when one of these PMU names is a CPU's hardware PMU.
    public static func hasHardwarePMU(_ pmus: [String]) -> Bool {
        pmus.contains { $0 == "cpu" || $0.hasPrefix("cpu_") || $0.hasPrefix("armv") || $0.hasPrefix("arm_") }
    }

    /// The value of /proc/sys/kernel/perf_event_paranoid, or nil if it cannot be read.
    public static var paranoidLevel: Int? {
        SystemFiles.firstLine("/proc/sys/kernel/perf_event_paranoid").flatMap { Int($0) }
    }

    /// The PMU names under /sys/bus/event_source/devices.
    public static var pmuNames: [String] {
        SystemFiles.directoryEntries("/sys/bus/event_source/devices")
    }

    /// Opens `events` together for the calling thread, as a run opens them (same groups, same fallbacks),
    /// counts one short busy region, and reports what became of each: an event whose group never got a
    /// counter in the region is `not-counted`, whatever it would do alone.
    public static func probe(_ events: [PerfEvent] = PerfEvent.catalog, options: CounterOptions = CounterOptions()) -> HostCounters {
        let system = KernelPerfEvents()
        let groups = PerfEvent.hardwareGroups(events).count
        // The kernel rotates groups that do not fit together every perf_event_mux_interval_ms (4 ms by default)
        // of the thread's CPU time: the region spans a rotation through every hardware group.
        let interval = system.host.corePMUs.compactMap { pmu in
            SystemFiles.firstLine("/sys/bus/event_source/devices/\(pmu.name)/perf_event_mux_interval_ms").flatMap { Int($0) }
        }.max() ?? 4
        let pmus = system.host.corePMUs.count
        let spinNs = groups == 0 || pmus == 0 ? 0 : UInt64((groups + 1) * pmus * interval) * 1_000_000
        var probed = probe(events, options: options, system: system) { spinCPU(ns: spinNs) }
        probed.pmus = pmuNames
        probed.tracefs = Tracefs.mountPoint
        probed.tracefsStatus = Tracefs.status.description
        return probed
    }

    /// ``probe(_:options:)`` over any perf_event layer, with `region` as the work counted.
    package static func probe<System: PerfEventSystem>(
        _ events: [PerfEvent], options: CounterOptions, system: System, region: () -> Void
    ) -> HostCounters {
        var availability: [EventAvailability]
        var modes: [CountingMode?] = Array(repeating: nil, count: events.count)
        var pmus: [[String]?] = Array(repeating: nil, count: events.count)
        var groups: [CounterGroupDescription]?
        do throws(CounterError) {
            let counters = try CounterSet(events: events, options: options, system: system)
            availability = counters.availability
            modes = counters.modes
            groups = counters.groupDescriptions
            try counters.start()
            region()
            let readings = try counters.stop()
            for (index, reading) in readings.enumerated() {
                if events[index].isHardware, !reading.parts.isEmpty { pmus[index] = reading.parts.map(\.pmu) }
                if availability[index].isOpen, reading.count?.wasCounted == false {
                    availability[index] = EventAvailability(state: .notCounted, reason: reading.reason)
                    modes[index] = nil
                }
            }
        } catch {
            if case .nothingAvailable(let reasons) = error {
                availability = events.map { reasons[$0.name] ?? .init(state: .failed, reason: error.description) }
            } else {
                availability = events.map { _ in .init(state: .failed, reason: error.description) }
            }
        }
        // Every event refused for permission: one probe open says whether perf_event_open is refused outright.
        var refusal: EventAvailability?
        if !events.isEmpty, availability.allSatisfy({ $0.state == .notPermitted }),
            availability.contains(where: { $0.errno == EPERM || $0.errno == EACCES })
        {
            refusal = PerfAccess.refusal(system)
        }
        let probes = events.indices.map { index in
            Probe(
                name: events[index].name, kind: events[index].kind, summary: events[index].summary,
                availability: availability[index], mode: modes[index], pmus: pmus[index])
        }
        return HostCounters(
            pmus: system.host.corePMUs.map(\.name), paranoid: system.host.paranoid, tracefs: nil, events: probes,
            host: system.host, tracefsStatus: nil, groups: groups, refusal: refusal)
    }
}

/// Keeps the calling thread busy for `ns` of its own CPU time.
func spinCPU(ns: UInt64) {
    guard ns > 0 else { return }
    let until = threadCPUClockNs() + ns
    var x: UInt64 = 1
    while threadCPUClockNs() < until {
        for i in 0..<1_000 { x = x &* 6364136223846793005 &+ UInt64(i) }
    }
    withExtendedLifetime(x) {}
}
