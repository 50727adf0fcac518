import Testing
@testable import WSProtocol

@Suite("HTTPHeaders")
struct HTTPHeadersTests {
    static let sample = HTTPHeaders([
        (name: "Host", value: "example.com"),
        (name: "Connection", value: "keep-alive, Upgrade"),
        (name: "X-Multi", value: "one"),
        (name: "x-multi", value: "two"),
        (name: "Upgrade", value: "websocket"),
    ])

    @Test("RFC 9110 §5.1: lookup ignores the case of names, order and spelling are kept")
    func caseInsensitiveLookup() {
        let headers = Self.sample
        #expect(headers.first("HOST") == "example.com")
        #expect(headers.values("X-MULTI") == ["one", "two"])
        #expect(headers.first("x-Multi") == "one")
        #expect(headers.contains("upgrade"))
        #expect(!headers.contains("Upgrad"))
        #expect(!headers.contains("Upgrades"))
        #expect(headers.first("Missing") == nil)
        #expect(headers.values("Missing").isEmpty)
        #expect(headers.map(\.name) == ["Host", "Connection", "X-Multi", "x-multi", "Upgrade"])
        #expect(headers.count == 5)
    }

    @Test("RFC 9110 §5.6.1: tokens are found in comma lists, over all lines, ignoring case and OWS", arguments: [
        (["keep-alive, Upgrade"], "upgrade", true),
        (["keep-alive,upgrade"], "Upgrade", true),
        (["UPGRADE"], "upgrade", true),
        ([" \tUpgrade \t"], "upgrade", true),
        (["keep-alive", "Upgrade"], "upgrade", true),
        ([",,upgrade,,"], "upgrade", true),
        (["keep-alive"], "upgrade", false),
        (["upgrades"], "upgrade", false),
        (["upgrade-insecure"], "upgrade", false),
        (["up grade"], "upgrade", false),
        ([""], "upgrade", false),
        ([String](), "upgrade", false),
        (["websocket/13, h2c"], "websocket", false),
        (["h2c, WebSocket"], "websocket", true),
    ])
    func containsToken(values: [String], token: String, expected: Bool) {
        let headers = HTTPHeaders(values.map { (name: "Connection", value: $0) } + [(name: "Other", value: token)])
        #expect(headers.containsToken(token, in: "connection") == expected)
    }

    @Test("List elements come out trimmed, in order, empty ones dropped")
    func listElements() {
        let headers = HTTPHeaders([
            (name: "Sec-WebSocket-Protocol", value: "chat, superchat"),
            (name: "Other", value: "x"),
            (name: "sec-websocket-protocol", value: " ,v2.json ,, "),
        ])
        #expect(headers.listElements("Sec-WebSocket-Protocol") == ["chat", "superchat", "v2.json"])
        #expect(headers.listElements("Missing").isEmpty)
    }

    @Test("Adding, removing and replacing keep the other lines in order")
    func mutation() {
        var headers = Self.sample
        headers.remove("X-MULTI")
        #expect(headers.map(\.name) == ["Host", "Connection", "Upgrade"])
        headers.replaceOrAdd(name: "connection", value: "close")
        #expect(headers.map(\.name) == ["Host", "Upgrade", "connection"])
        #expect(headers.values("Connection") == ["close"])
        headers.add(contentsOf: HTTPHeaders([(name: "A", value: "1"), (name: "B", value: "2")]))
        #expect(headers.map(\.value) == ["example.com", "websocket", "close", "1", "2"])
        #expect(!headers.isEmpty)
        #expect(HTTPHeaders().isEmpty)
    }

    @Test("Equality compares lines exactly and in order")
    func equality() {
        #expect(Self.sample == Self.sample)
        #expect(HTTPHeaders([(name: "A", value: "1")]) != HTTPHeaders([(name: "a", value: "1")]))
        #expect(HTTPHeaders([(name: "A", value: "1"), (name: "B", value: "2")]) != HTTPHeaders([(name: "B", value: "2"), (name: "A", value: "1")]))
        #expect(HTTPHeaders([(name: "A", value: "1")]) != HTTPHeaders([(name: "A", value: "1"), (name: "A", value: "1")]))
    }
}
