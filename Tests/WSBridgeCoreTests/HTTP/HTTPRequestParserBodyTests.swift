import Testing
@testable import WSProtocol

/// RFC 9112 §6.3 on a persistent connection: a body of known length is skipped, never parsed as the
/// next request (request smuggling), at any split of the input.
@Suite("HTTPRequestParser bodies")
struct HTTPRequestParserBodyTests {
    static let smuggled = HTTPParseHarness.head(["GET /sub/a.txt HTTP/1.1", "Host: h"])

    @Test("RFC 9112 §6.3 item 6: a Content-Length body that holds a request line is dropped, not parsed")
    func bodyShapedLikeARequestIsSkipped() {
        let first = HTTPParseHarness.head(["GET /index.html HTTP/1.1", "Host: h", "Content-Length: \(Self.smuggled.count)"])
        let next = HTTPParseHarness.head(["GET /next HTTP/1.1", "Host: h"])
        let outcome = HTTPParseHarness.parseEverySplit(first + Self.smuggled + next, mode: .skippingBodies)
        #expect(outcome.error == nil)
        #expect(outcome.heads.map(\.target) == ["/index.html", "/next"])
        #expect(outcome.remaining.isEmpty)
    }

    @Test("RFC 9112 §6.3: bodies of every length from 1 to 300 bytes are skipped exactly")
    func everyLength() {
        for length in 1...300 {
            let body = (0..<length).map { UInt8(truncatingIfNeeded: $0 % 10 + 0x30) }
            let input = HTTPParseHarness.head(["POST /a HTTP/1.1", "Host: h", "Content-Length: \(length)"]) + body
                + HTTPParseHarness.head(["GET /b HTTP/1.1", "Host: h"]) + Array("GET".utf8)
            let outcome = HTTPParseHarness.parse([input], mode: .skippingBodies)
            #expect(outcome.heads.map(\.target) == ["/a", "/b"], "length \(length)")
            #expect(outcome.remaining == Array("GET".utf8), "length \(length)")
        }
    }

    @Test("a body still arriving keeps the parser waiting, and a body cut short yields no head")
    func partialBody() throws {
        var parser = HTTPRequestParser()
        parser.append(contentsOf: HTTPParseHarness.head(["POST /a HTTP/1.1", "Host: h", "Content-Length: 10"]) + Array("12345".utf8))
        #expect(try parser.next()?.target == "/a")
        parser.discardBody(byteCount: 10)
        #expect(try parser.next() == nil)
        parser.append(contentsOf: Array("67890".utf8))
        #expect(try parser.next() == nil)
        #expect(parser.bufferedByteCount == 0)
        parser.append(contentsOf: HTTPParseHarness.head(["GET /b HTTP/1.1", "Host: h"]))
        #expect(try parser.next()?.target == "/b")
    }

    @Test("SPEC §8: a refused head keeps its request line for the log when it could be read", arguments: [
        (["GET /old HTTP/1.0", "Host: h"], "GET", "/old", HTTPStatus.httpVersionNotSupported),
        (["POST /x?y=1 HTTP/1.1", "Host: h", "Host: i"], "POST", "/x", .badRequest),
        (["GET /a HTTP/1.1", "Bad Name: v", "Host: h"], "GET", "/a", .badRequest),
        (["PUT /f HTTP/1.1"], "PUT", "/f", .badRequest),
    ] as [([String], String, String, HTTPStatus)])
    func rejectedRequestLine(lines: [String], method: String, path: String, status: HTTPStatus) throws {
        var parser = HTTPRequestParser()
        parser.append(contentsOf: HTTPParseHarness.head(lines))
        #expect(throws: HTTPError.self) { _ = try parser.next() }
        let line = try #require(parser.rejectedRequestLine)
        #expect(line.method == method)
        #expect(line.path == path)
        do {
            _ = try parser.next()
        } catch {
            #expect(error.status == status)
        }
    }

    @Test("a request line that cannot be read leaves nothing to log", arguments: [
        ["GET  / HTTP/1.1", "Host: h"],
        ["GET / HTTP/1.1 extra", "Host: h"],
        ["GET / HTTX/1.1", "Host: h"],
    ])
    func unreadableRequestLine(lines: [String]) {
        var parser = HTTPRequestParser()
        parser.append(contentsOf: HTTPParseHarness.head(lines))
        #expect(throws: HTTPError.self) { _ = try parser.next() }
        #expect(parser.rejectedRequestLine == nil)
    }
}
