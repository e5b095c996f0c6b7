import Glibc
import Testing

@testable import PerfCounters

/// The groups the counters open, written as perf's `-e` takes them, so that `perf stat` counts the same events
/// (tools/perf/Documentation/perf-list.txt: `{event,event}:modifier` groups, `pmu/event/modifier`).
@Suite struct PerfSyntaxTests {
    @Test func modifiersEveryMemberSharesBelongToTheGroupOthersStayWithTheirEvent() {
        func syntax(_ events: [String], pmu: String? = nil) -> String {
            CounterGroupDescription(pmu: pmu, events: events, encoding: nil, cpus: nil).perfSyntax
        }
        #expect(syntax(["task-clock", "context-switches", "page-faults", "skb:skb_copy_datagram_iovec"])
            == "{task-clock,context-switches,page-faults,skb:skb_copy_datagram_iovec}")
        #expect(syntax(["cycles:u", "instructions:u"], pmu: "cpu") == "{cycles,instructions}:u")
        #expect(syntax(["task-clock", "page-faults:u"]) == "{task-clock,page-faults:u}")
        #expect(syntax(["skb:skb_copy_datagram_iovec:u"]) == "{skb:skb_copy_datagram_iovec}:u")
        #expect(syntax(["cycles:H", "instructions:uH"], pmu: "cpu_core") == "{cpu_core/cycles/H,cpu_core/instructions/uH}")
    }

    @Test func simulatedHybridGroupsNameTheirCorePMU() throws {
        let (core, atom) = SimulatedPMUTests.hybrid()
        let kernel = SimulatedKernel(pmus: [core, atom], nmiWatchdog: false)
        let counters = try CounterSet(events: [.cycles, .instructions, .taskClock], options: CounterOptions(), system: kernel)
        #expect(counters.groupDescriptions.map(\.perfSyntax) == [
            "{cpu_core/cycles/,cpu_core/instructions/}", "{cpu_atom/cycles/,cpu_atom/instructions/}", "{task-clock}",
        ])
    }

    @Test func simulatedUnprivilegedGroupsAreUserOnly() throws {
        let kernel = SimulatedKernel(pmus: [SimulatedPMUTests.intelCore()], paranoid: 2, privileged: false)
        let counters = try CounterSet(events: [.cycles, .instructions, .taskClock, .pageFaults], options: CounterOptions(), system: kernel)
        // task-clock counts the thread's time whatever exclude_kernel says (kernel/events/core.c task_clock_event_update):
        // it is not user-only, as perf stat shows it.
        #expect(counters.groupDescriptions.map(\.perfSyntax) == ["{cycles,instructions}:u", "{task-clock,page-faults:u}"])
    }

    /// This thread's real groups: what `copyprof counters --perf-events` prints.
    @Test func realSoftwareGroup() throws {
        let counters = try ThreadCounters(events: [.taskClock, .contextSwitches, .pageFaults])
        let expected = geteuid() == 0 ? "{task-clock,context-switches,page-faults}" : nil
        if let expected { #expect(counters.groups.map(\.perfSyntax) == [expected]) }
        #expect(counters.groups.count == 1 && counters.groups[0].perfSyntax.hasPrefix("{task-clock,"))
    }
}
