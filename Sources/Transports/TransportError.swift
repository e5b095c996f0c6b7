#if canImport(Glibc)
import Glibc
import SystemCalls
#endif

/// A failure of a transport run, in one line: which connection, which role, what it was doing, what happened.
public struct TransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What happened, without the worker context.
    public enum Kind: Sendable, Equatable {
        /// A system call failed: which, and its errno.
        case systemCall(SystemCallError)
        /// A socket operation waited longer than the I/O timeout.
        case timedOut(seconds: Double)
        /// The peer closed the connection where a message was due.
        case peerClosed
        /// The peer reset the connection (ECONNRESET, EPIPE).
        case peerReset
        /// The run's configuration is not valid.
        case invalidConfiguration(String)
        /// A measurement hook failed.
        case measurement(String)
        /// This host cannot run the transport or receiver at all (an old kernel, io_uring disabled, a seccomp
        /// filter): why, in one line. A sweep records it for the cell and goes on.
        case notSupported(String)
    }

    public var kind: Kind
    /// What the worker was doing, e.g. "sending message 1234" ("" when not known).
    public var activity: String
    /// "connection 2 receiver" ("" outside a worker).
    public var worker: String

    public init(_ kind: Kind, activity: String = "", worker: String = "") {
        self.kind = kind
        self.activity = activity
        self.worker = worker
    }

    /// `call` failed with errno `code`: a reset when the peer reset the connection, a system call error otherwise.
    static func system(_ call: String, _ code: Int32, activity: String = "") -> TransportError {
        if code == ECONNRESET || code == EPIPE { return TransportError(.peerReset, activity: activity) }
        return TransportError(.systemCall(SystemCallError(call, Errno(code))), activity: activity)
    }

    /// Why the host cannot run this at all, when that is the error.
    public var notSupportedReason: String? {
        if case .notSupported(let why) = kind { return why }
        return nil
    }

    public var description: String {
        var text = worker.isEmpty ? "" : worker + ": "
        switch kind {
        case .systemCall(let failure):
            text += failure.description
        case .timedOut(let seconds):
            text += "no progress for \(formatSeconds(seconds)) s (I/O timeout)"
        case .peerClosed:
            text += "the peer closed the connection"
        case .peerReset:
            text += "the peer reset the connection"
        case .invalidConfiguration(let what):
            return "invalid run configuration: \(what)"
        case .measurement(let what):
            text += "measurement failed: \(what)"
        case .notSupported(let why):
            return "not supported: \(why)"
        }
        if !activity.isEmpty { text += " while \(activity)" }
        return text
    }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}
