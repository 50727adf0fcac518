import Foundation
import Glibc
import Testing

/// SPEC §11 `--token` / `--tokenfile`: the Jupyter-style startup URL and cookie.
@Suite("Token access")
struct TokenAuthTests {
    static let token = "0123456789abcdef0123456789ABCDEF"

    /// A server with `--tokenfile` holding `token`, serving `Fixtures/envdir` to upgrades and CGI.
    static func withTokenServer(_ body: (ServerProcess) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsb-token-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("token").path
        try (" \(token)\n").write(toFile: file, atomically: true, encoding: .utf8)
        try await withServer(flags: EnvironmentDump.flags + ["--tokenfile=\(file)"], command: []) { server in
            try await body(server)
        }
    }

    static func response(_ server: ServerProcess, _ target: String, headers: [String] = []) throws -> HTTPTestResponse {
        let client = try WebSocketTestClient(port: server.port)
        let lines = ["GET \(target) HTTP/1.1", "Host: 127.0.0.1", "Connection: close"] + headers
        try client.sendRaw(Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
        return try client.readResponse()
    }

    @Test("SPEC §11: without the token every request, plain or upgrade, gets 401 with WWW-Authenticate and starts no process")
    func refusedWithoutToken() async throws {
        try await Self.withTokenServer { server in
            let children = ProcessTable.spawnedChildren(of: server.pid).count
            for (kind, target, headers) in [(ChildKind.cgi, "/env.sh", [String]()), (.cgi, "/env.sh?token=wrong", []),
                                            (.cgi, "/env.sh", ["Authorization: Bearer wrong"]),
                                            (.cgi, "/env.sh", ["Cookie: wsbridge_token=\(Self.token.dropLast())"])] {
                let answer = try Self.response(server, target, headers: headers)
                #expect(answer.statusCode == 401, "\(kind) \(target) \(headers)")
                #expect(answer.value(of: "WWW-Authenticate") == #"Bearer realm="wsbridge""#)
            }
            #expect(try EnvironmentDump.statusLine(.webSocket, server: server, target: "/env.sh").hasPrefix("HTTP/1.1 401"))
            #expect(ProcessTable.spawnedChildren(of: server.pid).count == children, "a refused request started a process")
            #expect(Deadline.poll(for: .seconds(5)) { server.stderrText.contains("status=401") })
        }
    }

    @Test("SPEC §11: ?token= lets the request in, sets an HttpOnly SameSite=Strict cookie, and is gone from QUERY_STRING, REQUEST_URI and the log",
          arguments: ChildKind.allCases)
    func queryToken(kind: ChildKind) async throws {
        try await Self.withTokenServer { server in
            let dump = try EnvironmentDump.read(kind, server: server, target: "/env.sh?a=1&token=\(Self.token)&b=2",
                                                headers: ["Origin: http://127.0.0.1"])
            #expect(dump["QUERY_STRING"] == "a=1&b=2")
            #expect(dump["REQUEST_URI"] == "/env.sh?a=1&b=2")
            #expect(!dump.lines.contains { $0.contains(Self.token) }, "the token reached the script")
            let page = try Self.response(server, "/env.sh?token=\(Self.token)")
            #expect(page.statusCode == 200)
            #expect(page.value(of: "Set-Cookie") == "wsbridge_token=\(Self.token); Path=/; HttpOnly; SameSite=Strict")
            // Only the startup line shows it (the URL to open); no request's line does.
            let requestLines = server.stderrText.split(separator: "\n").filter { !$0.contains("listening on") }
            #expect(!requestLines.isEmpty && !requestLines.contains { $0.contains(Self.token) }, "the token is in a request's log line")
        }
    }

    @Test("SPEC §11: the cookie and Authorization: Bearer let requests in; neither reaches the script, other cookies do")
    func cookieAndBearer() async throws {
        try await Self.withTokenServer { server in
            let byCookie = try EnvironmentDump.read(.webSocket, server: server, target: "/env.sh",
                                                    headers: ["Origin: http://127.0.0.1", "Cookie: theme=dark; wsbridge_token=\(Self.token); lang=en"])
            #expect(byCookie["HTTP_COOKIE"] == "theme=dark; lang=en")
            let byBearer = try EnvironmentDump.read(.cgi, server: server, target: "/env.sh", headers: ["Authorization: Bearer \(Self.token)"])
            #expect(byBearer["HTTP_AUTHORIZATION"] == nil)
            #expect(!(byBearer.lines + byCookie.lines).contains { $0.contains(Self.token) })
            #expect(try Self.response(server, "/env.sh", headers: ["Authorization: Bearer \(Self.token)"]).value(of: "Set-Cookie") != nil)
            #expect(try Self.response(server, "/env.sh", headers: ["Cookie: wsbridge_token=\(Self.token)"]).value(of: "Set-Cookie") == nil,
                    "a request that came by cookie needs no new one")
        }
    }

    @Test("SPEC §11: with a token, upgrades are checked as with --sameorigin: another site's page is refused even with the cookie")
    func crossSiteRefused() async throws {
        try await Self.withTokenServer { server in
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(WebSocketTestClient.upgradeRequest(path: "/env.sh", key: WebSocketTestClient.randomKey(), extraHeaders: [
                "Origin: https://evil.example", "Cookie: wsbridge_token=\(Self.token)",
            ]))
            #expect(try client.readResponseHead().statusCode == 403)
        }
    }

    @Test("SPEC §11: --token makes a random 128-bit token and prints it in the startup URL; it works, another run's does not")
    func generatedToken() async throws {
        var tokens: [String] = []
        for _ in 0..<2 {
            try await withServer(flags: ["--token", "--devconsole"], command: ["/bin/cat"]) { server in
                let match = try #require(server.stderrText.firstMatch(of: #/\?token=([0-9a-f]{32})/#), "no token in the startup URL")
                let token = String(match.1)
                tokens.append(token)
                #expect(try Self.response(server, "/?token=\(token)").statusCode == 200)
                #expect(try Self.response(server, "/").statusCode == 401)
            }
        }
        #expect(tokens.count == 2 && tokens[0] != tokens[1])
    }

    @Test("SPEC §11: an unreadable or weak --tokenfile stops startup with one line, exit 1")
    func badTokenFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsb-tokenfile-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let short = directory.appendingPathComponent("short").path
        try "abc\n".write(toFile: short, atomically: true, encoding: .utf8)
        let spaced = directory.appendingPathComponent("spaced").path
        try "has spaces in the middle of it\n".write(toFile: spaced, atomically: true, encoding: .utf8)
        for path in [short, spaced, directory.appendingPathComponent("missing").path] {
            let run = try runWSBridge(["--tokenfile=\(path)", "/bin/cat"])
            #expect(run.exit == .exited(1), "\(path): \(run.stderr)")
            #expect(run.stderrLines.count == 1 && run.stderr.contains("--tokenfile"), "\(path): \(run.stderr)")
        }
    }
}
