import Testing

/// SPEC §7: each direction has its own bounded buffer and neither waits for the other.
@Suite("Backpressure")
struct BackpressureTests {
    @Test("SPEC §7: a client that sends 1 MiB of lines ahead through cat gets every line back in order")
    func oneMebibyteAhead() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            // 1024 lines of 1 KiB (with the server's added newline): 1 MiB in all.
            let lines = (0..<1024).map { index in
                let prefix = "line \(index) "
                return prefix + String(repeating: Character(UnicodeScalar(UInt8(0x41 + index % 26))), count: 1023 - prefix.utf8.count)
            }
            // The whole megabyte is written before any echo is decoded; the client only drains
            // the socket into its buffer meanwhile, as a browser does.
            try client.pump(sending: lines.flatMap { WebSocketTestClient.encodeText($0) }, timeout: .seconds(30))
            let echoed = try client.receiveMessages(lines.count, timeout: .seconds(30))
            #expect(echoed.count == lines.count)
            #expect(echoed == lines.map(TestMessage.text))
            let (extra, close) = try client.closeHandshake()
            #expect(extra.isEmpty)
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §7: a 1 MiB text message (the default --maxframesize) echoes through cat as one line")
    func largestMessage() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let line = String(repeating: "0123456789abcdef", count: 65536)
            try client.pump(sending: WebSocketTestClient.encodeText(line, fragmentSize: 100_000), timeout: .seconds(30))
            #expect(try client.receiveMessage(timeout: .seconds(30)) == .text(line))
            let (_, close) = try client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }
}
