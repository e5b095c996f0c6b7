import CSeccompTestSupport
import Glibc
import SystemCalls
import Testing

@testable import PerfCounters

/// Runs `body` on a thread of its own and waits for it: what a test does to its thread (a seccomp filter) ends with
/// that thread, never touching the test runner's threads.
func runOnOwnThread(_ body: @escaping @Sendable () -> Void) throws {
    try JoinableThread(name: "test-own-thread", body).join()
}

/// The fallbacks this machine can produce for real: a seccomp filter's EPERM (on one thread), a region whose events
/// cannot be opened, /proc/thread-self/status, cpufreq and tracefs modes read from files.
@Suite struct RealFallbackTests {
    /// What a thread under a seccomp filter saw.
    final class FilteredThread: @unchecked Sendable {
        // Written by the filtered thread, read after it was joined.
        var installed: Int32 = -1
        var installErrno: Int32 = 0
        var host: HostFacts?
        var error: CounterError?
        var measurement: RegionMeasurement?
        var regionError: CounterError?
    }

    @Test func aSeccompFilterRefusingPerfEventOpenGivesTheContainerAdviceAndTheRegionStillMeasures() throws {
        // How we will know (issue 21), for real: a seccomp filter on one thread answers EPERM to perf_event_open,
        // as Docker's and Podman's default profiles do. The counters say so in one line, with the container options
        // and without perf_event_paranoid advice, after one probe; a region still measures rusage and CPU time.
        let seen = FilteredThread()
        try runOnOwnThread {
            seen.installed = CSeccompTestSupport_refuse_perf_event_open(EPERM)
            seen.installErrno = errno
            guard seen.installed == 0 else { return }
            seen.host = HostFacts.current()
            do throws(CounterError) {
                _ = try ThreadCounters(events: PerfEvent.catalog)
            } catch {
                seen.error = error
            }
            do throws(CounterError) {
                let region = try CountedRegion(events: PerfEvent.catalog)
                try region.begin()
                spinCPU(ns: 5_000_000)
                seen.measurement = try region.end()
            } catch {
                seen.regionError = error
            }
        }
        if seen.installed != 0 {
            try Test.cancel("no seccomp filter could be installed here: \(Errno(seen.installErrno))")
        }
        #expect(seen.host?.seccompFilter == true, "/proc/thread-self/status shows the thread's filter")
        guard case .nothingAvailable(let reasons)? = seen.error else {
            Issue.record("expected nothingAvailable, got \(String(describing: seen.error))")
            return
        }
        #expect(Set(reasons.values).count == 1, "one reason: \(reasons)")
        let reason = try #require(reasons["task-clock"])
        #expect(reason.state == .notPermitted && reason.errno == EPERM)
        #expect(reason.reason?.contains("--cap-add PERFMON") == true)
        #expect(reason.reason?.contains("perf_event_paranoid") == false)

        #expect(seen.regionError == nil)
        let measurement = try #require(seen.measurement)
        #expect(measurement.usage.cpuClockNs >= 5_000_000, "the thread CPU clock still measures the region")
        #expect(measurement.counters.count == PerfEvent.catalog.count)
        #expect(measurement.counters.allSatisfy { $0.value == nil && $0.reason == reason.description })
        #expect(measurement.contextSwitchFigure.source == .rusage)
    }

    @Test func aSeccompFilterRefusesTheSamplerInTheCountersOneLine() throws {
        // The sampler opens through the counters' ladder: under the same filter it asks once (PerfAccess), gets the
        // same reason in the same words, and retries nothing user space only (EPERM is not the paranoid EACCES).
        final class Seen: @unchecked Sendable {
            var installed: Int32 = -1
            var installErrno: Int32 = 0
            var countersError: CounterError?
            var samplerError: CounterError?
        }
        let seen = Seen()
        try runOnOwnThread {
            seen.installed = CSeccompTestSupport_refuse_perf_event_open(EPERM)
            seen.installErrno = errno
            guard seen.installed == 0 else { return }
            do throws(CounterError) { _ = try ThreadCounters(events: [.taskClock]) } catch { seen.countersError = error }
            do throws(CounterError) {
                _ = try ThreadSampler(options: SamplerOptions(callchainDepth: 8))
            } catch {
                seen.samplerError = error
            }
        }
        if seen.installed != 0 {
            try Test.cancel("no seccomp filter could be installed here: \(Errno(seen.installErrno))")
        }
        guard case .nothingAvailable(let counting)? = seen.countersError,
            case .nothingAvailable(let sampling)? = seen.samplerError
        else {
            let got = "\(String(describing: seen.countersError)) and \(String(describing: seen.samplerError))"
            Issue.record("expected nothingAvailable twice, got \(got)")
            return
        }
        #expect(Set(sampling.values).count == 1, "one reason: \(sampling)")
        let reason = try #require(sampling.values.first)
        #expect(reason == counting["task-clock"], "the counters' words")
        #expect(reason.errno == EPERM && reason.reason?.hasPrefix("EPERM: a seccomp filter on this thread") == true)
        #expect(seen.samplerError?.description.contains("\n") == false)
    }

    @Test func aRegionWhoseEventsCannotBeOpenedStillMeasuresRusage() throws {
        // No such tracepoint: nothing can be opened, yet the region measures what needs no counter, and each
        // reading says why it has no value (it was a thrown error before: a run's worker failed its trial).
        let event = try PerfEvent.named("copyprof_test:no_such_tracepoint")
        let region = try CountedRegion(events: [event])
        #expect(region.counters == nil)
        try region.begin()
        spinCPU(ns: 2_000_000)
        let measurement = try region.end()
        #expect(measurement.usage.cpuClockNs >= 2_000_000)
        let reading = try #require(measurement.reading(event))
        #expect(reading.value == nil)
        #expect(reading.availability.state == .notSupported || reading.availability.state == .notPermitted)
        #expect(reading.reason?.isEmpty == false)
    }

    @Test func processStatusGivesCapabilitiesAndSeccompMode() {
        // Bits 21 (CAP_SYS_ADMIN) and 38 (CAP_PERFMON) of CapEff, include/uapi/linux/capability.h.
        let root = ProcessStatus.parse("Name:\tx\nCapEff:\t000001ffffffffff\nSeccomp:\t0\n")
        #expect(root.sysAdmin == true && root.perfmon == true && root.seccompFilter == false)
        let perfmonOnly = ProcessStatus.parse("CapEff:\t0000004000000000\nSeccomp:\t2\n")
        #expect(perfmonOnly.sysAdmin == false && perfmonOnly.perfmon == true && perfmonOnly.seccompFilter == true)
        let unknown = ProcessStatus.parse("Name:\tx\n")
        #expect(unknown.sysAdmin == nil && unknown.seccompFilter == nil)
        // This thread, for real: the test runs as some user, with some mask; the fields are read.
        let this = ProcessStatus.read()
        #expect(this.sysAdmin != nil && this.seccompFilter != nil)
    }

    @Test func tracefsModeSaysRootOnly() throws {
        var template = Array("/tmp/copyprof-tracefs.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let path = String(cString: try #require(made))
        defer { rmdir(path) }
        #expect(chmod(path, 0o700) == 0)
        let owner = getuid() == 0 ? " (root only) here" : " here, not readable by this user"
        #expect(Tracefs.rootOnly(path) == "mode 0700" + owner)
        #expect(chmod(path, 0o755) == 0)
        #expect(Tracefs.rootOnly(path) == "mode 0755 here, not readable by this user")
        #expect(Tracefs.rootOnly(path + "/missing") == "readable by root only here")
    }
}
