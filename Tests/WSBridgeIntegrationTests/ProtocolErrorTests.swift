import Testing

/// SPEC §6: RFC 6455 violations by the client, checked by the close frame on the wire.
@Suite("Protocol errors")
struct ProtocolErrorTests {
    /// One row: what the client sends after the fixture's pid, and the close code it must get.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let wire: [UInt8]
        let code: UInt16
        var testDescription: String { "\(name) → \(code)" }
    }

    static func frame(_ opcode: UInt8, _ payload: [UInt8], isFinal: Bool = true, reservedBits: UInt8 = 0) -> [UInt8] {
        WebSocketTestClient.encodeFrame(opcode: opcode, payload: payload, isFinal: isFinal, reservedBits: reservedBits, mask: WebSocketTestClient.randomMask())
    }

    static let cases: [Case] = [
        Case(name: "RSV1 without a negotiated extension (§5.2)", wire: frame(WireOpcode.text, Array("hi".utf8), reservedBits: 0b100), code: 1002),
        Case(name: "RSV3 on a ping (§5.2)", wire: frame(WireOpcode.ping, [], reservedBits: 0b001), code: 1002),
        Case(name: "reserved data opcode 0x3 (§5.2)", wire: frame(0x3, Array("hi".utf8)), code: 1002),
        Case(name: "reserved control opcode 0xB (§5.2)", wire: frame(0xB, []), code: 1002),
        Case(name: "ping with a 126-byte payload (§5.5)", wire: frame(WireOpcode.ping, [UInt8](repeating: 0x70, count: 126)), code: 1002),
        Case(name: "fragmented ping (§5.5)", wire: frame(WireOpcode.ping, Array("hi".utf8), isFinal: false), code: 1002),
        Case(name: "continuation with no message open (§5.4)", wire: frame(WireOpcode.continuation, Array("hi".utf8)), code: 1002),
        Case(
            name: "new text frame inside a fragmented message (§5.4)",
            wire: frame(WireOpcode.text, Array("a".utf8), isFinal: false) + frame(WireOpcode.text, Array("b".utf8)),
            code: 1002
        ),
        Case(name: "close with a 1-byte payload (§5.5.1)", wire: frame(WireOpcode.close, [0x03]), code: 1002),
        Case(name: "close with code 1005, which is never sent (§7.4.1)", wire: frame(WireOpcode.close, [0x03, 0xED]), code: 1002),
        Case(name: "close with code 999 (§7.4.2)", wire: frame(WireOpcode.close, [0x03, 0xE7]), code: 1002),
        Case(name: "text message with invalid UTF-8 (§8.1)", wire: frame(WireOpcode.text, [0x61, 0xFF, 0x62]), code: 1007),
        Case(name: "UTF-16 surrogate ED A0 80 in text (§8.1, Autobahn 6.3.1)", wire: frame(WireOpcode.text, [0xCE, 0xBA, 0xED, 0xA0, 0x80]), code: 1007),
        // Fail fast: the first fragment can already never be valid, so 1007 must come without the rest.
        Case(name: "invalid first fragment of an unfinished text message (§8.1)", wire: frame(WireOpcode.text, [0xCE, 0xBA, 0xC0, 0x80], isFinal: false), code: 1007),
        Case(name: "close reason that is not UTF-8 (§5.5.1, §8.1)", wire: frame(WireOpcode.close, [0x03, 0xE8, 0xFF]), code: 1007),
    ]

    @Test("SPEC §6: a masked frame that breaks RFC 6455 gets the right close code", arguments: cases)
    func violation(_ row: Case) async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            try client.sendRaw(row.wire)
            let message = try client.receiveMessage()
            #expect(message.closeCode == row.code, "got \(message)")
            try client.answerCloseAndWaitForEnd(code: row.code)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("RFC 6455 §5.1: an unmasked frame gets exactly 88 17 03 ea \"unmasked client frame\" (close 1002 with its reason)")
    func unmaskedFrame() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            // RFC 6455 §5.7: the unmasked single-frame "Hello".
            try client.sendRaw([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
            let frame = try client.receiveFrame()
            // The reason tells a client's developer what went wrong (RFC 6455 §7.1.6 allows it).
            #expect(frame.wireBytes == [0x88, 0x17, 0x03, 0xEA] + Array("unmasked client frame".utf8))
            try client.answerCloseAndWaitForEnd(code: 1002)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §1: an inbound message over --maxframesize gets 1009, fragmented or not")
    func messageTooBig() async throws {
        for fragmentSize in [nil, 400] as [Int?] {
            try await withServer(flags: ["--maxframesize=1000"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
                let client = try WebSocketTestClient.connect(port: server.port)
                let pid = try client.receivePID()
                // After reassembly the message is 1001 bytes: one too many.
                try client.pump(sending: WebSocketTestClient.encodeText(String(repeating: "m", count: 1001), fragmentSize: fragmentSize))
                let message = try client.receiveMessage()
                #expect(message.closeCode == 1009, "fragment size \(String(describing: fragmentSize)): got \(message)")
                try client.answerCloseAndWaitForEnd(code: 1009)
                ProcessGroupProbe.expectGone(pid, server: server)
            }
        }
    }
}
