import Glibc
import Testing

/// SPEC §3 and RFC 6455 §5.5.1, §7.1: the close handshake the client starts, and the server's own shutdown.
@Suite("Close handshake")
struct CloseHandshakeTests {
    @Test("RFC 6455 §5.5.1: client close 1000 is answered with close 1000, then the TCP connection ends")
    func clientCloseAnswered() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let (messages, close) = try client.closeHandshake(code: 1000)
            #expect(messages.isEmpty)
            #expect(close == .close(code: 1000, reason: ""))
            #expect(client.sawEndOfStream)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §3: with cat, messages sent right before the close are echoed before the close frame")
    func echoBeforeClose() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let sent = (0..<100).map { "last words \($0)" }
            // Messages and the close frame leave in one write, so the server sees them together.
            var wire = sent.flatMap { WebSocketTestClient.encodeText($0) }
            wire += WebSocketTestClient.encodeFrame(opcode: WireOpcode.close, payload: WebSocketTestClient.closePayload(code: 1000), mask: WebSocketTestClient.randomMask())
            try client.pump(sending: wire)
            var received: [TestMessage] = []
            while true {
                let message = try client.receiveMessage()
                if case .close = message {
                    #expect(message == .close(code: 1000, reason: ""))
                    break
                }
                received.append(message)
            }
            #expect(received == sent.map(TestMessage.text))
            // The socket stays open on this side: ending the child must not wait for the client's FIN.
            #expect(try client.waitForEndOfStream().isEmpty)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §3: a child that ignores stdin still gets the close answered within about 100 ms")
    func closeAnsweredPromptly() async throws {
        try await withServer(command: [TestPaths.fixture("forking-sleeper.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let start = ContinuousClock.now
            try client.sendClose(code: 1000)
            let close = try client.receiveMessage(timeout: .seconds(5))
            let elapsed = ContinuousClock.now - start
            #expect(close == .close(code: 1000, reason: ""))
            #expect(try client.waitForEndOfStream().isEmpty)
            // 100 ms by SPEC; the bound leaves room for a loaded machine but not for the ladder (850 ms).
            #expect(elapsed < .milliseconds(700), "close answered after \(elapsed)")
            // The background grandchild ignores SIGINT: only the rest of the ladder ends it.
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("RFC 6455 §5.5.2: a ping is answered with a pong carrying the same payload")
    func pingAnswered() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            try client.sendPing(Array("are you there".utf8))
            let pong = try client.receiveFrame()
            #expect(pong.opcode == WireOpcode.pong)
            #expect(pong.isFinal && !pong.isMasked)
            #expect(pong.payload == Array("are you there".utf8))
            // A ping between fragments of a message is answered too, and the message is intact (§5.4).
            try client.sendFrame(opcode: WireOpcode.text, payload: Array("inter".utf8), isFinal: false)
            try client.sendPing([1, 2, 3])
            try client.sendFrame(opcode: WireOpcode.continuation, payload: Array("leaved".utf8), isFinal: true)
            let second = try client.receiveFrame()
            #expect(second.opcode == WireOpcode.pong && second.payload == [1, 2, 3])
            #expect(try client.receiveMessage() == .text("interleaved"))
            let (_, close) = try client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §3: SIGTERM to the server sends 1001 to the client, ends the child, and exits 0")
    func serverShutdown() async throws {
        let server = try ServerProcess.start(command: [TestPaths.fixture("echo-cat.sh")])
        defer { server.stop() }
        let client = try WebSocketTestClient.connect(port: server.port)
        let pid = try client.receivePID()
        server.signal(SIGTERM)
        let message = try client.receiveMessage()
        #expect(message.closeCode == 1001, "got \(message)")
        try client.answerCloseAndWaitForEnd(code: 1001)
        // At most the ladder's length plus one second (SPEC §3).
        let exit = server.waitForExit(timeout: .seconds(4))
        #expect(exit == .exited(0), "server log:\n\(server.stderrText)")
        ProcessGroupProbe.expectGone(pid, server: server)
    }
}
