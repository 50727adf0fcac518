/// Server-Sent Events (SPEC §12, WHATWG HTML "Server-sent events"): the text/event-stream
/// bytes of a session's messages, written into a buffer the caller owns.
///
/// The WHATWG parser ends a line at CR, LF or CRLF, so a message's own line breaks cannot travel
/// inside one `data:` field: each piece between them becomes a `data:` line of its own, and the
/// browser joins them with LF. A text message therefore arrives with its CR and CRLF turned into
/// LF, the one thing the format cannot carry; everything else arrives byte for byte. A binary
/// message (length or raw framing) cannot be UTF-8 text, so it travels as `event: binary` with its
/// bytes in base64, lossless.
public enum EventStreamEncoder {
    /// What the client waits before reconnecting after the stream ends (`retry:`).
    public static let retryMilliseconds = 2000

    /// The response head of an event stream. Its body ends when the connection closes (RFC 9112
    /// §6.3 item 8): no length is known, and chunked coding would gain nothing here.
    /// `X-Accel-Buffering: no` keeps nginx from holding events in its proxy buffer.
    public static func responseHead(extraHeaders: HTTPHeaders) -> [UInt8] {
        var headers = HTTPHeaders([
            (name: "Content-Type", value: "text/event-stream"),
            (name: "Cache-Control", value: "no-cache"),
            (name: "X-Accel-Buffering", value: "no"),
            (name: "Connection", value: "close"),
        ])
        for field in extraHeaders where !headers.contains(field.name) { headers.add(name: field.name, value: field.value) }
        return HTTPResponse(status: .ok, headers: headers).serialized(includingBody: false, addsContentLength: false)
    }

    /// The stream's first event: the reconnection delay, and `event: session` naming the id that
    /// a POST's `X-WSBridge-Session` gives to reach the session's stdin.
    public static func appendOpening(sessionID: String, to buffer: inout ByteBuffer) {
        buffer.append(contentsOf: "retry: \(retryMilliseconds)\nevent: session\ndata: \(sessionID)\n\n".utf8)
    }

    /// One message as one event: `id: N`, then a `data:` line per line of the text (or, for a
    /// binary message, `event: binary` and one `data:` line of base64).
    public static func appendMessage<C: Collection<UInt8>>(id: UInt64, isBinary: Bool, payload: C, to buffer: inout ByteBuffer) {
        buffer.append(contentsOf: "id: \(id)\n".utf8)
        if isBinary {
            buffer.append(contentsOf: "event: binary\ndata: ".utf8)
            buffer.append(contentsOf: Base64.encode(payload).utf8)
            buffer.append(contentsOf: "\n\n".utf8)
        } else {
            appendDataLines(payload, to: &buffer)
            buffer.append(UInt8(ascii: "\n"))
        }
    }

    /// The end of the session: `event: exit` with the close code and reason SPEC §3 gives a
    /// WebSocket client, as JSON: `{"code":4003,"reason":"exit 3"}`.
    public static func appendExit(code: UInt16, reason: String, to buffer: inout ByteBuffer) {
        buffer.append(contentsOf: "event: exit\ndata: {\"code\":\(code),\"reason\":".utf8)
        var quoted: [UInt8] = []
        JSON.appendQuoted(reason.utf8, to: &quoted)
        buffer.append(contentsOf: quoted)
        buffer.append(contentsOf: "}\n\n".utf8)
    }

    /// A comment line: ignored by the client, it keeps proxies and NAT from dropping a quiet
    /// stream, and lets the server notice a client that left.
    public static func appendHeartbeat(to buffer: inout ByteBuffer) {
        buffer.append(contentsOf: ": keepalive\n\n".utf8)
    }

    /// `data: ` and each piece of `text` between CR, LF and CRLF, each piece on its own line.
    /// An empty text is one empty `data:` line, which the browser delivers as an empty message.
    static func appendDataLines<C: Collection<UInt8>>(_ text: C, to buffer: inout ByteBuffer) {
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        buffer.append(contentsOf: "data: ".utf8)
        var afterCR = false
        for byte in text {
            if byte == lf && afterCR {
                // The LF of a CRLF: the line already ended at its CR.
                afterCR = false
                continue
            }
            afterCR = byte == cr
            if byte == cr || byte == lf {
                buffer.append(contentsOf: "\ndata: ".utf8)
            } else {
                buffer.append(byte)
            }
        }
        buffer.append(lf)
    }
}
