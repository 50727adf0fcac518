/// A complete response: status, header fields and content, serialized in one piece.
///
/// wsbridge only ever sends small responses before the upgrade (errors, the 101, static files
/// read whole), so the content is held in memory.
public struct HTTPResponse: Sendable, Equatable {
    /// The status line's code and phrase.
    public var status: HTTPStatus
    /// The header fields, written in this order.
    public var headers: HTTPHeaders
    /// The content after the blank line.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: HTTPStatus, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The bytes on the wire: status line, headers, Content-Length (added unless 101/304 or already
    /// present), blank line, body.
    ///
    /// Content-Length is left out for every status that forbids content (RFC 9110 §8.6: 1xx and
    /// 204; 304). With `includingBody: false` (the answer to HEAD, RFC 9110 §9.3.2) the
    /// Content-Length still gives the size of the body that a GET would have received.
    /// A CR, LF or NUL inside a name or value is written as a space, so no header (for example one
    /// given with `--header`) can split the response.
    /// `addsContentLength: false` is for a head whose body is streamed until the connection
    /// closes (RFC 9112 §6.3 item 8), such as a CGI script's answer.
    public func serialized(includingBody: Bool = true, addsContentLength: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(128 + headers.count * 48 + (includingBody ? body.count : 0))
        bytes.append(contentsOf: "HTTP/1.1 \(status.code) ".utf8)
        Self.appendSanitized(status.reasonPhrase, to: &bytes)
        bytes.append(contentsOf: Self.crlf)
        for field in headers {
            Self.appendSanitized(field.name, to: &bytes)
            bytes.append(contentsOf: ": ".utf8)
            Self.appendSanitized(field.value, to: &bytes)
            bytes.append(contentsOf: Self.crlf)
        }
        if addsContentLength && !status.forbidsContent && !headers.contains("Content-Length") {
            bytes.append(contentsOf: "Content-Length: \(body.count)".utf8)
            bytes.append(contentsOf: Self.crlf)
        }
        bytes.append(contentsOf: Self.crlf)
        if includingBody && !status.forbidsContent {
            bytes.append(contentsOf: body)
        }
        return bytes
    }

    /// An error answer before the upgrade: a short `text/plain; charset=utf-8` body such as
    /// `426 Upgrade Required: this is a WebSocket endpoint\n`, `Connection: close`, plus `extraHeaders`.
    ///
    /// If `extraHeaders` holds its own Connection field (a 426 must name `upgrade` in it, RFC 9110
    /// §7.8), that one replaces the default `Connection: close`.
    public static func error(_ status: HTTPStatus, message: String, extraHeaders: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var headers = HTTPHeaders([(name: "Content-Type", value: "text/plain; charset=utf-8")])
        if !extraHeaders.contains("Connection") {
            // The connection is closed after every error answer, so say so (RFC 9112 §9.6).
            headers.add(name: "Connection", value: "close")
        }
        headers.add(contentsOf: extraHeaders)
        return HTTPResponse(status: status, headers: headers, body: Array("\(status.code) \(status.reasonPhrase): \(message)\n".utf8))
    }

    /// The line terminator of HTTP/1.1 (RFC 9112 §2.1).
    private static let crlf: [UInt8] = [0x0D, 0x0A]

    /// Appends the UTF-8 of `text`, with CR, LF and NUL replaced by spaces.
    private static func appendSanitized(_ text: String, to bytes: inout [UInt8]) {
        for byte in text.utf8 {
            bytes.append(byte == 0x0D || byte == 0x0A || byte == 0x00 ? UInt8(ascii: " ") : byte)
        }
    }
}
