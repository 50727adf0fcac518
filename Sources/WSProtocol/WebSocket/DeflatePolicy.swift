/// What the server wants of permessage-deflate (RFC 7692 §7), within what each client allows:
/// the windows and context takeover it asks for. The values come from configuration; the
/// negotiation clamps them into their ranges.
public struct DeflatePolicy: Sendable, Equatable {
    /// The largest window the server compresses with, as a base-2 logarithm. Never 8: zlib
    /// cannot write a raw deflate stream with a 256-byte window (it raises 8 to 9 and refuses
    /// raw streams of 8), so an agreement of 8 could not be kept (SPEC §6).
    public var serverMaxWindowBits: Int
    /// The window the server asks the client to compress with, when the client's offer allows it
    /// (`client_max_window_bits` offered, RFC 7692 §7.1.2.2): a smaller window is a smaller
    /// inflater on the server.
    public var clientMaxWindowBits: Int
    /// Whether to answer `client_no_context_takeover` even when the client did not offer it
    /// (RFC 7692 §7.1.1.2 lets the server), so the inflater can be freed between messages.
    public var requestsClientNoContextTakeover: Bool
    /// Whether to answer `server_no_context_takeover` even when the client did not ask for it
    /// (RFC 7692 §7.1.1.1 lets the server), so the deflater can be freed between messages.
    public var serverNoContextTakeover: Bool

    /// The windows the server may compress with: zlib's raw deflate takes 9...15.
    public static let serverWindowBitsRange = 9...15
    /// The windows a client may be asked to use (RFC 7692 §7.1.2.2: 8...15).
    public static let clientWindowBitsRange = 8...15

    /// A policy; the defaults take full windows and keep context, as zlib and browsers do.
    public init(serverMaxWindowBits: Int = 15, clientMaxWindowBits: Int = 15,
                requestsClientNoContextTakeover: Bool = false, serverNoContextTakeover: Bool = false) {
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientMaxWindowBits = clientMaxWindowBits
        self.requestsClientNoContextTakeover = requestsClientNoContextTakeover
        self.serverNoContextTakeover = serverNoContextTakeover
    }
}
