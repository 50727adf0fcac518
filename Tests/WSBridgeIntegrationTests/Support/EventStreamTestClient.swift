import Foundation
import TestSupport

/// An `EventSource` as the tests see it (SPEC §12): a GET with `Accept: text/event-stream` on a
/// raw socket, its response head, then the stream read by the WHATWG parser of TestSupport, and
/// POSTs to the session on connections of their own.
final class EventStreamTestClient {
    let port: UInt16
    let path: String
    let connection: WebSocketTestClient
    let head: HTTPTestResponse
    private(set) var parser = EventStreamParser()
    private var delivered = 0
    /// The id of the `event: session` that opens the stream (empty for a refused GET).
    private(set) var sessionID = ""

    /// Opens the stream; when the server answers 200, reads the opening event.
    init(port: UInt16, path: String = "/", extraHeaders: [String] = [], timeout: Duration = .seconds(5)) throws {
        self.port = port
        self.path = path
        connection = try WebSocketTestClient(port: port, timeout: timeout)
        let request = (["GET \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Accept: text/event-stream"] + extraHeaders + ["", ""])
            .joined(separator: "\r\n")
        try connection.sendRaw(Array(request.utf8))
        head = try connection.readResponseHead(timeout: timeout)
        guard head.statusCode == 200 else { return }
        let opening = try nextEvent(timeout: timeout)
        guard opening.type == "session" else { throw TestClientError.protocolViolation("the first event is \(opening)") }
        sessionID = opening.data
    }

    /// The next event (heartbeat comments are collected in `parser.comments`, not returned).
    func nextEvent(timeout: Duration = .seconds(5)) throws -> EventStreamParser.Event {
        let deadline = Deadline(after: timeout)
        // Bytes read along with the head, or with an earlier event, may hold whole events.
        if connection.availableCount > 0 { parser.feed(connection.consume(connection.availableCount)) }
        while parser.events.count == delivered {
            try connection.ensureAvailable(connection.availableCount + 1, deadline: deadline, what: "the next event")
            parser.feed(connection.consume(connection.availableCount))
        }
        delivered += 1
        return parser.events[delivered - 1]
    }

    /// The next event of `type`, skipping the others.
    func nextEvent(ofType type: String, timeout: Duration = .seconds(5)) throws -> EventStreamParser.Event {
        let deadline = Deadline(after: timeout)
        while true {
            let event = try nextEvent(timeout: deadline.remaining)
            if event.type == type { return event }
        }
    }

    /// The next `count` events' data, all of type `message`.
    func nextMessages(_ count: Int, timeout: Duration = .seconds(5)) throws -> [String] {
        try (0..<count).map { _ in
            let event = try nextEvent(timeout: timeout)
            guard event.type == "message" else { throw TestClientError.protocolViolation("expected a message, got \(event)") }
            return event.data
        }
    }

    /// Reads until the server ends the response; true when it did within `timeout`.
    func waitForEnd(timeout: Duration = .seconds(5)) throws -> Bool {
        let rest = try connection.waitForEndOfStream(timeout: timeout)
        parser.feed(rest)
        return connection.sawEndOfStream
    }

    /// Everything parsed and not yet returned by `nextEvent`.
    var pendingEvents: ArraySlice<EventStreamParser.Event> { parser.events[delivered...] }

    /// POSTs `body` to the session (or to `sessionID`/`path` when given) on a new connection and
    /// returns the response's status and body.
    func post(_ body: [UInt8], sessionID: String? = nil, path: String? = nil, extraHeaders: [String] = []) throws -> (status: Int, body: String) {
        try Self.post(port: port, path: path ?? self.path, sessionID: sessionID ?? self.sessionID, body: body, extraHeaders: extraHeaders)
    }

    func post(_ text: String) throws -> Int { try post(Array(text.utf8)).status }

    static func post(port: UInt16, path: String, sessionID: String, body: [UInt8], extraHeaders: [String] = [],
                     timeout: Duration = .seconds(5)) throws -> (status: Int, body: String) {
        let client = try WebSocketTestClient(port: port, timeout: timeout)
        defer { client.close() }
        try client.sendRaw(postRequest(port: port, path: path, sessionID: sessionID, body: body, extraHeaders: extraHeaders))
        return try readPostResponse(client, timeout: timeout)
    }

    static func postRequest(port: UInt16, path: String, sessionID: String, body: [UInt8], extraHeaders: [String] = []) -> [UInt8] {
        var lines = ["POST \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "X-WSBridge-Session: \(sessionID)"] + extraHeaders
        if !extraHeaders.contains(where: { $0.lowercased().hasPrefix("transfer-encoding") }) { lines.append("Content-Length: \(body.count)") }
        return Array((lines + ["", ""]).joined(separator: "\r\n").utf8) + body
    }

    /// A response to a POST: 204 has no body; the others carry a Content-Length.
    static func readPostResponse(_ client: WebSocketTestClient, timeout: Duration = .seconds(5)) throws -> (status: Int, body: String) {
        let head = try client.readResponseHead(timeout: timeout)
        guard head.statusCode != 204 else { return (204, "") }
        let length = Int(head.value(of: "Content-Length") ?? "0") ?? 0
        try client.ensureAvailable(length, deadline: Deadline(after: timeout), what: "the response body")
        return (head.statusCode, String(decoding: client.consume(length), as: UTF8.self))
    }

    func close() { connection.close() }
}
