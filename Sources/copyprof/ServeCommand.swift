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
        "Bytes of message buffers one cell may take here, with K, M or G (receivers: 2 messages per connection; ping-pong echoers also send). (default: a quarter of this host's memory, at most 4G)",
        valueName: "bytes"))
    var maxMemory: String?

    @Option(help: "Connections, each a receiver thread here, one cell may use.")
    var maxConnections: Int = ServerOptions.defaultMaxConnections

    /// The old name of --max-connections, still accepted.
    @Option(name: .customLong("max-threads"), help: .hidden)
    var maxThreads: Int?

    @Option(help: "Seconds a client may stay silent between messages, or a cell wait for its data connections and start.")
    var idleTimeout: Double = ServerOptions.defaultIdleTimeout

    @Option(help: "Seconds a message may take to arrive once started, and a new client to send its whole hello.")
    var messageTimeout: Double = ServerOptions.defaultMessageTimeout

    @Option(help: "Seconds one client may hold the server. (default: as long as it keeps running cells)")
    var maxSession: Double?

    func makeOptions() throws -> ServerOptions {
        var options = ServerOptions()
        if let allow {
            do { options.allow = try AddressRange.list(allow) } catch { throw ValidationError(error.description) }
        }
        if let maxMemory {
            guard let bytes = parseByteCount(maxMemory), bytes >= 1 << 20, bytes <= RunLimits.runMemory else {
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

/// `512M`, `2G`, `65536`: bytes, with an optional K, M or G (powers of 1024); nil for anything else.
func parseByteCount(_ text: String) -> Int? {
    let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
    var digits = text.trimmingCharacters(in: .whitespaces).uppercased()
    if digits.hasSuffix("IB") { digits.removeLast(2) } else if digits.hasSuffix("B") { digits.removeLast() }
    var scale = 1
    if let last = digits.last, let unit = units[last] {
        scale = unit
        digits.removeLast()
    }
    guard let value = Int(digits), value >= 0 else { return nil }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
    return overflow ? nil : bytes
}
