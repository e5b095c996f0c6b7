import ArgumentParser
import CopyprofCore
import Foundation
import Transports

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the receiving side of two-host runs (`copyprof run --connect HOST:PORT` on the other host).",
        discussion: """
            Serves one controlling client at a time; a second one is told the server is busy. Each cell's receivers \
            (ping-pong: echoers) run here with their own counters, and their measurements go back into the client's \
            profile. Data connections use a new port per trial on the same address; open it in the firewall, or \
            allow the whole host. Ctrl-C stops the server.
            """
    )

    @Option(help: "The address and port to listen on (port 0: the kernel chooses; it is printed).")
    var listen: String = "127.0.0.1:7115"

    func validate() throws {
        _ = try parseHostPort(listen, option: "--listen")
    }

    func run() throws {
        let address = try parseHostPort(listen, option: "--listen")
        Interruption.install()
        let server = try RemoteServer(listen: address, log: { note($0) })
        print("copyprof serve: listening on \(server.address)")
        fflush(nil)
        server.serve(shouldStop: { Interruption.requested })
        note("stopped")
    }
}

/// HOST:PORT or [IPv6]:PORT, numeric.
func parseHostPort(_ text: String, option: String) throws -> SocketAddress {
    var host = Substring(text)
    guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
        throw ValidationError("\(option) takes HOST:PORT with a numeric address, e.g. 192.0.2.1:7115 or [::1]:7115")
    }
    host = text[..<colon]
    if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
    do { return try SocketAddress(host: String(host), port: port) } catch {
        throw ValidationError("\(option): \(error.description)")
    }
}
