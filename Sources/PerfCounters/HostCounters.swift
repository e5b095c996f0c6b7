import CPerfEvent
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
    /// Where tracefs is mounted, if it is.
    public var tracefs: String?
    /// Each probed event and what became of it.
    public var events: [Probe]

    /// One event's probe result.
    public struct Probe: Sendable, Codable {
        public var name: String
        public var kind: String
        public var summary: String
        public var availability: EventAvailability

        public init(name: String, kind: String, summary: String, availability: EventAvailability) {
            self.name = name
            self.kind = kind
            self.summary = summary
            self.availability = availability
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

    /// Probes `events` by opening each one alone for the calling thread, then closing it.
    public static func probe(_ events: [PerfEvent] = PerfEvent.catalog, options: CounterOptions = CounterOptions()) -> HostCounters {
        let probes = events.map { event -> Probe in
            let availability: EventAvailability
            do throws(CounterError) {
                let counters = try ThreadCounters(events: [event], options: options)
                availability = counters.availability[0]
            } catch {
                if case .nothingAvailable(let reasons) = error, let reason = reasons[event.name] {
                    availability = reason
                } else {
                    availability = .init(state: .failed, reason: error.description)
                }
            }
            return Probe(name: event.name, kind: event.kind, summary: event.summary, availability: availability)
        }
        return HostCounters(pmus: pmuNames, paranoid: paranoidLevel, tracefs: Tracefs.mountPoint, events: probes)
    }
}
