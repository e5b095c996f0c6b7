import CLinuxNet
import CopyprofProfile

#if canImport(Glibc)
import Glibc
#endif

extension NetworkPath {
    /// The route this host's packets toward `peer` take now, from the local address `local` (the control
    /// connection's own, which the data connections share), as `ip route get PEER from LOCAL` answers it.
    ///
    /// The kernel is asked directly, in the calling thread's network namespace: an RTM_GETROUTE request gives the
    /// route's output interface and its MTU metric, an RTM_GETLINK request that interface's name, MTU, flags and link
    /// kind (``CLinuxNet_route_get``, ``CLinuxNet_link_get``). The path's MTU is the route's when it has one (`ip route
    /// add … mtu N`, or a path MTU learned from the network, which `ip route get` shows as `mtu N`), else the
    /// interface's: what a TCP socket on the path uses (`dst_mtu`, include/net/dst.h). Neither `ip` nor
    /// `/sys/class/net` is read: sysfs shows the devices of the namespace it was mounted in, which need not be the
    /// caller's.
    ///
    /// A peer that is not a numeric address, or a route the kernel will not give, is a path of unknown interface and
    /// MTU.
    public static func toward(_ peer: String, from local: String? = nil) -> NetworkPath {
        let unknown = NetworkPath(peer: peer, interface: nil, mtu: nil, kind: .unknown)
        guard let destination = AddressRange.parse(peer) else { return unknown }
        let family = destination.count == 4 ? AF_INET : AF_INET6
        // A source of the other family (an IPv4-mapped peer on an IPv6 socket is IPv4 here, its local address too).
        let source = local.flatMap(AddressRange.parse).flatMap { $0.count == destination.count ? $0 : nil }
        var route = CLinuxNet_route()
        let found = destination.withUnsafeBufferPointer { destination in
            guard let source else { return CLinuxNet_route_get(family, destination.baseAddress, nil, &route) }
            return source.withUnsafeBufferPointer { CLinuxNet_route_get(family, destination.baseAddress, $0.baseAddress, &route) }
        }
        guard found == 0 else { return unknown }
        var link = CLinuxNet_link()
        guard CLinuxNet_link_get(route.output_interface, &link) == 0 else { return unknown }
        let name = withUnsafeBytes(of: link.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let kindName = withUnsafeBytes(of: link.kind) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let mtu = route.mtu != 0 ? Int(route.mtu) : link.mtu != 0 ? Int(link.mtu) : nil
        return NetworkPath(peer: peer, interface: name.isEmpty ? nil : name, mtu: mtu, kind: kind(flags: link.flags, linkKind: kindName))
    }

    /// What kind of link an interface is: loopback by its flag; a veth pair, or another software interface, by the
    /// kind its driver registered (`rtnl_link_ops`, IFLA_INFO_KIND); a device with a driver of its own has none.
    static func kind(flags: UInt32, linkKind: String) -> Kind {
        if flags & UInt32(CLinuxNet_IFF_LOOPBACK) != 0 { return .loopback }
        if linkKind == "veth" { return .veth }
        return linkKind.isEmpty ? .device : .virtual
    }
}
