/// One cell of the matrix.
///
/// The one type that carries a run's choices from the command line to the hot loop (``RunConfiguration`` holds
/// one), over the control protocol, into the profile and the report.
public struct CellKey: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var transport: TransportKind
    /// How the receivers took the bytes; `copy` in profiles written before receivers were recorded.
    public var receiver: ReceiverKind
    public var workload: Workload
    /// Bytes per message.
    public var messageSize: Int
    /// Connections, each a sender thread and a receiver thread.
    public var connections: Int

    public init(
        transport: TransportKind, receiver: ReceiverKind = .copy, workload: Workload, messageSize: Int, connections: Int
    ) {
        self.transport = transport
        self.receiver = receiver
        self.workload = workload
        self.messageSize = messageSize
        self.connections = connections
    }

    /// The names on disk (schema 1 and 2 profiles, control protocol): `mode` is the workload, `threads` the
    /// connections.
    private enum CodingKeys: String, CodingKey {
        case transport, receiver, messageSize
        case workload = "mode"
        case connections = "threads"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        transport = try container.decode(TransportKind.self, forKey: .transport)
        receiver = try container.decodeIfPresent(ReceiverKind.self, forKey: .receiver) ?? .copy
        workload = try container.decode(Workload.self, forKey: .workload)
        messageSize = try container.decode(Int.self, forKey: .messageSize)
        connections = try container.decode(Int.self, forKey: .connections)
    }

    /// The sender and the receiver: `zero-copy+mmap`; the transport alone with the default `copy` receiver, as
    /// every table names it.
    public var path: String { transportPath.description }

    public var description: String {
        "\(workload.name) \(path) \(messageSize) B × \(connections) connection\(connections == 1 ? "" : "s")"
    }

    public static func < (a: CellKey, b: CellKey) -> Bool {
        let ai = TransportKind.allCases.firstIndex(of: a.transport)!
        let bi = TransportKind.allCases.firstIndex(of: b.transport)!
        let ar = ReceiverKind.allCases.firstIndex(of: a.receiver)!
        let br = ReceiverKind.allCases.firstIndex(of: b.receiver)!
        return (a.workload.rawValue, a.messageSize, a.connections, ai, ar) < (b.workload.rawValue, b.messageSize, b.connections, bi, br)
    }
}

/// A sender and a receiver: what the tables, charts and comparisons call a path (``CellKey/path``).
public struct TransportPath: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var transport: TransportKind
    public var receiver: ReceiverKind

    public init(_ transport: TransportKind, _ receiver: ReceiverKind = .copy) {
        self.transport = transport
        self.receiver = receiver
    }

    public var description: String { receiver == .copy ? transport.rawValue : "\(transport.rawValue)+\(receiver.rawValue)" }

    public static func < (a: TransportPath, b: TransportPath) -> Bool {
        (TransportKind.allCases.firstIndex(of: a.transport)!, ReceiverKind.allCases.firstIndex(of: a.receiver)!)
            < (TransportKind.allCases.firstIndex(of: b.transport)!, ReceiverKind.allCases.firstIndex(of: b.receiver)!)
    }
}

extension CellKey {
    /// The cell's sender and receiver.
    public var transportPath: TransportPath { TransportPath(transport, receiver) }
}

