import Foundation
import Testing

/// SPEC §1 and §5: `--header`, `--header-ws`, `--header-http`, `--subprotocol` and `--pingms`.
@Suite("Extra headers, subprotocols and keepalive")
struct HeaderSubprotocolPingTests {
    static let headerFlags = ["--header=X-All: a", "--header-ws=X-WS: w", "--header-http=X-HTTP: h"]

    @Test("SPEC §1: --header and --header-ws go on the 101, --header-http does not")
    func headersOnUpgrade() async throws {
        try await withServer(flags: Self.headerFlags, command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            let response = try client.upgrade()
            #expect(response.value(of: "X-All") == "a")
            #expect(response.value(of: "X-WS") == "w")
            #expect(response.value(of: "X-HTTP") == nil)
            let pid = try client.receivePID()
            _ = try client.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §1: --header and --header-http go on plain HTTP answers, --header-ws does not")
    func headersOnPlainAnswers() async throws {
        try await withServer(flags: Self.headerFlags, command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(Array("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            let response = try client.readResponse()
            #expect(response.statusLine == "HTTP/1.1 426 Upgrade Required")
            #expect(response.value(of: "X-All") == "a")
            #expect(response.value(of: "X-HTTP") == "h")
            #expect(response.value(of: "X-WS") == nil)
        }
    }

    @Test("SPEC §1, RFC 6455 §4.2.2: the first offer in the server's list is chosen and reaches the child")
    func subprotocolChosen() async throws {
        try await withServer(flags: ["--subprotocol=chat,json"], command: [TestPaths.fixture("subprotocol.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            let response = try client.upgrade(extraHeaders: ["Sec-WebSocket-Protocol: xml, json, chat"])
            #expect(response.value(of: "Sec-WebSocket-Protocol") == "json")
            let pid = try client.receivePID()
            #expect(try client.receiveMessage() == .text("protocol=json"))
            _ = try client.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("RFC 6455 §4.2.2: with no match the 101 names no subprotocol")
    func subprotocolNoMatch() async throws {
        try await withServer(flags: ["--subprotocol=chat"], command: [TestPaths.fixture("subprotocol.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            let response = try client.upgrade(extraHeaders: ["Sec-WebSocket-Protocol: xml"])
            #expect(response.value(of: "Sec-WebSocket-Protocol") == nil)
            let pid = try client.receivePID()
            #expect(try client.receiveMessage() == .text("protocol="))
            _ = try client.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §1 --pingms: pings arrive, and a client that answers stays connected")
    func pingsKeepAnsweringClientAlive() async throws {
        try await withServer(flags: ["--pingms=100"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            for _ in 0..<4 {
                let frame = try client.receiveFrame(timeout: .seconds(2))
                #expect(frame.opcode == 0x9)
                try client.sendFrame(opcode: 0xA, payload: frame.payload)
            }
            try client.sendText("alive")
            var reply = try client.receiveFrame(timeout: .seconds(2))
            while reply.opcode == 0x9 { reply = try client.receiveFrame(timeout: .seconds(2)) }
            #expect(reply.opcode == 0x1 && reply.payload == Array("alive".utf8))
            _ = try client.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §1 --pingms: a client silent for two intervals gets close 1001 and its child ends")
    func silentClientDropped() async throws {
        try await withServer(flags: ["--pingms=100"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let started = ContinuousClock.now
            var frame = try client.receiveFrame(timeout: .seconds(2))
            while frame.opcode == 0x9 { frame = try client.receiveFrame(timeout: .seconds(2)) }
            #expect(frame.opcode == 0x8)
            #expect(Array(frame.payload.prefix(2)) == [0x03, 0xE9])
            #expect(ContinuousClock.now - started < .seconds(2))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }
}
