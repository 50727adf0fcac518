import Foundation
import Glibc
import Testing

/// SPEC §12 "PTY": `--pty` runs the child on a pseudo-terminal, so programs that buffer when
/// their stdout is not a terminal (C stdio, Python) write each line as they print it.
@Suite("PTY")
struct PTYTests {
    static let flags = ["--pty"]

    /// A Python child, without `-u`, printing a line every 200 ms.
    static let ticker = ["python3", "-c", "import time\nfor i in range(5):\n    print('tick', i)\n    time.sleep(0.2)"]

    /// The arrival times of `count` text messages, in seconds after the first.
    static func arrivals(_ client: WebSocketTestClient, count: Int) throws -> [Double] {
        let clock = ContinuousClock()
        var times: [ContinuousClock.Instant] = []
        for index in 0..<count {
            let message = try client.receiveMessage(timeout: .seconds(10))
            guard message == .text("tick \(index)") else { throw TestClientError.protocolViolation("line \(index): \(message)") }
            times.append(clock.now)
        }
        return times.map { ($0 - times[0]) / .seconds(1) }
    }

    @Test("SPEC §12: a Python child without -u line-buffers on the terminal: each line arrives before the next is printed; through pipes all arrive at its end")
    func lineBuffering() async throws {
        try await withServer(flags: Self.flags, command: Self.ticker) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let times = try Self.arrivals(client, count: 5)
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            // 200 ms apart as printed; a loaded machine may bunch two a little, never all.
            #expect(gaps.allSatisfy { $0 >= 0.12 }, "gaps \(gaps)")
            #expect(times[4] >= 0.6, "arrivals \(times)")
            #expect(try client.receiveMessage() == .close(code: 1000, reason: ""))
            try client.answerCloseAndWaitForEnd(code: 1000)
        }
        try await withServer(flags: [], command: Self.ticker) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let clock = ContinuousClock()
            let connected = clock.now
            let times = try Self.arrivals(client, count: 5)
            // Python's block buffer holds all five until it exits, a second after the start.
            #expect(times[4] < 0.1, "arrivals \(times)")
            #expect(clock.now - connected >= .milliseconds(700))
            #expect(try client.receiveMessage() == .close(code: 1000, reason: ""))
            try client.answerCloseAndWaitForEnd(code: 1000)
        }
    }

    static let probe = ["python3", "-c", """
        import os
        print(os.isatty(0), os.isatty(1), os.isatty(2), os.environ.get('TERM'))
        size = os.get_terminal_size(0)
        print(size.columns, size.lines)
        """]

    @Test("SPEC §12: stdin, stdout and stderr are a terminal, TERM=xterm-256color, sized by ?cols=&rows= (1-1000, else 80x24)",
          arguments: [("/", "80 24"), ("/?cols=100&rows=40", "100 40"), ("/?rows=50&x=1&cols=1000", "1000 50"),
                      ("/?cols=5000&rows=0", "80 24"), ("/?cols=abc&rows=30", "80 30")])
    func terminalAndSize(_ row: (path: String, size: String)) async throws {
        try await withServer(flags: Self.flags, command: Self.probe) { server in
            let client = try WebSocketTestClient.connect(port: server.port, path: row.path)
            #expect(try client.receiveMessage() == .text("True True True xterm-256color"))
            #expect(try client.receiveMessage() == .text(row.size))
            #expect(try client.receiveMessage() == .close(code: 1000, reason: ""))
            try client.answerCloseAndWaitForEnd(code: 1000)
        }
    }

    /// The bytes of binary messages arriving within `window` (or until `count` bytes came).
    static func collect(_ client: WebSocketTestClient, count: Int, window: Duration = .seconds(5)) throws -> [UInt8] {
        let deadline = Deadline(after: window)
        var bytes: [UInt8] = []
        while bytes.count < count {
            guard case .binary(let chunk) = try client.receiveMessage(timeout: deadline.remaining) else {
                throw TestClientError.protocolViolation("expected binary output")
            }
            bytes += chunk
        }
        return bytes
    }

    @Test("SPEC §12: --pty: no echo, \\n stays \\n; --pty=tty: echo, and \\n out as \\r\\n (cat, raw framing)",
          arguments: [("--pty", "hi\n"), ("--pty=tty", "hi\r\nhi\r\n")])
    func echoAndNewlines(_ row: (flag: String, expected: String)) async throws {
        try await withServer(flags: [row.flag, "--binary"], command: ["cat"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            try client.sendBinary(Array("hi\n".utf8))
            let bytes = try Self.collect(client, count: row.expected.utf8.count)
            #expect(bytes == Array(row.expected.utf8))
            // Nothing more comes (no late echo).
            #expect(throws: (any Error).self) { _ = try client.receiveMessage(timeout: .milliseconds(300)) }
            let (_, close) = try client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
        }
    }

    static let resizer = ["python3", "-c", """
        import os, signal, time
        # os.write, not print: a handler that prints while the main code is still inside its own
        # print (its flush done, its lock held) raises "reentrant call" (seen once in CI).
        def report(*_):
            columns, rows = os.get_terminal_size(1)
            os.write(1, f'size {columns} {rows}\\n'.encode())
        signal.signal(signal.SIGWINCH, report)
        os.write(1, b'ready\\n')
        while True:
            time.sleep(30)
        """]

    @Test("SPEC §12: in raw framing a text {\"cols\":C,\"rows\":R} resizes the terminal and the child gets SIGWINCH")
    func resize() async throws {
        try await withServer(flags: Self.flags + ["--binary"], command: Self.resizer) { server in
            let client = try WebSocketTestClient.connect(port: server.port, path: "/?cols=90&rows=30")
            let ready = try Self.collect(client, count: 6)
            #expect(ready == Array("ready\n".utf8), "\(String(decoding: ready, as: UTF8.self).debugDescription)")
            try client.sendText(" {\"cols\": 100, \"rows\": 40}\n")
            let first = try Self.collect(client, count: 12)
            #expect(first == Array("size 100 40\n".utf8), "\(String(decoding: first, as: UTF8.self).debugDescription)")
            try client.sendText("{\"rows\":5,\"cols\":7}", fragmentSize: 4)
            let second = try Self.collect(client, count: 9)
            #expect(second == Array("size 7 5\n".utf8), "\(String(decoding: second, as: UTF8.self).debugDescription)")
            client.closeAbruptly()
        }
    }

    @Test("SPEC §12: a malformed or out-of-range resize message closes with 1007 and says what to send",
          arguments: ["{\"cols\":0,\"rows\":40}", "{\"cols\":100}", "resize please"])
    func badResize(_ text: String) async throws {
        try await withServer(flags: Self.flags + ["--binary"], command: ["cat"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            try client.sendText(text)
            let close = try client.receiveMessage()
            #expect(close.closeCode == 1007, "\(close)")
            guard case .close(_, let reason) = close else { return }
            #expect(reason.contains("cols"), "\(reason)")
        }
    }

    @Test("SPEC §12: in line framing an input line over 4095 bytes (which the terminal would cut) closes with 1009")
    func lineLimit() async throws {
        try await withServer(flags: Self.flags, command: ["python3", "-c", "import sys\nfor line in sys.stdin: print(len(line))"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            try client.sendText(String(repeating: "a", count: 4095))
            #expect(try client.receiveMessage() == .text("4096"))
            try client.sendText(String(repeating: "b", count: 4096))
            #expect(try client.receiveMessage().closeCode == 1009)
        }
    }

    /// A temporary file path for a child to record into.
    static func recordFile() -> String {
        NSTemporaryDirectory() + "wsbridge-pty-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    @Test("SPEC §12: the client's close hangs the terminal up: SIGHUP is the first signal the group gets")
    func hangUpFirst() async throws {
        let record = Self.recordFile()
        defer { unlink(record) }
        let script = "trap 'echo HUP >> \(record); exit 0' HUP; trap 'echo INT >> \(record)' INT; trap 'echo TERM >> \(record)' TERM; echo $$; while :; do sleep 0.05; done"
        try await withServer(flags: Self.flags, command: ["/bin/sh", "-c", script]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let (_, close) = try client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
            #expect((try? String(contentsOfFile: record, encoding: .utf8)) == "HUP\n")
        }
    }

    @Test("SPEC §3 under --pty: a child that ignores every signal still ends (SIGKILL), and nothing is left")
    func ignoresEverything() async throws {
        try await withServer(flags: Self.flags,
                             command: ["/bin/sh", "-c", "trap '' HUP INT TERM; echo $$; exec sleep 300"]) { server in
            // Warm up, then count the server's fds idle.
            let warm = try WebSocketTestClient.connect(port: server.port)
            let warmPID = try warm.receivePID()
            warm.closeAbruptly()
            ProcessGroupProbe.expectGone(warmPID, server: server)
            try await Task.sleep(for: .milliseconds(200))
            let idleFDs = try #require(ProcessTable.openFileCount(server.pid))
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let started = ContinuousClock.now
            client.closeAbruptly()
            ProcessGroupProbe.expectGone(pid, timeout: .seconds(5), server: server)
            // ^D 100 ms, SIGHUP 100, SIGINT 250, SIGTERM 500: SIGKILL after 950 ms.
            #expect(ContinuousClock.now - started >= .milliseconds(900))
            let fds = LifecycleTimingTests.ChurnTests.settle(to: idleFDs, within: .seconds(3)) { ProcessTable.openFileCount(server.pid) }
            #expect(fds == idleFDs)
        }
    }

    @Test("SPEC §12 and §3: the client closes while cat runs: cat reads ^D as its end, exits 0, and the close answers after its output")
    func catEndsOnEndOfInput() async throws {
        try await withServer(flags: Self.flags, command: ["cat"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            try client.sendText("one")
            try client.sendText("two")
            let (messages, close) = try client.closeHandshake(code: 1000)
            #expect(messages == [.text("one"), .text("two")])
            #expect(close == .close(code: 1000, reason: ""))
            let logged = Deadline.poll(for: .seconds(3)) { server.stderrText.contains(" DISCONNECT ") }
            #expect(logged)
            #expect(server.stderrText.contains("exit=0"), "\(server.stderrText)")
        }
        // A partial line (raw framing) needs a second ^D.
        try await withServer(flags: Self.flags + ["--binary"], command: ["cat"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            try client.sendBinary(Array("partial".utf8))
            _ = try client.closeHandshake(code: 1000)
            let logged = Deadline.poll(for: .seconds(3)) { server.stderrText.contains(" DISCONNECT ") }
            #expect(logged)
            #expect(server.stderrText.contains("exit=0"), "\(server.stderrText)")
        }
    }

    @Test("SPEC §3 under --pty: the exit status reaches the close frame (exit 3 → 4003), after the output")
    func exitStatus() async throws {
        try await withServer(flags: Self.flags, command: ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            // stderr is the same terminal: its line comes as a message too.
            #expect(try client.receiveMessage() == .text("out"))
            #expect(try client.receiveMessage() == .text("err"))
            #expect(try client.receiveMessage() == .close(code: 4003, reason: "exit 3"))
            try client.answerCloseAndWaitForEnd(code: 1000)
        }
    }

    @Test("SPEC §12: --pty with --passstderr is a startup error naming both, with the usage exit status")
    func passStderrRefused() throws {
        let result = try runWSBridge(["--pty", "--passstderr", "--port=0", "cat"])
        #expect(result.exit == .exited(1))
        #expect(result.stderrLines.count == 1)
        #expect(result.stderr.contains("--pty") && result.stderr.contains("--passstderr"), "\(result.stderr)")
    }

    @Test("SPEC §12 with §13: --broadcast children get the terminal too; every client gets each line")
    func sharedChild() async throws {
        try await withServer(flags: Self.flags + ["--broadcast"],
                             command: ["/bin/sh", "-c", "test -t 0 && test -t 1 && echo $$; exec cat"]) { server in
            let first = try WebSocketTestClient.connect(port: server.port, path: "/?cols=120&rows=10")
            let pid = try first.receivePID()
            let second = try WebSocketTestClient.connect(port: server.port)
            try await Task.sleep(for: .milliseconds(100))
            try second.sendText("hello")
            #expect(try first.receiveMessage() == .text("hello"))
            #expect(try second.receiveMessage() == .text("hello"))
            _ = try first.closeHandshake()
            _ = try second.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §3 under --pty: 200 sessions (clean close, reset, child exits first, ignores signals) leave no child, zombie or fd",
          .timeLimit(.minutes(2)))
    func churn() async throws {
        // As ChurnTests: spawners the load adds retire after 200 ms idle, so the server's fds
        // come back to their idle count exactly.
        var environment = ProcessInfo.processInfo.environment
        environment["WSBRIDGE_INTERNAL_SPAWNER_IDLE_MS"] = "200"
        try await withServer(flags: Self.flags, environment: environment, command: [TestPaths.fixture("lifecycle.sh")]) { server in
            typealias Churn = LifecycleTimingTests.ChurnTests
            var warmPIDs: [pid_t] = []
            for kind in Churn.Kind.allCases { warmPIDs.append(try Churn.runSession(kind, port: server.port)) }
            #expect(ProcessTable.waitUntilGroupsGone(Set(warmPIDs), timeout: .seconds(5)).isEmpty)
            _ = Deadline.poll(for: .seconds(5)) {
                server.stderrText.components(separatedBy: " DISCONNECT ").count - 1 == Churn.Kind.allCases.count
            }
            try await Task.sleep(for: .milliseconds(300))
            let idleFDs = try #require(ProcessTable.openFileCount(server.pid))

            let (pids, errors) = Churn.runAll(count: 200, workers: 8, port: server.port, timeout: .seconds(60))
            #expect(errors.isEmpty, "\(errors.count) sessions failed, first: \(errors.prefix(5).joined(separator: "\n"))")
            #expect(pids.count == 200)
            let left = ProcessTable.waitUntilGroupsGone(Set(pids), timeout: .seconds(5))
            #expect(left.isEmpty, "\(left.count) processes left, e.g. \(left.prefix(10))")
            for entry in left { kill(-entry.group, SIGKILL) }
            var spawnerChildren: [ProcessEntry] = []
            _ = Deadline.poll(for: .seconds(3)) {
                spawnerChildren = ProcessTable.spawnedChildren(of: server.pid)
                return spawnerChildren.isEmpty
            }
            #expect(spawnerChildren.isEmpty, "the spawner still has children: \(spawnerChildren.prefix(10))")
            let total = Churn.Kind.allCases.count + pids.count
            let allEnded = Deadline.poll(for: .seconds(10), every: .milliseconds(100)) {
                server.stderrText.components(separatedBy: " DISCONNECT ").count - 1 == total
            }
            #expect(allEnded)
            let fds = Churn.settle(to: idleFDs, within: .seconds(5)) { ProcessTable.openFileCount(server.pid) }
            #expect(fds == idleFDs, "server fds: \(fds.map(String.init) ?? "?") now, \(idleFDs) idle")
        }
    }
}
