import SystemCalls

/// Errors of the counters layer. Each description is one line that says what failed and what to do.
public enum CounterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name is neither a catalog event nor a `subsystem:name` tracepoint.
    case unknownEvent(String)
    /// None of the requested events could be opened; each is listed with its reason.
    case nothingAvailable([String: EventAvailability])
    /// A system call on an open counter failed: which, and its errno.
    case systemCall(SystemCallError)
    /// A group read returned bytes that do not decode.
    case malformedRead(String)
    /// `start()` and `stop()` were not called in turn.
    case misuse(String)

    /// One line: what failed and what to do.
    public var description: String {
        switch self {
        case .unknownEvent(let name):
            let known = PerfEvent.catalog.map(\.name).joined(separator: ", ")
            return "unknown event '\(name)': use one of \(known), or a tracepoint as subsystem:name"
        case .nothingAvailable(let reasons):
            let list = reasons.keys.sorted().map { "\($0) (\(reasons[$0]!.description))" }.joined(separator: "; ")
            return "none of the requested events can be counted here: \(list)"
        case .systemCall(let failure):
            return failure.description
        case .malformedRead(let what):
            return "perf counter read did not decode: \(what)"
        case .misuse(let what):
            return "counters used out of order: \(what)"
        }
    }
}
