import ArgumentParser
import CopyprofModel
import CopyprofProfile
import CopyprofRemote
import Foundation
import Transports

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the receiving side of two-host runs (`copyprof run --connect HOST:PORT` on the other host).",
        discussion: """
            Serves one controlling client at a time; a second one is told the server is busy. Each cell's receivers \
            (ping-pong: echoers) run here with their own counters, and their measurements go back into the client's \
            profile. Data connections use a new port per trial on the same address, and are admitted only from the \
            client's address with its session token; open the ports in the firewall, or allow the whole host. \
            Every wait has a deadline of this server's (--idle-timeout, --message-timeout), every cell is checked \
            against --max-connections and --max-memory before anything is allocated. Ctrl-C stops the server.
            """
    )

    @Option(help: "The address and port to listen on (port 0: the kernel chooses; it is printed).")
    var listen: String = "127.0.0.1:7115"

    @Option(help: ArgumentHelp(
        "Client addresses or networks allowed to connect, comma-separated: 192.0.2.7,10.0.0.0/8,fd00::/8. (default: any)",
        valueName: "list"))
    var allow: String?

    @Option(help: ArgumentHelp(
        "Bytes of message buffers one cell may take here, with K, M or G in binary units (512M, 2G, 2GiB; receivers: 2 messages per connection; ping-pong echoers also send). (default: a quarter of this host's memory, at most 4G)",
        valueName: "bytes"))
    var maxMemory: String?

    @Option(help: "Connections, each a receiver thread here, one cell may use.")
    var maxConnections: Int = ServerOptions.defaultMaxConnections

    /// The old name of --max-connections, still accepted.
    @Option(name: .customLong("max-threads"), help: .hidden)
    var maxThreads: Int?

    @Option(
        help: ArgumentHelp("How long a client may stay silent between messages, or a cell wait for its data connections and start: seconds (30, 30s) or milliseconds.", valueName: "time"),
        transform: { try parseDuration($0, option: "--idle-timeout") })
    var idleTimeout: Double = ServerOptions.defaultIdleTimeout

    @Option(
        help: ArgumentHelp("How long a message may take to arrive once started, and a new client to send its whole hello: seconds or milliseconds (500ms).", valueName: "time"),
        transform: { try parseDuration($0, option: "--message-timeout") })
    var messageTimeout: Double = ServerOptions.defaultMessageTimeout

    @Option(
        help: ArgumentHelp("How long one client may hold the server: seconds. (default: as long as it keeps running cells)", valueName: "time"),
        transform: { try parseDuration($0, option: "--max-session") })
    var maxSession: Double?

    func makeOptions() throws -> ServerOptions {
        var options = ServerOptions()
        if let allow {
            do { options.allow = try AddressRange.list(allow) } catch { throw ValidationError(error.description) }
        }
        if let maxMemory {
            let bytes = try parseByteCount(maxMemory, option: "--max-memory")
            guard bytes >= 1 << 20, bytes <= RunLimits.runMemory else {
                throw ValidationError("--max-memory takes a size from 1M to \(formatBytes(RunLimits.runMemory)) (e.g. 512M, 2G)")
            }
            options.maxMemoryBytes = bytes
        }
        let maxConnections = maxThreads ?? self.maxConnections
        guard RunLimits.connections.contains(maxConnections) else {
            throw ValidationError(
                "--max-connections must be from \(RunLimits.connections.lowerBound) to \(RunLimits.connections.upperBound)")
        }
        options.maxConnections = maxConnections
        guard idleTimeout >= 0.5 && idleTimeout <= RunLimits.ioTimeout.upperBound else {
            throw ValidationError("--idle-timeout must be from 0.5 to \(Int(RunLimits.ioTimeout.upperBound)) seconds")
        }
        options.idleTimeout = idleTimeout
        guard messageTimeout >= 0.1 && messageTimeout <= 60 else {
            throw ValidationError("--message-timeout must be from 0.1 to 60 seconds")
        }
        options.messageTimeout = messageTimeout
        if let maxSession {
            guard maxSession >= 1 else { throw ValidationError("--max-session must be at least 1 second") }
            options.maxSession = maxSession
        }
        return options
    }

    func validate() throws {
        _ = try parseHostPort(listen, option: "--listen")
        _ = try makeOptions()
    }

    func run() throws {
        let address = try parseHostPort(listen, option: "--listen")
        let options = try makeOptions()
        Interruption.installGracefulStop()
        let server = try RemoteServer(listen: address, options: options, log: { note($0) })
        try writeStandardOutput("copyprof serve: listening on \(server.address)\n")
        note("clients: \(options.allow.isEmpty ? "any address" : options.allow.map(\.description).joined(separator: ", ")); "
             + "per cell at most \(options.maxConnections) connections and \(formatBytes(options.maxMemoryBytes)) of buffers")
        server.serve(shouldStop: { Interruption.requested })
        note("stopped")
    }
}
