import Foundation
import Glibc
import Testing

/// SPEC §4: the child's environment is CGI/1.1 (RFC 3875 §4.1) rebuilt from nothing, as
/// websocketd does, plus HTTP_HOST. `/usr/bin/env` is the command itself, so no shell adds
/// variables of its own (dash exports PWD) and the dump is exactly what wsbridge built.
@Suite("Child environment")
struct EnvironmentTests {
    static let envCommand = "/usr/bin/env"

    /// The parent environment the server runs with.
    static let parentEnvironment: [String: String] = [
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LD_LIBRARY_PATH": "/opt/wsb-test/lib",
        "WSB_KEEP": "yes",
        "WSB_DROP": "no",
    ]

    /// What one session showed: the variables the child printed, its pid (from the log), the
    /// client's port and the Sec-WebSocket-Key it sent.
    struct Dump {
        var variables: [String: String]
        var pid: pid_t
        var clientPort: Int
        var key: String
    }

    /// Upgrades with a hand-written request (`Host` included, so SERVER_NAME and HTTP_HOST can be
    /// checked), reads every line the child prints until the close, and checks the close is 1000.
    static func dump(server: ServerProcess, target: String, host: String, extraHeaders: [String]) throws -> Dump {
        let client = try WebSocketTestClient(port: server.port)
        let key = WebSocketTestClient.randomKey()
        let lines = ["GET \(target) HTTP/1.1", "Host: \(host)", "Upgrade: websocket", "Connection: Upgrade",
                     "Sec-WebSocket-Key: \(key)", "Sec-WebSocket-Version: 13"] + extraHeaders
        try client.sendRaw(Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
        let response = try client.readResponseHead()
        guard response.statusCode == 101 else { throw TestClientError.handshakeFailed(response.headText) }
        let clientPort = client.localPort
        var variables: [String: String] = [:]
        while true {
            let message = try client.receiveMessage()
            if case .close = message {
                #expect(message == .close(code: 1000, reason: ""), "env exits 0")
                try client.answerCloseAndWaitForEnd(code: 1000)
                break
            }
            guard case .text(let line) = message, let equals = line.firstIndex(of: "=") else {
                throw TestClientError.protocolViolation("not a NAME=VALUE line: \(message)")
            }
            let name = String(line[..<equals])
            #expect(variables[name] == nil, "\(name) set twice")
            variables[name] = String(line[line.index(after: equals)...])
        }
        // The pid from the DISCONNECT line: `env` has no way to print its own first.
        let disconnect = try #require(server.waitForLog { $0.message == "DISCONNECT" && $0["remote"] == "127.0.0.1:\(clientPort)" })
        let pid = try #require(disconnect["pid"].flatMap { pid_t($0) })
        return Dump(variables: variables, pid: pid, clientPort: clientPort, key: key)
    }

    @Test("SPEC §4: every CGI variable for /a/b?x=1&y=2 with a repeated header and --passenv=PATH,WSB_KEEP; nothing else")
    func fullEnvironment() async throws {
        try await withServer(flags: ["--passenv=PATH,WSB_KEEP"], environment: Self.parentEnvironment, command: [Self.envCommand]) { server in
            let dump = try Self.dump(server: server, target: "/a/b?x=1&y=2", host: "localhost:\(server.port)",
                                     extraHeaders: ["X-Test: one", "User-Agent: wsbridge-tests", "X-Test: two"])
            let uniqueID = try #require(dump.variables["UNIQUE_ID"])
            #expect(!uniqueID.isEmpty)
            let expected: [String: String] = [
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "WSB_KEEP": "yes",
                "SERVER_SOFTWARE": "wsbridge/0.1.0",
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "SERVER_NAME": "localhost",
                "SERVER_PORT": String(server.port),
                "REQUEST_METHOD": "GET",
                "REQUEST_URI": "/a/b?x=1&y=2",
                // A single command serves every path, so all of the path is PATH_INFO (as websocketd).
                "SCRIPT_NAME": "/",
                "PATH_INFO": "/a/b",
                "PATH_TRANSLATED": Self.envCommand,
                "QUERY_STRING": "x=1&y=2",
                "REMOTE_ADDR": "127.0.0.1",
                "REMOTE_HOST": "127.0.0.1",
                "REMOTE_PORT": String(dump.clientPort),
                "UNIQUE_ID": uniqueID,
                "AUTH_TYPE": "",
                "CONTENT_LENGTH": "",
                "CONTENT_TYPE": "",
                "REMOTE_IDENT": "",
                "REMOTE_USER": "",
                "HTTP_HOST": "localhost:\(server.port)",
                "HTTP_UPGRADE": "websocket",
                "HTTP_CONNECTION": "Upgrade",
                "HTTP_SEC_WEBSOCKET_KEY": dump.key,
                "HTTP_SEC_WEBSOCKET_VERSION": "13",
                // RFC 3875 §4.1.18 and SPEC §4: repeated fields joined with ", ", in order.
                "HTTP_X_TEST": "one, two",
                "HTTP_USER_AGENT": "wsbridge-tests",
            ]
            for name in Set(expected.keys).union(dump.variables.keys).sorted() {
                #expect(dump.variables[name] == expected[name], "\(name): got \(dump.variables[name].debugDescription), expected \(expected[name].debugDescription)")
            }
            #expect(dump.variables["WSB_DROP"] == nil, "a parent variable not in --passenv reached the child")
            #expect(dump.variables["LD_LIBRARY_PATH"] == nil, "--passenv replaces the default list")
            #expect(dump.variables["HTTPS"] == nil, "HTTPS is set with TLS only")
            expectGroupGone(dump.pid, within: ProcessGroupProbe.defaultTimeout, server: server)
        }
    }

    @Test("SPEC §1, §4: the default --passenv keeps PATH and LD_LIBRARY_PATH only; UNIQUE_ID differs per connection")
    func defaultPassEnv() async throws {
        try await withServer(environment: Self.parentEnvironment, command: [Self.envCommand]) { server in
            let first = try Self.dump(server: server, target: "/", host: "127.0.0.1", extraHeaders: [])
            let second = try Self.dump(server: server, target: "/?q", host: "127.0.0.1", extraHeaders: [])
            for dump in [first, second] {
                #expect(dump.variables["PATH"] == "/usr/local/bin:/usr/bin:/bin")
                #expect(dump.variables["LD_LIBRARY_PATH"] == "/opt/wsb-test/lib")
                #expect(dump.variables["WSB_KEEP"] == nil)
                #expect(dump.variables["WSB_DROP"] == nil)
                #expect(dump.variables["SERVER_NAME"] == "127.0.0.1", "a Host without a port is the name itself")
                #expect(dump.variables["PATH_INFO"] == "/")
            }
            #expect(first.variables["QUERY_STRING"] == "")
            #expect(second.variables["QUERY_STRING"] == "q")
            #expect(second.variables["REQUEST_URI"] == "/?q")
            #expect(first.variables["UNIQUE_ID"] != second.variables["UNIQUE_ID"])
            for dump in [first, second] { expectGroupGone(dump.pid, within: ProcessGroupProbe.defaultTimeout, server: server) }
        }
    }
}
