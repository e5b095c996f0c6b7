import CopyprofModel

/// How the report shows each attribution category: one fixed colour in every chart (stacked bars, flame graphs),
/// and the words findings use for it.
extension AttributionCategory {
    /// The category's colour, the same in every chart: the copies in warm colours (Okabe–Ito's vermillion, orange,
    /// reddish purple and Paul Tol's wine), zero-copy's own work in green and sky blue, the kernel's machinery in
    /// blues and teal, the rest muted.
    package var color: String {
        switch self {
        case .copyFromUser: "#D55E00"
        case .copyToUser: "#E69F00"
        case .userMemcpy: "#CC79A7"
        case .zerocopyPinning: "#009E73"
        case .zerocopyCompletion: "#56B4E9"
        case .deferredCopy: "#882255"
        case .tcpIP: "#0072B2"
        case .syscall: "#332288"
        case .scheduler: "#44AA99"
        case .memory: "#999933"
        case .irqEnableSite: "#DDCC77"
        case .userLoop: "#117733"
        case .other: "#BBBBBB"
        }
    }

    /// Text drawn on the category's colour: white on the dark ones, black on the light.
    var textColor: String {
        switch self {
        case .deferredCopy, .tcpIP, .syscall, .userLoop, .copyFromUser, .zerocopyPinning: "#FFFFFF"
        default: "#000000"
        }
    }

    /// What the category is, in words: "the copy from user memory".
    package var phrase: String {
        switch self {
        case .copyFromUser: "the copy from user memory"
        case .copyToUser: "the copy to user memory"
        case .userMemcpy: "user-space memcpy"
        case .zerocopyPinning: "pinning pages"
        case .zerocopyCompletion: "zero-copy completions"
        case .deferredCopy: "the deferred copy of \"zero-copy\" pages"
        case .tcpIP: "the TCP/IP stack"
        case .syscall: "system call entry and the socket layer"
        case .scheduler: "blocking, waking and switching threads"
        case .memory: "memory management"
        case .irqEnableSite: "interrupt-enable sites"
        case .userLoop: "copyprof's own loop"
        case .other: "other code"
        }
    }
}
