import CopyprofFiles
import CopyprofProfile
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT (Ctrl-C), SIGTERM and SIGHUP.
///
/// Every command that writes files removes the temporary file it is writing before it dies of one of them
/// (``installCleanup()``). `run` and `serve` stop gracefully on the first one — the trial in flight finishes and what
/// was measured is saved, or the server closes its sessions — and die at once, after the same clean-up, on a
/// second (``installGracefulStop()``). Which signal it was is kept, so that a profile says SIGTERM, not Ctrl-C.
enum Interruption {
    /// The first signal received, 0 before.
    private static let received = Atomic<Int32>(0)
    /// True when the first signal is a request to stop rather than the end.
    private static let graceful = Atomic<Bool>(false)
    static let signals = [SIGINT, SIGTERM, SIGHUP]

    static var requested: Bool { received.load(ordering: .relaxed) != 0 }

    /// The signal that asked to stop, if one did.
    static var signal: Int32? {
        let value = received.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    /// "interrupted (Ctrl-C)", "interrupted (SIGTERM)", ...
    static var reason: String { "interrupted (\(signal.map(name) ?? "Ctrl-C"))" }

    /// What a shell shows for a process ended by the signal: 128 + its number.
    static var exitCode: Int32 { 128 + (signal ?? SIGINT) }

    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "Ctrl-C"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(signal)"
        }
    }

    /// Any of the signals removes the temporary files being written, then ends the process as the signal would.
    static func installCleanup() {
        graceful.store(false, ordering: .relaxed)
        install()
    }

    /// The first signal asks to stop (see ``requested``); a second removes the temporary files and ends the process.
    static func installGracefulStop() {
        graceful.store(true, ordering: .relaxed)
        install()
    }

    private static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            if Interruption.graceful.load(ordering: .relaxed),
                Interruption.received.compareExchange(expected: 0, desired: signal, ordering: .relaxed).exchanged
            {
                return
            }
            // Only async-signal-safe calls from here: unlink, sigaction, raise. The signal is blocked while the
            // handler runs, so the raise takes effect, with the default action, when it returns.
            TemporaryFiles.removeAllFromSignalHandler()
            var fallback = sigaction()
            fallback.__sigaction_handler.sa_handler = SIG_DFL
            sigemptyset(&fallback.sa_mask)
            sigaction(signal, &fallback, nil)
            raise(signal)
        }
        action.sa_flags = 0
        sigemptyset(&action.sa_mask)
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for signal in signals {
            sigaction(signal, &action, nil)
            sigaddset(&blocked, signal)
        }
        // A parent may have started us with these blocked; worker threads inherit this mask.
        pthread_sigmask(SIG_UNBLOCK, &blocked, nil)
    }
}
