import Foundation
import Glibc
import Testing
import TestSupport

/// SPEC §10's last line, and §3 "Nothing leaks", §7 over TLS: a client that stops mid-handshake,
/// sends garbage or a huge record, closes mid-handshake, asks to renegotiate, floods records at a
/// child that does not read, leaves its echo unread, streams KeyUpdates or pings without reading
/// the answers, or abandons a thousand handshakes is dropped (or held, bounded) without harming
/// other sessions. Every case ends by proving that the server's and spawners' fds
/// are back to their idle values, no child is left, its resident memory grew less than 8 MiB, and
/// a session opened before it (and one opened after) still echoes.
@Suite("TLS hostile input", .serialized)
struct TLSHostileInputTests {
    /// Picks the child by path: `/cat` echoes, `/ignore-stdin` never reads its stdin.
    static var lifecycle: [String] { [TestPaths.fixture("lifecycle.sh")] }
    static let residentGrowthBoundKiB = 8 * 1024

    /// The test process's environment, with the request-head deadline (SPEC §5, which the TLS
    /// handshake counts within) shortened to `headTimeoutMilliseconds` when given.
    static func environment(headTimeoutMilliseconds: Int? = nil) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if let headTimeoutMilliseconds { environment["WSBRIDGE_INTERNAL_HEAD_TIMEOUT_MS"] = String(headTimeoutMilliseconds) }
        return environment
    }

    /// Runs `body` against a TLS server running lifecycle.sh, between the checks every case shares:
    /// the footprint after a warm-up session, a bystander session open throughout, and at the end
    /// the bystander's echo, a new session's echo, nothing left and bounded memory.
    static func withHostileServer(headTimeoutMilliseconds: Int? = nil,
                                  _ body: (ServerProcess, TestCertificates) async throws -> Void) async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: TLSTests.tlsFlags(certificates),
                             environment: environment(headTimeoutMilliseconds: headTimeoutMilliseconds),
                             command: lifecycle) { server in
            let footprint = try ServerFootprint(ofTLS: server, warmingUpOn: "/cat")
            let residentBefore = try #require(ProcessTable.residentKiB(server.pid))
            let bystander = try TLSRelay.connect(port: server.port, path: "/cat")
            let bystanderPID = try bystander.client.receivePID()
            try bystander.client.sendText("before")
            #expect(try bystander.client.receiveMessage() == .text("before"))
            // So that a case can tell its own sessions' lines from the bystander's.
            #expect(server.waitForLog { $0.message == "CONNECT" && $0["pid"] == String(bystanderPID) } != nil)

            try await body(server, certificates)

            #expect(server.isRunning, "the server died: \(server.stderrText.suffix(2000))")
            try bystander.client.sendText("after")
            #expect(try bystander.client.receiveMessage() == .text("after"), "the bystander session was harmed")
            #expect(try bystander.client.closeHandshake().close == .close(code: 1000, reason: ""))
            bystander.finish()
            let fresh = try TLSRelay.connect(port: server.port, path: "/cat")
            let freshPID = try fresh.client.receivePID()
            try fresh.client.sendText("fresh")
            #expect(try fresh.client.receiveMessage() == .text("fresh"), "a new session after the case does not work")
            #expect(try fresh.client.closeHandshake().close == .close(code: 1000, reason: ""))
            fresh.finish()
            footprint.expectNothingLeft(by: [bystanderPID, freshPID], server: server)
            let residentAfter = try #require(ProcessTable.residentKiB(server.pid))
            print("TLS hostile input: server RSS \(residentBefore) KiB before, \(residentAfter) KiB after")
            #expect(residentAfter - residentBefore < Self.residentGrowthBoundKiB,
                    "server RSS grew from \(residentBefore) to \(residentAfter) KiB")
            #expect(!server.logRecords().contains { $0.level == "error" }, "\(server.logRecords().filter { $0.level == "error" })")
        }
    }

    /// Polls `clients` until each has seen the end of its connection, at most `timeout`; returns
    /// how long after `start` each ended (nil: still open). `tick` runs between polls.
    static func watchForEnds(_ clients: [WebSocketTestClient], since start: ContinuousClock.Instant, timeout: Duration,
                             tick: () -> Void = {}) -> [Duration?] {
        var ended = [Duration?](repeating: nil, count: clients.count)
        let deadline = Deadline(after: timeout)
        while ended.contains(where: { $0 == nil }) && !deadline.hasPassed {
            for (index, client) in clients.enumerated() where ended[index] == nil {
                do {
                    try client.waitForEndOfStream(timeout: .milliseconds(5))
                    ended[index] = ContinuousClock.now - start
                } catch TestClientError.timedOut {
                } catch {
                    // A failed read is an end too.
                    ended[index] = ContinuousClock.now - start
                }
            }
            tick()
        }
        return ended
    }

    // MARK: Garbage

    @Test("SPEC §10: garbage instead of a ClientHello (wrong record types, a huge record length, SSLv2, corrupt lengths, seeded random bytes) is dropped at once",
          .timeLimit(.minutes(1)))
    func garbageInsteadOfClientHello() async throws {
        let seed = ProcessInfo.processInfo.environment["WSBRIDGE_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        let hello = try TLSProbe.clientHello()
        var corruptHello = hello
        corruptHello.replaceSubrange(6..<9, with: [0xFF, 0xFF, 0xFF])
        // Each of these is complete: OpenSSL refuses it without waiting for more.
        let garbage: [(String, [UInt8])] = [
            ("a record length of 65535 (over 2^14 + 2048)", [0x16, 0x03, 0x03, 0xFF, 0xFF] + (0..<1000).map { _ in random.byte() }),
            ("an alert record first", [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]),
            ("application data before any handshake", [0x17, 0x03, 0x03, 0x00, 0x10] + [UInt8](repeating: 0xAB, count: 16)),
            ("a change_cipher_spec first", [0x14, 0x03, 0x03, 0x00, 0x01, 0x01]),
            ("an SSLv2 ClientHello", [0x80, 0x2E, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10] + [UInt8](repeating: 0x07, count: 37)),
            ("a ClientHello claiming a 16 MiB body", corruptHello),
            // A ServerHello's type first, so that no random length makes OpenSSL wait for more.
            ("a full 16 KiB record: a ServerHello of random bytes", [0x16, 0x03, 0x01, 0x40, 0x00, 0x02] + (0..<16383).map { _ in random.byte() }),
            ("a lower-case request line", Array("get / http/1.1\r\nhost: x\r\n\r\n".utf8)),
            ("64 KiB of 0x16", [UInt8](repeating: 0x16, count: 65536)),
            ("a record version of 9.9", [0x16, 0x09, 0x09, 0x00, 0x05, 1, 2, 3, 4, 5]),
        ]
        try await Self.withHostileServer { server, _ in
            for (name, bytes) in garbage {
                let client = try WebSocketTestClient(port: server.port)
                do { try client.sendRaw(bytes) } catch TestClientError.connectionClosed {}
                do {
                    let answer = try client.waitForEndOfStream(timeout: .seconds(3))
                    // At most an alert record (content type 21) comes back.
                    #expect(answer.isEmpty || answer[0] == 0x15, "\(name): the server answered \(answer.prefix(16))")
                } catch TestClientError.timedOut {
                    Issue.record("\(name): still open after 3 s")
                } catch {
                    // A reset: ended as well.
                }
                client.close()
            }
            // Seeded random bytes, then the client's FIN: whatever they are, the connection ends.
            let rounds = 60
            var lengths: [Int] = []
            for _ in 0..<rounds {
                let client = try WebSocketTestClient(port: server.port)
                var bytes = (0..<(random.below(3000) + 1)).map { _ in random.byte() }
                if random.chance(30) { bytes[0] = 0x16 }
                if random.chance(20), bytes.count > 2 { bytes[1] = 0x03 }
                lengths.append(bytes.count)
                do { try client.sendRaw(bytes) } catch TestClientError.connectionClosed {}
                client.shutdownWrite()
                let ended = Self.watchForEnds([client], since: .now, timeout: .seconds(3))[0]
                #expect(ended != nil, "random garbage of \(bytes.count) bytes (seed \(seed)): still open after 3 s")
                client.close()
            }
            let failures = TLSTests.tlsFailures(server)
            print("TLS garbage: seed \(seed) (replay with WSBRIDGE_TEST_SEED=\(seed)), \(garbage.count) fixed payloads and \(rounds) random ones of \(lengths.min() ?? 0)–\(lengths.max() ?? 0) bytes; \(failures.count) failures logged")
            // Every fixed payload is refused with a reason (random ones may end as a plain end of stream).
            #expect(failures.count >= garbage.count, "seed \(seed): \(failures.count) failure lines")
            #expect(failures.allSatisfy { $0["reason"].map { !$0.isEmpty } == true }, "\(failures.filter { $0["reason"] == nil })")
        }
    }

    // MARK: Stalls and early ends

    @Test("SPEC §10: a client that stops mid-handshake is dropped by the request-head deadline (1 s here), counted from the connection, not from its last byte",
          .timeLimit(.minutes(1)))
    func stopsMidHandshake() async throws {
        let headTimeout = 1000
        try await Self.withHostileServer(headTimeoutMilliseconds: headTimeout) { server, _ in
            let hello = try TLSProbe.clientHello()
            let start = ContinuousClock.now
            var clients: [(String, WebSocketTestClient)] = []
            clients.append(("silent after connecting", try WebSocketTestClient(port: server.port)))
            let header = try WebSocketTestClient(port: server.port)
            try header.sendRaw(Array(hello[0..<5]))
            clients.append(("the record header only", header))
            let half = try WebSocketTestClient(port: server.port)
            try half.sendRaw(Array(hello[0..<(hello.count / 2)]))
            clients.append(("half a ClientHello", half))
            let whole = try WebSocketTestClient(port: server.port)
            try whole.sendRaw(hello)
            clients.append(("a ClientHello, then nothing (the server's flight unread)", whole))
            let dribbler = try WebSocketTestClient(port: server.port)
            clients.append(("a ClientHello at one byte per 50 ms", dribbler))
            let established = try TLSRelay.open(port: server.port)
            clients.append(("a finished handshake, then no request", established.client))
            var dribbled = 0
            var lastDribble = ContinuousClock.now
            let ends = Self.watchForEnds(clients.map(\.1), since: start, timeout: .seconds(8)) {
                guard ContinuousClock.now - lastDribble >= .milliseconds(50), dribbled < hello.count, !dribbler.sawEndOfStream else { return }
                lastDribble = .now
                do { try dribbler.sendRaw([hello[dribbled]]) } catch {}
                dribbled += 1
            }
            for ((name, _), ended) in zip(clients, ends) {
                print("TLS stall: \(name): dropped after \(ended.map { "\($0)" } ?? "never")")
                #expect(ended != nil, "\(name): still open after 8 s")
                if let ended {
                    #expect(ended >= .milliseconds(headTimeout - 100), "\(name): dropped after \(ended), before the deadline")
                    #expect(ended < .milliseconds(headTimeout + 3000), "\(name): dropped after \(ended)")
                }
            }
            #expect(dribbled < hello.count, "the dribbler finished its ClientHello (\(dribbled) bytes) before the deadline")
            for (_, client) in clients { client.close() }
            established.finish()
            let timeouts = server.logRecords().filter { $0.message == "TIMEOUT" }
            #expect(timeouts.count == clients.count, "\(timeouts.count) TIMEOUT lines for \(clients.count) stalled clients")
        }
    }

    @Test("SPEC §10: a client that closes or resets mid-handshake is freed at once, well before the 10 s deadline",
          .timeLimit(.minutes(1)))
    func closesMidHandshake() async throws {
        try await Self.withHostileServer { server, _ in
            let hello = try TLSProbe.clientHello(TLSProbeOptions(maxVersion: "1.2"))
            let idle = try #require(ProcessTable.openFileCount(server.pid))
            let cases: [(String, (WebSocketTestClient) throws -> Void)] = [
                ("half a ClientHello, then FIN", { client in try client.sendRaw(Array(hello[0..<(hello.count / 2)])); client.close() }),
                ("half a ClientHello, then RST", { client in try client.sendRaw(Array(hello[0..<(hello.count / 2)])); client.closeAbruptly() }),
                ("a ClientHello, then FIN unread", { client in try client.sendRaw(hello); client.close() }),
                ("a ClientHello, then FIN after part of the answer", { client in
                    try client.sendRaw(hello)
                    try client.ensureAvailable(100, deadline: Deadline(after: .seconds(5)), what: "the server's first flight")
                    client.close()
                }),
                ("a ClientHello, then RST", { client in try client.sendRaw(hello); client.closeAbruptly() }),
                ("a ClientHello, then the write side shut", { client in try client.sendRaw(hello); client.shutdownWrite() }),
            ]
            for (name, act) in cases {
                let client = try WebSocketTestClient(port: server.port)
                try act(client)
                var fds: Int?
                let freed = Deadline.poll(for: .seconds(3)) {
                    fds = ProcessTable.openFileCount(server.pid)
                    return fds == idle
                }
                #expect(freed, "\(name): the server holds \(fds ?? -1) fds, \(idle) before, 3 s later")
                client.close()
            }
            print("TLS early ends: \(cases.count) cases freed")
        }
    }

    // MARK: Renegotiation and key updates

    @Test("SPEC §10: TLS 1.2 renegotiation (openssl s_client R) is refused, before a request and inside a session, without a crash; TLS 1.3 key updates keep a session working",
          .timeLimit(.minutes(1)))
    func renegotiationRefused() async throws {
        try await Self.withHostileServer { server, _ in
            // The warm-up's and the bystander's sessions, which are not this case's to end.
            let earlierSessions = Set(server.logRecords().filter { $0.message == "CONNECT" }.compactMap { $0["id"] })
            // Before any request.
            let early = try PeerProcess("openssl", ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_2"])
            #expect(early.waitForOutput { $0.contains("Verify return code") }, "\(early.stdoutText)")
            try early.send("R\n")
            #expect(early.waitForExit(timeout: .seconds(10)) != nil, "s_client still runs after the refused renegotiation")
            let earlyOutput = early.stdoutText + early.stderrText
            #expect(earlyOutput.contains("RENEGOTIATING") && earlyOutput.contains("no renegotiation"), "\(earlyOutput)")
            early.stop()

            // Inside a WebSocket session: the upgrade typed into s_client, then R.
            let key = WebSocketTestClient.randomKey()
            let upgrade = String(decoding: WebSocketTestClient.upgradeRequest(path: "/cat", key: key), as: UTF8.self)
            let inSession = try PeerProcess("openssl", ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_2"])
            #expect(inSession.waitForOutput { $0.contains("Verify return code") }, "\(inSession.stdoutText)")
            try inSession.send(upgrade)
            #expect(inSession.waitForOutput { $0.contains("101 Switching Protocols") }, "\(inSession.stdoutText)")
            let connect = try #require(server.waitForLog { $0.message == "CONNECT" && !earlierSessions.contains($0["id"] ?? "") })
            let pid = try #require(connect["pid"].flatMap { pid_t($0) })
            try inSession.send("R\n")
            #expect(inSession.waitForExit(timeout: .seconds(10)) != nil, "s_client still runs after the refused renegotiation")
            let sessionOutput = inSession.stdoutText + inSession.stderrText
            #expect(sessionOutput.contains("RENEGOTIATING") && sessionOutput.contains("no renegotiation"), "\(sessionOutput)")
            inSession.stop()
            ProcessGroupProbe.expectGone(pid, server: server)
            #expect(server.waitForLog { $0.message == "DISCONNECT" && $0["pid"] == String(pid) } != nil)

            // TLS 1.3 has no renegotiation; its key updates (k: ours, K: ours and the server's) must work.
            let updating = try PeerProcess("openssl", ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_3"])
            #expect(updating.waitForOutput { $0.contains("Verify return code") }, "\(updating.stdoutText)")
            try updating.send(String(decoding: WebSocketTestClient.upgradeRequest(path: "/cat", key: key), as: UTF8.self))
            #expect(updating.waitForOutput { $0.contains("101 Switching Protocols") }, "\(updating.stdoutText)")
            for (index, command) in ["k\n", "K\n", "K\n"].enumerated() {
                try updating.send(command)
                // s_client reports each update it sends on stderr.
                #expect(updating.waitForOutput(includingStderr: true) { $0.components(separatedBy: "KEYUPDATE").count > index + 1 },
                        "\(updating.stderrText)")
                let word = "updated\(index)"
                // A masked text frame; its first byte is no s_client command letter.
                try updating.send(bytes: WebSocketTestClient.encodeText(word))
                #expect(updating.waitForOutput { $0.contains(word) }, "no echo of \(word) after key update \(command.dropLast()):\n\(updating.stdoutText.suffix(500))")
            }
            updating.closeInput()
            #expect(updating.waitForExit(timeout: .seconds(10)) != nil)
            updating.stop()
            let sessions = server.logRecords().filter { $0.message == "CONNECT" && !earlierSessions.contains($0["id"] ?? "") }
            #expect(sessions.count == 2, "\(sessions)")
            for session in sessions {
                if let pid = session["pid"].flatMap({ pid_t($0) }) { ProcessGroupProbe.expectGone(pid, server: server) }
            }
        }
    }

    // MARK: Floods

    @Test("SPEC §7, §10: 16 KiB records flooding a child that reads nothing stop being read (TLS backpressure): server RSS grows < 8 MiB, other sessions echo meanwhile",
          .timeLimit(.minutes(1)))
    func recordFloodIsBounded() async throws {
        try await Self.withHostileServer { server, _ in
            let residentBefore = try #require(ProcessTable.residentKiB(server.pid))
            let flood = try TLSProbe.start("flood", ["--port", String(server.port), "--path", "/ignore-stdin", "--stall", "1.0",
                                                     "--flood-limit", String(256 << 20)])
            #expect(flood.waitForOutput(timeout: .seconds(40)) { $0.contains("\n") }, "the flood reported nothing: \(flood.stderrText)")
            let report = try #require(flood.stdoutText.split(separator: "\n").first.map { TLSProbeReportLine(text: String($0)) }?.object)
            let sent = report["sent"] as? Int ?? -1
            let pid = (report["pid"] as? Int).map { pid_t($0) }
            #expect(report["ok"] as? Bool == true, "\(report)")
            #expect(report["stalled"] as? Bool == true, "the server read all \(sent) bytes although its child reads nothing: \(report)")
            // The peak over a moment while every buffer is full.
            var peak = residentBefore
            _ = Deadline.poll(for: .seconds(1), every: .milliseconds(50)) {
                peak = max(peak, ProcessTable.residentKiB(server.pid) ?? 0)
                return false
            }
            print("TLS flood: \(sent / 1024) KiB in \(report["records"] ?? "?") records of 16 KiB before the server stopped reading; server RSS \(residentBefore) → peak \(peak) KiB")
            #expect(peak - residentBefore < Self.residentGrowthBoundKiB, "server RSS grew from \(residentBefore) to \(peak) KiB under the flood")
            #expect(sent < 64 << 20, "\(sent) bytes taken")

            // Other sessions work while the flood holds its buffers full.
            let other = try TLSRelay.connect(port: server.port, path: "/cat")
            let otherPID = try other.client.receivePID()
            try other.client.sendText("beside the flood")
            #expect(try other.client.receiveMessage() == .text("beside the flood"))
            _ = try other.client.closeHandshake()
            other.finish()
            ProcessGroupProbe.expectGone(otherPID, server: server)

            // The flooding client leaves (a reset): its session and child end.
            flood.closeInput()
            #expect(flood.waitForExit(timeout: .seconds(10)) == .exited(0), "\(flood.stderrText)")
            if let pid {
                ProcessGroupProbe.expectGone(pid, server: server)
                #expect(server.waitForLog { $0.message == "DISCONNECT" && $0["pid"] == String(pid) } != nil)
            }
        }
    }

    @Test("SPEC §7, §10: a wss:// client that sends to cat without reading the echo stalls both directions; server RSS grows < 8 MiB",
          .timeLimit(.minutes(1)))
    func unreadEchoIsBounded() async throws {
        try await Self.withHostileServer { server, _ in
            let relay = try TLSRelay.connect(port: server.port, path: "/cat")
            let pid = try relay.client.receivePID()
            let residentBefore = try #require(ProcessTable.residentKiB(server.pid))
            let message = WebSocketTestClient.encodeText(String(repeating: "e", count: 4000))
            let bytes = (0..<8192).flatMap { _ in message }
            let written = try relay.client.sendWithoutReading(bytes, stall: .milliseconds(500), timeout: .seconds(30))
            var peak = residentBefore
            _ = Deadline.poll(for: .seconds(1), every: .milliseconds(50)) {
                peak = max(peak, ProcessTable.residentKiB(server.pid) ?? 0)
                return false
            }
            print("TLS unread echo: \(written / 1024) of \(bytes.count / 1024) KiB taken before both directions stalled; server RSS \(residentBefore) → peak \(peak) KiB")
            #expect(written < bytes.count, "the server took all \(bytes.count) bytes although nobody read the echo")
            #expect(peak - residentBefore < Self.residentGrowthBoundKiB, "server RSS grew from \(residentBefore) to \(peak) KiB")
            relay.client.closeAbruptly()
            relay.finish()
            ProcessGroupProbe.expectGone(pid, server: server)
            #expect(server.waitForLog { $0.message == "DISCONNECT" && $0["pid"] == String(pid) } != nil)
        }
    }

    /// Samples the server's resident memory every 50 ms while `running` holds, at most `timeout`;
    /// returns the peak in KiB.
    static func peakResident(of server: ServerProcess, from start: Int, for timeout: Duration, while running: () -> Bool) -> Int {
        var peak = start
        _ = Deadline.poll(for: timeout, every: .milliseconds(50)) {
            peak = max(peak, ProcessTable.residentKiB(server.pid) ?? 0)
            return !running()
        }
        return peak
    }

    @Test("SPEC §7, §10: a stream of TLS 1.3 KeyUpdates (answers requested and never read, or none requested), in a session or before a request, is dropped long before the 12 s flood ends; server memory stays bounded",
          .timeLimit(.minutes(2)))
    func keyUpdateFloodIsBounded() async throws {
        try await Self.withHostileServer { server, _ in
            // Before the fix the first two grew the server by 12 and 29 MiB, and the third held
            // its event loop (and every connection on it) inside one SSL_read while it lasted.
            // The last case paces its records so that each server read takes one: a bound counted
            // per read was never reached (384,690 unanswered updates in 12 s once, under load).
            for (path, requested, pauseMicroseconds) in [("/cat", true, 0), ("", true, 0), ("/cat", false, 0), ("/cat", false, 100)] {
                let isPaced = pauseMicroseconds > 0
                // Paced, the flood's rate is the client's own: it gets longer, and the bound is
                // on what the server took rather than on the time.
                let seconds = isPaced ? 30 : 12
                let residentBefore = try #require(ProcessTable.residentKiB(server.pid))
                let flood = try TLSProbe.start("keyupdates", ["--port", String(server.port), "--path", path, "--seconds", String(seconds)]
                                                             + (requested ? [] : ["--not-requested"])
                                                             + ["--pause-us", String(pauseMicroseconds)])
                let peak = Self.peakResident(of: server, from: residentBefore, for: .seconds(seconds + 3)) { flood.process.isRunning }
                #expect(flood.waitForExit(timeout: .seconds(10)) == .exited(0), "\(flood.stderrText)")
                let report = TLSProbeReportLine(text: String(flood.stdoutText.split(separator: "\n").last ?? "")).object ?? [:]
                let what = "\(requested ? "answers requested" : "no answer requested"), \(path.isEmpty ? "before a request" : "in a session")"
                    + (isPaced ? ", one record per read" : "")
                print("TLS key updates (\(what)): \(report["updates"] ?? "?") sent, ended \(report["ended"] ?? "?") after \(report["seconds"] ?? "?") s; server RSS \(residentBefore) → peak \(peak) KiB")
                #expect(report["ok"] as? Bool == true, "\(flood.stdoutText) \(flood.stderrText)")
                #expect(report["ended"] as? String == "dropped", "\(what): \(report)")
                if isPaced {
                    // A KeyUpdate record is 27 bytes: the 256 KiB bound is 9,709 of them, and a
                    // few more are on their way when the server drops the connection.
                    #expect((report["updates"] as? Int ?? .max) < 10_500, "\(what): \(report)")
                } else {
                    // Dropped by the server, not outlasted: about 0.5 s on a quiet machine, 2.1 s
                    // once under a loaded CI run, so the bound leaves room and still sits well
                    // inside the flood's 12 s.
                    #expect((report["seconds"] as? Double ?? 99) < 8, "\(what): \(report)")
                }
                #expect(peak - residentBefore < Self.residentGrowthBoundKiB,
                        "server RSS grew from \(residentBefore) to \(peak) KiB under \(report["updates"] ?? "?") unanswered key updates")
                if let pid = (report["pid"] as? Int).map({ pid_t($0) }) { ProcessGroupProbe.expectGone(pid, server: server) }
            }
        }
    }

    @Test("SPEC §7, RFC 6455 §5.5.3: pings over wss:// from a client that never reads the pongs cannot grow the server's memory; the last ping is still answered",
          .timeLimit(.minutes(1)))
    func pingFloodIsBounded() async throws {
        try await Self.withHostileServer { server, _ in
            let relay = try TLSRelay.connect(port: server.port, path: "/cat")
            let pid = try relay.client.receivePID()
            let residentBefore = try #require(ProcessTable.residentKiB(server.pid))
            let count = 400_000
            func payload(_ index: Int) -> [UInt8] {
                let label = Array("ping \(index) ".utf8)
                return label + [UInt8](repeating: 0x2E, count: 125 - label.count)
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(count * 131)
            for index in 0..<count {
                bytes += WebSocketTestClient.encodeFrame(opcode: WireOpcode.ping, payload: payload(index), mask: [1, 2, 3, 4])
            }
            let written = try relay.client.sendWithoutReading(bytes, stall: .seconds(1), timeout: .seconds(30))
            let peak = Self.peakResident(of: server, from: residentBefore, for: .seconds(1)) { true }
            print("TLS ping flood: \(written / 1024) of \(bytes.count / 1024) KiB of pings taken unread; server RSS \(residentBefore) → peak \(peak) KiB")
            #expect(peak - residentBefore < Self.residentGrowthBoundKiB, "server RSS grew from \(residentBefore) to \(peak) KiB")
            if written == bytes.count {
                // Every ping was read: the session still works, and the last ping got its pong.
                try relay.client.sendText("after the pings")
                var lastPong: [UInt8]?
                var pongs = 0
                let deadline = Deadline(after: .seconds(30))
                while !deadline.hasPassed {
                    let frame = try relay.client.receiveFrame(deadline: deadline)
                    if frame.opcode == WireOpcode.pong {
                        pongs += 1
                        lastPong = frame.payload
                    } else {
                        #expect(frame.opcode == WireOpcode.text && frame.payload == Array("after the pings".utf8), "\(frame)")
                        break
                    }
                }
                print("TLS ping flood: \(pongs) pongs for \(count) pings")
                #expect(lastPong == payload(count - 1), "the last ping was not answered last: \(lastPong.map { String(decoding: $0.prefix(20), as: UTF8.self) } ?? "no pong")")
                #expect(try relay.client.closeHandshake().close == .close(code: 1000, reason: ""))
            } else {
                relay.client.closeAbruptly()
            }
            relay.finish()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    // MARK: Abandoned handshakes

    @Test("SPEC §10: 1,000 handshakes abandoned at seeded random points (ClientHello, second flight, request; FIN, RST or held a moment) leave nothing behind",
          .timeLimit(.minutes(2)))
    func thousandAbandonedHandshakes() async throws {
        let seed = ProcessInfo.processInfo.environment["WSBRIDGE_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        // Python's Random takes any integer; keep it positive and exact in JSON.
        let probeSeed = seed % (1 << 53)
        try await Self.withHostileServer { server, _ in
            let started = ContinuousClock.now
            let lines = try TLSProbe.run("abandon", ["--port", String(server.port), "--count", "1000", "--seed", String(probeSeed)],
                                         timeout: .seconds(90))
            let report = try #require(lines.last?.object, "\(lines.map(\.text))")
            print("TLS abandoned handshakes: seed \(probeSeed) (replay with WSBRIDGE_TEST_SEED=\(probeSeed)), took \(ContinuousClock.now - started): \(lines.last?.text ?? "")")
            #expect(report["ok"] as? Bool == true, "seed \(probeSeed): \(report)")
            #expect(report["count"] as? Int == 1000)
            let counts = report["counts"] as? [String: Int] ?? [:]
            // A client that the server closed on before it meant to abandon shows as an error here.
            let errors = counts.filter { $0.key.hasPrefix("error") }
            #expect(errors.isEmpty, "seed \(probeSeed): the server ended connections early: \(errors)")
        }
    }
}
