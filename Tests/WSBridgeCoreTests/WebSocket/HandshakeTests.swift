import Testing
@testable import WSProtocol
@testable import WSServer

@Suite("Handshake")
struct HandshakeTests {
    /// The field lines of the RFC 6455 §1.2 client handshake, after its request line.
    static let rfcFields = [
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Version: 13",
    ]

    /// A minimal valid upgrade request, changed by `edit`.
    static func request(method: String = "GET", _ edit: (inout [String]) -> Void = { _ in }) -> HTTPRequestHead {
        var fields = [
            "Host: example.com", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
        ]
        edit(&fields)
        let headers = HTTPHeaders(fields.map { line in
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            return (name: String(parts[0]), value: String(parts.dropFirst().first?.trimmingPrefix(" ") ?? ""))
        })
        return HTTPRequestHead(method: method, target: "/", headers: headers)
    }

    @Test("RFC 6455 §1.3: the sample key's accept value")
    func acceptValue() {
        #expect(Handshake.acceptGUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
        #expect(Handshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test("RFC 6455 §1.2/§4.1 request through parser and validate gives the 101 of §1.2, byte for byte")
    func rfcHandshakeEndToEnd() throws {
        let input = HTTPParseHarness.head(["GET /chat HTTP/1.1"] + Self.rfcFields)
        let outcome = HTTPParseHarness.parseEverySplit(input, mode: .stopAfterFirstHead)
        let head = try #require(outcome.heads.first)
        #expect(Handshake.isUpgradeRequest(head))
        let acceptance = try Handshake.validate(head)
        #expect(acceptance.key == "dGhlIHNhbXBsZSBub25jZQ==")
        #expect(acceptance.acceptValue == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(acceptance.offeredSubprotocols == ["chat", "superchat"])
        let chosen = Handshake.selectSubprotocol(offered: acceptance.offeredSubprotocols, supported: ["superchat", "chat"])
        #expect(chosen == "chat")
        #expect(acceptance.response(subprotocol: chosen).serialized() == Array("""
            HTTP/1.1 101 Switching Protocols\r
            Upgrade: websocket\r
            Connection: Upgrade\r
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r
            Sec-WebSocket-Protocol: chat\r
            \r

            """.utf8))
    }

    @Test("The 101 without a subprotocol, with extra headers (--header-ws) last and no Content-Length")
    func switchingProtocolsWithExtras() throws {
        let acceptance = try Handshake.validate(Self.request())
        let response = acceptance.response(extraHeaders: HTTPHeaders([(name: "X-Server", value: "wsbridge")]))
        #expect(response.wireText == """
            HTTP/1.1 101 Switching Protocols\r
            Upgrade: websocket\r
            Connection: Upgrade\r
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r
            X-Server: wsbridge\r
            \r

            """)
    }

    @Test("RFC 6455 §4.2.2 item 4: no common subprotocol means none is named")
    func noCommonSubprotocol() {
        #expect(Handshake.selectSubprotocol(offered: ["chat"], supported: ["json"]) == nil)
        #expect(Handshake.selectSubprotocol(offered: [], supported: ["json"]) == nil)
        #expect(Handshake.selectSubprotocol(offered: ["a", "b"], supported: ["b", "a"]) == "a")
    }

    @Test("SPEC §5: an upgrade is a GET with Upgrade websocket and Connection upgrade, any case", arguments: [
        ("GET", "websocket", "Upgrade", true),
        ("GET", "WebSocket", "keep-alive, UPGRADE", true),
        ("GET", "h2c, websocket", "upgrade", true),
        ("POST", "websocket", "Upgrade", false),
        ("get", "websocket", "Upgrade", false),
        ("GET", "h2c", "Upgrade", false),
        ("GET", "websocket", "keep-alive", false),
        ("GET", nil, "Upgrade", false),
        ("GET", "websocket", nil, false),
    ] as [(String, String?, String?, Bool)])
    func isUpgradeRequest(method: String, upgrade: String?, connection: String?, expected: Bool) {
        var headers = HTTPHeaders([(name: "Host", value: "h")])
        if let upgrade { headers.add(name: "Upgrade", value: upgrade) }
        if let connection { headers.add(name: "Connection", value: connection) }
        #expect(Handshake.isUpgradeRequest(HTTPRequestHead(method: method, target: "/", headers: headers)) == expected)
    }

    @Test("Header names and token values of the handshake are case-insensitive")
    func caseInsensitive() throws {
        let head = HTTPRequestHead(method: "GET", target: "/", headers: HTTPHeaders([
            (name: "HOST", value: "h"), (name: "upgrade", value: "WEBSOCKET"), (name: "CONNECTION", value: "keep-alive, upgrade"),
            (name: "sec-websocket-key", value: "AQIDBAUGBwgJCgsMDQ4PEC=="), (name: "SEC-WEBSOCKET-VERSION", value: "13"),
        ]))
        #expect(throws: Self.badKey) { try Handshake.validate(head) }
        var fixed = head
        fixed.headers.replaceOrAdd(name: "Sec-WebSocket-Key", value: "AQIDBAUGBwgJCgsMDQ4PEA==")
        #expect(try Handshake.validate(fixed).acceptValue == Handshake.acceptValue(forKey: "AQIDBAUGBwgJCgsMDQ4PEA=="))
    }

    /// One change to the minimal request's field lines (Host, Upgrade, Connection, Key, Version).
    enum FieldEdit: Sendable, CustomStringConvertible {
        /// Leaves the request as it is.
        case none
        /// Drops the line at this index.
        case remove(Int)
        /// Puts this line in place of the one at the index.
        case replace(Int, String)
        /// Adds this line at the end.
        case append(String)

        /// Applies the change.
        func apply(to fields: inout [String]) {
            switch self {
            case .none: break
            case .remove(let index): fields.remove(at: index)
            case .replace(let index, let line): fields[index] = line
            case .append(let line): fields.append(line)
            }
        }

        var description: String {
            switch self {
            case .none: "unchanged"
            case .remove(let index): "without line \(index)"
            case .replace(let index, let line): "line \(index) = \(line)"
            case .append(let line): "+ \(line)"
            }
        }
    }

    static let badKey = HandshakeError.badRequest("Sec-WebSocket-Key is not 16 bytes in base64")

    @Test("RFC 6455 §4.2.1: each broken requirement gets its error", arguments: [
        ("POST", FieldEdit.none, HandshakeError.methodNotAllowed),
        ("GET", .remove(0), .badRequest("missing Host header")),
        ("GET", .append("Host: other"), .badRequest("more than one Host header")),
        ("GET", .replace(0, "Host: "), .badRequest("empty Host header")),
        ("GET", .replace(1, "Upgrade: h2c"), .notWebSocket),
        ("GET", .remove(1), .notWebSocket),
        ("GET", .replace(2, "Connection: keep-alive"), .notWebSocket),
        ("GET", .remove(2), .notWebSocket),
        ("GET", .remove(3), .badRequest("missing Sec-WebSocket-Key")),
        ("GET", .append("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), .badRequest("more than one Sec-WebSocket-Key")),
        ("GET", .replace(3, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"), badKey),
        ("GET", .replace(3, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j"), badKey),
        ("GET", .replace(3, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZXM="), badKey),
        ("GET", .replace(3, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ-_"), badKey),
        ("GET", .replace(3, "Sec-WebSocket-Key: "), badKey),
        ("GET", .remove(4), .badRequest("missing Sec-WebSocket-Version")),
        ("GET", .append("Sec-WebSocket-Version: 13"), .badRequest("more than one Sec-WebSocket-Version")),
        ("GET", .replace(4, "Sec-WebSocket-Version: 8"), .unsupportedVersion),
        ("GET", .replace(4, "Sec-WebSocket-Version: 13, 8"), .unsupportedVersion),
        ("GET", .replace(4, "Sec-WebSocket-Version: 013"), .unsupportedVersion),
    ] as [(String, FieldEdit, HandshakeError)])
    func validationErrors(method: String, edit: FieldEdit, expected: HandshakeError) {
        #expect(throws: expected) { try Handshake.validate(Self.request(method: method, edit.apply)) }
    }

    @Test("RFC 6455 §4.2.1: the checks run in order, so the first broken one answers")
    func checkOrder() {
        // No Host and a bad version: the Host (item 2) answers before the version (item 6).
        #expect(throws: HandshakeError.badRequest("missing Host header")) {
            try Handshake.validate(Self.request { $0.remove(at: 0); $0[3] = "Sec-WebSocket-Version: 8" })
        }
        // Not a WebSocket request (items 3-4) answers before a bad key (item 5).
        #expect(throws: HandshakeError.notWebSocket) {
            try Handshake.validate(Self.request { $0[1] = "Upgrade: h2c"; $0[3] = "Sec-WebSocket-Key: x" })
        }
        // A bad key (item 5) answers before a bad version (item 6).
        #expect(throws: Self.badKey) {
            try Handshake.validate(Self.request { $0[3] = "Sec-WebSocket-Key: x"; $0[4] = "Sec-WebSocket-Version: 8" })
        }
        // The method (item 1) answers before everything.
        #expect(throws: HandshakeError.methodNotAllowed) { try Handshake.validate(Self.request(method: "PUT") { $0.removeAll() }) }
    }

    @Test("Each handshake error's answer on the wire", arguments: [
        (HandshakeError.methodNotAllowed, "HTTP/1.1 405 Method Not Allowed\r\n", [("Allow", "GET")]),
        (.badRequest("missing Host header"), "HTTP/1.1 400 Bad Request\r\n", []),
        (.unsupportedVersion, "HTTP/1.1 426 Upgrade Required\r\n",
         [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"), ("Connection", "Upgrade, close")]),
        (.notWebSocket, "HTTP/1.1 426 Upgrade Required\r\n",
         [("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"), ("Connection", "Upgrade, close")]),
        (.forbiddenOrigin, "HTTP/1.1 403 Forbidden\r\n", []),
    ] as [(HandshakeError, String, [(String, String)])])
    func errorResponses(error: HandshakeError, statusLine: String, required: [(String, String)]) {
        let response = error.response
        #expect(response.statusLineBytes == Array(statusLine.utf8))
        for (name, value) in required {
            #expect(response.headers.values(name) == [value], "\(name)")
        }
        #expect(response.headers.values("Connection").count == 1)
        #expect(response.headers.first("Content-Type") == "text/plain; charset=utf-8")
        #expect(response.body == Array("\(error.status.code) \(error.status.reasonPhrase): \(error.message)\n".utf8))
    }

    @Test("SPEC §5: the 426 for a plain GET, byte for byte, with --header-http extras")
    func notWebSocketBytes() {
        let response = HandshakeError.notWebSocket.response(extraHeaders: HTTPHeaders([(name: "X-A", value: "b")]))
        #expect(response.wireText == """
            HTTP/1.1 426 Upgrade Required\r
            Content-Type: text/plain; charset=utf-8\r
            Upgrade: websocket\r
            Sec-WebSocket-Version: 13\r
            Connection: Upgrade, close\r
            X-A: b\r
            Content-Length: 51\r
            \r
            426 Upgrade Required: this is a WebSocket endpoint

            """)
    }
}
