/// A response status: the code and the reason phrase written after it in the status line.
///
/// The phrases are those of RFC 9110 §15 (RFC 6585 §4 for 429, RFC 6585 §5 for 431); clients
/// ignore them (RFC 9112 §4), people read them.
public struct HTTPStatus: Sendable, Equatable, CustomStringConvertible {
    /// The three-digit status code.
    public var code: Int
    /// The text after the code in the status line.
    public var reasonPhrase: String

    /// Creates a status from its code and reason phrase.
    public init(code: Int, reasonPhrase: String) {
        self.code = code
        self.reasonPhrase = reasonPhrase
    }

    /// The code and phrase as in the status line, e.g. `404 Not Found`.
    public var description: String { "\(code) \(reasonPhrase)" }

    /// Whether a response with this status never has content, so it carries no Content-Length
    /// (RFC 9110 §8.6: never for 1xx and 204; RFC 9110 §15.4.5: 304 has no content).
    public var forbidsContent: Bool { (100..<200).contains(code) || code == 204 || code == 304 }

    /// 101: the connection now speaks the protocol named in Upgrade (RFC 9110 §15.2.2).
    public static let switchingProtocols = HTTPStatus(code: 101, reasonPhrase: "Switching Protocols")
    /// 200: the request succeeded.
    public static let ok = HTTPStatus(code: 200, reasonPhrase: "OK")
    /// 204: the request succeeded and there is no content.
    public static let noContent = HTTPStatus(code: 204, reasonPhrase: "No Content")
    /// 301: the resource lives at the Location given (used by `--redirport`).
    public static let movedPermanently = HTTPStatus(code: 301, reasonPhrase: "Moved Permanently")
    /// 304: the client's cached copy is still current.
    public static let notModified = HTTPStatus(code: 304, reasonPhrase: "Not Modified")
    /// 302: a CGI script's Location redirect (RFC 3875 §6.2.4).
    public static let found = HTTPStatus(code: 302, reasonPhrase: "Found")
    /// 411: a request body without Content-Length (CGI needs the length, RFC 3875 §4.1.2).
    public static let lengthRequired = HTTPStatus(code: 411, reasonPhrase: "Length Required")
    /// 502: a CGI script answered with something that is not a CGI response.
    public static let badGateway = HTTPStatus(code: 502, reasonPhrase: "Bad Gateway")
    /// 504: a CGI script did not answer in time.
    public static let gatewayTimeout = HTTPStatus(code: 504, reasonPhrase: "Gateway Timeout")
    /// 400: the request or handshake is malformed.
    public static let badRequest = HTTPStatus(code: 400, reasonPhrase: "Bad Request")
    /// 401: the request lacks valid credentials (`--basicauth`, `--token`, `--authcmd`).
    public static let unauthorized = HTTPStatus(code: 401, reasonPhrase: "Unauthorized")
    /// 403: the request is refused, e.g. a disallowed Origin.
    public static let forbidden = HTTPStatus(code: 403, reasonPhrase: "Forbidden")
    /// 404: no script or file answers this path.
    public static let notFound = HTTPStatus(code: 404, reasonPhrase: "Not Found")
    /// 405: the method is not allowed here; the response names the allowed ones in Allow.
    public static let methodNotAllowed = HTTPStatus(code: 405, reasonPhrase: "Method Not Allowed")
    /// A GET for an event stream that this server's mode cannot serve (SPEC §12).
    public static let notAcceptable = HTTPStatus(code: 406, reasonPhrase: "Not Acceptable")
    /// 408: the request head did not arrive in time.
    public static let requestTimeout = HTTPStatus(code: 408, reasonPhrase: "Request Timeout")
    /// 413: the request content is larger than the server accepts (RFC 9110 §15.5.14 names it
    /// "Content Too Large"; RFC 7231 called it "Payload Too Large").
    public static let payloadTooLarge = HTTPStatus(code: 413, reasonPhrase: "Content Too Large")
    /// 421: the request reached a server that will not answer for its Host (RFC 9110 §15.5.20);
    /// here, a Host other than the TLS server name when client certificates are required.
    public static let misdirectedRequest = HTTPStatus(code: 421, reasonPhrase: "Misdirected Request")
    /// 426: the client must switch protocols, here to WebSocket version 13.
    public static let upgradeRequired = HTTPStatus(code: 426, reasonPhrase: "Upgrade Required")
    /// 429: too many sessions are running (`--maxforks`).
    public static let tooManyRequests = HTTPStatus(code: 429, reasonPhrase: "Too Many Requests")
    /// 431: the request head is larger than the server accepts.
    public static let requestHeaderFieldsTooLarge = HTTPStatus(code: 431, reasonPhrase: "Request Header Fields Too Large")
    /// 500: something failed on the server's side.
    public static let internalServerError = HTTPStatus(code: 500, reasonPhrase: "Internal Server Error")
    /// 503: the server cannot handle the request right now.
    public static let serviceUnavailable = HTTPStatus(code: 503, reasonPhrase: "Service Unavailable")
    /// 505: the request's HTTP version is not served.
    public static let httpVersionNotSupported = HTTPStatus(code: 505, reasonPhrase: "HTTP Version Not Supported")
}
