import Foundation
import Glibc
import Testing

/// SPEC §3 "Nothing leaks", when the server itself is killed: `kill -9` gives it no chance to run
/// a single ladder, so its spawner processes, which see their socket to it close, end every
/// child's group themselves and exit (issue 10, fault 5).
@Suite("Server killed")
struct ServerKilledTests {
    /// The ladder (100 + 250 + 500 ms, then SIGKILL) plus slack for a loaded machine.
    static let deadline: Duration = .seconds(5)

    /// What each session's child does: nothing ends any of them but a signal to its group.
    static let paths = [
        "/sleep",  // ignores stdin: `sleep 1000`
        "/fork",  // `sleep 1000 &` then sleeps: a grandchild with SIGINT ignored
        "/ignore",  // ignores SIGINT and SIGTERM: only SIGKILL ends it
    ]

    @Test("SPEC §3: kill -9 of the server with 50 sessions (sleepers, forking children, children ignoring signals) leaves no process of any child group, and no spawner",
          .timeLimit(.minutes(1)))
    func killNineLeavesNothing() async throws {
        let server = try ServerProcess.start(command: [TestPaths.fixture("lifecycle.sh")])
        defer { server.stop() }
        var clients: [WebSocketTestClient] = []
        var groups: Set<pid_t> = []
        var grandchildren: [pid_t] = []
        for index in 0..<50 {
            let path = Self.paths[index % Self.paths.count]
            let client = try WebSocketTestClient.connect(port: server.port, path: path)
            clients.append(client)
            groups.insert(try client.receivePID())
            if path == "/fork" { grandchildren.append(try client.receivePID()) }
        }
        #expect(groups.count == 50)
        // Every child runs (the shells of /fork and /ignore have moved on to sleep), and every
        // grandchild is in its child's group.
        let running = Deadline.poll(for: .seconds(5)) { ProcessTable.remainingMembers(ofGroups: groups).count == 50 + grandchildren.count }
        #expect(running, "\(ProcessTable.remainingMembers(ofGroups: groups).count) processes in the groups")
        for grandchild in grandchildren { #expect(ProcessTable.entry(grandchild).map { groups.contains($0.group) } == true) }
        let spawners = ProcessTable.spawners(of: server.pid)
        try #require(!spawners.isEmpty, "no spawner process under the server")

        let start = ContinuousClock.now
        server.signal(SIGKILL)
        #expect(server.waitForExit(timeout: .seconds(5)) == .signalled(SIGKILL))
        let left = ProcessTable.waitUntilGroupsGone(groups, timeout: Self.deadline)
        #expect(left.isEmpty, "\(left.count) processes of the children's groups outlived the server by \(Self.deadline), e.g. \(left.prefix(8))")
        let spawnersLeft = Deadline.poll(for: .seconds(2)) { spawners.allSatisfy(ProcessTable.isGone) }
        #expect(spawnersLeft, "spawners still running: \(spawners.filter { !ProcessTable.isGone($0) })")
        #expect(ContinuousClock.now - start < Self.deadline + .seconds(2))

        // Whatever failed above, nothing of this test stays behind.
        for group in groups { kill(-group, SIGKILL) }
        for spawner in spawners { kill(spawner, SIGKILL) }
        for client in clients { client.close() }
    }
}
