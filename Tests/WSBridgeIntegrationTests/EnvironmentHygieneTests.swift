import Foundation
import Glibc
import Testing

/// SPEC §4 "Header hygiene" and issue 9 (findings 3, 4, 5), each for a WebSocket child (`--dir`)
/// and for a CGI script (`--cgidir`): `Fixtures/envdir/env.sh` prints the environment it got.
@Suite("Child environment hygiene")
struct EnvironmentHygieneTests {
    /// A parent environment with a variable of every kind the hygiene rules protect.
    static let parentEnvironment: [String: String] = [
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HTTP_PROXY": "http://operator-proxy:3128",
        "HTTP_X_TRUSTED": "operator",
        "REMOTE_USER": "root",
        "AUTH_TYPE": "Basic",
        "HTTPS": "on",
        "SSL_CLIENT_VERIFY": "SUCCESS",
        "SSL_CLIENT_S_DN": "CN=root",
        "LISTEN_FDS": "1",
        // Not this server's pid, so wsbridge itself takes no socket from it.
        "LISTEN_PID": "1",
        "LISTEN_FDNAMES": "http",
    ]

    @Test("Issue 9 finding 3, CVE-2016-5385 (httpoxy): a Proxy header never becomes HTTP_PROXY", arguments: ChildKind.allCases)
    func proxyHeaderDropped(kind: ChildKind) async throws {
        try await withServer(flags: EnvironmentDump.flags, environment: Self.parentEnvironment, command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, headers: ["Proxy: http://evil.example:8080", "X-Seen: yes"])
            #expect(dump["HTTP_PROXY"] == nil)
            #expect(dump["HTTP_X_SEEN"] == "yes", "other headers still arrive")
            #expect(!dump.lines.contains { $0.contains("evil.example") }, "the Proxy value reached the child")
        }
    }

    @Test("SPEC §4: with --passenv=HTTP_PROXY a Proxy header cannot replace the operator's HTTP_PROXY", arguments: ChildKind.allCases)
    func proxyHeaderCannotOverridePassEnv(kind: ChildKind) async throws {
        try await withServer(flags: EnvironmentDump.flags + ["--passenv=HTTP_PROXY,PATH"], environment: Self.parentEnvironment,
                             command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, headers: ["Proxy: http://evil.example:8080"])
            #expect(dump["HTTP_PROXY"] == "http://operator-proxy:3128")
            #expect(dump["PATH"] == "/usr/local/bin:/usr/bin:/bin")
        }
    }

    @Test("SPEC §4: a header that maps onto a --passenv variable is dropped; the operator's value stays", arguments: ChildKind.allCases)
    func headerCannotOverridePassEnv(kind: ChildKind) async throws {
        try await withServer(flags: EnvironmentDump.flags + ["--passenv=PATH,HTTP_X_TRUSTED"], environment: Self.parentEnvironment,
                             command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, headers: ["X-Trusted: client", "x-trusted: again"])
            #expect(dump["HTTP_X_TRUSTED"] == "operator")
        }
    }

    @Test("Issue 9 finding 4, SPEC §4: X-Foo_Bar is dropped, so it cannot merge into X-Foo-Bar's HTTP_X_FOO_BAR", arguments: ChildKind.allCases)
    func underscoreNamesDropped(kind: ChildKind) async throws {
        try await withServer(flags: EnvironmentDump.flags, command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, headers: [
                "X-Foo_Bar: a", "X-Foo-Bar: b", "X_Forwarded_For: 6.6.6.6", "X.Dotted: c",
            ])
            #expect(dump["HTTP_X_FOO_BAR"] == "b")
            #expect(dump["HTTP_X_FORWARDED_FOR"] == nil, "X_Forwarded_For posed as X-Forwarded-For")
            #expect(!dump.names.contains { $0.hasPrefix("HTTP_X.") || $0.hasPrefix("HTTP_X_DOTTED") })
        }
    }

    @Test("SPEC §4, §10, §11: REMOTE_USER, AUTH_TYPE, HTTPS and SSL_CLIENT_* come only from wsbridge: not from headers, not from --passenv",
          arguments: ChildKind.allCases)
    func identityOnlyFromServer(kind: ChildKind) async throws {
        try await withServer(flags: EnvironmentDump.flags + ["--passenv=PATH,REMOTE_USER,AUTH_TYPE,HTTPS,SSL_CLIENT_VERIFY,SSL_CLIENT_S_DN"],
                             environment: Self.parentEnvironment, command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, headers: [
                "Remote-User: mallory", "Auth-Type: Basic", "Https: on", "SSL-Client-Verify: SUCCESS", "SSL_Client_S_DN: CN=mallory",
                "Remote_User: mallory",
            ])
            #expect(dump["REMOTE_USER"] == "")
            #expect(dump["AUTH_TYPE"] == "")
            #expect(dump["HTTPS"] == nil, "a plain connection is not TLS")
            #expect(dump["SSL_CLIENT_VERIFY"] == nil)
            #expect(dump["SSL_CLIENT_S_DN"] == nil)
            // What a client sends stays under its honest HTTP_ name, where no script takes it for identity.
            for line in dump.lines where line.contains("mallory") || line.hasSuffix("=SUCCESS") || line.hasSuffix("=on") {
                #expect(line.hasPrefix("HTTP_"), "\(line) did not come from wsbridge")
            }
            #expect(dump["HTTP_REMOTE_USER"] == "mallory")
        }
    }

    @Test("SPEC §4, §15: LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES never reach a child, even with --passenv", arguments: ChildKind.allCases)
    func socketActivationWithheld(kind: ChildKind) async throws {
        try await withServer(flags: EnvironmentDump.flags + ["--passenv=PATH,LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES"],
                             environment: Self.parentEnvironment, command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, headers: ["Listen-Fds: 9"])
            #expect(dump["LISTEN_FDS"] == nil)
            #expect(dump["LISTEN_PID"] == nil)
            #expect(dump["LISTEN_FDNAMES"] == nil)
            #expect(dump["PATH"] == "/usr/local/bin:/usr/bin:/bin")
        }
    }

    @Test("Issue 9 finding 5: %0a in the path gives PATH_INFO a space, not a line that forges PATH", arguments: ChildKind.allCases)
    func lineBreakInPathInfo(kind: ChildKind) async throws {
        try await withServer(flags: EnvironmentDump.flags, environment: Self.parentEnvironment, command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, target: "/env.sh/x%0aPATH=/evil%0d%09%1b%7fend?q=1")
            #expect(dump["PATH_INFO"] == "/x PATH=/evil    end")
            #expect(dump["PATH"] == "/usr/local/bin:/usr/bin:/bin")
            #expect(dump["SCRIPT_NAME"] == "/env.sh")
            #expect(dump["QUERY_STRING"] == "q=1")
            // RFC 3875 §4.1.5, §4.1.13: REQUEST_URI stays the raw (encoded) target.
            #expect(dump["REQUEST_URI"] == "/env.sh/x%0aPATH=/evil%0d%09%1b%7fend?q=1")
        }
    }

    @Test("Issue 9 finding 5: %00 in the path is refused with 404 before any child starts", arguments: ChildKind.allCases)
    func nulInPath(kind: ChildKind) async throws {
        try await withServer(flags: EnvironmentDump.flags, command: []) { server in
            // PercentDecoding refuses a NUL (a C string would end there), so no route and no child.
            for target in ["/env.sh/x%00y", "/env.sh%00/x"] {
                let statusLine = try EnvironmentDump.statusLine(kind, server: server, target: target)
                #expect(statusLine == "HTTP/1.1 404 Not Found", "\(target)")
            }
        }
    }

    @Test("Issue 9 finding 5: a script whose file name holds a line break gets SCRIPT_NAME and PATH_TRANSLATED with a space",
          arguments: ChildKind.allCases)
    func lineBreakInScriptName(kind: ChildKind) async throws {
        let directory = NSTemporaryDirectory() + "wsbridge-env-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = directory + "/new\nline.sh"
        try FileManager.default.copyItem(atPath: EnvironmentDump.directory + "/env.sh", toPath: script)
        try await withServer(flags: ["--dir=\(directory)", "--cgidir=\(directory)"], environment: Self.parentEnvironment,
                             command: []) { server in
            let dump = try EnvironmentDump.read(kind, server: server, target: "/new%0Aline.sh/rest")
            #expect(dump["SCRIPT_NAME"] == "/new line.sh")
            // PATH_TRANSLATED is the resolved path, so compare from the directory's own name on.
            let translated = try #require(dump["PATH_TRANSLATED"])
            #expect(translated.hasSuffix("/" + URL(fileURLWithPath: directory).lastPathComponent + "/new line.sh"), "\(translated)")
            #expect(dump["PATH_INFO"] == "/rest")
            #expect(!dump.lines.contains { $0.hasPrefix("line.sh") }, "a line break split a variable")
        }
    }
}
