import Testing
import TestSupport

/// SPEC §2, length framing: exact messages both ways through a 5-byte header.
@Suite("Length framing")
struct LengthFramingTests {
    @Test("SPEC §2: --framing=length cat echoes text and binary exactly, as separate messages")
    func exactEcho() async throws {
        try await withServer(flags: ["--framing=length"], command: [TestPaths.fixture("length-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            var generator = SplitMix64(seed: 0x1E46_7400)
            let bigBinary = (0..<(200 * 1024)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            // 200 KiB of letters with a newline every 97 bytes: newlines must not split the message.
            var bigTextBytes = [UInt8](repeating: 0x0A, count: 200 * 1024)
            for index in bigTextBytes.indices where index % 97 != 0 {
                bigTextBytes[index] = 0x61 + UInt8(index % 26)
            }
            let bigText = String(decoding: bigTextBytes, as: UTF8.self)
            let messages: [TestMessage] = [
                .text("hello"),
                .text("two\nlines\n"),
                .text(""),
                .text("\r\n"),
                .binary([]),
                .binary([0x00, 0x01, 0x0A, 0x0D, 0xFF]),
                .text("ünïcödé 𝄞"),
                .text(bigText),
                .binary(bigBinary),
                .text("after the big ones"),
            ]
            var wire: [UInt8] = []
            for message in messages {
                switch message {
                case .text(let text): wire += WebSocketTestClient.encodeText(text)
                case .binary(let bytes): wire += WebSocketTestClient.encodeBinary(bytes)
                case .close: Issue.record("no close in the table")
                }
            }
            try client.pump(sending: wire)
            #expect(try client.receiveMessages(messages.count) == messages)
            let (extra, close) = try client.closeHandshake()
            #expect(extra.isEmpty)
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2, RFC 6455 §5.4: a fragmented message comes back as one message")
    func fragmentedEcho() async throws {
        try await withServer(flags: ["--framing=length"], command: [TestPaths.fixture("length-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            try client.sendText("split into many small fragments", fragmentSize: 4)
            try client.sendBinary(Array(0...255), fragmentSize: 100)
            // An empty final continuation is legal (RFC 6455 §5.4) and must not add a message.
            try client.sendFrame(opcode: WireOpcode.text, payload: Array("tail".utf8), isFinal: false)
            try client.sendFrame(opcode: WireOpcode.continuation, payload: [], isFinal: true)
            #expect(try client.receiveMessages(3) == [
                .text("split into many small fragments"),
                .binary(Array(0...255)),
                .text("tail"),
            ])
            let (_, close) = try client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2: an unknown opcode from the child closes with 1011 after the messages before it")
    func badChildFrame() async throws {
        try await withServer(flags: ["--framing=length"], command: [TestPaths.fixture("length-bad.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let messages = try client.receiveMessages(2)
            #expect(messages.first == .text("ok"))
            #expect(messages.last?.closeCode == 1011, "got \(messages)")
            try client.answerCloseAndWaitForEnd(code: 1011)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }
}
