import Testing

@testable import CopyprofProfile

/// The order of a sweep's trials: rounds that run every cell, rotating, transports of a group side by side.
@Suite struct ScheduleTests {
    let plan = SweepPlan(sizes: [64, 4096], connections: [1, 2], trials: 6, warmup: 1)

    @Test func everyRecordedRoundRunsEveryCellOnceOfEachKind() {
        let kinds = SweepPlan.trialKinds(counting: true)
        for round in 1...6 {
            let trials = plan.schedule(round: round, kinds: kinds)
            #expect(trials.count == plan.cells.count * 2)
            for key in plan.cells {
                #expect(trials.filter { $0.cell == key }.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.counted, .timing])
            }
        }
        #expect(plan.runCount(kinds: 2) == 32 * 13)
        #expect(plan.runCount(kinds: 1) == 32 * 7)
    }

    @Test func aWarmupRoundRunsEveryCellOnceWithBothKindsWarmed() {
        let trials = plan.schedule(round: 0, kinds: [.timing, .counted])
        #expect(trials.count == plan.cells.count)
        #expect(Set(trials.map(\.cell)) == Set(plan.cells))
        #expect(Set(trials.map(\.kind)) == [.timing, .counted])
        let timingOnly = plan.schedule(round: 0, kinds: [.timing])
        #expect(timingOnly.count == plan.cells.count)
        #expect(timingOnly.allSatisfy { $0.kind == .timing })
    }

    @Test func theOrderRotatesAndKeepsGroupsTogether() {
        let kinds: [TrialKind] = [.timing, .counted]
        let orders = (1...6).map { plan.schedule(round: $0, kinds: kinds) }
        // No cell runs first in two consecutive rounds, and the kinds' order alternates for each cell.
        for (a, b) in zip(orders, orders.dropFirst()) {
            #expect(a.first?.cell != b.first?.cell)
            for key in plan.cells {
                #expect(a.first { $0.cell == key }?.kind != b.first { $0.cell == key }?.kind, "\(key)")
            }
        }
        // The transports of a group (same workload, size and threads) run side by side: 8 consecutive trials, the four
        // transports of one kind, then of the other.
        for order in orders {
            for start in stride(from: 0, to: order.count, by: 8) {
                let group = order[start..<start + 8].map(\.cell)
                #expect(Set(group.map { "\($0.workload)\($0.messageSize)\($0.connections)" }).count == 1)
                #expect(Set(group.map(\.transport)).count == 4)
                #expect(Set(order[start..<start + 4].map(\.kind)).count == 1 && Set(order[start + 4..<start + 8].map(\.kind)).count == 1)
                #expect(Set(order[start..<start + 4].map(\.cell.transport)).count == 4)
            }
        }
        // Over the rounds, every transport of a group runs first at least once.
        let firsts = Set(orders.map { $0[0].cell.transport })
        #expect(firsts.count == 4)
    }
}
