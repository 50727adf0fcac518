import Testing
@testable import WSProtocol
@testable import WSServer

@Suite("HTTPResponse")
struct HTTPResponseTests {
    @Test("RFC 9112 §4, §6: status line, fields in order, Content-Length, blank line, body")
    func okResponse() {
        let response = HTTPResponse(
            status: .ok,
            headers: HTTPHeaders([(name: "Content-Type", value: "text/plain"), (name: "X-A", value: "1")]),
            body: Array("hello\n".utf8)
        )
        #expect(response.serialized() == Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nContent-Length: 6\r\n\r\nhello\n".utf8))
    }

    @Test("RFC 9110 §8.6: no Content-Length (nor body) for 1xx, 204 and 304", arguments: [
        HTTPStatus.switchingProtocols, .noContent, .notModified,
    ])
    func noContentLength(status: HTTPStatus) {
        let response = HTTPResponse(status: status, headers: HTTPHeaders([(name: "X", value: "y")]), body: [1, 2, 3])
        #expect(response.serialized() == Array("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nX: y\r\n\r\n".utf8))
    }

    @Test("A Content-Length already present is kept and not repeated")
    func explicitContentLength() {
        let response = HTTPResponse(status: .ok, headers: HTTPHeaders([(name: "content-length", value: "3")]), body: [0x61, 0x62, 0x63])
        #expect(response.wireText == "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc")
    }

    @Test("RFC 9110 §9.3.2: the answer to HEAD has the GET's Content-Length and no body")
    func headAnswer() {
        let response = HTTPResponse(status: .ok, body: Array("0123456789".utf8))
        #expect(String(decoding: response.serialized(includingBody: false), as: UTF8.self) == "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
    }

    @Test("CR, LF and NUL inside a header cannot split the response")
    func noResponseSplitting() {
        let response = HTTPResponse(status: .ok, headers: HTTPHeaders([(name: "X-Evil", value: "a\r\nSet-Cookie: b\u{0}")]))
        #expect(response.wireText == "HTTP/1.1 200 OK\r\nX-Evil: a  Set-Cookie: b \r\nContent-Length: 0\r\n\r\n")
    }

    @Test("SPEC §5: an error answer is a short text body with Connection: close and the extra headers")
    func errorAnswer() {
        let response = HTTPResponse.error(.upgradeRequired, message: "this is a WebSocket endpoint",
                                          extraHeaders: HTTPHeaders([(name: "X-Extra", value: "1")]))
        #expect(response.wireText == """
            HTTP/1.1 426 Upgrade Required\r
            Content-Type: text/plain; charset=utf-8\r
            Connection: close\r
            X-Extra: 1\r
            Content-Length: 51\r
            \r
            426 Upgrade Required: this is a WebSocket endpoint

            """)
        let ownConnection = HTTPResponse.error(.badRequest, message: "x", extraHeaders: HTTPHeaders([(name: "Connection", value: "Upgrade, close")]))
        #expect(ownConnection.headers.values("Connection") == ["Upgrade, close"])
    }

    @Test("Every named status writes its RFC status line", arguments: [
        (HTTPStatus.switchingProtocols, "101 Switching Protocols"), (.ok, "200 OK"), (.noContent, "204 No Content"),
        (.movedPermanently, "301 Moved Permanently"), (.notModified, "304 Not Modified"), (.badRequest, "400 Bad Request"),
        (.forbidden, "403 Forbidden"), (.notFound, "404 Not Found"), (.methodNotAllowed, "405 Method Not Allowed"),
        (.requestTimeout, "408 Request Timeout"), (.payloadTooLarge, "413 Content Too Large"),
        (.upgradeRequired, "426 Upgrade Required"), (.tooManyRequests, "429 Too Many Requests"),
        (.requestHeaderFieldsTooLarge, "431 Request Header Fields Too Large"), (.internalServerError, "500 Internal Server Error"),
        (.serviceUnavailable, "503 Service Unavailable"), (.httpVersionNotSupported, "505 HTTP Version Not Supported"),
    ])
    func statusLines(status: HTTPStatus, line: String) {
        #expect(HTTPResponse(status: status).statusLineBytes == Array("HTTP/1.1 \(line)\r\n".utf8))
        #expect(status.description == line)
    }
}
