import Foundation
import SystemCalls

/// What a user needs of an error from Foundation's file functions (`FileManager`, `Data(contentsOf:)`): the C
/// library's text of its POSIX cause when it has one (`Permission denied`), else Foundation's own description.
func foundationErrorText(_ error: Error) -> String {
    let ns = error as NSError
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return Errno(Int32(underlying.code)).text
    }
    if ns.domain == NSCocoaErrorDomain && ns.code == NSFileReadNoSuchFileError { return "no such file" }
    return ns.localizedDescription
}
