import Testing
import TestSupport

/// SPEC §2, raw framing (`--binary`): payload bytes to stdin as they are, stdout chunks to binary messages.
@Suite("Raw framing")
struct RawFramingTests {
    /// Collects binary messages until `count` bytes arrived; any other message is an error.
    static func receiveBytes(_ count: Int, from client: WebSocketTestClient, timeout: Duration = .seconds(30)) throws -> [UInt8] {
        let deadline = Deadline(after: timeout)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let message = try client.receiveMessage(timeout: deadline.remaining)
            guard case .binary(let chunk) = message else {
                throw TestClientError.protocolViolation("expected binary output after \(bytes.count) of \(count) bytes, got \(message)")
            }
            bytes += chunk
        }
        return bytes
    }

    @Test("SPEC §2: --binary cat echoes 1 MiB byte-exact")
    func echoOneMebibyte() async throws {
        try await withServer(flags: ["--binary"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let (pid, rest) = try client.receiveRawPID()
            #expect(rest.isEmpty)
            var generator = SplitMix64(seed: 0x5EED_0001)
            let payload = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            // One message of exactly the default --maxframesize (1048576), which is allowed.
            try client.pump(sending: WebSocketTestClient.encodeBinary(payload))
            let echoed = try Self.receiveBytes(payload.count, from: client)
            #expect(echoed.count == payload.count)
            #expect(echoed == payload)
            let (extra, close) = try client.closeHandshake()
            #expect(extra.isEmpty)
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2: in raw mode a text message reaches stdin with nothing added and comes back binary")
    func textPassesThroughUnchanged() async throws {
        try await withServer(flags: ["--binary"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let (pid, _) = try client.receiveRawPID()
            try client.sendText("héllo")
            try client.sendBinary([0x00, 0x0A, 0xFF])
            let expected = Array("héllo".utf8) + [0x00, 0x0A, 0xFF]
            #expect(try Self.receiveBytes(expected.count, from: client) == expected)
            // No newline was added: nothing but the close follows.
            let (extra, close) = try client.closeHandshake()
            #expect(extra.isEmpty, "unexpected output \(extra)")
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }
}
