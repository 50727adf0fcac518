import Foundation
import Glibc
import Synchronization
import Testing
import TestSupport

/// SPEC §12, Server-Sent Events: the same scripts for clients that cannot hold a WebSocket, with
/// their input in POSTs. Real server, real children, the stream read by a WHATWG parser.
@Suite("Server-Sent Events")
struct EventStreamTests {
    static let script = TestPaths.fixture("sse.sh")

    private static func pid(of client: EventStreamTestClient) throws -> pid_t {
        let first = try client.nextMessages(1)[0]
        return try #require(pid_t(first), "the first event is the pid: \(first)")
    }

    @Test("SPEC §12: headers, the session event with a 128-bit id, retry, one event per line with ids, a CR as its own data line, Last-Event-ID and WEBSOCKET_TRANSPORT in the environment, POSTed lines in order, transport=sse in the log")
    func streamsOutputAndTakesPosts() async throws {
        try await withServer(command: [Self.script]) { server in
            let footprint = try ServerFootprint(of: server, warmingUpOn: "/")
            let client = try EventStreamTestClient(port: server.port, path: "/cr", extraHeaders: ["Last-Event-ID: 41"])
            #expect(client.head.statusCode == 200, "\(client.head.headText)")
            #expect(client.head.value(of: "Content-Type") == "text/event-stream")
            #expect(client.head.value(of: "Cache-Control") == "no-cache")
            #expect(client.head.value(of: "X-Accel-Buffering") == "no")
            #expect(client.head.value(of: "Content-Length") == nil)
            #expect(client.head.value(of: "Content-Encoding") == nil)
            #expect(client.sessionID.count == 32 && client.sessionID.allSatisfy(\.isHexDigit), "\(client.sessionID)")
            #expect(client.parser.reconnectionMilliseconds == 2000)
            let pid = try Self.pid(of: client)
            #expect(try client.nextMessages(3) == ["transport=sse last=41", "a\nb", "c"])
            #expect(client.parser.events.map(\.lastEventID) == ["", "1", "2", "3", "4"])

            // Each line of a body is one message; CRLF and LF alike; POSTs keep their order.
            #expect(try client.post("hello\r\nworld\n") == 204)
            #expect(try client.post("") == 204)
            #expect(try client.post(" third") == 204)
            #expect(try client.nextMessages(3) == ["hello", "world", " third"])
            // Two POSTs on one keep-alive connection.
            let connection = try WebSocketTestClient(port: server.port)
            for word in ["kept", "alive"] {
                try connection.sendRaw(EventStreamTestClient.postRequest(port: server.port, path: "/cr", sessionID: client.sessionID, body: Array(word.utf8)))
                #expect(try EventStreamTestClient.readPostResponse(connection).status == 204)
            }
            connection.close()
            #expect(try client.nextMessages(2) == ["kept", "alive"])
            #expect(client.parser.events.last?.lastEventID == "9")

            let connect = try #require(server.waitForLog { $0.message == "CONNECT" && $0.fields["path"] == "/cr" })
            #expect(connect.fields["transport"] == "sse")
            #expect(server.logRecords().contains { $0.message == "HTTP" && $0.fields["method"] == "POST" && $0.fields["status"] == "204" })
            // The client leaving is the session's end: the ladder runs, nothing is left.
            client.close()
            let disconnect = server.waitForLog { $0.message == "DISCONNECT" && $0.fields["path"] == "/cr" }
            #expect(disconnect?.fields["transport"] == "sse")
            footprint.expectNothingLeft(by: [pid], server: server)
        }
    }

    @Test("SPEC §12: the end is event: exit with SPEC §3's code and reason, then the response ends; a POST after it gets 404")
    func exitEventEndsTheResponse() async throws {
        try await withServer(command: [Self.script]) { server in
            let client = try EventStreamTestClient(port: server.port, path: "/exit3")
            let pid = try Self.pid(of: client)
            _ = try client.nextMessages(1)
            #expect(try client.post("bye") == 204)
            #expect(try client.nextMessages(1) == ["got bye"])
            let exit = try client.nextEvent()
            #expect(exit.type == "exit")
            let json = try JSONSerialization.jsonObject(with: Data(exit.data.utf8)) as? [String: Any]
            #expect(json?["code"] as? Int == 4003 && json?["reason"] as? String == "exit 3", "\(exit.data)")
            #expect(try client.waitForEnd(), "the response did not end after event: exit")
            #expect(client.pendingEvents.isEmpty)
            let after = try client.post(Array("late".utf8))
            #expect(after.status == 404, "\(after)")
            ProcessGroupProbe.expectGone(pid, server: server)
            let disconnect = server.waitForLog { $0.message == "DISCONNECT" }
            #expect(disconnect?.fields["close"] == "4003")
        }
    }

    @Test("SPEC §12: POST refusals (bad id 400, unknown id 404, another path 404, chunked 411, over --maxframesize 413, not UTF-8 400) start nothing and write nothing to stdin")
    func postRefusals() async throws {
        try await withServer(flags: ["--maxframesize=1024"], command: [Self.script]) { server in
            let client = try EventStreamTestClient(port: server.port, path: "/echo")
            _ = try Self.pid(of: client)
            _ = try client.nextMessages(1)
            let children = ProcessTable.spawnedChildren(of: server.pid).count
            #expect(try client.post(Array("x".utf8), sessionID: "not-an-id").status == 400)
            #expect(try client.post(Array("x".utf8), sessionID: String(repeating: "0", count: 32)).status == 404)
            #expect(try client.post(Array("x".utf8), path: "/other").status == 404)
            #expect(try client.post(Array("1\r\nx\r\n0\r\n\r\n".utf8), extraHeaders: ["Transfer-Encoding: chunked"]).status == 411)
            #expect(try client.post(Array(repeating: UInt8(ascii: "x"), count: 1025)).status == 413)
            #expect(try client.post([0x61, 0xFF, 0x0A]).status == 400)
            // A body of exactly the limit is taken.
            #expect(try client.post(Array(repeating: UInt8(ascii: "y"), count: 1024)).status == 204)
            #expect(try client.post("ok") == 204)
            #expect(try client.nextMessages(2) == [String(repeating: "y", count: 1024), "ok"])
            #expect(ProcessTable.spawnedChildren(of: server.pid).count == children)
            client.close()
        }
    }

    @Test("SPEC §12: a comment line as heartbeat (every --pingms here, 15 s by default)")
    func heartbeat() async throws {
        try await withServer(flags: ["--pingms=150"], command: [Self.script]) { server in
            let client = try EventStreamTestClient(port: server.port, path: "/quiet")
            _ = try Self.pid(of: client)
            _ = try client.nextMessages(1)
            try await Task.sleep(for: .milliseconds(700))
            #expect(try client.post("after") == 204)
            #expect(try client.nextMessages(1) == ["after"])
            #expect(client.parser.comments.count >= 3, "\(client.parser.comments)")
            client.close()
        }
    }

    @Test("SPEC §7 for event streams: a client that reads nothing stops the child's output (memory stays bounded), and every event then arrives in order")
    func slowReaderStopsTheChild() async throws {
        try await withServer(command: [Self.script]) { server in
            let client = try EventStreamTestClient(port: server.port, path: "/flood")
            try await Task.sleep(for: .milliseconds(800))
            let early = try #require(ProcessTable.residentKiB(server.pid))
            try await Task.sleep(for: .seconds(2))
            let late = try #require(ProcessTable.residentKiB(server.pid))
            #expect(late - early < 2048, "server RSS grew from \(early) to \(late) KiB while the client read nothing")
            _ = try Self.pid(of: client)
            _ = try client.nextMessages(1)
            for expected in 0..<30_000 {
                let line = try client.nextMessages(1)[0]
                guard Int(line) == expected else {
                    Issue.record("event \(expected) is \(line)")
                    break
                }
            }
            client.close()
        }
    }

    @Test("SPEC §7 for POSTs: a child that does not read makes POSTs wait (four at most), the next gets 503, and the waiting ones get 404 when the session ends")
    func postsWaitForTheChild() async throws {
        try await withServer(command: [Self.script]) { server in
            let client = try EventStreamTestClient(port: server.port, path: "/deaf")
            _ = try Self.pid(of: client)
            _ = try client.nextMessages(1)
            let body = Array(repeating: UInt8(ascii: "z"), count: 100_000)
            // The pipe (64 KiB) and the stdin buffer (256 KiB) take the first few at once.
            var accepted = 0
            var waiting: [WebSocketTestClient] = []
            for _ in 0..<20 {
                let connection = try WebSocketTestClient(port: server.port)
                try connection.sendRaw(EventStreamTestClient.postRequest(port: server.port, path: "/deaf", sessionID: client.sessionID, body: body))
                if let response = try? EventStreamTestClient.readPostResponse(connection, timeout: .milliseconds(500)) {
                    connection.close()
                    if response.status == 204 {
                        #expect(waiting.isEmpty, "a POST was taken while an earlier one waited")
                        accepted += 1
                        continue
                    }
                    #expect(response.status == 503, "\(response)")
                    #expect(waiting.count == 4, "503 after \(waiting.count) waiting POSTs")
                    break
                }
                waiting.append(connection)
            }
            #expect((3...5).contains(accepted), "\(accepted) POSTs of 100 kB taken by a child that reads nothing")
            #expect(waiting.count == 4)
            client.close()
            for connection in waiting {
                #expect(try EventStreamTestClient.readPostResponse(connection).status == 404)
                connection.close()
            }
        }
    }

    @Test("SPEC §3 for event streams: server shutdown is event: exit with 1001")
    func shutdownSends1001() async throws {
        let server = try ServerProcess.start(command: [Self.script])
        defer { server.stop() }
        let client = try EventStreamTestClient(port: server.port, path: "/quiet")
        let pid = try Self.pid(of: client)
        server.signal(SIGTERM)
        let exit = try client.nextEvent(ofType: "exit")
        #expect(exit.data.hasPrefix("{\"code\":1001,"), "\(exit.data)")
        #expect(try client.waitForEnd())
        #expect(server.waitForExit(timeout: .seconds(5)) == .exited(0))
        ProcessGroupProbe.expectGone(pid, server: server)
    }

    @Test("SPEC §12 same limits and auth: --tokenfile guards the GET and the POST, a foreign Origin gets 403; --maxforks counts event streams; shared sessions refuse them with 406")
    func limitsAndAuth() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsb-sse-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let token = "0123456789abcdef0123456789ABCDEF"
        let file = directory.appendingPathComponent("token").path
        try (token + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        try await withServer(flags: ["--tokenfile=\(file)", "--maxforks=1"], command: [Self.script]) { server in
            let refused = try EventStreamTestClient(port: server.port, path: "/a")
            #expect(refused.head.statusCode == 401)
            let bearer = "Authorization: Bearer \(token)"
            // A same-origin EventSource sends no Origin; one that is sent is checked as an upgrade's.
            let foreign = try EventStreamTestClient(port: server.port, path: "/a", extraHeaders: [bearer, "Origin: http://evil.example"])
            #expect(foreign.head.statusCode == 403)
            let client = try EventStreamTestClient(port: server.port, path: "/a", extraHeaders: [bearer])
            #expect(client.head.statusCode == 200)
            _ = try Self.pid(of: client)
            _ = try client.nextMessages(1)
            #expect(try client.post(Array("x".utf8)).status == 401)
            #expect(try client.post(Array("with token".utf8), extraHeaders: [bearer]).status == 204)
            #expect(try client.nextMessages(1) == ["with token"])
            let second = try EventStreamTestClient(port: server.port, path: "/b", extraHeaders: [bearer])
            #expect(second.head.statusCode == 429)
            client.close()
        }
        try await withServer(flags: ["--broadcast"], command: [Self.script]) { server in
            let shared = try EventStreamTestClient(port: server.port)
            #expect(shared.head.statusCode == 406)
            #expect(ProcessTable.spawnedChildren(of: server.pid).isEmpty)
        }
    }

    @Test("SPEC §12 with length framing: a binary message is event: binary in base64, text stays text")
    func binaryMessagesAsBase64() async throws {
        try await withServer(flags: ["--framing=length"], command: [TestPaths.fixture("sse-binary.sh")]) { server in
            let client = try EventStreamTestClient(port: server.port)
            let binary = try client.nextEvent()
            #expect(binary.type == "binary" && binary.data == "AAH/", "\(binary)")
            #expect(try client.post("text back") == 204)
            #expect(try client.nextMessages(1) == ["text back"])
            client.close()
        }
    }

    @Test("SPEC §12 behind Debian's nginx with its default proxy_buffering on: X-Accel-Buffering: no lets each event through as it is written, and POSTs reach the session")
    func throughNginx() async throws {
        try await withServer(command: [Self.script]) { server in
            let nginx = try NginxProxyTests.Nginx(forwardingTo: server.port)
            defer { nginx.stop() }
            let client = try EventStreamTestClient(port: nginx.port, path: "/tick")
            #expect(client.head.statusCode == 200, "\(client.head.headText)")
            _ = try Self.pid(of: client)
            _ = try client.nextMessages(1)
            var arrivals: [ContinuousClock.Instant] = []
            for index in 1...5 {
                #expect(try client.nextMessages(1) == ["tick \(index)"])
                arrivals.append(.now)
            }
            // The child writes one line every 200 ms: held in a proxy buffer they would come together.
            let gaps = zip(arrivals.dropFirst(), arrivals).map { $0 - $1 }
            #expect(gaps.allSatisfy { $0 >= .milliseconds(120) }, "gaps between events: \(gaps)")
            #expect(try client.post("through nginx") == 204)
            #expect(try client.nextMessages(1) == ["through nginx"])
            client.close()
        }
    }

    @Test("SPEC §12 --pty over SSE: POSTed lines reach the terminal as a WebSocket's text messages do; a line over its 4095-byte limit gets 413 and ends the session with 1009")
    func ptyOverEventStream() async throws {
        try await withServer(flags: ["--pty"], command: [Self.script]) { server in
            let client = try EventStreamTestClient(port: server.port, path: "/echo")
            _ = try Self.pid(of: client)
            _ = try client.nextMessages(1)
            #expect(try client.post("through a terminal") == 204)
            #expect(try client.nextMessages(1) == ["through a terminal"])
            #expect(try client.post(Array(repeating: UInt8(ascii: "x"), count: 5000)).status == 413)
            let exit = try client.nextEvent(ofType: "exit")
            #expect(exit.data.hasPrefix("{\"code\":1009,"), "\(exit.data)")
            #expect(try client.waitForEnd())
        }
    }

    @Test("SPEC §3 for event streams: 2,000 sessions (client leaves, child exits first, a POST and its echo) leave no child, zombie or fd", .timeLimit(.minutes(2)))
    func churn() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["WSBRIDGE_INTERNAL_SPAWNER_IDLE_MS"] = "200"
        try await withServer(environment: environment, command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let footprint = try ServerFootprint(of: server, warmingUpOn: "/cat")
            let count = 2000
            let state = Mutex((next: 0, pids: [pid_t](), errors: [String]()))
            let done = DispatchGroup()
            let deadline = Deadline(after: .seconds(60))
            for _ in 0..<8 {
                done.enter()
                Thread {
                    defer { done.leave() }
                    while true {
                        let index: Int? = state.withLock { state in
                            guard state.next < count, state.errors.count < 10, !deadline.hasPassed else { return nil }
                            state.next += 1
                            return state.next - 1
                        }
                        guard let index else { return }
                        do {
                            let pid: pid_t
                            switch index % 3 {
                            case 0:
                                let client = try EventStreamTestClient(port: server.port, path: "/cat")
                                pid = try Self.pid(of: client)
                                client.close()
                            case 1:
                                let client = try EventStreamTestClient(port: server.port, path: "/exit")
                                pid = try Self.pid(of: client)
                                guard try client.nextEvent().type == "exit", try client.waitForEnd() else {
                                    throw TestClientError.protocolViolation("no exit event and end")
                                }
                                client.close()
                            default:
                                let client = try EventStreamTestClient(port: server.port, path: "/cat")
                                pid = try Self.pid(of: client)
                                guard try client.post("echo \(index)") == 204, try client.nextMessages(1) == ["echo \(index)"] else {
                                    throw TestClientError.protocolViolation("no echo")
                                }
                                client.close()
                            }
                            state.withLock { $0.pids.append(pid) }
                        } catch {
                            state.withLock { $0.errors.append("session \(index): \(error)") }
                        }
                    }
                }.start()
            }
            _ = done.wait(timeout: .now() + 70)
            let (pids, errors) = state.withLock { ($0.pids, $0.errors) }
            #expect(errors.isEmpty, "\(errors.prefix(5).joined(separator: "\n"))")
            #expect(pids.count == count)
            var disconnects = 0
            _ = Deadline.poll(for: .seconds(10), every: .milliseconds(100)) {
                disconnects = server.logRecords().filter { $0.message == "DISCONNECT" }.count
                return disconnects == count + 1
            }
            #expect(disconnects == count + 1)
            footprint.expectNothingLeft(by: Set(pids), server: server, timeout: .seconds(10))
        }
    }
}
