/// Errors of copyprof's commands, one line each, saying what and what to do: the one error type the profile, the
/// files, the report and the command line share.
public enum CopyprofError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidArgument(String)
    case unreadableProfile(path: String, problem: String)
    case io(path: String, problem: String)
    case countersUnavailable(String)
    /// The remote server is unreachable, busy, incompatible or gone.
    case remote(String)

    public var description: String {
        switch self {
        case .invalidArgument(let what): return what
        case .unreadableProfile(let path, let problem): return "\(path): \(problem)"
        case .io(let path, let problem): return "\(path): \(problem)"
        case .countersUnavailable(let what): return what
        case .remote(let what): return what
        }
    }
}
