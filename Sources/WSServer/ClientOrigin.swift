import WSProtocol
import WSPlatform

/// Who a request comes from (SPEC §11): the socket's peer, and, when that peer is a trusted
/// proxy (`--trustedproxy`), the client its forwarding headers name. Logs, `--maxconnsperip` and
/// the child's `REMOTE_ADDR` see the resolved client.
struct ClientOrigin: Sendable {
    /// The other end of the socket.
    let peer: SocketAddress
    /// What a trusted proxy said about the client; nil when the peer is no trusted proxy.
    let forwarded: ForwardedClient?
    /// Who the client proved to be (`--basicauth`), for AUTH_TYPE and REMOTE_USER.
    var identity: ClientIdentity?
    /// What the `--authcmd` hook added to the environment (its `NAME=value` lines).
    var hookVariables: [String: String] = [:]

    init(peer: SocketAddress, forwarded: ForwardedClient? = nil) {
        self.peer = peer
        self.forwarded = forwarded
    }

    /// The client's address as the proxy gave it, when it gave one.
    var forwardedAddress: IPAddress? { forwarded?.address }

    /// The address to show in logs: the forwarded client's, else the peer with its port.
    var logDescription: String { forwardedAddress?.description ?? peer.description }

    /// The client's address for per-address limits: one key per IP address, however written
    /// (a dual-stack `::ffff:` peer is its IPv4 address), and one for every Unix-socket peer.
    var limitKey: String {
        if let forwardedAddress { return forwardedAddress.description }
        if peer.unixPath != nil { return "unix-socket" }
        return IPAddress(peer.host)?.description ?? peer.host
    }

    /// The address reverse DNS looks up (`--reverselookup`).
    var lookupAddress: SocketAddress {
        forwardedAddress.map { SocketAddress(host: $0.description, port: 0) } ?? peer
    }
}

/// A user whose credentials wsbridge checked (SPEC §11).
struct ClientIdentity: Sendable, Equatable {
    /// AUTH_TYPE (RFC 3875 §4.1.1): "Basic".
    var authType: String
    /// REMOTE_USER.
    var user: String
}
