import Foundation
import Glibc
import Testing

extension LifecycleTimingTests {
    /// SPEC §3 "Server gets SIGTERM or SIGINT": stop accepting, 1001 to every client, every ladder in
    /// parallel, exit 0 once all are done; a second signal exits at once (websocketd issue #207).
    @Suite("Graceful shutdown")
    struct ShutdownTests {
        /// Opens `count` sessions on `path` and returns the clients with their children's pids.
        static func openSessions(_ count: Int, path: String, server: ServerProcess) throws -> [(client: WebSocketTestClient, pid: pid_t)] {
            var sessions: [(client: WebSocketTestClient, pid: pid_t)] = []
            for _ in 0..<count {
                let client = try WebSocketTestClient.connect(port: server.port, path: path)
                sessions.append((client, try client.receivePID()))
            }
            return sessions
        }

        @Test("SPEC §3: SIGTERM with 50 live sessions: every client gets 1001, every group is gone, exit 0 within 3 s", arguments: [SIGTERM, SIGINT])
        func fiftySessions(signal: Int32) async throws {
            let server = try ServerProcess.start(command: [TestPaths.fixture("lifecycle.sh")])
            defer { server.stop() }
            let sessions = try Self.openSessions(50, path: "/cat", server: server)
            #expect(Set(sessions.map(\.pid)).count == 50)
            let start = ContinuousClock.now
            server.signal(signal)
            for (index, session) in sessions.enumerated() {
                let message = try session.client.receiveMessage(timeout: .seconds(3))
                #expect(message.closeCode == 1001, "session \(index) got \(message)")
                try session.client.answerCloseAndWaitForEnd(code: 1001, timeout: .seconds(3))
            }
            let exit = server.waitForExit(timeout: .seconds(3) - (ContinuousClock.now - start))
            #expect(exit == .exited(0), "after \(ContinuousClock.now - start): \(exit.map(String.init(describing:)) ?? "still running"); log:\n\(server.stderrText)")
            let left = ProcessTable.waitUntilGroupsGone(Set(sessions.map(\.pid)), timeout: .milliseconds(500))
            #expect(left.isEmpty, "left behind: \(left)")
            for entry in left { kill(-entry.group, SIGKILL) }
            // Every session was logged as ended.
            let disconnects = server.logRecords().filter { $0.message == "DISCONNECT" }
            #expect(disconnects.count == 50, "\(disconnects.count) DISCONNECT lines")
        }

        @Test("SPEC §3: shutdown waits for children that ignore SIGTERM, but never longer than the ladder plus 1 s")
        func shutdownWithStubbornChildren() async throws {
            let server = try ServerProcess.start(command: [TestPaths.fixture("lifecycle.sh")])
            defer { server.stop() }
            var sessions = try Self.openSessions(5, path: "/ignore", server: server)
            sessions += try Self.openSessions(5, path: "/cat", server: server)
            try await Task.sleep(for: .milliseconds(50))
            let start = ContinuousClock.now
            server.signal(SIGTERM)
            for session in sessions {
                let message = try session.client.receiveMessage(timeout: .seconds(3))
                #expect(message.closeCode == 1001, "got \(message)")
                try? session.client.answerCloseAndWaitForEnd(code: 1001, timeout: .seconds(3))
            }
            // 100 + 250 + 500 ms, SIGKILL, then at most one more second (SPEC §3).
            let exit = server.waitForExit(timeout: .milliseconds(1850) + .milliseconds(300))
            let elapsed = ContinuousClock.now - start
            #expect(exit == .exited(0), "after \(elapsed): \(exit.map(String.init(describing:)) ?? "still running"); log:\n\(server.stderrText)")
            #expect(elapsed >= .milliseconds(850), "exited after \(elapsed), before the ladder could end the stubborn children")
            let left = ProcessTable.waitUntilGroupsGone(Set(sessions.map(\.pid)), timeout: .milliseconds(500))
            #expect(left.isEmpty, "left behind: \(left)")
            for entry in left { kill(-entry.group, SIGKILL) }
        }

        @Test("SPEC §3: a second signal during shutdown exits at once, and still leaves no child")
        func secondSignalExitsAtOnce() async throws {
            let server = try ServerProcess.start(command: [TestPaths.fixture("lifecycle.sh")])
            defer { server.stop() }
            let sessions = try Self.openSessions(3, path: "/ignore", server: server)
            try await Task.sleep(for: .milliseconds(50))
            server.signal(SIGTERM)
            for session in sessions {
                #expect(try session.client.receiveMessage(timeout: .seconds(3)).closeCode == 1001)
            }
            // The ladder against these children takes at least 850 ms: well before that, insist.
            let start = ContinuousClock.now
            server.signal(SIGTERM)
            let exit = server.waitForExit(timeout: .seconds(2))
            let elapsed = ContinuousClock.now - start
            #expect(exit != nil, "still running after a second SIGTERM")
            #expect(elapsed < .milliseconds(500), "exited \(elapsed) after the second signal")
            // "At once" still leaves nothing behind (SPEC §3 "Nothing leaks", children that ignore
            // signals included): SIGKILL to every group costs no time.
            let left = ProcessTable.waitUntilGroupsGone(Set(sessions.map(\.pid)), timeout: .seconds(1))
            #expect(left.isEmpty, "the immediate exit left children running: \(left)")
            for session in sessions { kill(-session.pid, SIGKILL) }
        }

        @Test("SPEC §3: once shutting down, the server accepts no new connection")
        func stopsAccepting() async throws {
            let server = try ServerProcess.start(command: [TestPaths.fixture("lifecycle.sh")])
            defer { server.stop() }
            let sessions = try Self.openSessions(1, path: "/ignore", server: server)
            try await Task.sleep(for: .milliseconds(50))
            server.signal(SIGTERM)
            #expect(try sessions[0].client.receiveMessage(timeout: .seconds(3)).closeCode == 1001)
            // The stubborn child keeps the server draining for about a second; a new upgrade now
            // must not start a session.
            var upgraded = false
            do {
                let late = try WebSocketTestClient.connect(port: server.port, path: "/cat", timeout: .seconds(1))
                upgraded = true
                late.close()
            } catch {
                // Refused, reset or not answered: all mean "not accepted".
            }
            #expect(!upgraded, "an upgrade succeeded during shutdown")
            #expect(server.waitForExit(timeout: .seconds(3)) == .exited(0))
            let connects = server.logRecords().filter { $0.message == "CONNECT" }
            #expect(connects.count == 1, "\(connects)")
        }

        @Test("SPEC §3, §15: a connection accepted before SIGTERM whose request comes after it gets 503 (not a silent close), and the drain waits for that answer; the closed listener refuses new connections at once")
        func acceptedBeforeShutdownIsAnswered() async throws {
            let server = try ServerProcess.start(command: [TestPaths.fixture("lifecycle.sh")])
            defer { server.stop() }
            let sessions = try Self.openSessions(1, path: "/ignore", server: server)
            // Connected, and accepted within the 100 ms below, but silent until after SIGTERM.
            let early = try WebSocketTestClient(port: server.port)
            try await Task.sleep(for: .milliseconds(100))
            server.signal(SIGTERM)
            #expect(try sessions[0].client.receiveMessage(timeout: .seconds(3)).closeCode == 1001)
            // The listener is closed once the loops let go of it: connect(2) is refused.
            let refused = Deadline.poll(for: .seconds(2)) { (try? WebSocketTestClient(port: server.port, timeout: .milliseconds(200))) == nil }
            #expect(refused, "the port still accepts during the drain")
            try early.sendRaw(WebSocketTestClient.upgradeRequest(path: "/cat", key: WebSocketTestClient.randomKey()))
            let response = try early.readResponse()
            #expect(response.statusCode == 503, "\(response.statusLine)")
            #expect(String(decoding: response.body, as: UTF8.self).contains("shutting down"))
            #expect(server.waitForExit(timeout: .seconds(3)) == .exited(0))
        }
    }
}
