import Glibc
import Testing

/// SPEC §1 and §5: `--maxforks=N` answers the upgrade after the N live children with 429, before
/// any process starts; a slot frees when its session has fully ended.
@Suite("--maxforks")
struct MaxForksTests {
    @Test("SPEC §5: with --maxforks=2 the third concurrent upgrade gets 429 and starts nothing; a freed slot serves again")
    func thirdUpgradeRefused() async throws {
        try await withServer(flags: ["--maxforks=2"], command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let first = try WebSocketTestClient.connect(port: server.port, path: "/cat")
            let firstPID = try first.receivePID()
            let second = try WebSocketTestClient.connect(port: server.port, path: "/cat")
            let secondPID = try second.receivePID()
            #expect(!ProcessTable.spawners(of: server.pid).isEmpty, "no spawner process under the server")
            #expect(Set(ProcessTable.spawnedChildren(of: server.pid).map(\.pid)) == [firstPID, secondPID])

            let third = try WebSocketTestClient(port: server.port)
            try third.sendRaw(WebSocketTestClient.upgradeRequest(path: "/cat", key: WebSocketTestClient.randomKey()))
            let response = try third.readResponse()
            #expect(response.statusLine == "HTTP/1.1 429 Too Many Requests", "\(response.headText)")
            #expect(!response.body.isEmpty, "SPEC §5: every refusal has a short text body")
            third.close()
            let refused = server.waitForLog { $0.message == "REFUSED" && $0["status"] == "429" }
            #expect(refused?["path"] == "/cat", "\(refused.map(String.init(describing:)) ?? "no REFUSED line")")
            // Nothing was started for it: still exactly the two children, and two CONNECT lines.
            try await Task.sleep(for: .milliseconds(100))
            #expect(Set(ProcessTable.spawnedChildren(of: server.pid).map(\.pid)) == [firstPID, secondPID])
            #expect(server.logRecords().filter { $0.message == "CONNECT" }.count == 2)

            // End the first session; once it has fully ended its slot serves a new upgrade.
            let (_, close) = try first.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            let ended = server.waitForLog { $0.message == "DISCONNECT" && $0["pid"] == String(firstPID) }
            #expect(ended != nil, "the first session never logged DISCONNECT")
            let fourth = try WebSocketTestClient.connect(port: server.port, path: "/cat")
            let fourthPID = try fourth.receivePID()
            try fourth.sendText("served")
            #expect(try fourth.receiveMessage() == .text("served"))

            for client in [second, fourth] { _ = try client.closeHandshake() }
            for pid in [firstPID, secondPID, fourthPID] { ProcessGroupProbe.expectGone(pid, server: server) }
        }
    }

    @Test("SPEC §5: a refused upgrade does not use a slot: twenty 429s in a row, then the one slot still serves")
    func refusalsDoNotLeakSlots() async throws {
        try await withServer(flags: ["--maxforks=1"], command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let holder = try WebSocketTestClient.connect(port: server.port, path: "/cat")
            let holderPID = try holder.receivePID()
            for _ in 0..<20 {
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(WebSocketTestClient.upgradeRequest(path: "/cat", key: WebSocketTestClient.randomKey()))
                #expect(try client.readResponseHead().statusCode == 429)
                client.closeAbruptly()
            }
            _ = try holder.closeHandshake()
            ProcessGroupProbe.expectGone(holderPID, server: server)
            _ = server.waitForLog { $0.message == "DISCONNECT" && $0["pid"] == String(holderPID) }
            let next = try WebSocketTestClient.connect(port: server.port, path: "/cat")
            let nextPID = try next.receivePID()
            _ = try next.closeHandshake()
            ProcessGroupProbe.expectGone(nextPID, server: server)
        }
    }
}
