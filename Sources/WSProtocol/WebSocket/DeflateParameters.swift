/// The permessage-deflate parameters one connection agreed on (RFC 7692 §7.1), and the answer
/// that tells the client.
public struct DeflateParameters: Sendable, Equatable {
    /// Whether the server starts every message with an empty window (RFC 7692 §7.1.1.1), so its
    /// deflater holds no state between messages.
    public var serverNoContextTakeover: Bool
    /// Whether the client starts every message with an empty window (RFC 7692 §7.1.1.2), so the
    /// server's inflater holds no state between messages.
    public var clientNoContextTakeover: Bool
    /// The window the server compresses with, 9...15 (RFC 7692 §7.1.2.1; never 8, see
    /// `DeflatePolicy.serverMaxWindowBits`).
    public var serverMaxWindowBits: Int
    /// The largest window the client may compress with, 8...15 (15 when nothing was agreed): the
    /// window the server's inflater needs. A zlib client told 8 compresses with 9 (zlib raises
    /// 8 to 9), so an inflater is best opened with at least 9.
    public var clientMaxWindowBits: Int
    /// The value for the 101's `Sec-WebSocket-Extensions` header, naming the agreed parameters,
    /// e.g. `permessage-deflate; server_no_context_takeover; client_max_window_bits=12`. Never empty.
    public var responseHeaderValue: String

    /// Agreed parameters with the answer that announces them.
    public init(serverNoContextTakeover: Bool, clientNoContextTakeover: Bool, serverMaxWindowBits: Int,
                clientMaxWindowBits: Int, responseHeaderValue: String) {
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientMaxWindowBits = clientMaxWindowBits
        self.responseHeaderValue = responseHeaderValue
    }
}
