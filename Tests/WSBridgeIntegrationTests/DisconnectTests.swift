import Glibc
import Testing

/// SPEC §3 "Nothing leaks": a client that vanishes without a close frame leaves no process behind.
@Suite("Abrupt disconnects")
struct DisconnectTests {
    /// One row: the fixture, and whether the socket ends with a TCP RST (else a plain FIN).
    struct Case: CustomTestStringConvertible, Sendable {
        let fixture: String
        let isReset: Bool
        var testDescription: String { "\(fixture), \(isReset ? "RST" : "FIN")" }
    }

    static let cases: [Case] = [
        Case(fixture: "echo-cat.sh", isReset: true),
        Case(fixture: "echo-cat.sh", isReset: false),
        // Ignores stdin and keeps a grandchild that ignores SIGINT: needs the whole ladder.
        Case(fixture: "forking-sleeper.sh", isReset: true),
    ]

    @Test("SPEC §3: the child's whole process group is gone after the client disappears", arguments: cases)
    func noChildAfterDisconnect(_ row: Case) async throws {
        try await withServer(command: [TestPaths.fixture(row.fixture)]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            #expect(ProcessGroupProbe.isAlive(pid))
            if row.isReset { client.closeAbruptly() } else { client.close() }
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §3: twenty concurrent sessions reset at once leave no child, and the server still serves")
    func manySessionsReset() async throws {
        try await withServer(command: [TestPaths.fixture("forking-sleeper.sh")]) { server in
            var clients: [WebSocketTestClient] = []
            var pids: [pid_t] = []
            for _ in 0..<20 {
                let client = try WebSocketTestClient.connect(port: server.port)
                pids.append(try client.receivePID())
                clients.append(client)
            }
            #expect(Set(pids).count == pids.count)
            for client in clients { client.closeAbruptly() }
            for pid in pids { ProcessGroupProbe.expectGone(pid, server: server) }
            let after = try WebSocketTestClient.connect(port: server.port)
            let pid = try after.receivePID()
            after.closeAbruptly()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }
}
