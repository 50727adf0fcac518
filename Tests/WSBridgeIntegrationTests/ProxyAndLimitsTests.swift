import Foundation
import Glibc
import Testing

/// SPEC §11: `--trustedproxy`, `--maxconnsperip` and `--basepath`, against the real server. The
/// test client connects from 127.0.0.1; whether that peer is a trusted proxy is the flag's choice.
@Suite("Trusted proxies, per-address limits, base path")
struct ProxyAndLimitsTests {
    static let forwarded = ["X-Forwarded-For: 6.6.6.6, 203.0.113.9", "X-Forwarded-Proto: https"]

    @Test("SPEC §11: behind a trusted proxy the child's REMOTE_ADDR is the rightmost untrusted X-Forwarded-For address, HTTPS=on from X-Forwarded-Proto, and the log shows the client",
          arguments: ChildKind.allCases)
    func trustedProxy(kind: ChildKind) async throws {
        try await withServer(flags: EnvironmentDump.flags + ["--trustedproxy=127.0.0.1/32,10.0.0.0/8"], command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, headers: Self.forwarded)
            #expect(dump["REMOTE_ADDR"] == "203.0.113.9")
            #expect(dump["REMOTE_HOST"] == "203.0.113.9")
            #expect(dump["REMOTE_PORT"] == "", "a proxy does not pass the client's port")
            #expect(dump["HTTPS"] == "on")
            #expect(dump["HTTP_X_FORWARDED_FOR"] == "6.6.6.6, 203.0.113.9", "the header itself still reaches the script")
            let logged = server.waitForLog { ($0.message == "DISCONNECT" || $0.message == "CGI") && $0["remote"] == "203.0.113.9" }
                ?? server.waitForLog { $0["remote"] == "203.0.113.9" }
            #expect(logged != nil, "the log names the resolved client:\n\(server.stderrText)")
        }
    }

    @Test("SPEC §11: from a peer that is not a trusted proxy the forwarding headers change nothing",
          arguments: ChildKind.allCases)
    func untrustedPeer(kind: ChildKind) async throws {
        for flags in [[], ["--trustedproxy=10.0.0.0/8,unix"]] {
            try await withServer(flags: EnvironmentDump.flags + flags, command: []) { server in
                let dump = try EnvironmentDump.read(kind, server: server, headers: Self.forwarded)
                #expect(dump["REMOTE_ADDR"] == "127.0.0.1", "flags \(flags)")
                #expect(dump["REMOTE_PORT"] != "", "flags \(flags)")
                #expect(dump["HTTPS"] == nil, "flags \(flags)")
            }
        }
    }

    @Test("SPEC §11: behind a trusted proxy, --sameorigin compares the Origin with X-Forwarded-Host and -Proto; from anyone else those headers are ignored")
    func sameOriginBehindProxy() async throws {
        let headers = ["Origin: https://app.example", "X-Forwarded-Host: app.example", "X-Forwarded-Proto: https",
                       "X-Forwarded-For: 192.0.2.4"]
        for (flags, expected) in [(["--trustedproxy=127.0.0.1"], 101), ([], 403)] {
            try await withServer(flags: ["--sameorigin"] + flags, command: ["/bin/cat"]) { server in
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(WebSocketTestClient.upgradeRequest(path: "/", key: WebSocketTestClient.randomKey(), extraHeaders: headers))
                let response = try client.readResponseHead()
                #expect(response.statusCode == expected, "flags \(flags): \(response.statusLine)")
            }
        }
    }

    @Test("SPEC §11: --maxconnsperip=2: a third live session from one address gets 429 and starts no process; others are unaffected; a slot frees when a session ends")
    func perAddressLimit() async throws {
        try await withServer(flags: ["--maxconnsperip=2", "--trustedproxy=127.0.0.1"], command: ["/bin/cat"]) { server in
            func open(_ address: String) throws -> WebSocketTestClient {
                try WebSocketTestClient.connect(port: server.port, extraHeaders: ["X-Forwarded-For: \(address)"])
            }
            func status(_ address: String) throws -> Int {
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(WebSocketTestClient.upgradeRequest(path: "/", key: WebSocketTestClient.randomKey(),
                                                                      extraHeaders: ["X-Forwarded-For: \(address)"]))
                return try client.readResponseHead().statusCode
            }
            let first = try open("192.0.2.1")
            let second = try open("192.0.2.1")
            // Both children running before the baseline: a child starts after its 101, so a
            // baseline taken before the second one's echo once counted it as a refused upgrade's.
            for client in [first, second] {
                try client.sendText("ping")
                #expect(try client.receiveMessage() == .text("ping"))
            }
            let children = ProcessTable.spawnedChildren(of: server.pid).count
            #expect(try status("192.0.2.1") == 429)
            #expect(try status("::ffff:192.0.2.1") == 429, "the same address written as IPv4-mapped IPv6")
            #expect(ProcessTable.spawnedChildren(of: server.pid).count == children, "a refused upgrade started a process")
            let other = try open("192.0.2.2")
            try other.sendText("x")
            #expect(try other.receiveMessage() == .text("x"))
            _ = try first.closeHandshake()
            var reopened = false
            _ = Deadline.poll(for: .seconds(5)) {
                guard let code = try? status("192.0.2.1"), code == 101 else { return false }
                reopened = true
                return true
            }
            #expect(reopened, "the slot came back once the first session ended")
            _ = try second.closeHandshake()
            _ = try other.closeHandshake()
            #expect(Deadline.poll(for: .seconds(5)) { server.stderrText.contains("status=429") }, "the refusal is logged")
        }
    }

    @Test("SPEC §11: --basepath=/tools: the prefix is removed before routing, SCRIPT_NAME keeps it, REQUEST_URI is the request's own, and a path outside it gets 404",
          arguments: ChildKind.allCases)
    func basePath(kind: ChildKind) async throws {
        try await withServer(flags: EnvironmentDump.flags + ["--basepath=/tools/"], command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, target: "/tools/env.sh/more?q=1")
            #expect(dump["SCRIPT_NAME"] == "/tools/env.sh")
            #expect(dump["PATH_INFO"] == "/more")
            #expect(dump["REQUEST_URI"] == "/tools/env.sh/more?q=1")
            #expect(dump["QUERY_STRING"] == "q=1")
            for outside in ["/env.sh", "/toolsx/env.sh", "/Tools/env.sh", "/"] {
                let status = try EnvironmentDump.statusLine(kind, server: server, target: outside)
                #expect(status.hasPrefix("HTTP/1.1 404"), "\(outside): \(status)")
            }
        }
    }

    @Test("SPEC §11: --basepath with one command: SCRIPT_NAME is the prefix, PATH_INFO the rest; static redirects keep the prefix")
    func basePathSingleCommandAndStatic() async throws {
        try await withServer(flags: ["--basepath=/app", "--staticdir=\(TestPaths.fixture("basedir"))"], command: ["/usr/bin/env"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port, path: "/app/chat")
            var lines: [String] = []
            while case .text(let line) = try client.receiveMessage() { lines.append(line) }
            #expect(lines.contains("SCRIPT_NAME=/app"))
            #expect(lines.contains("PATH_INFO=/chat"))
            let plain = try WebSocketTestClient(port: server.port)
            try plain.sendRaw(Array("GET /app/sub HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
            let redirect = try plain.readResponse()
            #expect(redirect.statusCode == 301)
            #expect(redirect.value(of: "Location") == "/app/sub/")
            let page = try WebSocketTestClient(port: server.port)
            try page.sendRaw(Array("GET /app/sub/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
            let file = try page.readResponse()
            #expect(file.statusCode == 200)
            #expect(String(decoding: file.body, as: UTF8.self) == "inside\n")
        }
    }

    @Test("SPEC §11: bad --trustedproxy, --basepath and --maxconnsperip values stop startup with one line and exit 1 or 2")
    func badFlags() throws {
        for (flags, expected, fragment) in [
            (["--trustedproxy=10.0.0.0/40"], Int32(1), "10.0.0.0/40"),
            (["--trustedproxy=example.com"], 1, "example.com"),
            (["--basepath=tools"], 1, "must start with /"),
            (["--basepath=/a/../b"], 1, ".."),
            (["--maxconnsperip=-1"], 1, "maxconnsperip"),
            (["--maxconnsperip=x"], 2, "maxconnsperip"),
        ] {
            let run = try runWSBridge(flags + ["/bin/cat"])
            #expect(run.exit == .exited(expected), "\(flags): \(run.stderr)")
            #expect(run.stderr.contains(fragment), "\(flags): \(run.stderr)")
        }
    }
}
