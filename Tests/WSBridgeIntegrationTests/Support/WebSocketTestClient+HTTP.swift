import Foundation

/// An HTTP/1.1 response as the test client read it off the socket.
struct HTTPTestResponse {
    /// The status line exactly as sent, without its CRLF, e.g. `HTTP/1.1 405 Method Not Allowed`.
    var statusLine: String
    /// The status code parsed from the status line (0 when it has none).
    var statusCode: Int
    /// Header fields in order, as sent.
    var headers: [(name: String, value: String)]
    /// The body (empty for a 101).
    var body: [UInt8]

    /// Every value of the header `name`, compared case-insensitively (RFC 9110 §5.1).
    func values(of name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    /// The first value of the header `name`, if present.
    func value(of name: String) -> String? { values(of: name).first }

    /// The whole head, for failure messages.
    var headText: String {
        ([statusLine] + headers.map { "\($0.name): \($0.value)" }).joined(separator: "\n")
    }
}

extension WebSocketTestClient {
    /// Largest response head the client reads before giving up.
    static let maxResponseHeadBytes = 64 * 1024

    /// Opens a connection to `port` and completes the opening handshake on `path`.
    static func connect(port: UInt16, path: String = "/", extraHeaders: [String] = [], timeout: Duration = defaultTimeout) throws -> WebSocketTestClient {
        let client = try WebSocketTestClient(port: port, timeout: timeout)
        try client.upgrade(path: path, extraHeaders: extraHeaders, timeout: timeout)
        return client
    }

    /// A random 16-byte nonce, base64-encoded (RFC 6455 §4.1 item 7).
    static func randomKey() -> String {
        Data((0..<16).map { _ in UInt8.random(in: .min ... .max) }).base64EncodedString()
    }

    /// The bytes of an upgrade request with `key`, plus any `extraHeaders` lines.
    static func upgradeRequest(path: String = "/", key: String, version: String = "13", extraHeaders: [String] = []) -> [UInt8] {
        var lines = [
            "GET \(path) HTTP/1.1",
            "Host: 127.0.0.1",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: \(key)",
            "Sec-WebSocket-Version: \(version)",
        ]
        lines += extraHeaders
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    /// Sends an upgrade request and checks the 101 (RFC 6455 §4.2.2, §4.1 items 1–4 of the client's checks).
    @discardableResult
    func upgrade(path: String = "/", extraHeaders: [String] = [], timeout: Duration = defaultTimeout) throws -> HTTPTestResponse {
        let key = Self.randomKey()
        try sendRaw(Self.upgradeRequest(path: path, key: key, extraHeaders: extraHeaders), timeout: timeout)
        let response = try readResponseHead(timeout: timeout)
        guard response.statusCode == 101 else {
            var text = response.headText
            if availableCount > 0 { text += "\n\n" + String(decoding: consume(min(availableCount, 2048)), as: UTF8.self) }
            throw TestClientError.handshakeFailed("expected 101, got:\n\(text)")
        }
        guard response.value(of: "Upgrade")?.lowercased() == "websocket" else {
            throw TestClientError.handshakeFailed("Upgrade is not websocket:\n\(response.headText)")
        }
        let connectionTokens = response.values(of: "Connection").flatMap { $0.split(separator: ",") }
        guard connectionTokens.contains(where: { $0.trimmingCharacters(in: .whitespaces).lowercased() == "upgrade" }) else {
            throw TestClientError.handshakeFailed("Connection lacks upgrade:\n\(response.headText)")
        }
        let expected = TestSHA1.acceptValue(forKey: key)
        guard response.value(of: "Sec-WebSocket-Accept") == expected else {
            throw TestClientError.handshakeFailed("Sec-WebSocket-Accept is not \(expected):\n\(response.headText)")
        }
        return response
    }

    /// Reads a response head (status line and headers, up to the empty line); the body stays buffered.
    func readResponseHead(timeout: Duration = defaultTimeout) throws -> HTTPTestResponse {
        let deadline = Deadline(after: timeout)
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        var end = firstIndex(of: terminator)
        while end == nil {
            guard availableCount < Self.maxResponseHeadBytes else {
                throw TestClientError.protocolViolation("a response head over \(Self.maxResponseHeadBytes) bytes")
            }
            try ensureAvailable(availableCount + 1, deadline: deadline, what: "the end of the HTTP response head")
            end = firstIndex(of: terminator)
        }
        let head = consume(end! + terminator.count)
        let text = String(decoding: head.dropLast(terminator.count), as: UTF8.self)
        // RFC 9112 §2.2: lines end with CRLF; a bare LF is tolerated by recipients but not sent by us.
        var lines = text.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        let statusCode = parts.count >= 2 ? Int(parts[1]) ?? 0 : 0
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else {
                throw TestClientError.protocolViolation("header line without a colon: \(line.debugDescription)")
            }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return HTTPTestResponse(statusLine: statusLine, statusCode: statusCode, headers: headers, body: [])
    }

    /// Reads a whole response: the head, then `Content-Length` bytes of body, or everything up to
    /// the end of the stream when there is no Content-Length (RFC 9112 §6.3 item 8).
    func readResponse(timeout: Duration = defaultTimeout) throws -> HTTPTestResponse {
        let deadline = Deadline(after: timeout)
        var response = try readResponseHead(timeout: timeout)
        if let lengthText = response.value(of: "Content-Length") {
            guard let length = Int(lengthText), length >= 0, length <= Self.maxResponseHeadBytes else {
                throw TestClientError.protocolViolation("Content-Length \(lengthText.debugDescription)")
            }
            try ensureAvailable(length, deadline: deadline, what: "\(length) bytes of response body")
            response.body = consume(length)
        } else {
            response.body = try waitForEndOfStream(timeout: deadline.remaining)
        }
        return response
    }
}
