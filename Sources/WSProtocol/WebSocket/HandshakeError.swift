/// Why an upgrade request is refused before the connection becomes a WebSocket; each case carries
/// the HTTP response that answers it, after which the connection is closed.
public enum HandshakeError: Error, Equatable, Sendable {
    /// The request is not a GET (405 with `Allow: GET`, RFC 6455 §4.2.1 item 1, RFC 9110 §15.5.6).
    case methodNotAllowed
    /// The handshake is malformed (400): missing Host, a bad or missing Sec-WebSocket-Key, and so
    /// on; the text says what, for the body and the log.
    case badRequest(String)
    /// The client speaks another WebSocket version (426 naming version 13, RFC 6455 §4.2.2 item 4, §4.4).
    case unsupportedVersion
    /// A plain GET reached a WebSocket-only endpoint (426 with `Upgrade: websocket`, SPEC §5).
    case notWebSocket
    /// The Origin is not allowed by `--origin` or `--sameorigin` (403, RFC 6455 §4.2.2 item 4 and §10.2).
    case forbiddenOrigin

    /// The status that answers this error.
    public var status: HTTPStatus {
        switch self {
        case .methodNotAllowed: .methodNotAllowed
        case .badRequest: .badRequest
        case .unsupportedVersion, .notWebSocket: .upgradeRequired
        case .forbiddenOrigin: .forbidden
        }
    }

    /// The complete error response.
    public var response: HTTPResponse { response(extraHeaders: HTTPHeaders()) }

    /// The complete error response with `extraHeaders` (for example `--header-http`) appended.
    public func response(extraHeaders: HTTPHeaders) -> HTTPResponse {
        var headers = HTTPHeaders()
        switch self {
        case .methodNotAllowed:
            // RFC 9110 §15.5.6: a 405 MUST list the allowed methods.
            headers.add(name: "Allow", value: "GET")
        case .unsupportedVersion, .notWebSocket:
            // RFC 9110 §15.5.22: a 426 MUST name the protocol in Upgrade, and §7.8: whoever sends
            // Upgrade MUST list `upgrade` in Connection. RFC 6455 §4.4: name the versions we speak.
            headers.add(name: "Upgrade", value: "websocket")
            headers.add(name: "Sec-WebSocket-Version", value: Handshake.supportedVersion)
            headers.add(name: "Connection", value: "Upgrade, close")
        case .badRequest, .forbiddenOrigin:
            break
        }
        headers.add(contentsOf: extraHeaders)
        return HTTPResponse.error(status, message: message, extraHeaders: headers)
    }

    /// The text of the response body after the status, also fit for the log.
    public var message: String {
        switch self {
        case .methodNotAllowed: "a WebSocket handshake must use GET"
        case .badRequest(let why): why
        case .unsupportedVersion: "this server speaks WebSocket version 13"
        case .notWebSocket: "this is a WebSocket endpoint"
        case .forbiddenOrigin: "origin not allowed"
        }
    }
}
