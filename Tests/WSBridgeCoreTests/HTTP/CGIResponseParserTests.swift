import Testing
@testable import WSProtocol

@Suite("CGIResponseParser")
struct CGIResponseParserTests {
    /// Feeds `text` in pieces of `step` bytes and returns the first head and the body after it.
    static func parse(_ text: String, step: Int) throws(HTTPError) -> (head: CGIResponseParser.Head, body: [UInt8])? {
        var parser = CGIResponseParser()
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + step)
            if let result = try parser.append(bytes[index..<end]) {
                return (result.head, result.body + bytes[end...])
            }
            index = end
        }
        return nil
    }

    @Test("RFC 3875 §6.3: a document response, CRLF or LF lines, split anywhere", arguments: [1, 2, 7, 1000])
    func documentResponse(step: Int) throws {
        for text in ["Content-Type: text/plain\r\nX-A: 1\r\n\r\nbody", "Content-Type: text/plain\nX-A: 1\n\nbody"] {
            let result = try #require(try Self.parse(text, step: step))
            #expect(result.head.status == .ok)
            #expect(result.head.headers.first("X-A") == "1")
            #expect(result.body == Array("body".utf8))
        }
    }

    @Test("RFC 3875 §6.3.3, §6.2.4: Status sets the status; Location alone is a 302")
    func statusAndLocation() throws {
        let teapot = try #require(try Self.parse("Status: 418 I am a teapot\nContent-Type: text/plain\n\n", step: 3))
        #expect(teapot.head.status == HTTPStatus(code: 418, reasonPhrase: "I am a teapot"))
        #expect(!teapot.head.headers.contains("Status"))
        let redirect = try #require(try Self.parse("Location: http://example.com/\n\n", step: 5))
        #expect(redirect.head.status == .found)
    }

    @Test("a head without Content-Type, Location or Status, a bad Status, or an endless head is refused", arguments: [
        "X-Only: 1\n\n", "Status: abc\nContent-Type: text/plain\n\n", "no colon here\n\n",
        String(repeating: "X-Long: " + String(repeating: "a", count: 100) + "\n", count: 200),
    ])
    func refusals(text: String) {
        #expect(throws: HTTPError.self) { _ = try Self.parse(text, step: 64) }
    }
}
