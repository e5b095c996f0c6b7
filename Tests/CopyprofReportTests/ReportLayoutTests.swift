import CopyprofModel
import CopyprofProfile
import Foundation
import Testing
import TestSupport

@testable import CopyprofReport

/// Issue 23, item 5, and issue 21, item 7: reports that lead with the point, and a cache finding that says what its
/// numbers are.
@Suite struct ReportLayoutTests {
    func key(_ t: TransportKind, size: Int = 4096, connections: Int = 1) -> CellKey {
        CellKey(transport: t, workload: .stream, messageSize: size, connections: connections)
    }

    @Test func warningsAreSummarisedOncePerTableWithTheListFolded() throws {
        // Six cells, five of them with a wide spread.
        let wide = [5.0, 8, 9, 10, 11, 15], narrow = [10.0, 10.1, 9.9, 10.2, 9.8, 10.05]
        let cells = [TransportKind.twoCopy, .marshal, .oneCopy].flatMap { t in
            [4096, 65536].map { size in
                SampleProfiles.roundsCell(key(t, size: size), timing: t == .twoCopy && size == 4096 ? narrow : wide)
            }
        }
        let report = Report(profile: SampleProfiles.rounds(cells, controlMs: nil), source: "p.json", chartFolder: "c").markdown
        let throughput = try #require(report.range(of: "**throughput** (Gbit/s"))
        let section = report[throughput.lowerBound...].prefix { _ in true }
        let table = String(section[..<(section.range(of: "\n**")?.lowerBound ?? section.endIndex)])
        #expect(table.contains("⚠ 5 of 6 cells: high spread (a 95% interval wider than 25% of the median).\n\n<details><summary>The flagged cells (5)</summary>"))
        #expect(table.components(separatedBy: "high spread (a 95%").count == 2, "said once per table")
        #expect(table.contains("- marshal 65536 B × 1: high spread: the 95% interval is"))
        #expect(table.contains("</details>"))
    }

    /// The environment names the interface the data took and its MTU: loopback's on one host; on two, each side's
    /// route — and not loopback's, which profiles of two-host runs before copyprof left it out still carry.
    @Test func theEnvironmentNamesTheInterfaceTheDataTook() throws {
        let oneHost = SampleProfiles.make(throughput: [1, 2, 3])
        let local = Report(profile: oneHost, source: "p.json", chartFolder: "charts").environmentSection()
        #expect(local.contains("| loopback MTU | 65536 |"))

        var twoHosts = oneHost
        twoHosts.remote = RemoteInfo(
            server: "192.0.2.1:7115", serverEnvironment: SampleProfiles.environment(),
            clientPath: NetworkPath(peer: "192.0.2.1", interface: "eth0", mtu: 9000, kind: .device),
            serverPath: NetworkPath(peer: "192.0.2.2", interface: "eth1", mtu: 1500, kind: .device))
        #expect(twoHosts.environment.loopbackMTU == 65536, "as profiles of two-host runs recorded it")
        let remote = Report(profile: twoHosts, source: "p.json", chartFolder: "charts").environmentSection()
        #expect(!remote.contains("loopback"), "\(remote)")
        #expect(remote.contains("| path, client → server | eth0 (device, MTU 9000) toward 192.0.2.1 |"))
        #expect(remote.contains("| path, server → client | eth1 (device, MTU 1500) toward 192.0.2.2 |"))
    }

    @Test func eachNotCountedReasonIsSaidOnceWithItsEvents() {
        var environment = SampleProfiles.environment()
        let noPMU = AvailabilityRecord(state: .notSupported, reason: "ENOENT: no hardware PMU", errno: 2)
        environment.events = ["cycles", "instructions", "L1-dcache-load-misses", "LLC-load-misses"].map {
            EventProbeRecord(name: $0, kind: "hardware", summary: "", availability: noPMU)
        } + [EventProbeRecord(
            name: "context-switches", kind: "software", summary: "",
            availability: AvailabilityRecord(state: .notPermitted, reason: "EACCES: paranoid 2", errno: 13))]
        let profile = SampleProfiles.rounds(
            [SampleProfiles.roundsCell(key(.twoCopy), timing: [8, 8, 8, 8, 8, 8], counted: [8, 8, 8, 8, 8, 8]),
             SampleProfiles.roundsCell(key(.oneCopy), timing: [8, 8, 8, 8, 8, 8], counted: [8, 8, 8, 8, 8, 8])],
            controlMs: nil, environment: environment)
        let report = Report(profile: profile, source: "p.json", chartFolder: "c").markdown
        #expect(report.contains(
            "- `cycles`, `instructions`, `L1-dcache-load-misses`, `LLC-load-misses`: not-supported: ENOENT: no hardware PMU\n"
                + "- `context-switches`: not-permitted: EACCES: paranoid 2\n"))
        #expect(report.components(separatedBy: "ENOENT: no hardware PMU").count == 3, "once in Counters, once in the cache finding")
        #expect(report.contains("(`L1-dcache-load-misses`, `LLC-load-misses`: not-supported: ENOENT: no hardware PMU)")
            || report.contains("(`L1-dcache-load-misses`, `LLC-load-misses`: ENOENT: no hardware PMU)"))
    }

    @Test func aLinearAxisStopsNearItsData() {
        // The cache chart's case: changes from −30% to +1400% gave a step of 500 and an axis down to −500.
        let scale = AxisScale(values: [-30, 1400, 0], log: false, from: 1, to: 0, includeZero: true)
        #expect(scale.low > -110 && scale.low <= -30)
        #expect(scale.high >= 1400 && scale.high < 1500)
        #expect(scale.ticks() == [0, 500, 1000])
        // Where the next tick is near, the axis still ends on it.
        let tidy = AxisScale(values: [0, 9.8], log: false, from: 1, to: 0, includeZero: true)
        #expect(tidy.low == 0 && tidy.high == 10 && tidy.ticks() == [0, 2, 4, 6, 8, 10])
    }

    @Test func aProfileWithoutTrialsSaysSoAndNothingElse() {
        var profile = SampleProfiles.make(throughput: [8])
        profile.cells = []
        profile.status = .interrupted
        profile.statusReason = "interrupted (Ctrl-C)"
        let report = Report(profile: profile, source: "p.json", chartFolder: "c")
        let md = report.markdown
        #expect(md.contains("> **No trial finished**: the run was interrupted (Ctrl-C) before any recorded trial ended"))
        #expect(!md.contains("## Method") && !md.contains("## Findings") && !md.contains("## Charts"))
        #expect(!md.contains("Counted in every sender and receiver thread"), "no counter was opened in a worker")
        #expect(md.contains("## Environment") && md.contains("This host could count"))
        #expect(report.charts.isEmpty)
    }

    // MARK: - The cache-level finding

    /// Two-copy and one-copy with L1d misses per trial as given (and 4096 B, 6 rounds).
    func cacheProfile(two: [Double], one: [Double], vendor: String?, family: Int? = nil, userOnly: Bool = false) -> Profile {
        func cell(_ t: TransportKind, _ misses: [Double]) -> CellRecord {
            CellRecord(key: key(t), trials: misses.enumerated().flatMap { i, m in
                var counted = SampleProfiles.trial(2 * i + 2, gbps: 8, extra: ["L1-dcache-load-misses": m], kind: .counted, round: i + 1)
                if userOnly { counted.workers[0].counters["L1-dcache-load-misses"]?.mode = .userOnly }
                return [SampleProfiles.trial(2 * i + 1, gbps: 8, kind: .timing, round: i + 1), counted]
            })
        }
        var environment = SampleProfiles.environment(cpu: "Some CPU", pmu: true)
        environment.cpuVendor = vendor
        environment.cpuFamily = family
        return SampleProfiles.rounds([cell(.twoCopy, two), cell(.oneCopy, one)], controlMs: nil, environment: environment)
    }

    @Test func theCacheFindingNamesAWinnerOnlyWhenTheTestSaysSo() throws {
        let high = [1000.0, 1010, 990, 1020, 980, 1005].map { $0 * 1000 }
        let significant = Analysis(profile: cacheProfile(two: high, one: high.map { $0 / 2 }, vendor: "GenuineIntel")).cacheOutcome()
        guard case .reduction(let level, let e, let reading) = try #require(significant) else {
            Issue.record("a significant reduction is named")
            return
        }
        #expect(level == "L1d" && e.cell.transport == .oneCopy && (e.p ?? 1) < 0.05 && reading.vendor == .intel)
        let text = FindingsMarkdown.cache(try #require(significant))
        #expect(text.contains("The largest significant reduction against two-copy is at the **L1d**"))
        #expect(text.contains("p = 0.002"))
        #expect(text.contains("What the events count on Intel"))
        #expect(text.contains("`L1-dcache-load-misses`: `L1D.REPLACEMENT`: every line brought into the L1 data cache"))

        // Overlapping samples: a lower median, but no winner.
        let overlapping = [995.0, 1015, 985, 1012, 978, 1000].map { $0 * 1000 }
        let none = try #require(Analysis(profile: cacheProfile(two: high, one: overlapping, vendor: "AuthenticAMD", family: 25)).cacheOutcome())
        guard case .noReduction(let largest, _, let amd) = none else {
            Issue.record("no winner without significance")
            return
        }
        #expect(largest?.cell.transport == .oneCopy && (largest?.p ?? 0) >= 0.05 && amd.vendor == .amdZen)
        let noneText = FindingsMarkdown.cache(none)
        #expect(noneText.contains("No transport has significantly fewer L1d or LLC misses per KB than two-copy"))
        #expect(noneText.contains("the largest difference, not significant: L1d, one-copy at 4096 B"))
        #expect(noneText.contains("event 0x60 umask 0xc8, L2 cache requests from data-cache misses"))
    }

    @Test func theCacheFindingFlagsUserOnlyAndScaledValues() throws {
        let high = [1000.0, 1010, 990, 1020, 980, 1005].map { $0 * 1000 }
        var profile = cacheProfile(two: high, one: high.map { $0 / 2 }, vendor: nil, userOnly: true)
        profile.cells[1].trials[1].workers[1].counters["L1-dcache-load-misses"] = CounterRecord(raw: 250_000, timeEnabled: 10, timeRunning: 5)
        let outcome = try #require(Analysis(profile: profile).cacheOutcome())
        guard case .reduction(_, _, let reading) = outcome else {
            Issue.record("a reduction")
            return
        }
        #expect(reading.userOnly == ["L1-dcache-load-misses"] && reading.scaled == ["L1-dcache-load-misses"])
        let text = FindingsMarkdown.cache(outcome)
        #expect(text.contains(" :u (scaled) ("))
        #expect(text.contains("`:u`: `L1-dcache-load-misses` counted in user space only"))
        #expect(text.contains("Scaled: `L1-dcache-load-misses` shared a counter"))
        // "Some CPU" without a recorded vendor: the meaning says it is not comparable across vendors.
        #expect(text.contains("whatever this CPU's PMU driver maps the generic event to"))
    }

    @Test func theVendorComesFromTheProfileOrTheModelName() {
        var environment = SampleProfiles.environment(cpu: "AMD EPYC")
        #expect(CacheEvents.vendor(of: environment) == .amdZen, "older profiles: EPYC is Zen")
        environment.cpuVendor = "AuthenticAMD"
        environment.cpuFamily = 0x15
        #expect(CacheEvents.vendor(of: environment) == .amdBeforeZen)
        environment.cpuVendor = "GenuineIntel"
        #expect(CacheEvents.vendor(of: environment) == .intel)
        environment.cpuVendor = "CPU implementer 0x41"
        #expect(CacheEvents.vendor(of: environment) == .arm)
        #expect(CacheEvents.meaning(of: EventName.llcLoadMisses, on: .amdBeforeZen)?.contains("perf's \"LLC\" is the L2") == true)
    }
}
