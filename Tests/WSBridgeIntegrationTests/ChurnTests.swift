import Foundation
import Glibc
import Synchronization
import Testing

extension LifecycleTimingTests {
    /// SPEC §3 "Nothing leaks": thousands of connects and disconnects of every kind leave no
    /// process, no zombie and no file descriptor behind.
    @Suite("Churn")
    struct ChurnTests {
        /// How one session ends.
        enum Kind: CaseIterable, Sendable {
            /// The client sends a message, reads the echo and closes cleanly.
            case cleanClose
            /// The client resets the TCP connection without a close frame.
            case reset
            /// The child exits at once; the client answers its close 1000.
            case childExitsFirst
            /// The child ignores SIGINT and SIGTERM; the client resets. About a second of ladder each.
            case ignoresSignals

            /// The kind of session `index`: one in a hundred ignores signals, the rest split evenly.
            static func of(_ index: Int) -> Kind {
                switch index % 100 {
                case 0: .ignoresSignals
                case 1...33: .cleanClose
                case 34...66: .reset
                default: .childExitsFirst
                }
            }
        }

        static let sessionCount = 2000
        static let workerCount = 16

        /// Runs one session of `kind` and returns its child's pid.
        static func runSession(_ kind: Kind, port: UInt16) throws -> pid_t {
            switch kind {
            case .cleanClose:
                let client = try WebSocketTestClient.connect(port: port, path: "/cat")
                let pid = try client.receivePID()
                try client.sendText("churn")
                guard try client.receiveMessage() == .text("churn") else { throw TestClientError.protocolViolation("no echo") }
                let (_, close) = try client.closeHandshake(timeout: .seconds(5))
                guard close == .close(code: 1000, reason: "") else { throw TestClientError.protocolViolation("clean close got \(close)") }
                return pid
            case .reset:
                let client = try WebSocketTestClient.connect(port: port, path: "/cat")
                let pid = try client.receivePID()
                client.closeAbruptly()
                return pid
            case .childExitsFirst:
                let client = try WebSocketTestClient.connect(port: port, path: "/exit")
                let pid = try client.receivePID()
                let close = try client.receiveMessage()
                guard close == .close(code: 1000, reason: "") else { throw TestClientError.protocolViolation("exit 0 got \(close)") }
                try client.answerCloseAndWaitForEnd(code: 1000)
                return pid
            case .ignoresSignals:
                let client = try WebSocketTestClient.connect(port: port, path: "/ignore")
                let pid = try client.receivePID()
                client.closeAbruptly()
                return pid
            }
        }

        /// Runs sessions `0..<count` on `workers` threads, each thread one session at a time; returns
        /// the pids and the errors (it stops early after 20 errors).
        static func runAll(count: Int, workers: Int, port: UInt16, timeout: Duration) -> (pids: [pid_t], errors: [String]) {
            struct Shared {
                var next = 0
                var pids: [pid_t] = []
                var errors: [String] = []
            }
            let shared = Mutex(Shared())
            let done = DispatchGroup()
            let deadline = Deadline(after: timeout)
            for _ in 0..<workers {
                done.enter()
                let thread = Thread {
                    defer { done.leave() }
                    while true {
                        let index: Int? = shared.withLock { state in
                            guard state.next < count, state.errors.count < 20, !deadline.hasPassed else { return nil }
                            state.next += 1
                            return state.next - 1
                        }
                        guard let index else { return }
                        let kind = Kind.of(index)
                        do {
                            let pid = try runSession(kind, port: port)
                            shared.withLock { $0.pids.append(pid) }
                        } catch {
                            shared.withLock { $0.errors.append("session \(index) (\(kind)): \(error)") }
                        }
                    }
                }
                thread.name = "churn"
                thread.start()
            }
            _ = done.wait(timeout: .now() + timeout.seconds + 10)
            return shared.withLock { ($0.pids, $0.errors) }
        }

        /// Waits until `value()` equals `expected`; returns the last value seen.
        static func settle(to expected: Int, within timeout: Duration, _ value: () -> Int?) -> Int? {
            var last: Int?
            _ = Deadline.poll(for: timeout, every: .milliseconds(50)) {
                last = value()
                return last == expected
            }
            return last
        }

        @Test("SPEC §3: 2,000 mixed sessions (clean close, reset, child exits first, child ignores signals) leave no child, zombie, fd or memory behind",
              .timeLimit(.minutes(2)))
        func mixedSessions() async throws {
            // The spawner pool grows under this load; idle spawners retire after 200 ms here (10 s
            // by default), so that once the sessions are over the server is back to its idle
            // state exactly, with its first spawner, and every fd the extra ones held is closed.
            var environment = ProcessInfo.processInfo.environment
            environment["WSBRIDGE_INTERNAL_SPAWNER_IDLE_MS"] = "200"
            try await withServer(environment: environment, command: [TestPaths.fixture("lifecycle.sh")]) { server in
                let spawners = ProcessTable.spawners(of: server.pid)
                try #require(!spawners.isEmpty, "no spawner process under the server")
                // Warm up every path once (threads, epoll sets, buffers), then measure idle.
                var warmPIDs: [pid_t] = []
                for kind in Kind.allCases { warmPIDs.append(try Self.runSession(kind, port: server.port)) }
                let warmLeft = ProcessTable.waitUntilGroupsGone(Set(warmPIDs), timeout: .seconds(5))
                #expect(warmLeft.isEmpty, "warm-up left \(warmLeft)")
                let warmDisconnects = Deadline.poll(for: .seconds(5)) {
                    server.stderrText.components(separatedBy: " DISCONNECT ").count - 1 == Kind.allCases.count
                }
                #expect(warmDisconnects, "warm-up sessions did not all end")
                try await Task.sleep(for: .milliseconds(200))
                let idleServerFDs = try #require(ProcessTable.openFileCount(server.pid))
                let idleSpawnerFDs = spawners.compactMap { ProcessTable.openFileCount($0) }.reduce(0, +)

                // Two halves, with the server's memory read after each: the first half warms the
                // allocator, the second must not grow it (a session kept alive by a reference
                // cycle once cost about 7 KiB each, forever).
                let start = ContinuousClock.now
                let half = Self.sessionCount / 2
                let first = Self.runAll(count: half, workers: Self.workerCount, port: server.port, timeout: .seconds(25))
                try await Task.sleep(for: .milliseconds(300))
                let residentAfterFirst = try #require(ProcessTable.residentKiB(server.pid))
                let second = Self.runAll(count: half, workers: Self.workerCount, port: server.port, timeout: .seconds(25))
                let elapsed = ContinuousClock.now - start
                let (pids, errors) = (first.pids + second.pids, first.errors + second.errors)
                #expect(errors.isEmpty, "\(errors.count) sessions failed, first: \(errors.prefix(5).joined(separator: "\n"))")
                #expect(pids.count == Self.sessionCount, "\(pids.count) of \(Self.sessionCount) sessions ran in \(elapsed)")
                #expect(Set(pids).count == pids.count, "a pid was reported twice while its group was alive")

                // Every session has ended (the stubborn ones need about a second of ladder).
                let total = Kind.allCases.count + pids.count
                var disconnects = 0
                _ = Deadline.poll(for: .seconds(10), every: .milliseconds(100)) {
                    disconnects = server.stderrText.components(separatedBy: " DISCONNECT ").count - 1
                    return disconnects == total
                }
                #expect(disconnects == total, "\(disconnects) of \(total) sessions logged DISCONNECT")

                // No process of any session's group remains, alive or zombie.
                let left = ProcessTable.waitUntilGroupsGone(Set(pids), timeout: .seconds(5))
                #expect(left.isEmpty, "\(left.count) processes left, e.g. \(left.prefix(10))")
                for entry in left { kill(-entry.group, SIGKILL) }
                // The spawners have reaped every child, and the server has no child but its spawners.
                var spawnerChildren: [ProcessEntry] = []
                _ = Deadline.poll(for: .seconds(3)) {
                    spawnerChildren = ProcessTable.spawnedChildren(of: server.pid)
                    return spawnerChildren.isEmpty
                }
                #expect(spawnerChildren.isEmpty, "the spawner still has children: \(spawnerChildren.prefix(10))")
                // Spawners the load added retire once idle for 200 ms (checked every 50 ms); one
                // launched as the last sessions queued became idle only as they ended.
                var serverChildren: Set<pid_t> = []
                _ = Deadline.poll(for: .seconds(3)) {
                    serverChildren = Set(ProcessTable.children(of: server.pid).map(\.pid))
                    return serverChildren == Set(spawners)
                }
                #expect(serverChildren == Set(spawners))

                // Every descriptor a session opened is closed again.
                let serverFDs = Self.settle(to: idleServerFDs, within: .seconds(5)) { ProcessTable.openFileCount(server.pid) }
                #expect(serverFDs == idleServerFDs, "server fds: \(serverFDs.map(String.init) ?? "?") now, \(idleServerFDs) idle")
                let spawnerFDs = Self.settle(to: idleSpawnerFDs, within: .seconds(5)) { spawners.compactMap { ProcessTable.openFileCount($0) }.reduce(0, +) }
                #expect(spawnerFDs == idleSpawnerFDs, "spawner fds: \(spawnerFDs.map(String.init) ?? "?") now, \(idleSpawnerFDs) idle")

                // Sessions are freed: the second thousand left the server's memory where the first
                // left it (give or take the allocator's slack, far below 1,000 sessions' worth).
                let residentAfterSecond = try #require(ProcessTable.residentKiB(server.pid))
                #expect(residentAfterSecond - residentAfterFirst < 3 * 1024,
                        "server RSS grew from \(residentAfterFirst) KiB to \(residentAfterSecond) KiB over \(half) sessions")

                // And it still serves.
                let pid = try Self.runSession(.cleanClose, port: server.port)
                ProcessGroupProbe.expectGone(pid, server: server)
            }
        }
    }
}
