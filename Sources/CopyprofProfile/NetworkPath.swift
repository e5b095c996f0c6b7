import Foundation

/// The route to a peer: the interface, its MTU, and what kind of link it is — which decides whether zero-copy can
/// avoid the copy (a real device) or the kernel copies anyway (loopback, veth).
public struct NetworkPath: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable {
        case loopback
        /// A veth pair: the kernel loops packets between namespaces; zero-copy completions come back copied.
        case veth
        /// Another software interface (bridge, tun, ...).
        case virtual
        /// A network device with a driver.
        case device
        case unknown
    }

    public var peer: String
    public var interface: String?
    public var mtu: Int?
    public var kind: Kind

    public init(peer: String, interface: String?, mtu: Int?, kind: Kind) {
        self.peer = peer
        self.interface = interface
        self.mtu = mtu
        self.kind = kind
    }

    public var description: String {
        "\(interface ?? "?") (\(kind.rawValue), MTU \(mtu.map(String.init) ?? "?")) toward \(peer)"
    }
}

/// The two hosts of a `run --connect`: where the server is, what it runs on, and the network path each way.
public struct RemoteInfo: Codable, Sendable {
    /// HOST:PORT of the server's control listener.
    public var server: String
    public var serverEnvironment: EnvironmentInfo
    /// The client's route toward the server.
    public var clientPath: NetworkPath
    /// The server's route toward the client.
    public var serverPath: NetworkPath?

    public init(server: String, serverEnvironment: EnvironmentInfo, clientPath: NetworkPath, serverPath: NetworkPath?) {
        self.server = server
        self.serverEnvironment = serverEnvironment
        self.clientPath = clientPath
        self.serverPath = serverPath
    }
}

