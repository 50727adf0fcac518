import Foundation
import Testing

/// The spawner processes that start children are replaced if they die, so the server keeps
/// serving (and says so in its log).
@Suite("Spawner restart")
struct SpawnerRestartTests {
    @Test("after every spawner is killed, new connections still get children")
    func killedSpawnersAreReplaced() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let spawners = ProcessTable.spawners(of: server.pid)
            try #require(!spawners.isEmpty)
            for spawner in spawners { kill(spawner, SIGKILL) }
            // Each loop notices its spawner's socket closing and starts a new one.
            let replaced = Deadline.poll(for: .seconds(5)) {
                let now = ProcessTable.spawners(of: server.pid)
                return now.count == spawners.count && Set(now).isDisjoint(with: spawners)
            }
            #expect(replaced)
            // Enough sessions that every loop takes some.
            for _ in 0..<6 {
                let client = try WebSocketTestClient.connect(port: server.port)
                let pid = try client.receivePID()
                try client.sendText("still served")
                #expect(try client.receiveMessage() == .text("still served"))
                _ = try client.closeHandshake()
                ProcessGroupProbe.expectGone(pid, server: server)
            }
            #expect(Deadline.poll(for: .seconds(5)) { server.stderrText.contains("started a new one") })
        }
    }
}
