import Foundation
import Glibc
import Testing

/// SPEC §11 `--authcmd`: a hook run before anything else is decided, like nginx's auth_request.
@Suite("Auth hook")
struct AuthHookTests {
    static var flags: [String] { EnvironmentDump.flags + ["--authcmd=\(TestPaths.fixture("authhook.sh"))", "--origin=127.0.0.1"] }

    static func status(_ server: ServerProcess, _ target: String) throws -> HTTPTestResponse {
        let client = try WebSocketTestClient(port: server.port)
        try client.sendRaw(Array("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
        return try client.readResponse(timeout: .seconds(15))
    }

    @Test("SPEC §11: exit 0 lets the request in and its NAME=value lines join the child's environment (others ignored); the hook saw the request's variables and its stderr is logged",
          arguments: ChildKind.allCases)
    func allowed(kind: ChildKind) async throws {
        try await withServer(flags: Self.flags, command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, target: "/env.sh?as=ann", headers: ["Origin: http://127.0.0.1"])
            #expect(dump["REMOTE_USER"] == "ann")
            #expect(dump["TEAM"] == "blue")
            #expect(dump["HOOK_QUERY"] == "as=ann")
            #expect(dump["lower"] == nil && dump["2BAD"] == nil)
            #expect(server.waitForLog { $0.message == "authcmd stderr" && $0["line"] == "hook saw as=ann from 127.0.0.1" } != nil,
                    "\(server.stderrText)")
        }
    }

    @Test("SPEC §11: exit 1 is 401, another exit or a signal 403, the 5 s deadline 403 with the hook's group ended; none starts the script",
          arguments: [("/env.sh?deny", 401), ("/env.sh?other", 403), ("/env.sh?signal", 403), ("/env.sh?slow", 403)])
    func refused(target: String, expected: Int) async throws {
        try await withServer(flags: Self.flags, command: []) { server in
            let start = ContinuousClock.now
            let answer = try Self.status(server, target)
            #expect(answer.statusCode == expected, "\(target): \(answer.statusLine)")
            if expected == 401 { #expect(answer.value(of: "WWW-Authenticate") != nil) }
            if target.hasSuffix("slow") { #expect(ContinuousClock.now - start >= .seconds(4), "the deadline is 5 s") }
            // The hook's group (and the sleep it started) is gone, and no script ran.
            var left: [ProcessEntry] = []
            let gone = Deadline.poll(for: .seconds(10)) {
                left = ProcessTable.spawnedChildren(of: server.pid)
                return left.isEmpty
            }
            #expect(gone, "left: \(left)")
            #expect(!server.stderrText.contains("CGI remote"), "the script ran")
        }
    }

    @Test("SPEC §11: a hook that leaves a background process still lets the request in, and the ladder ends what it left")
    func backgroundProcessEnded() async throws {
        try await withServer(flags: Self.flags, command: []) { server in
            let dump = try EnvironmentDump.read(.cgi, server: server, target: "/env.sh?as=background")
            #expect(dump["REMOTE_USER"] == "bg")
            var left: [ProcessEntry] = []
            let gone = Deadline.poll(for: .seconds(10)) {
                left = ProcessTable.spawnedChildren(of: server.pid)
                return left.isEmpty
            }
            #expect(gone, "left: \(left)")
        }
    }

    @Test("SPEC §11: the hook decides before --maxforks is counted: with the one slot taken, a denied request gets 401, not 429")
    func beforeMaxForks() async throws {
        try await withServer(flags: Self.flags + ["--maxforks=1"], command: []) { server in
            let holder = try WebSocketTestClient(port: server.port)
            try holder.sendRaw(WebSocketTestClient.upgradeRequest(path: "/env.sh?as=ann", key: WebSocketTestClient.randomKey(),
                                                                  extraHeaders: ["Origin: http://127.0.0.1"]))
            #expect(try holder.readResponseHead().statusCode == 101)
            #expect(try Self.status(server, "/env.sh?deny").statusCode == 401)
        }
    }

    @Test("SPEC §11: the hook's stdin is closed (a read ends at once), and behind a trusted proxy it sees the resolved client address")
    func stdinClosedAndResolvedAddress() async throws {
        try await withServer(flags: Self.flags + ["--trustedproxy=127.0.0.1"], command: []) { server in
            let dump = try EnvironmentDump.read(.cgi, server: server, target: "/env.sh?stdin", headers: ["X-Forwarded-For: 192.0.2.9"])
            #expect(dump["STDIN"] == "closed")
            #expect(server.waitForLog { $0.message == "authcmd stderr" && $0["line"] == "hook saw stdin from 192.0.2.9" } != nil,
                    "\(server.stderrText)")
        }
    }

    @Test("SPEC §11: with --authcmd or --basicauth on and no --origin, an upgrade from another site's page is refused (403) even when the check would let it in")
    func impliedSameOrigin() async throws {
        let hookFlags = EnvironmentDump.flags + ["--authcmd=\(TestPaths.fixture("authhook.sh"))"]
        try await withServer(flags: hookFlags, command: []) { server in
            for (origin, expected) in [("http://evil.example", 403), ("http://127.0.0.1", 101)] {
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(WebSocketTestClient.upgradeRequest(path: "/env.sh?as=ann", key: WebSocketTestClient.randomKey(),
                                                                      extraHeaders: ["Origin: \(origin)"]))
                #expect(try client.readResponseHead().statusCode == expected, "Origin \(origin)")
            }
        }
    }

    @Test("SPEC §11: at most 4 hooks run for one client address: a fifth request waits for none and gets 429, another address still gets in, and the slots come back")
    func hooksBoundedPerAddress() async throws {
        try await withServer(flags: Self.flags + ["--trustedproxy=127.0.0.1"], command: []) { server in
            // Four slow hooks (each sleeps until its 5 s deadline) from 192.0.2.20.
            let finished = DispatchGroup()
            for _ in 0..<4 {
                finished.enter()
                Thread.detachNewThread {
                    if let slow = try? WebSocketTestClient(port: server.port) {
                        try? slow.sendRaw(Array("GET /env.sh?slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 192.0.2.20\r\nConnection: close\r\n\r\n".utf8))
                        _ = try? slow.readResponse(timeout: .seconds(15))
                    }
                    finished.leave()
                }
            }
            var running = 0
            _ = Deadline.poll(for: .seconds(3)) {
                running = server.stderrText.components(separatedBy: "hook saw slow").count - 1
                return running == 4
            }
            #expect(running == 4, "\(server.stderrText)")
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(Array("GET /env.sh?as=ann HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 192.0.2.20\r\nConnection: close\r\n\r\n".utf8))
            #expect(try client.readResponse().statusCode == 429)
            let other = try EnvironmentDump.read(.cgi, server: server, target: "/env.sh?as=ann", headers: ["X-Forwarded-For: 192.0.2.21"])
            #expect(other["REMOTE_USER"] == "ann")
            #expect(finished.wait(timeout: .now() + 20) == .success)
            // Once the slow hooks' groups are gone, the address gets in again.
            var status = 0
            _ = Deadline.poll(for: .seconds(10)) {
                let again = try? WebSocketTestClient(port: server.port)
                try? again?.sendRaw(Array("GET /env.sh?as=ann HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 192.0.2.20\r\nConnection: close\r\n\r\n".utf8))
                status = (try? again?.readResponse().statusCode) ?? 0
                return status == 200
            }
            #expect(status == 200)
        }
    }

    @Test("SPEC §11: a hook that cannot start answers 503; a missing --authcmd program stops startup")
    func cannotStart() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wsb-hook-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let hook = folder.appendingPathComponent("hook.sh").path
        try "#!/bin/sh\nexit 0\n".write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        try await withServer(flags: EnvironmentDump.flags + ["--authcmd=\(hook)"], command: []) { server throws in
            let before = try Self.status(server, "/env.sh")
            #expect(before.statusCode == 200)
            _ = unlink(hook)
            let after = try Self.status(server, "/env.sh")
            #expect(after.statusCode == 503)
        }
        let run = try runWSBridge(["--authcmd=\(folder.path)/missing.sh", "/bin/cat"])
        #expect(run.exit == .exited(1), "\(run.stderr)")
        #expect(run.stderr.contains("--authcmd"), "\(run.stderr)")
    }
}
