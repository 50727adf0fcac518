import Testing

/// SPEC §2, line framing (the default): stdout lines to text messages, text messages to stdin lines.
@Suite("Line framing")
struct LineFramingTests {
    @Test("SPEC §2: 1000 messages echo through cat as lines, in order")
    func echoInOrder() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let sent = (0..<1000).map { "message \($0): " + String(repeating: "é", count: $0 % 50) }
            try client.pump(sending: sent.flatMap { WebSocketTestClient.encodeText($0) })
            let received = try client.receiveMessages(sent.count)
            #expect(received == sent.map(TestMessage.text))
            let (rest, close) = try client.closeHandshake()
            #expect(rest.isEmpty)
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2: a text message with newlines reaches the child as several lines")
    func embeddedNewlines() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            try client.sendText("one\ntwo\n\nthree")
            #expect(try client.receiveMessages(4) == [.text("one"), .text("two"), .text(""), .text("three")])
            try client.sendText("")
            #expect(try client.receiveMessage() == .text(""))
            let (_, close) = try client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2: a fragmented text message is one stdin line")
    func fragmentedInput() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            // Fragments of 1 byte split the two-byte "é" and the four-byte "𝄞" across frames.
            try client.sendText("fragmented é 𝄞 line", fragmentSize: 1)
            #expect(try client.receiveMessage() == .text("fragmented é 𝄞 line"))
            let (_, close) = try client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2: one trailing \\r\\n or \\n is removed (\"a\\r\\nb\\n\" gives \"a\", \"b\")")
    func crlfStripped() async throws {
        try await withServer(command: [TestPaths.fixture("crlf.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            #expect(try client.receiveMessages(3) == [.text("a"), .text("b"), .close(code: 1000, reason: "")])
            try client.answerCloseAndWaitForEnd(code: 1000)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2, §9: the last partial line is delivered at EOF, then close 1000")
    func partialLastLine() async throws {
        try await withServer(command: [TestPaths.fixture("partial-line.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            #expect(try client.receiveMessages(3) == [.text("x"), .text("y"), .close(code: 1000, reason: "")])
            try client.answerCloseAndWaitForEnd(code: 1000)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2: a stdout line longer than --maxframesize closes with 1009, without waiting for EOF")
    func longLineCloses1009() async throws {
        try await withServer(flags: ["--maxframesize=1000"], command: [TestPaths.fixture("long-line.sh"), "5000"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            // The fixture keeps stdout open after the 5000 bytes, so only the limit can end this.
            let message = try client.receiveMessage()
            #expect(message.closeCode == 1009, "got \(message)")
            try client.answerCloseAndWaitForEnd(code: 1009)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2: a stdout line of exactly --maxframesize bytes is delivered")
    func lineAtLimitDelivered() async throws {
        try await withServer(flags: ["--maxframesize=1000"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let line = String(repeating: "z", count: 1000)
            try client.sendText(line)
            #expect(try client.receiveMessage() == .text(line))
            let (_, close) = try client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2, RFC 6455 §8.1: invalid UTF-8 from the child becomes U+FFFD per maximal subpart")
    func invalidUTF8Replaced() async throws {
        try await withServer(command: [TestPaths.fixture("invalid-utf8.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            // The fixture prints FF C0 61 E2 82: FF, C0 and the truncated E2 82 are one subpart each.
            let expected = String(decoding: [0xFF, 0xC0, 0x61, 0xE2, 0x82] as [UInt8], as: UTF8.self)
            #expect(expected == "\u{FFFD}\u{FFFD}a\u{FFFD}")
            #expect(try client.receiveMessages(2) == [.text(expected), .close(code: 1000, reason: "")])
            try client.answerCloseAndWaitForEnd(code: 1000)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2, RFC 6455 §7.4.1: a binary message in line mode gets close 1003")
    func binaryRefused() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            try client.sendBinary([0x68, 0x69, 0x0A])
            let message = try client.receiveMessage()
            #expect(message.closeCode == 1003, "got \(message)")
            try client.answerCloseAndWaitForEnd(code: 1003)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }
}
