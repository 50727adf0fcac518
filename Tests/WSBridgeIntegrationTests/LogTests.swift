import Foundation
import Glibc
import Testing

/// SPEC §8: CONNECT once the child runs, DISCONNECT with duration, exit status and bytes each way,
/// refused requests with method, path and status, the child's stderr at level error; every line
/// of a session carries remote, id, path and pid; text or one JSON object per line.
@Suite("Logs")
struct LogTests {
    /// What one session of the `/stderr` mode looked like from the client.
    struct Session {
        var pid: pid_t
        var remote: String
        var sentPayloadBytes: Int
        var receivedPayloadBytes: Int
        var elapsed: Duration
    }

    /// Runs one session: the pid, one echoed message, a clean close; then waits for its DISCONNECT.
    static func runSession(_ server: ServerProcess, json: Bool) throws -> Session {
        let start = ContinuousClock.now
        let client = try WebSocketTestClient.connect(port: server.port, path: "/stderr?verbose=1")
        let remote = "127.0.0.1:\(client.localPort)"
        let pid = try client.receivePID()
        let text = "héllo"
        try client.sendText(text)
        #expect(try client.receiveMessage() == .text(text))
        let (_, close) = try client.closeHandshake()
        #expect(close == .close(code: 1000, reason: ""))
        let elapsed = ContinuousClock.now - start
        let disconnect = server.waitForLog(json: json) { $0.message == "DISCONNECT" && $0["remote"] == remote }
        #expect(disconnect != nil, "no DISCONNECT line; log:\n\(server.stderrText)")
        ProcessGroupProbe.expectGone(pid, server: server)
        return Session(pid: pid, remote: remote, sentPayloadBytes: text.utf8.count,
                       receivedPayloadBytes: String(pid).utf8.count + text.utf8.count, elapsed: elapsed)
    }

    /// Checks the lines of `session` among `records`: CONNECT, the stderr line, DISCONNECT, all
    /// with the same context.
    static func checkSessionLines(_ records: [LogRecord], _ session: Session) throws {
        let lines = records.filter { $0["remote"] == session.remote }
        let connect = try #require(lines.first { $0.message == "CONNECT" }, "no CONNECT line in \(lines)")
        let id = try #require(connect["id"], "CONNECT without id")
        #expect(Int(id) != nil, "id \(id) is not a number")
        #expect(connect.level == "access")
        #expect(connect["path"] == "/stderr", "the path without its query")
        #expect(connect["pid"] == String(session.pid))
        // SPEC §8: every line of the session carries its remote address, id, path and child pid.
        for line in lines {
            #expect(line["id"] == id, "\(line)")
            #expect(line["path"] == "/stderr", "\(line)")
            #expect(line["pid"] == String(session.pid), "\(line)")
        }
        #expect(lines.first?.message == "CONNECT", "CONNECT comes first: \(lines)")
        #expect(lines.last?.message == "DISCONNECT", "DISCONNECT comes last: \(lines)")

        let stderrLine = try #require(lines.first { $0.message == "stderr" }, "the child's stderr line was not logged: \(lines)")
        #expect(stderrLine.level == "error")
        #expect(stderrLine["line"] == #"a "quoted" warning"#)

        let disconnect = try #require(lines.first { $0.message == "DISCONNECT" })
        #expect(disconnect.level == "access")
        #expect(disconnect["exit"] == "0")
        #expect(disconnect["close"] == "1000")
        let duration = try #require(disconnect["duration"])
        #expect(duration.wholeMatch(of: #/[0-9]+\.[0-9]{3}s/#) != nil, "duration \(duration)")
        if let seconds = Double(duration.dropLast()) {
            #expect(seconds > 0 && seconds <= session.elapsed.seconds + 0.5, "duration \(duration) for a session of \(session.elapsed)")
        }
        // "Bytes each way" in one unit: the payload of the data messages (the client sent one
        // text message; the child's output was its pid line and the echo).
        #expect(disconnect["in"] == String(session.sentPayloadBytes), "in=\(disconnect["in"] ?? "none"): expected the \(session.sentPayloadBytes) payload bytes the client sent")
        #expect(disconnect["out"] == String(session.receivedPayloadBytes), "out=\(disconnect["out"] ?? "none"): expected the \(session.receivedPayloadBytes) payload bytes the client received")
    }

    @Test("SPEC §8: one session's text lines: CONNECT, the stderr line at error, DISCONNECT with duration, exit, close and bytes")
    func textLines() async throws {
        try await withServer(command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let session = try Self.runSession(server, json: false)
            let lines = server.logLines(json: false)
            for (line, record) in lines {
                #expect(record != nil, "not `TIMESTAMP LEVEL MESSAGE key=value...`: \(line)")
                if let record {
                    #expect(record.time.wholeMatch(of: #/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z/#) != nil, "\(line)")
                }
            }
            try Self.checkSessionLines(lines.compactMap(\.record), session)
            // The text form itself: `... access CONNECT remote=127.0.0.1:PORT id=N path=/stderr pid=P`.
            let connectLine = try #require(lines.first { $0.record?.message == "CONNECT" && $0.record?["remote"] == session.remote }?.line)
            #expect(connectLine.contains(" access CONNECT remote=\(session.remote) id="), "\(connectLine)")
            #expect(connectLine.hasSuffix(" path=/stderr pid=\(session.pid)"), "\(connectLine)")
            let stderrLine = try #require(lines.first { $0.record?.message == "stderr" }?.line)
            #expect(stderrLine.hasSuffix(#" line="a \"quoted\" warning""#), "a value with spaces is a JSON string: \(stderrLine)")
        }
    }

    @Test("SPEC §8: --log-format=json writes one JSON object per line with time, level, msg and the same fields")
    func jsonLines() async throws {
        try await withServer(flags: ["--log-format=json"], command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let session = try Self.runSession(server, json: true)
            let lines = server.logLines(json: true)
            #expect(!lines.isEmpty)
            for (line, record) in lines {
                #expect(record != nil, "not a JSON object with string time, level, msg and string fields: \(line)")
            }
            try Self.checkSessionLines(lines.compactMap(\.record), session)
        }
    }

    @Test("SPEC §8: every session logs one CONNECT and one DISCONNECT, even when the child has finished before the server looks")
    func connectForEverySession() async throws {
        // /bin/true ends within a millisecond, often before the spawner's answer is handled.
        try await withServer(command: ["/bin/true"]) { server in
            let count = 200
            for _ in 0..<count {
                let client = try WebSocketTestClient.connect(port: server.port)
                #expect(try client.receiveMessage() == .close(code: 1000, reason: ""))
                try client.answerCloseAndWaitForEnd(code: 1000)
            }
            var records: [LogRecord] = []
            _ = Deadline.poll(for: .seconds(5)) {
                records = server.logRecords()
                return records.filter { $0.message == "DISCONNECT" }.count == count
            }
            let connects = Dictionary(grouping: records.filter { $0.message == "CONNECT" }, by: { $0["id"] ?? "" })
            let disconnects = records.filter { $0.message == "DISCONNECT" }
            #expect(disconnects.count == count)
            let missing = disconnects.filter { connects[$0["id"] ?? ""]?.count != 1 }
            #expect(missing.isEmpty, "\(missing.count) of \(count) sessions have no single CONNECT line, e.g.:\n\(missing.prefix(3).map(\.line).joined(separator: "\n"))")
            for disconnect in disconnects {
                #expect(disconnect["pid"] == connects[disconnect["id"] ?? ""]?.first?["pid"] || connects[disconnect["id"] ?? ""] == nil)
            }
        }
    }

    @Test("SPEC §8: refused requests are logged with method, path and status", arguments: [("GET", 426), ("POST", 405)])
    func refusedRequest(method: String, status: Int) async throws {
        try await withServer(command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            let remote = "127.0.0.1:\(client.localPort)"
            try client.sendRaw(Array("\(method) /plain?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n".utf8))
            let response = try client.readResponse()
            #expect(response.statusCode == status)
            client.close()
            let line = server.waitForLog { $0["remote"] == remote }
            #expect(line?.level == "access")
            #expect(line?.message == "REFUSED")
            #expect(line?["method"] == method)
            #expect(line?["path"] == "/plain")
            #expect(line?["status"] == String(status))
            #expect(line.flatMap { Int($0["id"] ?? "") } != nil, "\(line.map(String.init(describing:)) ?? "no line")")
        }
    }

    @Test("SPEC §8: --loglevel=error hides access lines but keeps the child's stderr")
    func levelErrorHidesAccess() async throws {
        try await withServer(flags: ["--loglevel=error"], command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port, path: "/stderr")
            let pid = try client.receivePID()
            let stderrLine = server.waitForLog { $0.message == "stderr" }
            #expect(stderrLine?.level == "error")
            #expect(stderrLine?["pid"] == String(pid))
            _ = try client.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
            let refused = try WebSocketTestClient(port: server.port)
            try refused.sendRaw(Array("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            #expect(try refused.readResponse().statusCode == 426)
            refused.close()
            try await Task.sleep(for: .milliseconds(200))
            let levels = server.logRecords().map(\.level)
            #expect(!levels.contains("access"), "access lines at --loglevel=error:\n\(server.stderrText)")
            #expect(!levels.contains("info"), "info lines at --loglevel=error:\n\(server.stderrText)")
        }
    }
}
