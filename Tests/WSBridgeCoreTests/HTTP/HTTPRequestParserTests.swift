import Testing
@testable import WSProtocol

@Suite("HTTPRequestParser")
struct HTTPRequestParserTests {
    /// The client handshake of RFC 6455 §1.2 (also the request described in §4.1).
    static let rfc6455Request = HTTPParseHarness.head([
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Version: 13",
    ])

    @Test("RFC 6455 §1.2 request: request line and fields in order, at every split")
    func rfc6455Request() throws {
        let outcome = HTTPParseHarness.parseEverySplit(Self.rfc6455Request)
        #expect(outcome.error == nil)
        #expect(outcome.remaining.isEmpty)
        let head = try #require(outcome.heads.first)
        #expect(outcome.heads.count == 1)
        #expect(head.method == "GET")
        #expect(head.target == "/chat")
        #expect(head.version == HTTPVersion(major: 1, minor: 1))
        #expect(head.path == "/chat")
        #expect(head.query == "")
        #expect(Array(head.headers.map(\.name)) == [
            "Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Origin", "Sec-WebSocket-Protocol", "Sec-WebSocket-Version",
        ])
        #expect(head.headers.first("host") == "server.example.com")
        #expect(head.headers.first("SEC-WEBSOCKET-PROTOCOL") == "chat, superchat")
    }

    @Test("RFC 9112 §3.2: path and query come from the raw target", arguments: [
        ("/a/b?x=1", "/a/b", "x=1"),
        ("/", "/", ""),
        ("/?", "/", ""),
        ("/a?b?c", "/a", "b?c"),
        ("/%2F%20x?q=%41", "/%2F%20x", "q=%41"),
        ("http://example.com:8080/x/y?z", "/x/y", "z"),
        ("HTTP://example.com", "/", ""),
        ("http://example.com?q", "/", "q"),
        ("*", "*", ""),
    ])
    func pathAndQuery(target: String, path: String, query: String) throws {
        let outcome = HTTPParseHarness.parseEverySplit(HTTPParseHarness.head(["OPTIONS \(target) HTTP/1.1", "Host: h"]))
        let head = try #require(outcome.heads.first)
        #expect(head.target == target)
        #expect(head.path == path)
        #expect(head.query == query)
    }

    @Test("RFC 9112 §5: OWS around values is trimmed, inner whitespace and empty values kept")
    func fieldValues() throws {
        let input = HTTPParseHarness.head([
            "GET / HTTP/1.1", "Host:h", "A: \t spaced  value \t", "B:", "C:   ", "x-Mixed-CASE: V", "A: second",
        ])
        let head = try #require(HTTPParseHarness.parseEverySplit(input).heads.first)
        #expect(head.headers == HTTPHeaders([
            (name: "Host", value: "h"), (name: "A", value: "spaced  value"), (name: "B", value: ""),
            (name: "C", value: ""), (name: "x-Mixed-CASE", value: "V"), (name: "A", value: "second"),
        ]))
        #expect(head.headers.values("a") == ["spaced  value", "second"])
    }

    @Test("RFC 9110 §5.5: obs-text in a value is decoded as UTF-8, invalid bytes as U+FFFD")
    func obsText() throws {
        var input = Array("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\u{E9}\r\nX-Raw: a".utf8)
        input += [0xFF, 0x62] + Array("\r\n\r\n".utf8)
        let head = try #require(HTTPParseHarness.parseEverySplit(input).heads.first)
        #expect(head.headers.first("X-Name") == "caf\u{E9}")
        #expect(head.headers.first("X-Raw") == "a\u{FFFD}b")
    }

    @Test("RFC 9112 §2.2: bare LF ends lines like CRLF, in any mix")
    func bareLineFeeds() throws {
        let lines = ["GET /x?y HTTP/1.1", "Host: h", "Upgrade: websocket"]
        let crlf = try #require(HTTPParseHarness.parseEverySplit(HTTPParseHarness.head(lines)).heads.first)
        let lf = HTTPParseHarness.parseEverySplit(HTTPParseHarness.head(lines, lineEnd: "\n"))
        #expect(lf.heads == [crlf])
        let mixed = HTTPParseHarness.parseEverySplit(Array("GET /x?y HTTP/1.1\nHost: h\r\nUpgrade: websocket\n\r\n".utf8))
        #expect(mixed.heads == [crlf])
        let mixedEnd = HTTPParseHarness.parseEverySplit(Array("GET /x?y HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\n".utf8))
        #expect(mixedEnd.heads == [crlf])
    }

    @Test("RFC 9112 §2.2: empty lines before the request line are ignored")
    func leadingEmptyLines() throws {
        let plain = HTTPParseHarness.head(["GET / HTTP/1.1", "Host: h"])
        let expected = HTTPParseHarness.parse([plain]).heads
        #expect(expected.count == 1)
        for prefix in ["\r\n", "\n", "\r\n\r\n\n\r\n"] {
            let outcome = HTTPParseHarness.parseEverySplit(Array(prefix.utf8) + plain)
            #expect(outcome.heads == expected, "prefix \(prefix.debugDescription)")
            #expect(outcome.error == nil)
        }
    }

    @Test("A head of empty lines only is no request: the parser waits, without error")
    func emptyLinesOnly() {
        let outcome = HTTPParseHarness.parseEverySplit(Array("\r\n\r\n\n\r\n\r".utf8))
        #expect(outcome.heads.isEmpty)
        #expect(outcome.error == nil)
        #expect(outcome.remaining == [0x0D])
    }

    @Test("Bytes after the upgrade request (a first frame) are handed over intact, at every split")
    func remainingBytesAfterHead() throws {
        // RFC 6455 §5.7: a masked "Hello" frame sent right behind the request.
        let frame: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        let outcome = HTTPParseHarness.parseEverySplit(Self.rfc6455Request + frame, mode: .stopAfterFirstHead)
        #expect(outcome.heads.count == 1)
        #expect(outcome.error == nil)
        #expect(outcome.remaining == frame)
        for ending in ["\n\n", "\r\n\n", "\n\r\n"] {
            let input = Array("GET / HTTP/1.1\r\nHost: h\(ending)".utf8) + frame
            let bareLF = HTTPParseHarness.parseEverySplit(input, mode: .stopAfterFirstHead)
            #expect(bareLF.heads.count == 1)
            #expect(bareLF.remaining == frame, "ending \(ending.debugDescription)")
        }
    }

    @Test("Persistent connection: heads sent back to back come out in order")
    func pipelinedHeads() {
        let first = HTTPParseHarness.head(["GET /one HTTP/1.1", "Host: h"])
        let second = HTTPParseHarness.head(["HEAD /two?x HTTP/1.1", "Host: h", "Accept: */*"], lineEnd: "\n")
        let outcome = HTTPParseHarness.parseEverySplit(first + Array("\r\n".utf8) + second + Array("GET /thr".utf8))
        #expect(outcome.heads.map(\.target) == ["/one", "/two?x"])
        #expect(outcome.heads.map(\.method) == ["GET", "HEAD"])
        #expect(outcome.error == nil)
        #expect(outcome.remaining == Array("GET /thr".utf8))
    }

    @Test("Methods are any RFC 9110 §5.6.2 token, case kept; targets any of the RFC 9112 §3.2 forms", arguments: [
        "get / HTTP/1.1", "M-SEARCH * HTTP/1.1", "X!#$%&'*+-.^_`|~9 / HTTP/1.1", "CONNECT example.com:443 HTTP/1.1",
        "GET https://example.com/a HTTP/1.1", "GET /~user/a;b=c/%7E?x[]=1&y=@:!$'()* HTTP/1.1",
    ])
    func acceptedRequestLines(line: String) throws {
        let head = try #require(HTTPParseHarness.parseEverySplit(HTTPParseHarness.head([line, "Host: h"])).heads.first)
        #expect("\(head.method) \(head.target) \(head.version)" == line)
    }

    @Test("After an error the parser stays failed and drops further bytes")
    func failedIsFinal() {
        var parser = HTTPRequestParser()
        parser.append(contentsOf: Array("GET / HTTP/1.0\r\nHost: h\r\n\r\n".utf8))
        #expect(throws: HTTPError.versionNotSupported) { try parser.next() }
        parser.append(contentsOf: HTTPParseHarness.head(["GET / HTTP/1.1", "Host: h"]))
        #expect(parser.bufferedByteCount == 0)
        #expect(throws: HTTPError.versionNotSupported) { try parser.next() }
        #expect(parser.takeRemainingBytes().isEmpty)
    }

    @Test("The append(UnsafeRawBufferPointer) entry point parses the same as append(contentsOf:)")
    func rawAppend() throws {
        var parser = HTTPRequestParser()
        for byte in Self.rfc6455Request {
            [byte].withUnsafeBytes { parser.append($0) }
        }
        let head = try #require(try parser.next())
        #expect(HTTPParseHarness.parse([Self.rfc6455Request]).heads == [head])
        #expect(try parser.next() == nil)
    }
}
