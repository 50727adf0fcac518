import Foundation
import Glibc
import Testing

/// Which kind of child a request starts: a WebSocket session's (`--dir`) or a CGI script's
/// (`--cgidir`). SPEC §4 applies to both, so the environment tests run once for each.
enum ChildKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// An upgrade: the child of a WebSocket session, its stdout lines as text messages.
    case webSocket
    /// A plain GET: a CGI/1.1 script, its stdout the HTTP response.
    case cgi

    var testDescription: String { rawValue }
}

/// What `Fixtures/envdir/env.sh` printed: its pid, then each line of `env`.
struct EnvironmentDump {
    /// The script's pid (its first line).
    var pid: pid_t
    /// Every line after the pid, in order. A value holding a line break shows as two lines.
    var lines: [String]

    /// The directory that serves as both `--dir` and `--cgidir`.
    static var directory: String { TestPaths.fixture("envdir") }
    /// Flags that serve `directory` to upgrades and to plain requests.
    static var flags: [String] { ["--dir=\(directory)", "--cgidir=\(directory)"] }

    /// Every value printed for `name`, in order: more than one means a line break forged a variable.
    func values(_ name: String) -> [String] {
        lines.compactMap { line in
            guard let equals = line.firstIndex(of: "="), line[..<equals] == name else { return nil }
            return String(line[line.index(after: equals)...])
        }
    }

    /// The value of `name`, nil when it is not set; an issue when it is printed more than once.
    subscript(name: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let found = values(name)
        #expect(found.count <= 1, "\(name) printed \(found.count) times: \(found)", sourceLocation: sourceLocation)
        return found.first
    }

    /// The names of every line that looks like NAME=value.
    var names: Set<String> {
        Set(lines.compactMap { line in line.firstIndex(of: "=").map { String(line[..<$0]) } })
    }

    /// Sends `target` (with `headers` lines) as an upgrade or a plain GET on `client`, and reads
    /// what the script printed until it ended: the close (1000) or the end of the response.
    static func read(_ kind: ChildKind, client: WebSocketTestClient, target: String, host: String = "127.0.0.1",
                     headers: [String] = []) throws -> EnvironmentDump {
        var request = ["GET \(target) HTTP/1.1", "Host: \(host)"]
        switch kind {
        case .webSocket:
            request += ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: \(WebSocketTestClient.randomKey())",
                        "Sec-WebSocket-Version: 13"]
        case .cgi:
            request += ["Connection: close"]
        }
        try client.sendRaw(Array(((request + headers).joined(separator: "\r\n") + "\r\n\r\n").utf8))
        var lines: [String] = []
        switch kind {
        case .webSocket:
            let response = try client.readResponseHead()
            guard response.statusCode == 101 else { throw TestClientError.handshakeFailed(response.headText) }
            while true {
                let message = try client.receiveMessage()
                if case .close = message {
                    #expect(message == .close(code: 1000, reason: ""), "env exits 0")
                    try client.answerCloseAndWaitForEnd(code: 1000)
                    break
                }
                guard case .text(let line) = message else { throw TestClientError.protocolViolation("not a text line: \(message)") }
                lines.append(line)
            }
        case .cgi:
            let response = try client.readResponse()
            guard response.statusCode == 200 else {
                throw TestClientError.protocolViolation("\(response.statusLine)\n\(String(decoding: response.body, as: UTF8.self))")
            }
            lines = String(decoding: response.body, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if lines.last == "" { lines.removeLast() }
        }
        guard let first = lines.first, let pid = pid_t(first), pid > 1 else {
            throw TestClientError.protocolViolation("expected the script's pid first, got \(lines.prefix(1))")
        }
        return EnvironmentDump(pid: pid, lines: Array(lines.dropFirst()))
    }

    /// `read` on a new TCP connection to `server`, then checks the script's process group is gone.
    static func read(_ kind: ChildKind, server: ServerProcess, target: String = "/env.sh",
                     headers: [String] = []) throws -> EnvironmentDump {
        let dump = try read(kind, client: try WebSocketTestClient(port: server.port), target: target, headers: headers)
        expectGroupGone(dump.pid, within: ProcessGroupProbe.defaultTimeout, server: server)
        return dump
    }

    /// The status line the server answers `target` with, as an upgrade or a plain GET.
    static func statusLine(_ kind: ChildKind, server: ServerProcess, target: String) throws -> String {
        let client = try WebSocketTestClient(port: server.port)
        switch kind {
        case .webSocket:
            try client.sendRaw(WebSocketTestClient.upgradeRequest(path: target, key: WebSocketTestClient.randomKey()))
        case .cgi:
            try client.sendRaw(Array("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
        }
        return try client.readResponseHead().statusLine
    }
}
