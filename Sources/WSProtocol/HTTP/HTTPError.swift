/// Everything a client can get wrong in a request head before any handshake logic runs; each case
/// carries the response that answers it on the wire, after which the connection is closed.
public enum HTTPError: Error, Equatable, Sendable {
    /// The request line or a header field breaks RFC 9112 (400); the text says how, for the body and the log.
    case malformed(String)
    /// The head grew past the configured limit before it ended (431, RFC 6585 §5).
    case headTooLarge
    /// The request line names a version other than HTTP/1.1 (505, SPEC §5: HTTP/1.0 included).
    case versionNotSupported

    /// The status that answers this error.
    public var status: HTTPStatus {
        switch self {
        case .malformed: .badRequest
        case .headTooLarge: .requestHeaderFieldsTooLarge
        case .versionNotSupported: .httpVersionNotSupported
        }
    }

    /// The complete error response, with `Connection: close`.
    public var response: HTTPResponse { response(extraHeaders: HTTPHeaders()) }

    /// The complete error response with `extraHeaders` (for example `--header-http`) appended.
    public func response(extraHeaders: HTTPHeaders) -> HTTPResponse {
        HTTPResponse.error(status, message: message, extraHeaders: extraHeaders)
    }

    /// The text of the response body after the status, also fit for the log.
    public var message: String {
        switch self {
        case .malformed(let why): why
        case .headTooLarge: "request head too large"
        case .versionNotSupported: "this server speaks HTTP/1.1"
        }
    }
}
