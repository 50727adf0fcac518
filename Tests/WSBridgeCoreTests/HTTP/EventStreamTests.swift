import Foundation
import Testing
import WSProtocol
import TestSupport

/// The pure parts of SPEC §12's event streams: the encoder, read back by a WHATWG parser written
/// apart from it (`EventStreamParser`), whole, byte by byte and split at every index; the Accept
/// match; a POST body's lines; session ids.
@Suite("Event stream codec")
struct EventStreamCodecTests {
    /// Encodes an opening, `messages` and an exit, as a session writes them.
    private func stream(_ messages: [(isBinary: Bool, payload: [UInt8])], exit: (UInt16, String)) -> [UInt8] {
        var buffer = ByteBuffer()
        EventStreamEncoder.appendOpening(sessionID: "0123456789abcdef0123456789abcdef", to: &buffer)
        for (index, message) in messages.enumerated() {
            EventStreamEncoder.appendMessage(id: UInt64(index + 1), isBinary: message.isBinary, payload: message.payload, to: &buffer)
            if index % 3 == 1 { EventStreamEncoder.appendHeartbeat(to: &buffer) }
        }
        EventStreamEncoder.appendExit(code: exit.0, reason: exit.1, to: &buffer)
        return Array(buffer.readableBytes)
    }

    /// What a browser receives for a text message: its CR and CRLF become LF (the one thing the
    /// format cannot carry), everything else arrives as it was.
    private func received(_ text: [UInt8]) -> String {
        String(decoding: text, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }

    /// Checks what a parser read from `bytes`.
    private func check(_ parser: EventStreamParser, _ messages: [(isBinary: Bool, payload: [UInt8])], exit: (UInt16, String),
                       _ comment: Comment? = nil) throws {
        #expect(parser.reconnectionMilliseconds == 2000, comment)
        let events = parser.events
        try #require(events.count == messages.count + 2, comment)
        #expect(events[0] == .init(type: "session", data: "0123456789abcdef0123456789abcdef", lastEventID: ""), comment)
        for (index, message) in messages.enumerated() {
            let event = events[index + 1]
            #expect(event.lastEventID == String(index + 1), comment)
            if message.isBinary {
                #expect(event.type == "binary", comment)
                #expect(Base64.decode(event.data) == message.payload, comment)
            } else {
                #expect(event.type == "message", comment)
                #expect(event.data == received(message.payload), comment)
            }
        }
        let last = try #require(events.last)
        #expect(last.type == "exit", comment)
        let json = try JSONSerialization.jsonObject(with: Data(last.data.utf8)) as? [String: Any]
        #expect(json?["code"] as? Int == Int(exit.0), comment)
        #expect(json?["reason"] as? String == exit.1, comment)
    }

    private let examples: [(isBinary: Bool, payload: [UInt8])] = [
        (false, Array("hello".utf8)), (false, []), (false, Array(" leading space".utf8)), (false, Array("a\rb\r\nc\nd".utf8)),
        (false, Array("trailing CR\r".utf8)), (false, Array("\r\n".utf8)), (false, Array("data: not a field".utf8)),
        (false, Array(":not a comment".utf8)), (false, Array("é ✓ 🎉".utf8)), (true, [0, 1, 0xFF, 0x0A, 0x0D]), (true, []),
    ]

    @Test("What the encoder writes, a WHATWG parser reads back: whole, byte by byte, and split at every index")
    func roundTrip() throws {
        let exit: (UInt16, String) = (4003, "exit 3 \"quoted\" \\ \u{1}")
        let bytes = stream(examples, exit: exit)
        var whole = EventStreamParser()
        whole.feed(bytes)
        try check(whole, examples, exit: exit)
        var byByte = EventStreamParser()
        for byte in bytes { byByte.feed(CollectionOfOne(byte)) }
        #expect(byByte.events == whole.events)
        for index in 0...bytes.count {
            var split = EventStreamParser()
            split.feed(bytes[..<index])
            split.feed(bytes[index...])
            #expect(split.events == whole.events, "split at \(index)")
        }
        #expect(whole.comments == Array(repeating: " keepalive", count: examples.count / 3 + (examples.count % 3 == 2 ? 1 : 0)))
    }

    @Test("Seeded random messages (any bytes, CR and LF dense) survive the round trip")
    func randomMessages() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        let alphabet: [UInt8] = Array("ab :\r\n\t".utf8) + Array("é".utf8)
        for round in 0..<2_000 {
            var messages: [(isBinary: Bool, payload: [UInt8])] = []
            for _ in 0..<random.below(6) {
                if random.chance(20) {
                    messages.append((true, (0..<random.below(40)).map { _ in random.byte() }))
                } else {
                    // Whole UTF-8 text, as the line and length framings hand it over.
                    var text: [UInt8] = []
                    while text.count < random.below(40) {
                        let pick = random.below(alphabet.count - 1)
                        text += pick == alphabet.count - 2 ? Array("é".utf8) : [alphabet[pick]]
                    }
                    messages.append((false, text))
                }
            }
            let bytes = stream(messages, exit: (1000, ""))
            var parser = EventStreamParser()
            let cut = random.below(bytes.count + 1)
            parser.feed(bytes[..<cut])
            parser.feed(bytes[cut...])
            try check(parser, messages, exit: (1000, ""), "seed \(seed) round \(round)")
        }
    }

    @Test("The response head: 200, the three headers of SPEC §12, no length, extra headers after")
    func responseHead() {
        let head = String(decoding: EventStreamEncoder.responseHead(extraHeaders: HTTPHeaders([
            (name: "X-Extra", value: "1"), (name: "Cache-Control", value: "max-age=9"),
        ])), as: UTF8.self)
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head.contains("\r\nContent-Type: text/event-stream\r\n"))
        #expect(head.contains("\r\nCache-Control: no-cache\r\n"))
        #expect(!head.contains("max-age"))
        #expect(head.contains("\r\nX-Accel-Buffering: no\r\n"))
        #expect(head.contains("\r\nX-Extra: 1\r\n"))
        #expect(!head.contains("Content-Length"))
        #expect(!head.contains("Transfer-Encoding"))
        #expect(head.hasSuffix("\r\n\r\n"))
    }

    @Test("Accept: text/event-stream in any case, with parameters, among others; not at q=0, not for other methods")
    func acceptMatch() {
        func asks(_ accept: String?, method: String = "GET") -> Bool {
            var headers = HTTPHeaders()
            if let accept { headers.add(name: "Accept", value: accept) }
            return EventStreamRequest.isRequested(HTTPRequestHead(method: method, target: "/", headers: headers))
        }
        #expect(asks("text/event-stream"))
        #expect(asks("Text/Event-Stream"))
        #expect(asks("text/html, text/event-stream;charset=utf-8"))
        #expect(asks(" text/event-stream ; q=0.5"))
        #expect(asks("text/event-stream;q=1"))
        #expect(!asks("text/event-stream;q=0"))
        #expect(!asks("text/event-stream; q=0.000"))
        #expect(!asks("text/event-streams"))
        #expect(!asks("*/*"))
        #expect(!asks(nil))
        #expect(!asks("text/event-stream", method: "POST"))
        #expect(!asks("text/event-stream", method: "HEAD"))
    }

    @Test("A POST body's lines: LF or CRLF, a last line without LF, empty lines kept, UTF-8 only")
    func bodyLines() {
        func lines(_ text: String) -> [String]? {
            EventStreamRequest.lines(ofBody: Array(text.utf8))?.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(lines("") == [])
        #expect(lines("a") == ["a"])
        #expect(lines("a\n") == ["a"])
        #expect(lines("a\r\nb\n") == ["a", "b"])
        #expect(lines("a\n\nb") == ["a", "", "b"])
        #expect(lines("\n") == [""])
        #expect(lines("a\rb") == ["a\rb"])
        #expect(lines("a\r") == ["a\r"])
        #expect(EventStreamRequest.lines(ofBody: [0x61, 0xFF, 0x0A]) == nil)
        #expect(EventStreamRequest.lines(ofBody: [0xE2, 0x82]) == nil)
    }

    @Test("Session ids: 128 random bits as 32 lowercase hex digits, and only that form is accepted")
    func sessionIDs() {
        var generator = SystemRandomNumberGenerator()
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = EventStreamRequest.makeSessionID(using: &generator)
            #expect(EventStreamRequest.isWellFormedSessionID(id))
            seen.insert(id)
        }
        #expect(seen.count == 1000)
        for bad in ["", "0123", String(repeating: "A", count: 32), String(repeating: "g", count: 32), String(repeating: "a", count: 33),
                    String(repeating: "a", count: 31) + " "] {
            #expect(!EventStreamRequest.isWellFormedSessionID(bad), "\(bad)")
        }
    }
}
