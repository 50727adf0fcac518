import Foundation
import Testing

/// SPEC §5 `--cgidir` (CGI/1.1, RFC 3875): the request body to stdin, the script's head and body back.
@Suite("CGI scripts")
struct CGITests {
    static var cgiDir: String { TestPaths.fixture("cgi") }

    static func request(port: UInt16, _ text: String) throws -> HTTPTestResponse {
        let client = try WebSocketTestClient(port: port)
        try client.sendRaw(Array(text.utf8))
        return try client.readResponse()
    }

    @Test("RFC 3875 §4, §6: a POST body reaches the script, its headers and body come back")
    func postRoundTrip() async throws {
        try await withServer(flags: ["--cgidir=\(Self.cgiDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let response = try Self.request(port: server.port,
                "POST /hello.sh/x/y?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nposted body")
            #expect(response.statusLine == "HTTP/1.1 200 OK")
            #expect(response.value(of: "X-Script") == "yes")
            #expect(response.value(of: "Content-Type") == "text/plain")
            #expect(String(decoding: response.body, as: UTF8.self)
                == "method=POST path=/x/y query=q=1 len=11\nposted body")
        }
    }

    @Test("RFC 3875 §6.3.3: the Status header sets the status line")
    func statusHeader() async throws {
        try await withServer(flags: ["--cgidir=\(Self.cgiDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let response = try Self.request(port: server.port, "GET /status.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(response.statusLine == "HTTP/1.1 418 I am a teapot")
            #expect(String(decoding: response.body, as: UTF8.self) == "short and stout\n")
        }
    }

    @Test("SPEC §5: a script that is not a CGI response gets 502; a missing one 404; escapes 404", arguments: [
        ("/bad.sh", "HTTP/1.1 502 Bad Gateway"),
        ("/nope.sh", "HTTP/1.1 404 Not Found"),
        ("/../echo-cat.sh", "HTTP/1.1 404 Not Found"),
        ("/%2e%2e/echo-cat.sh", "HTTP/1.1 404 Not Found"),
    ])
    func refusals(path: String, statusLine: String) async throws {
        try await withServer(flags: ["--cgidir=\(Self.cgiDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let response = try Self.request(port: server.port, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(response.statusLine == statusLine)
        }
    }

    @Test("SPEC §5: bodies are bounded: chunked gets 411, over 16 MiB gets 413")
    func bodyBounds() async throws {
        try await withServer(flags: ["--cgidir=\(Self.cgiDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let chunked = try Self.request(port: server.port,
                "POST /hello.sh HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            #expect(chunked.statusLine == "HTTP/1.1 411 Length Required")
            let huge = try Self.request(port: server.port,
                "POST /hello.sh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 999999999\r\n\r\n")
            #expect(huge.statusLine == "HTTP/1.1 413 Content Too Large")
        }
    }

    @Test("SPEC §3: a client that leaves mid-answer leaves no script behind")
    func clientLeaves() async throws {
        try await withServer(flags: ["--cgidir=\(Self.cgiDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(Array("GET /slow.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            let head = try client.readResponseHead()
            #expect(head.statusLine == "HTTP/1.1 200 OK")
            let deadline = Deadline(after: .seconds(5))
            try client.ensureAvailable(1, deadline: deadline, what: "the script's pid")
            while client.firstIndex(of: [0x0A]) == nil {
                try client.ensureAvailable(client.availableCount + 1, deadline: deadline, what: "the script's pid line")
            }
            let line = client.consume(client.firstIndex(of: [0x0A])! + 1)
            let pid = try #require(pid_t(String(decoding: line.dropLast(), as: UTF8.self)))
            client.closeAbruptly()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    /// Reads one whole answer and then the end of the stream: the bytes after the answer's
    /// Content-Length must be none (issue 9 finding 2: the script's stdout followed a 502).
    static func expectOnlyTheAnswer(_ client: WebSocketTestClient, statusLine: String) throws {
        let response = try client.readResponse()
        #expect(response.statusLine == statusLine)
        #expect(response.value(of: "Connection") == "close")
        let trailing = try client.waitForEndOfStream()
        #expect(trailing.isEmpty, "\(trailing.count) bytes after the answer, e.g. \(String(decoding: trailing.prefix(40), as: UTF8.self).debugDescription)")
    }

    @Test("Issue 9 finding 2: after a 502 for an endless non-CGI answer, nothing of the script's stdout reaches the socket")
    func nothingAfterRefusedHead() async throws {
        try await withServer(flags: ["--cgidir=\(Self.cgiDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            for _ in 0..<20 {
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(Array("GET /yes.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
                try Self.expectOnlyTheAnswer(client, statusLine: "HTTP/1.1 502 Bad Gateway")
            }
        }
    }

    static var shortDeadline: [String: String] {
        ProcessInfo.processInfo.environment.merging(["WSBRIDGE_INTERNAL_CGI_TIMEOUT_MS": "300"]) { $1 }
    }

    @Test("Issue 9 finding 2: a script that misses the deadline mid-head gets 504, and its later output never follows it")
    func nothingAfterTimeout() async throws {
        try await withServer(flags: ["--cgidir=\(Self.cgiDir)"], environment: Self.shortDeadline,
                             command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(Array("GET /late.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            try Self.expectOnlyTheAnswer(client, statusLine: "HTTP/1.1 504 Gateway Timeout")
        }
    }

    @Test("A script that misses the deadline after its head has its body cut short by the close, and its group ended")
    func timeoutAfterHead() async throws {
        try await withServer(flags: ["--cgidir=\(Self.cgiDir)"], environment: Self.shortDeadline,
                             command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(Array("GET /stalls.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            let head = try client.readResponseHead()
            #expect(head.statusLine == "HTTP/1.1 200 OK")
            let body = try client.waitForEndOfStream()
            let pid = try #require(pid_t(String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("RFC 9110 §9.3.2: a HEAD request gets the script's head and no body")
    func headRequest() async throws {
        try await withServer(flags: ["--cgidir=\(Self.cgiDir)"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(Array("HEAD /status.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
            let head = try client.readResponseHead()
            #expect(head.statusLine == "HTTP/1.1 418 I am a teapot")
            #expect(try client.waitForEndOfStream().isEmpty)
        }
    }

    @Test("A CGI request whose client left never reads its closed socket again, whose fd number the next connection may hold")
    func closedSocketIsNotReadAgain() async throws {
        // --loglevel=fatal: the script's stderr flood is read (that is the point) but not logged.
        try await withServer(flags: ["--cgidir=\(Self.cgiDir)", "--loglevel=fatal"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            for round in 0..<10 {
                let first = try WebSocketTestClient(port: server.port)
                try first.sendRaw(Array("GET /lingers.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
                let answer = try first.readResponse()
                #expect(String(decoding: answer.body, as: UTF8.self) == "done\n")
                first.close()
                // The script lives on for most of a second, flooding stderr; meanwhile new
                // connections come, one of which most likely gets the closed socket's fd number.
                for _ in 0..<5 {
                    usleep(30_000)
                    let next = try WebSocketTestClient(port: server.port)
                    try next.sendRaw(Array("GET /status.sh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
                    let response = try next.readResponse(timeout: .seconds(3))
                    #expect(response.statusCode == 418, "round \(round)")
                }
            }
        }
    }
}
