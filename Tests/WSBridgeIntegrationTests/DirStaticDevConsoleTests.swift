import Foundation
import Testing

/// SPEC §5: `--dir` routing and confinement, `--staticdir` files and keep-alive, `--devconsole`,
/// and `--sameorigin` / `--origin`, over real sockets.
@Suite("Script directory, static files, dev console and origins")
struct DirStaticDevConsoleTests {
    static var scriptDir: String { TestPaths.fixture("scriptdir") }
    static var siteDir: String { TestPaths.fixture("site") }

    /// Sends raw requests on one connection and reads `count` answers.
    static func exchange(port: UInt16, _ request: String, answers count: Int = 1) throws -> [HTTPTestResponse] {
        let client = try WebSocketTestClient(port: port)
        try client.sendRaw(Array(request.utf8))
        return try (0..<count).map { _ in try client.readResponse() }
    }

    static func get(_ path: String, headers: [String] = []) -> String {
        (["GET \(path) HTTP/1.1", "Host: 127.0.0.1"] + headers).joined(separator: "\r\n") + "\r\n\r\n"
    }

    @Test("SPEC §5 --dir: the URL walks to the first executable file; the rest is PATH_INFO", arguments: [
        ("/env.sh", "/env.sh", ""),
        ("/env.sh/a/b?x=1", "/env.sh", "/a/b"),
        ("/sub/deep.sh/more", "/sub/deep.sh", "/more"),
    ])
    func routes(path: String, scriptName: String, pathInfo: String) async throws {
        try await withServer(flags: ["--dir=\(Self.scriptDir)"], command: []) { server in
            let client = try WebSocketTestClient.connect(port: server.port, path: path)
            let pid = try client.receivePID()
            #expect(try client.receiveMessage() == .text("SCRIPT_NAME=\(scriptName)"))
            #expect(try client.receiveMessage() == .text("PATH_INFO=\(pathInfo)"))
            _ = try client.receiveMessage()
            #expect(try client.receiveMessage() == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §5 --dir: missing, bare directories, non-executable files and escapes are 404", arguments: [
        "/nope.sh", "/sub", "/sub/", "/plain.sh", "/outside.sh", "/../echo-cat.sh", "/%2e%2e/echo-cat.sh",
        "/sub%2fdeep.sh", "/sub/..%2f..%2fecho-cat.sh",
    ])
    func confinement(path: String) async throws {
        try await withServer(flags: ["--dir=\(Self.scriptDir)"], command: []) { server in
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(WebSocketTestClient.upgradeRequest(path: path, key: WebSocketTestClient.randomKey()))
            let response = try client.readResponse()
            #expect(response.statusLine == "HTTP/1.1 404 Not Found")
        }
    }

    @Test("SPEC §5 --staticdir: GET and HEAD with type, length and Last-Modified; 304; keep-alive")
    func staticFiles() async throws {
        try await withServer(flags: ["--staticdir=\(Self.siteDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            // Three requests on one connection: keep-alive between them.
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(Array((Self.get("/") + Self.get("/docs/style.css")
                + "HEAD /docs/style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").utf8))
            // A HEAD answer has a Content-Length but no body (RFC 9110 §9.3.2).
            let answers = [try client.readResponse(), try client.readResponse(), try client.readResponseHead()]
            #expect(answers[0].statusLine == "HTTP/1.1 200 OK")
            #expect(answers[0].value(of: "Content-Type") == "text/html; charset=utf-8")
            #expect(String(decoding: answers[0].body, as: UTF8.self) == "<!doctype html><title>site</title>\n")
            #expect(answers[1].value(of: "Content-Type") == "text/css; charset=utf-8")
            #expect(answers[1].value(of: "Content-Length") == "21")
            let modified = try #require(answers[1].value(of: "Last-Modified"))
            #expect(answers[2].statusLine == "HTTP/1.1 200 OK")
            #expect(answers[2].value(of: "Content-Length") == "21")
            // A 304 has no body and no Content-Length (RFC 9110 §15.4.5): read its head only.
            let conditional = try WebSocketTestClient(port: server.port)
            try conditional.sendRaw(Array(Self.get("/docs/style.css", headers: ["If-Modified-Since: \(modified)"]).utf8))
            #expect(try conditional.readResponseHead().statusLine == "HTTP/1.1 304 Not Modified")
            let redirect = try Self.exchange(port: server.port, Self.get("/docs"))
            #expect(redirect[0].statusLine == "HTTP/1.1 301 Moved Permanently")
            #expect(redirect[0].value(of: "Location") == "/docs/")
        }
    }

    @Test("SPEC §5 --staticdir: nothing outside DIR is reachable", arguments: [
        "/../echo-cat.sh", "/%2e%2e/echo-cat.sh", "/docs/..%2f..%2fecho-cat.sh", "/passwd", "/nothing.txt",
    ])
    func staticConfinement(path: String) async throws {
        try await withServer(flags: ["--staticdir=\(Self.siteDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let answers = try Self.exchange(port: server.port, Self.get(path))
            #expect(answers[0].statusLine == "HTTP/1.1 404 Not Found")
        }
    }

    @Test("SPEC §5: with --staticdir, an upgrade on the same port still reaches the command")
    func upgradeBesideStatic() async throws {
        try await withServer(flags: ["--staticdir=\(Self.siteDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port, path: "/index.html")
            let pid = try client.receivePID()
            try client.sendText("through")
            #expect(try client.receiveMessage() == .text("through"))
            _ = try client.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §5 --devconsole: a plain GET gets one self-contained page")
    func devConsole() async throws {
        try await withServer(flags: ["--devconsole"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let answers = try Self.exchange(port: server.port, Self.get("/any/path"))
            #expect(answers[0].statusLine == "HTTP/1.1 200 OK")
            #expect(answers[0].value(of: "Content-Type") == "text/html; charset=utf-8")
            let page = String(decoding: answers[0].body, as: UTF8.self)
            #expect(page.contains("<script"))
            #expect(!page.contains("<script src") && !page.contains("http://") && !page.contains("https://"))
        }
    }

    @Test("SPEC §5: --origin and --sameorigin refuse other origins with 403", arguments: [
        (["--origin=good.example"], "http://good.example", 101),
        (["--origin=good.example"], "http://evil.example", 403),
        (["--sameorigin"], "http://127.0.0.1", 101),
        (["--sameorigin"], "http://evil.example", 403),
    ])
    func origins(flags: [String], origin: String, status: Int) async throws {
        try await withServer(flags: flags, command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(WebSocketTestClient.upgradeRequest(key: WebSocketTestClient.randomKey(),
                                                                 extraHeaders: ["Origin: \(origin)"]))
            let response = try client.readResponseHead()
            #expect(response.statusCode == status)
            if status == 101 {
                let pid = try client.receivePID()
                _ = try client.closeHandshake()
                ProcessGroupProbe.expectGone(pid, server: server)
            }
        }
    }

    @Test("RFC 9112 §9.3.2: 2,000 pipelined requests on one connection are all answered, in order")
    func pipelinedRequests() async throws {
        try await withServer(flags: ["--staticdir=\(Self.siteDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            let request = Self.get("/docs/style.css")
            try client.pump(sending: Array(String(repeating: request, count: 2_000).utf8), timeout: .seconds(20))
            for _ in 0..<2_000 {
                let response = try client.readResponse(timeout: .seconds(10))
                #expect(response.statusLine == "HTTP/1.1 200 OK")
                #expect(response.body.count == 21)
            }
        }
    }
}
