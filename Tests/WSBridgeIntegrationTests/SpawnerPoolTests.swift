import Foundation
import Glibc
import Testing

/// The spawner processes are sized by load (issue 10, "spawners sized by load"): one while idle,
/// more while spawns queue, never more than the cap, and back to one once idle.
@Suite("Spawner pool")
struct SpawnerPoolTests {
    @Test("an idle server runs a single spawner process")
    func idleServerHasOneSpawner() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            try await Task.sleep(for: .milliseconds(300))
            #expect(ProcessTable.spawners(of: server.pid).count == 1)
        }
    }

    @Test("concurrent spawns add spawners up to the cap and no further; a spawner started while the server holds many sockets holds none of them; idle ones retire down to the first",
          .timeLimit(.minutes(1)))
    func growsUnderLoadAndRetires() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["WSBRIDGE_INTERNAL_MAX_SPAWNERS"] = "3"
        environment["WSBRIDGE_INTERNAL_SPAWNER_IDLE_MS"] = "300"
        try await withServer(environment: environment, command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let first = ProcessTable.spawners(of: server.pid)
            try #require(first.count == 1)
            var mostSpawners = 1
            var clients: [WebSocketTestClient] = []
            var pids: [pid_t] = []
            // Three rounds of 30 upgrades sent at once: each round's spawn requests queue.
            for _ in 0..<3 {
                var round: [WebSocketTestClient] = []
                for _ in 0..<30 { round.append(try WebSocketTestClient.connect(port: server.port, path: "/cat")) }
                for client in round {
                    pids.append(try client.receivePID())
                    mostSpawners = max(mostSpawners, ProcessTable.spawners(of: server.pid).count)
                }
                clients += round
            }
            #expect(Set(pids).count == 90)
            let spawners = ProcessTable.spawners(of: server.pid)
            mostSpawners = max(mostSpawners, spawners.count)
            #expect(mostSpawners >= 2, "the pool never grew while 90 spawns queued")
            #expect(mostSpawners <= 3, "\(mostSpawners) spawners with a cap of 3")
            #expect(spawners.contains(first[0]), "the first spawner is still there")
            // No spawner holds any of the server's files (its 90 connections among them), not
            // even one started while they were open.
            let serverFiles = Self.openFiles(of: server.pid)
            #expect(serverFiles.count >= 90)
            for spawner in spawners {
                let shared = Self.openFiles(of: spawner).intersection(serverFiles)
                #expect(shared.isEmpty, "spawner \(spawner) holds the server's \(shared.sorted().prefix(5))")
            }
            // Every child still answers, whichever spawner started it.
            for client in clients {
                try client.sendText("x")
                #expect(try client.receiveMessage() == .text("x"))
            }
            for client in clients { _ = try client.closeHandshake() }
            let left = ProcessTable.waitUntilGroupsGone(Set(pids), timeout: .seconds(5))
            #expect(left.isEmpty, "left: \(left.prefix(5))")
            var now: [pid_t] = []
            let retired = Deadline.poll(for: .seconds(5)) {
                now = ProcessTable.spawners(of: server.pid)
                return now == first
            }
            #expect(retired, "spawners after the sessions ended: \(now), first: \(first)")
            // The retired ones exited and were reaped: the server's only child is its spawner.
            let reaped = Deadline.poll(for: .seconds(3)) { ProcessTable.children(of: server.pid).map(\.pid) == first }
            #expect(reaped, "server children: \(ProcessTable.children(of: server.pid))")
            // The remaining spawner still serves.
            let client = try WebSocketTestClient.connect(port: server.port, path: "/cat")
            let pid = try client.receivePID()
            _ = try client.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    /// The sockets and pipes `pid` has open above its stdio, by identity (`socket:[inode]`).
    /// Stdio is left out: a spawner writes to the server's stderr by design.
    static func openFiles(of pid: pid_t) -> Set<String> {
        let directory = "/proc/\(pid)/fd"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return Set(names.compactMap { name in
            guard let fd = Int(name), fd > 2,
                  let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(name)"),
                  target.hasPrefix("socket:[") || target.hasPrefix("pipe:[") else { return nil }
            return target
        })
    }
}
