import Glibc
import Synchronization
import Testing

@testable import SystemCalls

/// SIGUSR2 deliveries to the test's handler (async-signal-safe: one atomic add).
private let deliveries = Atomic<Int>(0)

@Suite struct SystemCallsTests {
    @Test func aFailedCallNamesItsErrnoLikeSwiftSystem() {
        let fd = open("/nonexistent/copyprof-test", O_RDONLY | O_CLOEXEC)
        let error = SystemCallError("open(/nonexistent/copyprof-test)")
        #expect(fd == -1)
        #expect(error.errno == Errno(ENOENT))
        #expect(error.description == "open(/nonexistent/copyprof-test) failed: No such file or directory (ENOENT)")
        #expect(Errno(12345).name == "errno 12345")
    }

    @Test func retryingOnInterruptLeavesOtherFailuresAlone() {
        var calls = 0
        let result = retryingOnInterrupt { () -> Int32 in
            calls += 1
            errno = calls < 3 ? EINTR : EBADF
            return -1
        }
        #expect(result == -1 && calls == 3 && errno == EBADF)
    }

    /// The ping-pong goes on through a storm of signals whose handler has no SA_RESTART (as copyprof's Ctrl-C
    /// handler), sent to both of its threads while they block in read and write: every round trip completes.
    @Test func pipePingPongSurvivesSignalsWithoutRestart() throws {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in deliveries.add(1, ordering: .relaxed) }
        action.sa_flags = 0  // no SA_RESTART: a blocked read or write fails with EINTR
        sigemptyset(&action.sa_mask)
        var previous = sigaction()
        try #require(sigaction(SIGUSR2, &action, &previous) == 0)
        defer { sigaction(SIGUSR2, &previous, nil) }
        let before = deliveries.load(ordering: .relaxed)

        let roundTrips = 3_000
        let targets = SignalTargets()
        // Signals both threads every 20 µs until the round trips are over.
        let signaller = try JoinableThread(name: "test-signaller") {
            while !targets.done.load(ordering: .relaxed) {
                targets.threads.withLock { threads in
                    for thread in threads { pthread_kill(thread, SIGUSR2) }
                }
                usleep(20)
            }
        }
        // On threads of its own: the test runner's threads block SIGUSR2 (a new thread inherits its creator's mask),
        // and a signal still pending when they end goes with them.
        let runner = try JoinableThread(name: "test-pingpong") {
            var usr2 = sigset_t()
            sigemptyset(&usr2)
            sigaddset(&usr2, SIGUSR2)
            pthread_sigmask(SIG_UNBLOCK, &usr2, nil)
            let outcome = try? PipePingPong.run(
                roundTrips: roundTrips, partnerName: "test-echo",
                partner: { echo in targets.signalled(pthread_self()) { echo() } },
                caller: { ping in targets.signalled(pthread_self()) { ping() } })
            targets.outcome.withLock { $0 = outcome }
        }
        runner.join()
        targets.done.store(true, ordering: .relaxed)
        signaller.join()
        let outcome = try #require(targets.outcome.withLock { $0 }, "no pipes or no partner thread")
        let delivered = deliveries.load(ordering: .relaxed) - before
        try #require(delivered > 0, "no signal reached the ping-pong's threads: the test proved nothing")
        #expect(outcome.caller == roundTrips, "\(delivered) signals delivered")
        #expect(outcome.partner == roundTrips, "\(delivered) signals delivered")
    }

    @Test func pipePingPongReportsAPartnerThatNeverEchoes() throws {
        let outcome = try PipePingPong.run(
            roundTrips: 10, partnerName: "test-silent", partner: { _ in 0 }, caller: { ping in ping() })
        #expect(outcome.caller == 0 && outcome.partner == 0)
    }

    @Test func aThreadNamesItselfAndCutsLongNames() throws {
        let seen = Mutex<(comm: String, tid: Int32)?>(nil)
        let thread = try JoinableThread(name: "a-name-longer-than-fifteen-bytes") {
            let tid = currentThreadID()
            seen.withLock { $0 = (Self.comm(of: tid), tid) }
        }
        thread.join()
        thread.join()  // a second join returns at once
        let (comm, tid) = try #require(seen.withLock { $0 })
        #expect(thread.name == "a-name-longer-t")
        #expect(comm == "a-name-longer-t")
        #expect(tid != currentThreadID() && tid > 0)
        #expect(JoinableThread.kernelName("cp-recv-ü-0123456") == "cp-recv-ü-0123")  // ü is 2 bytes
    }

    @Test func acceptedAndPipeDescriptorsAreCloseOnExec() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        try #require(listening)
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(client >= 0)
        defer { close(client) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) }
        }
        try #require(connected == 0)
        let accepted = acceptCloseOnExec(listener)
        try #require(accepted >= 0, "accept4: \(Errno.current)")
        defer { close(accepted) }
        #expect(fcntl(accepted, F_GETFD) & FD_CLOEXEC != 0)
        // The client's socket was made without SOCK_CLOEXEC: the check tells the two apart.
        #expect(fcntl(client, F_GETFD) & FD_CLOEXEC == 0)

        let pipe = try makePipe(nonBlocking: true)
        defer {
            close(pipe.read)
            close(pipe.write)
        }
        for fd in [pipe.read, pipe.write] {
            #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
            #expect(fcntl(fd, F_GETFL) & O_NONBLOCK != 0)
        }
    }

    /// What /proc/self/task/TID/comm says, without its newline.
    static func comm(of tid: Int32) -> String {
        let fd = open("/proc/self/task/\(tid)/comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 64)
        let n = retryingOnInterrupt { read(fd, &bytes, bytes.count) }
        return String(decoding: bytes.prefix(max(0, n)).prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }
}

/// The threads the signaller may signal: each is in the list only while it runs its round trips, and leaves it
/// under the lock the signaller holds while it signals, so that no signal goes to a thread that has ended.
private final class SignalTargets: Sendable {
    let threads = Mutex<[pthread_t]>([])
    let done = Atomic<Bool>(false)
    let outcome = Mutex<(caller: Int, partner: Int)?>(nil)

    func signalled<T>(_ thread: pthread_t, during body: () -> T) -> T {
        threads.withLock { $0.append(thread) }
        defer { threads.withLock { $0.removeAll { $0 == thread } } }
        return body()
    }
}
