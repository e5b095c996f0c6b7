import CopyprofModel
import Synchronization
import SystemCalls
import Testing

@testable import Transports

/// A profiler outside the process that counts the workers' threads (`copyprof run --perf-control`): told just before
/// the workers are released and once every loop ended, while each worker's thread ends with its region and another
/// thread wraps up — and the run's results are those of a run without it.
@Suite struct TimedLoopObserverTests {
    final class Recorder: TimedLoopObserver {
        let calls = Mutex<[(name: String, at: UInt64)]>([])
        func timedLoopsWillStart() { calls.withLock { $0.append(("start", monotonicNanoseconds())) } }
        func timedLoopsDidEnd() { calls.withLock { $0.append(("end", monotonicNanoseconds())) } }
    }

    @Test(arguments: [Workload.stream, .pingpong])
    func theObserverBracketsEveryLoopAndTheWrapUpStillHappens(_ workload: Workload) throws {
        let recorder = Recorder()
        let configuration = RunConfiguration(
            transport: .twoCopy, workload: workload, messageSize: 65536, connections: 2, duration: 0.1, verification: .full)
        let result = try runTransport(configuration, observer: recorder) { ThreadRecorder($0) }
        let calls = recorder.calls.withLock { $0 }
        #expect(calls.map(\.name) == ["start", "end"])
        try #require(calls.count == 2)
        #expect(result.workers.count == 4)
        for worker in result.workers {
            let region = try #require(worker.measurement)
            #expect(calls[0].at <= region.beganAt, "\(worker.identity): enabled before its region began")
            #expect(region.endedAt <= calls[1].at, "\(worker.identity): disabled after its region ended")
        }
        #expect(result.integrityErrors == 0)
        // The wrap-up ran on its own thread all the same: every message sent was received, in the loop or drained.
        for connection in 0..<2 {
            let ends = result.workers.filter { $0.identity.connection == connection }
            let sent = try #require(ends.first { $0.identity.role == .sender }?.sent?.messages)
            let receiver = try #require(ends.first { $0.identity.role == .receiver }?.received)
            if workload == .stream {
                #expect(receiver.messages + receiver.drainedMessages == sent, "connection \(connection)")
            } else {
                #expect(receiver.messages == sent, "connection \(connection): every request echoed")
            }
        }
    }
}
