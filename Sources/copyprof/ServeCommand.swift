import ArgumentParser
import CopyprofSweep
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
        Interruption.installGracefulStop()
        let server = try RemoteServer(listen: address, log: { note($0) })
        try writeStandardOutput("copyprof serve: listening on \(server.address)\n")
        server.serve(shouldStop: { Interruption.requested })
        note("stopped")
    }
}

