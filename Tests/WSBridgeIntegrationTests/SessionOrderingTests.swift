import Foundation
import Glibc
import Testing

extension LifecycleTimingTests {
    /// Issue 10: events reaching a session in orders its flags did not foresee. Each test runs its
    /// ordering at least 200 times against the real server, with a deadline on every wait, and
    /// ends by proving that no process and no fd is left (SPEC §3 "Nothing leaks").
    @Suite("Session event orderings")
    struct SessionOrderingTests {
        /// How the client ends a session whose whole input arrives while the child is starting.
        enum Ending: String, CaseIterable, Sendable, CustomTestStringConvertible {
            /// A close frame right after the messages.
            case closeFrame
            /// A FIN right after the messages.
            case fin
            /// A TCP RST right after the messages.
            case reset

            var testDescription: String { rawValue }
        }

        static let iterations = 200
        /// A run stops early after this many failed iterations, so old code fails in seconds, not minutes.
        static let maxFailures = 10

        /// Runs `iterations` times `body(index)`, collecting failures (up to `maxFailures`), and
        /// records one issue that counts them.
        static func repeatScenario(_ what: String, iterations: Int = SessionOrderingTests.iterations,
                                   sourceLocation: SourceLocation = #_sourceLocation, _ body: (Int) throws -> Void) {
            var failures: [String] = []
            var ran = 0
            for index in 0..<iterations where failures.count < maxFailures {
                ran += 1
                do {
                    try body(index)
                } catch {
                    failures.append("iteration \(index): \(error)")
                }
            }
            #expect(failures.isEmpty, "\(what): \(failures.count) of \(ran) iterations failed, first:\n\(failures.prefix(3).joined(separator: "\n"))",
                    sourceLocation: sourceLocation)
        }

        // MARK: Fault 1: input that arrives while the child is starting

        /// SPEC §3: everything that arrives while the child is still starting takes effect, in its
        /// order, once the child runs. 200 messages and the ending leave in one write: on even
        /// iterations together with the upgrade request, so all of it reaches the server before
        /// the spawner answers; on odd ones right after the 101, as a browser sends, which
        /// usually still beats the spawner.
        @Test("SPEC §3: 200 messages and a close frame, FIN or RST sent while the child starts reach stdin in order; with a close frame the echoes come back before the answer",
              arguments: Ending.allCases)
        func closeHandshakeWhileChildStarts(_ ending: Ending) async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsbridge-ordering-\(getpid())-\(ending)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "WSBRIDGE_TEST_DIR": directory.path]
            // --closems: the ladder's first step, which starts as the child is spawned, gives it
            // 1.1 s to start, echo its input and end, so a machine loaded by the whole suite (it
            // once took over 400 ms to reach `exec tee`) cannot turn a slow start into a failure;
            // what is checked is the order, and that the answer needs no more than that step.
            try await withServer(flags: ["--passenv=PATH,WSBRIDGE_TEST_DIR", "--closems=1000"], environment: environment,
                                 command: [TestPaths.fixture("tee-stdin.sh")]) { server in
                let footprint = try ServerFootprint(of: server, warmingUpOn: "/")
                var pids: Set<pid_t> = []
                var slowest: Duration = .zero
                Self.repeatScenario("\(ending)") { index in
                    let lines = (0..<200).map { "message \($0) of session \(index)" }
                    let isWithUpgrade = index % 2 == 0
                    let key = WebSocketTestClient.randomKey()
                    var wire = isWithUpgrade ? WebSocketTestClient.upgradeRequest(key: key) : []
                    for line in lines { wire += WebSocketTestClient.encodeText(line) }
                    if ending == .closeFrame {
                        wire += WebSocketTestClient.encodeFrame(opcode: WireOpcode.close, payload: WebSocketTestClient.closePayload(code: 1000),
                                                                mask: WebSocketTestClient.randomMask())
                    }
                    let start = ContinuousClock.now
                    let client = try WebSocketTestClient(port: server.port)
                    let port = client.localPort
                    if isWithUpgrade {
                        try client.sendRaw(wire)
                    } else {
                        try client.sendRaw(WebSocketTestClient.upgradeRequest(key: key))
                        let head = try client.readResponseHead()
                        guard head.statusCode == 101 else { throw TestClientError.handshakeFailed(head.headText) }
                        try client.sendRaw(wire)
                    }
                    switch ending {
                    case .closeFrame:
                        if isWithUpgrade {
                            let head = try client.readResponseHead()
                            guard head.statusCode == 101 else { throw TestClientError.handshakeFailed(head.headText) }
                        }
                        pids.insert(try client.receivePID())
                        var echoes: [String] = []
                        while true {
                            let message = try client.receiveMessage(timeout: .seconds(3))
                            if case .close = message {
                                guard message == .close(code: 1000, reason: "") else {
                                    throw TestClientError.protocolViolation("close answered with \(message)")
                                }
                                break
                            }
                            guard case .text(let text) = message else { throw TestClientError.protocolViolation("got \(message)") }
                            echoes.append(text)
                        }
                        // SPEC §3: the child's output until stdout ends (within 100 ms + closems of
                        // stdin closing) comes before the answer; the bound leaves room for a loaded machine.
                        slowest = max(slowest, ContinuousClock.now - start)
                        guard echoes == lines else {
                            throw TestClientError.protocolViolation("\(echoes.count) of 200 echoes before the close, first \(echoes.prefix(2))")
                        }
                        guard try client.waitForEndOfStream().isEmpty else { throw TestClientError.protocolViolation("bytes after the close") }
                    case .fin:
                        client.shutdownWrite()
                        // The server ends the connection once it has read the FIN.
                        try client.waitForEndOfStream()
                    case .reset:
                        client.closeAbruptly()
                    }
                    // What reached the child's stdin, in order, and nothing more.
                    let expected = lines.joined(separator: "\n") + "\n"
                    var received = ""
                    let complete = Deadline.poll(for: .seconds(3), every: .milliseconds(2)) {
                        received = (try? String(contentsOf: directory.appendingPathComponent("\(port).in"), encoding: .utf8)) ?? ""
                        return received.utf8.count >= expected.utf8.count
                    }
                    if let pidText = try? String(contentsOf: directory.appendingPathComponent("\(port).pid"), encoding: .utf8),
                       let pid = pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) {
                        pids.insert(pid)
                    }
                    guard complete, received == expected else {
                        throw TestClientError.protocolViolation("stdin got \(received.utf8.count) of \(expected.utf8.count) bytes")
                    }
                }
                #expect(slowest < .seconds(2), "slowest close answer after \(slowest)")
                // Stdin was closed after the last message, so tee ended by itself (exit 0), not by a
                // signal (SIGPIPE once meant that the session closed its stdout too early).
                var disconnects: [LogRecord] = []
                let sessions = pids.count + 1  // and the warm-up
                _ = Deadline.poll(for: .seconds(5), every: .milliseconds(100)) {
                    disconnects = server.logRecords().filter { $0.message == "DISCONNECT" }
                    return disconnects.count >= sessions
                }
                #expect(disconnects.count == sessions, "\(disconnects.count) DISCONNECT lines for \(sessions) sessions")
                let signalled = disconnects.filter { $0["exit"] != "0" }
                #expect(signalled.isEmpty, "\(signalled.count) children did not exit 0, e.g. \(signalled.prefix(3))")
                footprint.expectNothingLeft(by: pids, server: server)
            }
        }

        // MARK: Fault 2: --passstderr

        /// SPEC §1 `--passstderr`: a stderr line reaches the client as soon as it is written, not
        /// only when some later stdout traffic happens to flush it.
        @Test("SPEC §1: with --passstderr, a child's stderr line written before `exec cat` reaches the client within 2 s, 200 times")
        func passStderrLineArrivesWithoutLaterTraffic() async throws {
            try await withServer(flags: ["--passstderr"], command: [TestPaths.fixture("lifecycle.sh")]) { server in
                let footprint = try ServerFootprint(of: server, warmingUpOn: "/cat")
                var pids: Set<pid_t> = []
                Self.repeatScenario("--passstderr") { index in
                    let client = try WebSocketTestClient.connect(port: server.port, path: "/stderr")
                    // Nothing is sent until both lines are in: no later traffic may flush them out.
                    let deadline = Deadline(after: .seconds(2))
                    var stdout: [String] = []
                    var stderr: [String] = []
                    while stdout.isEmpty || stderr.isEmpty {
                        let line = try PassStderrTests.decode(try client.receiveMessage(timeout: deadline.remaining))
                        if line.stream == "stdout" { stdout.append(line.data) } else { stderr.append(line.data) }
                    }
                    let pid = try #require(pid_t(stdout[0]))
                    pids.insert(pid)
                    guard stderr == [#"a "quoted" warning"#], stdout.count == 1 else {
                        throw TestClientError.protocolViolation("stdout \(stdout), stderr \(stderr)")
                    }
                    try client.sendText("echo \(index)")
                    let echo = try PassStderrTests.decode(try client.receiveMessage(timeout: .seconds(2)))
                    guard echo == ("stdout", "echo \(index)") else { throw TestClientError.protocolViolation("echo \(echo)") }
                    let (messages, close) = try client.closeHandshake(timeout: .seconds(3))
                    guard messages.isEmpty, close == .close(code: 1000, reason: "") else {
                        throw TestClientError.protocolViolation("close \(close) after \(messages)")
                    }
                }
                footprint.expectNothingLeft(by: pids, server: server)
            }
        }

        // MARK: Fault 3: a client that leaves while its input waits

        /// SPEC §3 and §7: a client whose input waits for a child that does not read stdin, and
        /// which then leaves (RST, or FIN once all its data has reached the server), is noticed:
        /// the ladder ends the child and the `--maxforks` slot frees.
        @Test("SPEC §3, §7: 200 clients that leave (RST or FIN) with input queued for a child that ignores stdin free their --maxforks=3 slots and groups",
              .timeLimit(.minutes(2)))
        func disconnectNoticedUnderBackpressure() async throws {
            try await withServer(flags: ["--maxforks=3"], command: [TestPaths.fixture("lifecycle.sh")]) { server in
                let footprint = try ServerFootprint(of: server, warmingUpOn: "/cat")
                // 16 KiB text messages: 1 MiB for a reset; for a FIN 352 KiB. The session pauses
                // once 256 KiB wait in its stdin buffer behind a full pipe (64 KiB), so it takes
                // 320 KiB or more; the rest must fit the window of the server's kernel, which
                // grows only as fast as the session reads (about 50 KiB here), since a FIN
                // queued behind bytes the server never acknowledges would never arrive.
                let message = WebSocketTestClient.encodeText(String(repeating: "x", count: 16 * 1024 - 1))
                let mebibyte = (0..<64).flatMap { _ in message }
                let finPush = Array(mebibyte.prefix(22 * message.count))
                var pids: Set<pid_t> = []
                var finRemotes: [String] = []
                let batch = 3
                Self.repeatScenario("reset/FIN under backpressure", iterations: Self.iterations / batch + 1) { round in
                    var clients: [(client: WebSocketTestClient, pid: pid_t, isReset: Bool)] = []
                    for slot in 0..<batch {
                        // The slots of the previous round free once their sessions have fully
                        // ended, a moment after their groups: retry a 429 for a bounded time.
                        let deadline = Deadline(after: .seconds(3))
                        var connected: WebSocketTestClient?
                        while connected == nil {
                            do {
                                connected = try WebSocketTestClient.connect(port: server.port, path: "/ignore-stdin")
                            } catch TestClientError.handshakeFailed(let text) where text.contains("429") && !deadline.hasPassed {
                                pause(milliseconds: 10)
                            }
                        }
                        let client = connected!
                        let pid = try client.receivePID()
                        pids.insert(pid)
                        clients.append((client, pid, (round + slot) % 2 == 0))
                    }
                    for (client, _, isReset) in clients {
                        let payload = isReset ? mebibyte : finPush
                        let sent = try client.sendWithoutReading(payload, stall: .milliseconds(30))
                        if isReset {
                            client.closeAbruptly()
                            continue
                        }
                        guard sent == payload.count else { throw TestClientError.timedOut("the server's kernel to take \(payload.count) bytes (took \(sent))") }
                        finRemotes.append("127.0.0.1:\(client.localPort)")
                        var unacknowledged: Int?
                        guard Deadline.poll(for: .seconds(3), every: .milliseconds(5), until: {
                            unacknowledged = client.unacknowledgedSendBytes
                            return unacknowledged == 0
                        }) else {
                            throw TestClientError.timedOut("the server's kernel to acknowledge every byte (\(unacknowledged.map(String.init) ?? "?") left)")
                        }
                        client.close()
                    }
                    // SPEC §3: the ladder (close stdin, 100 ms; SIGINT) ends each child.
                    let left = ProcessTable.waitUntilGroupsGone(Set(clients.map(\.pid)), timeout: .seconds(3))
                    guard left.isEmpty else {
                        for entry in left { kill(-entry.group, SIGKILL) }
                        throw TestClientError.timedOut("the groups of clients that left to end; left: \(left)")
                    }
                }
                // A new client is served once the slots are free.
                let deadline = Deadline(after: .seconds(3))
                var last: (any Error)?
                var served = false
                while !served && !deadline.hasPassed {
                    do {
                        let client = try WebSocketTestClient.connect(port: server.port, path: "/cat")
                        let pid = try client.receivePID()
                        pids.insert(pid)
                        try client.sendText("still serving")
                        served = try client.receiveMessage() == .text("still serving")
                        _ = try client.closeHandshake()
                    } catch {
                        last = error
                        pause(milliseconds: 20)
                    }
                }
                #expect(served, "no new client served: \(last.map { "\($0)" } ?? "")")
                // The FINs really came while reading was paused: each of those sessions took at
                // least the stdin buffer's high watermark (256 KiB) before the client left.
                let disconnects = server.logRecords().filter { $0.message == "DISCONNECT" }
                let unpaused = finRemotes.filter { remote in
                    !disconnects.contains { $0["remote"] == remote && Int($0["in"] ?? "") ?? 0 >= 256 * 1024 }
                }
                #expect(unpaused.isEmpty, "\(unpaused.count) of \(finRemotes.count) FIN sessions ended without having paused")
                footprint.expectNothingLeft(by: pids, server: server)
            }
        }
    }
}

/// Sleeps on the calling thread (the scenarios run synchronously on a test thread).
private func pause(milliseconds: Int) {
    Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
}
