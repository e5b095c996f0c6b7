/// The range of the CPUs' clocks from cpufreq (/sys/devices/system/cpu/cpuN/cpufreq), GHz: the lowest
/// `cpuinfo_min_freq` and the highest `cpuinfo_max_freq` of all CPUs, so that a thread on any of them is inside
/// it — on a hybrid CPU the P-cores' ceiling and the E-cores' floor, where cpu0 alone may be an E-core.
///
/// `cpuinfo_max_freq` includes turbo (boost) frequencies with intel_pstate and amd-pstate; acpi-cpufreq lists one
/// frequency for the whole boost range (on Intel the base clock + 1 MHz), so where its `boost` switch is on the
/// highest clock is not known (``boostUnlisted``).
public struct FrequencyRange: Sendable, Hashable, Codable {
    /// The lowest clock of any CPU, GHz (`cpuinfo_min_freq`).
    public var minGHz: Double
    /// The highest clock of any CPU, GHz (`cpuinfo_max_freq`).
    public var maxGHz: Double
    /// How many CPUs listed a range (nil in reports written before it was recorded).
    public var cpus: Int?
    /// True when the CPUs can boost above the highest clock cpufreq lists (acpi-cpufreq with `boost` 1).
    public var boostUnlisted: Bool?

    /// A range given by hand; ``current(cpuRoot:)`` reads this host's.
    public init(minGHz: Double, maxGHz: Double, cpus: Int? = nil, boostUnlisted: Bool? = nil) {
        self.minGHz = minGHz
        self.maxGHz = maxGHz
        self.cpus = cpus
        self.boostUnlisted = boostUnlisted
    }

    /// The range of every `cpuN/cpufreq` under `cpuRoot`, or nil when sysfs has none (common in virtual machines).
    public static func current(cpuRoot: String = "/sys/devices/system/cpu") -> FrequencyRange? {
        var low = Double.infinity
        var high = 0.0
        var cpus = 0
        var drivers: Set<String> = []
        for entry in SystemFiles.directoryEntries(cpuRoot) where entry.hasPrefix("cpu") && Int(entry.dropFirst(3)) != nil {
            let folder = "\(cpuRoot)/\(entry)/cpufreq"
            guard let min = SystemFiles.firstLine(folder + "/cpuinfo_min_freq").flatMap({ Double($0) }),
                let max = SystemFiles.firstLine(folder + "/cpuinfo_max_freq").flatMap({ Double($0) }), min > 0, max >= min
            else { continue }
            low = Swift.min(low, min)
            high = Swift.max(high, max)
            cpus += 1
            if let driver = SystemFiles.firstLine(folder + "/scaling_driver") { drivers.insert(driver) }
        }
        guard cpus > 0 else { return nil }
        let boost = SystemFiles.firstLine(cpuRoot + "/cpufreq/boost") == "1" && drivers.contains("acpi-cpufreq")
        return FrequencyRange(minGHz: low / 1e6, maxGHz: high / 1e6, cpus: cpus, boostUnlisted: boost ? true : nil)
    }
}
