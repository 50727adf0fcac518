import Testing
@testable import WSProtocol

@Suite("HTTPRequestParser errors")
struct HTTPRequestParserErrorTests {
    /// A request with `requestLine` and `fields` after it, `Host` included unless `fields` says otherwise.
    static func request(_ requestLine: String, _ fields: [String] = ["Host: h"]) -> [UInt8] {
        HTTPParseHarness.head([requestLine] + fields)
    }

    static let badRequestLine = Array("HTTP/1.1 400 Bad Request\r\n".utf8)

    @Test("RFC 9112 §3: a malformed request line is 400", arguments: [
        "GET  / HTTP/1.1", "GET /  HTTP/1.1", " GET / HTTP/1.1", "GET / HTTP/1.1 ", "GET /", "GET / HTTP/1.1 extra",
        "GET\t/ HTTP/1.1", "G(T / HTTP/1.1", "G\u{E9}T / HTTP/1.1", "GET /a\u{7F} HTTP/1.1", "GET /caf\u{E9} HTTP/1.1",
        "GET abc HTTP/1.1", "GET 1http://x/ HTTP/1.1", "GET / http/1.1", "GET / HTTP/1.10", "GET / HTTP/1", "GET / HTTP/A.1",
        "GET / HTTP 1.1", "GET / HTTP/1.1\r", "\rGET / HTTP/1.1",
    ])
    func malformedRequestLine(line: String) {
        let outcome = HTTPParseHarness.parseEverySplit(Self.request(line))
        guard case .malformed? = outcome.error else {
            Issue.record("expected 400 for \(line.debugDescription), got \(String(describing: outcome.error))")
            return
        }
        #expect(outcome.heads.isEmpty)
        #expect(outcome.error?.response.statusLineBytes == Self.badRequestLine)
    }

    @Test("SPEC §5: any version but HTTP/1.1 is 505, HTTP/1.0 included", arguments: [
        "HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/1.2", "HTTP/9.9",
    ])
    func unsupportedVersion(version: String) {
        let outcome = HTTPParseHarness.parseEverySplit(Self.request("GET / \(version)"))
        #expect(outcome.error == .versionNotSupported)
        #expect(outcome.error?.response.statusLineBytes == Array("HTTP/1.1 505 HTTP Version Not Supported\r\n".utf8))
    }

    @Test("RFC 9112 §5, §5.1, §5.2: malformed field lines are 400", arguments: [
        ["Host: h", "Name : v"],
        ["Host: h", "Name\t: v"],
        ["Host: h", " Folded: v"],
        ["Host: h", "A: b", " continued"],
        ["Host: h", "A: b", "\tcontinued"],
        ["Host: h", "NoColon"],
        ["Host: h", ": empty name"],
        ["Host: h", "Bad(Name): v"],
        ["Host: h", "Na\u{E9}me: v"],
        ["Host: h", "A: nul\u{0}inside"],
        ["Host: h", "A: bare\rCR"],
        ["Host: h", "A: del\u{7F}"],
        ["Host: h", "A: escape\u{1B}[0m"],
        ["Host: h", "A: v\r"],
        ["Host: h", "\r\rA: v"],
    ])
    func malformedFieldLine(fields: [String]) {
        let outcome = HTTPParseHarness.parseEverySplit(Self.request("GET / HTTP/1.1", fields))
        guard case .malformed? = outcome.error else {
            Issue.record("expected 400 for \(fields), got \(String(describing: outcome.error))")
            return
        }
        #expect(outcome.error?.response.statusLineBytes == Self.badRequestLine)
    }

    @Test("RFC 9112 §3.2: no Host or two Host fields is 400", arguments: [
        [String](), ["Hostname: h"], ["Host: a", "host: b"], ["Host: a", "X: y", "HOST: a"],
    ])
    func hostCount(fields: [String]) {
        let outcome = HTTPParseHarness.parseEverySplit(Self.request("GET / HTTP/1.1", fields))
        guard case .malformed? = outcome.error else {
            Issue.record("expected 400 for \(fields), got \(String(describing: outcome.error))")
            return
        }
        #expect(outcome.error?.response.statusLineBytes == Self.badRequestLine)
    }

    @Test("The error answer is complete: status, text body, Content-Length, Connection: close")
    func errorResponseBytes() {
        let response = HTTPError.malformed("invalid method").response
        #expect(response.wireText == """
            HTTP/1.1 400 Bad Request\r
            Content-Type: text/plain; charset=utf-8\r
            Connection: close\r
            Content-Length: 32\r
            \r
            400 Bad Request: invalid method

            """)
        #expect(HTTPError.headTooLarge.response.statusLineBytes == Array("HTTP/1.1 431 Request Header Fields Too Large\r\n".utf8))
        #expect(HTTPError.headTooLarge.status.code == 431)
        #expect(HTTPError.versionNotSupported.status.code == 505)
        let extra = HTTPError.headTooLarge.response(extraHeaders: HTTPHeaders([(name: "X-Served-By", value: "wsbridge")]))
        #expect(extra.headers.first("X-Served-By") == "wsbridge")
        #expect(extra.headers.first("Connection") == "close")
    }
}
