/// The server side of the WebSocket opening handshake (RFC 6455 §4.2).
public enum Handshake {
    /// The GUID appended to the client's key before hashing (RFC 6455 §1.3).
    public static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" // RFC 6455 §1.3
    /// The only protocol version spoken, as in `Sec-WebSocket-Version` (RFC 6455 §4.1 item 9).
    public static let supportedVersion = "13"
    /// The length of the nonce that `Sec-WebSocket-Key` encodes (RFC 6455 §4.1 item 7).
    public static let keyNonceByteCount = 16

    /// Whether the request asks for a WebSocket: a GET with `Upgrade: websocket` and `Connection`
    /// containing `upgrade`, both case-insensitive (SPEC §5).
    public static func isUpgradeRequest(_ head: HTTPRequestHead) -> Bool {
        head.method == "GET"
            && head.headers.containsToken("websocket", in: "Upgrade")
            && head.headers.containsToken("upgrade", in: "Connection")
    }

    /// The `Sec-WebSocket-Accept` value for a key: base64 of the SHA-1 of the key followed by the GUID
    /// (RFC 6455 §4.2.2 item 5.4).
    public static func acceptValue(forKey key: String) -> String {
        Base64.encode(SHA1.hash((key + acceptGUID).utf8))
    }

    /// Checks an upgrade request in the order of RFC 6455 §4.2.1 and returns the accepted handshake.
    ///
    /// The Origin (item 7) is the caller's policy (`--origin`, `--sameorigin`), answered with
    /// `HandshakeError.forbiddenOrigin`; subprotocols and extensions (items 8–9) are negotiated
    /// from the acceptance.
    public static func validate(_ head: HTTPRequestHead) throws(HandshakeError) -> HandshakeAcceptance {
        // Item 1: an HTTP/1.1 or higher GET request.
        guard head.method == "GET" else { throw .methodNotAllowed }
        guard head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1) else {
            throw .badRequest("a WebSocket handshake needs HTTP/1.1")
        }
        // Item 2: a Host header field containing the server's authority.
        let hosts = head.headers.values("Host")
        guard hosts.count == 1 else { throw .badRequest(hosts.isEmpty ? "missing Host header" : "more than one Host header") }
        guard !hosts[0].isEmpty else { throw .badRequest("empty Host header") }
        // Items 3 and 4: Upgrade holds `websocket` and Connection holds `Upgrade`, case-insensitively.
        guard head.headers.containsToken("websocket", in: "Upgrade"),
              head.headers.containsToken("upgrade", in: "Connection") else { throw .notWebSocket }
        // Item 5: one Sec-WebSocket-Key (RFC 6455 §11.3.1: never repeated) decoding to 16 bytes.
        let keys = head.headers.values("Sec-WebSocket-Key")
        guard keys.count == 1 else {
            throw .badRequest(keys.isEmpty ? "missing Sec-WebSocket-Key" : "more than one Sec-WebSocket-Key")
        }
        guard let nonce = Base64.decode(keys[0]), nonce.count == keyNonceByteCount else {
            throw .badRequest("Sec-WebSocket-Key is not 16 bytes in base64")
        }
        // Item 6: Sec-WebSocket-Version 13. Missing, the request does not match §4.2.1, so it gets
        // the "400 Bad Request" that §4.2.1 names; present with another value, §4.2.2 item 4 asks
        // for 426 with the versions we speak (the example of §4.4).
        let versions = head.headers.values("Sec-WebSocket-Version")
        guard !versions.isEmpty else { throw .badRequest("missing Sec-WebSocket-Version") }
        // RFC 6455 §11.3.5: the field MUST NOT appear more than once in a request.
        guard versions.count == 1 else { throw .badRequest("more than one Sec-WebSocket-Version") }
        guard versions[0] == supportedVersion else { throw .unsupportedVersion }
        return HandshakeAcceptance(
            key: keys[0],
            acceptValue: acceptValue(forKey: keys[0]),
            offeredSubprotocols: head.headers.listElements("Sec-WebSocket-Protocol")
        )
    }

    /// The first of the client's offers that the server supports, or nil when none matches, in
    /// which case the 101 names no subprotocol (RFC 6455 §4.2.2 item 4, /subprotocol/; SPEC §1 `--subprotocol`).
    public static func selectSubprotocol(offered: [String], supported: [String]) -> String? {
        offered.first { supported.contains($0) }
    }
}

/// An upgrade request that passed every check of RFC 6455 §4.2.1, ready to be answered with 101.
public struct HandshakeAcceptance: Sendable, Equatable {
    /// The client's `Sec-WebSocket-Key`, as received.
    public var key: String
    /// The `Sec-WebSocket-Accept` value that proves the key was read.
    public var acceptValue: String
    /// The subprotocols the client offered in `Sec-WebSocket-Protocol`, in its order of preference.
    public var offeredSubprotocols: [String]

    /// Creates an acceptance.
    public init(key: String, acceptValue: String, offeredSubprotocols: [String] = []) {
        self.key = key
        self.acceptValue = acceptValue
        self.offeredSubprotocols = offeredSubprotocols
    }

    /// The 101 response: Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Accept, optional
    /// Sec-WebSocket-Protocol, then `extraHeaders` (RFC 6455 §4.2.2 item 5).
    public func response(subprotocol: String? = nil, extraHeaders: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var headers = HTTPHeaders([
            (name: "Upgrade", value: "websocket"),
            (name: "Connection", value: "Upgrade"),
            (name: "Sec-WebSocket-Accept", value: acceptValue),
        ])
        if let subprotocol {
            headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol)
        }
        headers.add(contentsOf: extraHeaders)
        return HTTPResponse(status: .switchingProtocols, headers: headers)
    }
}
