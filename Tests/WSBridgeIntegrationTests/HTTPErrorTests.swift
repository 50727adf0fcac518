import Foundation
import Testing

/// SPEC §5: answers before the upgrade, checked on the wire down to the exact status line.
@Suite("HTTP errors")
struct HTTPErrorTests {
    /// One row: a raw request, the status line it must get, and header values the answer must carry.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let request: [UInt8]
        let statusLine: String
        let headers: [String: String]
        var testDescription: String { "\(name) → \(statusLine)" }
    }

    static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    static func request(_ lines: [String]) -> [UInt8] {
        Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    static let upgradeHeaders = [
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: \(key)",
        "Sec-WebSocket-Version: 13",
    ]

    static let cases: [Case] = [
        Case(
            name: "POST with upgrade headers",
            request: request(["POST / HTTP/1.1"] + upgradeHeaders + ["Content-Length: 0"]),
            statusLine: "HTTP/1.1 405 Method Not Allowed",
            // RFC 9110 §15.5.6: a 405 must say which methods are allowed.
            headers: ["Allow": "GET"]
        ),
        Case(
            name: "plain GET without upgrade",
            request: request(["GET / HTTP/1.1", "Host: 127.0.0.1"]),
            statusLine: "HTTP/1.1 426 Upgrade Required",
            headers: ["Sec-WebSocket-Version": "13", "Upgrade": "websocket"]
        ),
        Case(
            name: "Sec-WebSocket-Key that is not 16 bytes in base64",
            request: request(["GET / HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
                              "Sec-WebSocket-Key: c2hvcnQ=", "Sec-WebSocket-Version: 13"]),
            statusLine: "HTTP/1.1 400 Bad Request",
            headers: [:]
        ),
        Case(
            name: "missing Sec-WebSocket-Key",
            request: request(["GET / HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
                              "Sec-WebSocket-Version: 13"]),
            statusLine: "HTTP/1.1 400 Bad Request",
            headers: [:]
        ),
        Case(
            name: "Sec-WebSocket-Version: 8",
            request: request(["GET / HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
                              "Sec-WebSocket-Key: \(key)", "Sec-WebSocket-Version: 8"]),
            statusLine: "HTTP/1.1 426 Upgrade Required",
            // RFC 6455 §4.4: the versions the server supports.
            headers: ["Sec-WebSocket-Version": "13", "Upgrade": "websocket"]
        ),
        Case(
            name: "request head over 16 KiB",
            request: request(["GET / HTTP/1.1"] + upgradeHeaders + ["X-Filler: " + String(repeating: "f", count: 17 * 1024)]),
            statusLine: "HTTP/1.1 431 Request Header Fields Too Large",
            headers: [:]
        ),
        Case(
            name: "GET / HTTP/1.0",
            request: request(["GET / HTTP/1.0"] + upgradeHeaders),
            statusLine: "HTTP/1.1 505 HTTP Version Not Supported",
            headers: [:]
        ),
        Case(
            name: "garbage",
            request: Array("\u{1}\u{2}GARBAGE-WITHOUT-SPACES\r\n\r\n".utf8),
            statusLine: "HTTP/1.1 400 Bad Request",
            headers: [:]
        ),
    ]

    @Test("SPEC §5: refused requests get the exact status line, its headers and a short text body", arguments: cases)
    func refusedRequest(_ row: Case) async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            do {
                try client.sendRaw(row.request)
            } catch TestClientError.connectionClosed {
                // A server may answer 431 and close before reading the whole oversized head.
            }
            let response = try client.readResponse()
            #expect(response.statusLine == row.statusLine, "\(response.headText)")
            for (name, value) in row.headers {
                #expect(response.value(of: name) == value, "header \(name) in:\n\(response.headText)")
            }
            #expect(!response.body.isEmpty, "SPEC §5: each refusal has a short text body")
            // No child runs for a refused request, so there is no WebSocket traffic after it.
            #expect(response.value(of: "Sec-WebSocket-Accept") == nil)
        }
    }

    @Test("RFC 6455 §4.2.2: a valid upgrade gets 101 with the right Sec-WebSocket-Accept")
    func validUpgrade() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            // The fixed key of RFC 6455 §1.3 checks the server against the published answer.
            try client.sendRaw(Self.request(["GET /any/path?q=1 HTTP/1.1"] + Self.upgradeHeaders))
            let response = try client.readResponseHead()
            #expect(response.statusLine.hasPrefix("HTTP/1.1 101 "), "\(response.headText)")
            #expect(response.value(of: "Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            #expect(response.value(of: "Upgrade")?.lowercased() == "websocket")
            let pid = try client.receivePID()
            let (_, close) = try client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }
}
