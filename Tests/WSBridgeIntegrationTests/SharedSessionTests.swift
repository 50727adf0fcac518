import Foundation
import Glibc
import Synchronization
import Testing

/// SPEC §13: children that many clients share (`--broadcast`, `--sessions` with `?session=NAME`
/// and `&view=1`, `--linger`, `--clientqueue`), with real sockets and real children.
/// Hands a test client to a reader thread of its own.
private struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    let server: ServerProcess
    init(_ value: Value, _ server: ServerProcess) {
        self.value = value
        self.server = server
    }
}

@Suite("Shared sessions")
struct SharedSessionTests {
    static let script = TestPaths.fixture("shared.py")
    static func name() -> String { UUID().uuidString.lowercased() }

    /// Reads text messages until one satisfies `predicate`; returns it.
    static func receive(_ client: WebSocketTestClient, until predicate: (String) -> Bool,
                        timeout: Duration = .seconds(10)) throws -> String {
        let deadline = Deadline(after: timeout)
        while true {
            let message = try client.receiveMessage(timeout: deadline.remaining)
            guard case .text(let text) = message else { throw TestClientError.protocolViolation("expected text, got \(message)") }
            if predicate(text) { return text }
        }
    }

    static func pid(of client: WebSocketTestClient) throws -> pid_t {
        try client.sendText("pid")
        let line = try receive(client) { $0.hasPrefix("pid ") }
        return try #require(pid_t(line.dropFirst(4)))
    }

    /// Reads messages until the close frame; returns its code.
    static func closeCode(of client: WebSocketTestClient, timeout: Duration = .seconds(10)) throws -> UInt16? {
        let deadline = Deadline(after: timeout)
        while true {
            if case .close(let code, _) = try client.receiveMessage(timeout: deadline.remaining) { return code }
        }
    }

    @Test("SPEC §13 --broadcast: every client shares one child, each message reaches it, each line reaches every client; its exit code closes all; the next client starts a new child")
    func broadcastSharesOneChild() async throws {
        try await withServer(flags: ["--broadcast"], command: [Self.script, "reply"]) { server in
            let clients = try (0..<3).map { _ in try WebSocketTestClient.connect(port: server.port, path: "/") }
            let pids = try clients.map { try Self.pid(of: $0) }
            #expect(Set(pids).count == 1, "one child for all: \(pids)")
            #expect(ProcessTable.spawnedChildren(of: server.pid).map(\.pid) == [pids[0]])
            for (index, client) in clients.enumerated() {
                try client.sendText("from \(index)")
                for other in clients { #expect(try Self.receive(other) { $0.hasPrefix("reply: ") } == "reply: from \(index)") }
            }
            try clients[1].sendText("quit")
            for client in clients { #expect(try Self.closeCode(of: client) == 4003, "the child's exit status reaches every client") }
            for client in clients { client.close() }
            ProcessGroupProbe.expectGone(pids[0], server: server)
            let next = try WebSocketTestClient.connect(port: server.port, path: "/")
            let nextPID = try Self.pid(of: next)
            #expect(nextPID != pids[0], "a new child for the next client")
            _ = try next.closeHandshake()
            ProcessGroupProbe.expectGone(nextPID, server: server)
            let end = server.waitForLog { $0.message == "SHARED END" && $0["pid"] == String(nextPID) }
            #expect(end != nil, "the second child's end was not logged")
        }
    }

    @Test("SPEC §13: messages from several clients reach the shared stdin whole, never interleaved, though their fragments interleave on the wire")
    func messagesStayWhole() async throws {
        try await withServer(flags: ["--broadcast"], command: [Self.script, "reply"]) { server in
            let writers = try (0..<3).map { _ in try WebSocketTestClient.connect(port: server.port, path: "/") }
            let reader = try WebSocketTestClient.connect(port: server.port, path: "/")
            _ = try Self.pid(of: reader)
            let perWriter = 60
            func message(_ writer: Int, _ index: Int) -> String {
                "w\(writer)-m\(index)-" + String(repeating: Character(UnicodeScalar(UInt8(97 + writer))), count: 2_000)
            }
            // Each message goes in 37-byte fragments, one fragment per writer in turn: the
            // server gets the three clients' fragments interleaved.
            var streams = (0..<writers.count).map { writer in
                (0..<perWriter).map { WebSocketTestClient.encodeText(message(writer, $0), fragmentSize: 37) }.reduce([], +)
            }
            var offsets = [Int](repeating: 0, count: writers.count)
            while offsets.enumerated().contains(where: { $0.element < streams[$0.offset].count }) {
                for writer in writers.indices where offsets[writer] < streams[writer].count {
                    let end = min(offsets[writer] + 512, streams[writer].count)
                    try writers[writer].sendRaw(Array(streams[writer][offsets[writer]..<end]))
                    offsets[writer] = end
                }
            }
            streams.removeAll()
            var seen: [Int: Int] = [:]
            for _ in 0..<(writers.count * perWriter) {
                let line = try Self.receive(reader, until: { $0.hasPrefix("reply: ") }, timeout: .seconds(30))
                let text = String(line.dropFirst("reply: ".count))
                let writer = Int(text.dropFirst().prefix(1)) ?? -1
                let index = seen[writer, default: 0]
                #expect(text == message(writer, index), "a message arrived cut or mixed: \(text.prefix(40))… (\(text.count) chars)")
                seen[writer] = index + 1
            }
            #expect(seen == [0: perWriter, 1: perWriter, 2: perWriter])
            for client in writers + [reader] { _ = try client.closeHandshake() }
        }
    }

    @Test("SPEC §13 --sessions: one child per name, shared by every client naming it; a client without a name has its own; a bad name gets 400 and starts nothing")
    func sessionsByName() async throws {
        try await withServer(flags: ["--sessions"], command: [Self.script, "reply"]) { server in
            let first = Self.name(), second = Self.name()
            let a1 = try WebSocketTestClient.connect(port: server.port, path: "/x?session=\(first)")
            let a2 = try WebSocketTestClient.connect(port: server.port, path: "/y?session=\(first)&debug=1")
            let b = try WebSocketTestClient.connect(port: server.port, path: "/?session=\(second)")
            let own1 = try WebSocketTestClient.connect(port: server.port, path: "/")
            let own2 = try WebSocketTestClient.connect(port: server.port, path: "/")
            let pids = try [a1, a2, b, own1, own2].map { try Self.pid(of: $0) }
            #expect(pids[0] == pids[1], "one name, one child")
            #expect(Set(pids).count == 4, "\(pids)")
            try a2.sendText("hello")
            #expect(try Self.receive(a1) { $0.hasPrefix("reply") } == "reply: hello")
            #expect(try Self.receive(a2) { $0.hasPrefix("reply") } == "reply: hello")
            let before = Set(ProcessTable.spawnedChildren(of: server.pid).map(\.pid))
            for bad in ["short", String(repeating: "a", count: 129), "aaaaaaaaaaaaaaaa%2e", "\(first)&session=\(second)"] {
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(WebSocketTestClient.upgradeRequest(path: "/?session=\(bad)", key: WebSocketTestClient.randomKey()))
                let response = try client.readResponse()
                #expect(response.statusCode == 400, "session=\(bad): \(response.headText)")
                #expect(String(decoding: response.body, as: UTF8.self).contains("session="))
                client.close()
            }
            #expect(Set(ProcessTable.spawnedChildren(of: server.pid).map(\.pid)) == before, "a refused name started a process")
            for client in [a1, a2, b, own1, own2] { _ = try client.closeHandshake() }
            for pid in Set(pids) { ProcessGroupProbe.expectGone(pid, server: server) }
        }
    }

    @Test("SPEC §13 &view=1: a viewer gets the output; a message from it gets close 1008 and never reaches the child")
    func viewers() async throws {
        try await withServer(flags: ["--sessions"], command: [Self.script, "reply"]) { server in
            let name = Self.name()
            let driver = try WebSocketTestClient.connect(port: server.port, path: "/?session=\(name)")
            let viewer = try WebSocketTestClient.connect(port: server.port, path: "/?session=\(name)&view=1")
            let pid = try Self.pid(of: driver)
            #expect(try Self.receive(viewer) { $0.hasPrefix("pid") } == "pid \(pid)")
            try viewer.sendText("from the viewer")
            #expect(try Self.closeCode(of: viewer) == 1008)
            try viewer.sendClose(code: 1008)
            viewer.close()
            try driver.sendText("after")
            // The viewer's line never reached stdin: the next reply is the driver's own.
            #expect(try Self.receive(driver) { $0.hasPrefix("reply") } == "reply: after")
            let log = server.waitForLog { $0.message == "viewer sent a message; closing" }
            #expect(log != nil)
            _ = try driver.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §13 --linger: a client reset mid-stream comes back within the linger to the same child, gets the latest output first, contiguous with the live stream; after the linger a new child")
    func resumeAfterReset() async throws {
        try await withServer(flags: ["--sessions", "--linger=2"], command: [Self.script, "tick"]) { server in
            let name = Self.name()
            let first = try WebSocketTestClient.connect(port: server.port, path: "/?session=\(name)")
            var last = 0
            for _ in 0..<50 {
                let number = Int(try Self.receive(first) { _ in true }) ?? -1
                #expect(last == 0 || number == last + 1, "gap in the live stream: \(last) → \(number)")
                last = number
            }
            let children = ProcessTable.spawnedChildren(of: server.pid).map(\.pid)
            #expect(children.count == 1)
            first.closeAbruptly()
            // The network is gone for a while; the child goes on printing.
            usleep(300_000)
            let again = try WebSocketTestClient.connect(port: server.port, path: "/?session=\(name)")
            let replayed = Int(try Self.receive(again) { _ in true }) ?? -1
            #expect(replayed <= last + 1, "the replay starts at \(replayed), after the \(last) the client last had: a gap")
            var previous = replayed
            for _ in 0..<400 {
                let number = Int(try Self.receive(again) { _ in true }) ?? -1
                #expect(number == previous + 1, "replay and live stream are not contiguous: \(previous) → \(number)")
                if number != previous + 1 { break }
                previous = number
            }
            #expect(previous > last + 100, "the stream went on past the reset: \(previous)")
            #expect(ProcessTable.spawnedChildren(of: server.pid).map(\.pid) == children, "the same child")
            again.close()
            // Past the linger the child ends, and the name starts a new one.
            ProcessGroupProbe.expectGone(children[0], timeout: .seconds(10), server: server)
            let later = try WebSocketTestClient.connect(port: server.port, path: "/?session=\(name)")
            let firstLater = Int(try Self.receive(later) { _ in true }) ?? -1
            #expect(firstLater < 50, "a new child counts from 1 again, got \(firstLater)")
            #expect(ProcessTable.spawnedChildren(of: server.pid).map(\.pid) != children)
            later.close()
        }
    }

    @Test("SPEC §13 --clientqueue: a client that stops reading is closed with 1013 and logged once, counted in /metrics; the other clients receive every sequence number")
    func slowClientIsClosed() async throws {
        try await withServer(flags: ["--broadcast", "--clientqueue=131072", "--metrics=0"], command: [Self.script, "count"]) { server in
            let readers = try (0..<3).map { _ in try WebSocketTestClient.connect(port: server.port, path: "/") }
            // The slow client reads nothing. (Its receive buffer is left alone: shrunk below
            // loopback's 64 KiB segment after the connection opened, the window never reopens
            // and even its later reads stall.)
            let slow = try WebSocketTestClient.connect(port: server.port, path: "/")
            // Each reader on a thread of its own, as independent clients are: one that waited
            // for the others would only measure this test's own schedule.
            let results = Mutex<[(last: Int, gaps: Int, error: String?)]>([])
            let group = DispatchGroup()
            for reader in readers {
                let box = UncheckedBox(reader, server)
                group.enter()
                Thread.detachNewThread {
                    var last = 0, gaps = 0
                    var failure: String?
                    // Read on until the slow client is gone: a reader that stopped would be the
                    // next slow client.
                    let deadline = Deadline(after: .seconds(60))
                    do {
                        var count = 0
                        while count < 150_000 || !(count % 1000 == 0 && box.server.stderrText.contains("client too slow")) {
                            guard !deadline.hasPassed else { throw TestClientError.timedOut("the slow client's end") }
                            let number = Int(try Self.receive(box.value) { _ in true }) ?? -1
                            if last != 0 && number != last + 1 { gaps += 1 }
                            last = number
                            count += 1
                        }
                    } catch {
                        failure = "\(error)"
                    }
                    box.value.closeAbruptly()
                    results.withLock { $0.append((last, gaps, failure)) }
                    group.leave()
                }
            }
            #expect(group.wait(timeout: .now() + 90) == .success, "the readers did not finish")
            for result in results.withLock({ $0 }) {
                #expect(result.error == nil, "\(result.error ?? "")")
                #expect(result.gaps == 0, "a reader missed numbers (last \(result.last))")
            }
            let slowClosed = Deadline.poll(for: .seconds(30)) { server.stderrText.contains("client too slow") }
            #expect(slowClosed, "the slow client was never closed")
            // What the kernel held for it (megabytes of small frames), then the close: read raw.
            let rest = try slow.waitForEndOfStream(timeout: .seconds(30))
            let close: [UInt8] = [0x88, 10, 0x03, 0xF5] + Array("too slow".utf8)
            #expect(Array(rest.suffix(close.count)) == close, "the stream did not end with close 1013: \(rest.suffix(16))")
            slow.close()
            // Logged once, and only for it: the readers, which kept up, were never closed.
            #expect(server.stderrText.components(separatedBy: "client too slow").count == 2, "\(server.stderrText.split(separator: "\n").filter { $0.contains("too slow") })")
            let metrics = try MetricsTests.scrape(try MetricsTests.metricsPort(server))
            #expect(metrics.value("wsbridge_slow_client_closes_total") == 1)
        }
    }

    @Test("SPEC §6, §13: with --permessage-deflate, a compressing client (Python zlib) and a plain one share a child: each gets every message, the compressed one compressed")
    func deflateBesidePlain() async throws {
        try await withServer(flags: ["--broadcast", "--permessage-deflate"], command: ["cat"]) { server in
            // The plain client starts the child and watches everything the other one sends.
            let plain = try WebSocketTestClient.connect(port: server.port, path: "/")
            let seed = UInt64.random(in: 1...UInt64(Int32.max))
            let report = try DeflateTests.run("echo", port: server.port,
                                              ["--extensions", DeflateTests.chromiumOffer, "--count", "200", "--seed", String(seed)])
            print("shared deflate echo, seed \(seed): \(report)")
            #expect(report["ok"] as? Bool == true, "seed \(seed): \(report)")
            #expect((report["compressed_received"] as? Int ?? 0) > 50, "\(report)")
            let messages = try plain.receiveMessages(200)
            #expect(messages.count == 200)
            #expect(messages.allSatisfy { if case .text = $0 { true } else { false } })
            _ = try plain.closeHandshake()
        }
    }

    @Test("SPEC §1, §13: with --passstderr a shared child's stdout and stderr lines reach its clients tagged, as a one-client session's do")
    func passStderr() async throws {
        try await withServer(flags: ["--broadcast", "--passstderr"], command: ["sh", "-c", "echo out; echo err >&2; exec cat"]) { server in
            let first = try WebSocketTestClient.connect(port: server.port, path: "/")
            let firstTwo = Set(try first.receiveMessages(2).map(\.description))
            #expect(firstTwo == [TestMessage.text(#"{"stream":"stdout","data":"out"}"#).description,
                                 TestMessage.text(#"{"stream":"stderr","data":"err"}"#).description], "\(firstTwo)")
            let second = try WebSocketTestClient.connect(port: server.port, path: "/")
            try second.sendText("typed")
            for client in [first, second] {
                #expect(try client.receiveMessage() == .text(#"{"stream":"stdout","data":"typed"}"#))
            }
            for client in [first, second] { _ = try client.closeHandshake() }
        }
    }

    @Test("SPEC §10, §13: wss:// clients share a child too; six of them (accepted on both event loops, moved to the session's) each get every reply")
    func overTLS() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: ["--sessions"] + TLSTests.tlsFlags(certificates), command: [Self.script, "reply"]) { server in
            let name = Self.name()
            let relays = try (0..<6).map { _ in
                try TLSRelay.connect(port: server.port, path: "/?session=\(name)", TLSTests.verified(certificates))
            }
            let pids = try relays.map { try Self.pid(of: $0.client) }
            #expect(Set(pids).count == 1, "\(pids)")
            for (index, relay) in relays.enumerated() {
                try relay.client.sendText("tls \(index)")
                for other in relays {
                    #expect(try Self.receive(other.client) { $0.hasPrefix("reply") } == "reply: tls \(index)")
                }
            }
            for relay in relays {
                _ = try relay.client.closeHandshake()
                relay.finish()
            }
            ProcessGroupProbe.expectGone(pids[0], server: server)
        }
    }

    @Test("SPEC §13: --maxforks counts children, not clients; --maxconnsperip counts clients")
    func limits() async throws {
        try await withServer(flags: ["--sessions", "--maxforks=1", "--maxconnsperip=3"], command: [Self.script, "reply"]) { server in
            let name = Self.name()
            let clients = try (0..<3).map { _ in try WebSocketTestClient.connect(port: server.port, path: "/?session=\(name)") }
            let pid = try Self.pid(of: clients[0])
            for (path, why) in [("/?session=\(Self.name())", "a second child"), ("/?session=\(name)", "a fourth client from one address")] {
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(WebSocketTestClient.upgradeRequest(path: path, key: WebSocketTestClient.randomKey()))
                #expect(try client.readResponseHead().statusCode == 429, "\(why) was let in")
                client.close()
            }
            _ = try clients[2].closeHandshake()
            _ = server.waitForLog { $0.message == "DISCONNECT" }
            let fourth = try WebSocketTestClient.connect(port: server.port, path: "/?session=\(name)")
            #expect(try Self.pid(of: fourth) == pid)
            for client in [clients[0], clients[1], fourth] { _ = try client.closeHandshake() }
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §13, §4: a shared child's environment has no client's own variables: no address, user, headers, query or cookie")
    func environmentHasNoClientVariables() async throws {
        try await withServer(flags: ["--broadcast"], command: [Self.script, "reply"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port, path: "/some/path?token=secret",
                                                         extraHeaders: ["X-Secret: s3cret", "Cookie: id=42"])
            for (name, expected) in [("HTTP_X_SECRET", "env HTTP_X_SECRET unset"), ("HTTP_COOKIE", "env HTTP_COOKIE unset"),
                                     ("QUERY_STRING", "env QUERY_STRING="), ("REMOTE_ADDR", "env REMOTE_ADDR="),
                                     ("REMOTE_PORT", "env REMOTE_PORT="), ("REQUEST_URI", "env REQUEST_URI=/some/path"),
                                     ("GATEWAY_INTERFACE", "env GATEWAY_INTERFACE=CGI/1.1")] {
                try client.sendText("env \(name)")
                #expect(try Self.receive(client) { $0.hasPrefix("env \(name)") } == expected)
            }
            _ = try client.closeHandshake()
        }
    }

    @Test("SPEC §3, §13: a shutdown sends 1001 to every client of a shared child and ends it")
    func shutdownClosesEveryClient() async throws {
        let server = try ServerProcess.start(flags: ["--broadcast"], command: [Self.script, "reply"])
        defer { _ = server.stop() }
        let clients = try (0..<3).map { _ in try WebSocketTestClient.connect(port: server.port, path: "/") }
        let pid = try Self.pid(of: clients[0])
        server.signal(SIGTERM)
        for client in clients { #expect(try Self.closeCode(of: client) == 1001) }
        for client in clients { client.close() }
        #expect(server.waitForExit(timeout: .seconds(15)) == .exited(0))
        #expect(ProcessGroupProbe.waitUntilGone(pid))
    }

    @Test("SPEC §13: 150 rounds of three clients joining one name on their own threads while the first one's line ends the child: every client is answered (a reply, or its child's exit code), none hangs, nothing is left")
    func joinWhileEnding() async throws {
        try await withServer(flags: ["--sessions", "--metrics=0"], command: [Self.script, "reply"]) { server in
            let failures = Mutex<[String]>([])
            for round in 0..<150 {
                let name = Self.name()
                let group = DispatchGroup()
                for member in 0..<3 {
                    group.enter()
                    let box = UncheckedBox(name, server)
                    Thread.detachNewThread {
                        defer { group.leave() }
                        do {
                            let client = try WebSocketTestClient.connect(port: box.server.port, path: "/?session=\(box.value)")
                            // The first ends the child; the others ask for a reply, which comes
                            // from that child before its end, or from a new one after it.
                            try client.sendText(member == 0 ? "quit" : "m\(member)")
                            let deadline = Deadline(after: .seconds(10))
                            var answered = false
                            while !answered {
                                switch try client.receiveMessage(timeout: deadline.remaining) {
                                case .text(let text): answered = member != 0 && text == "reply: m\(member)"
                                case .close(let code, _):
                                    guard code == 4003 else { throw TestClientError.protocolViolation("close \(code.map(String.init) ?? "none")") }
                                    answered = true
                                case .binary: throw TestClientError.protocolViolation("binary")
                                }
                            }
                            client.closeAbruptly()
                        } catch {
                            failures.withLock { $0.append("round \(round), client \(member): \(error)") }
                        }
                    }
                }
                #expect(group.wait(timeout: .now() + 30) == .success, "round \(round) hung")
            }
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) })")
            let settled = Deadline.poll(for: .seconds(20)) { ProcessTable.spawnedChildren(of: server.pid).isEmpty }
            #expect(settled, "children left: \(ProcessTable.spawnedChildren(of: server.pid).map(\.pid))")
            var metrics = try MetricsTests.scrape(try MetricsTests.metricsPort(server))
            _ = Deadline.poll(for: .seconds(10)) {
                metrics = (try? MetricsTests.scrape(try MetricsTests.metricsPort(server))) ?? metrics
                return metrics.value("wsbridge_sessions_active") == 0 && metrics.value("wsbridge_shared_children_active") == 0
            }
            #expect(metrics.value("wsbridge_sessions_active") == 0)
            #expect(metrics.value("wsbridge_shared_children_active") == 0)
        }
    }

    @Test("SPEC §13: 200 rounds of clients joining and leaving named sessions at once, resets included, leave no child, fd or session behind")
    func churn() async throws {
        try await withServer(flags: ["--sessions", "--metrics=0"], command: [Self.script, "reply"]) { server in
            let baselineFDs = try #require(ProcessTable.openFileCount(server.pid))
            let names = (0..<4).map { _ in Self.name() }
            var seed = UInt64.random(in: 1...UInt64.max)
            print("shared churn seed \(seed)")
            for round in 0..<200 {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                let name = names[Int(seed >> 33) % names.count]
                let count = 1 + Int(seed >> 40) % 3
                let clients = try (0..<count).map { _ in try WebSocketTestClient.connect(port: server.port, path: "/?session=\(name)") }
                try clients[0].sendText("r\(round)")
                _ = try Self.receive(clients[0]) { $0 == "reply: r\(round)" }
                for (index, client) in clients.enumerated() {
                    if (Int(seed >> 20) + index) % 3 == 0 { client.closeAbruptly() } else { _ = try? client.closeHandshake() }
                }
            }
            let settled = Deadline.poll(for: .seconds(20)) { ProcessTable.spawnedChildren(of: server.pid).isEmpty }
            #expect(settled, "children left: \(ProcessTable.spawnedChildren(of: server.pid).map(\.pid))")
            var fds = 0
            _ = Deadline.poll(for: .seconds(10)) {
                fds = ProcessTable.openFileCount(server.pid) ?? 0
                return fds <= baselineFDs
            }
            #expect(fds <= baselineFDs, "fds \(baselineFDs) → \(fds)")
            let metrics = try MetricsTests.scrape(try MetricsTests.metricsPort(server))
            #expect(metrics.value("wsbridge_sessions_active") == 0)
            #expect(metrics.value("wsbridge_shared_children_active") == 0)
        }
    }
}
