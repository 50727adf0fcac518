import Foundation
import Testing
@testable import WSProtocol
@testable import WSServer

@Suite("StaticFiles")
struct StaticFilesTests {
    /// RFC 9110 §5.6.7's example moment, Sun, 06 Nov 1994 08:49:37 GMT.
    static let modified: Int64 = 784_111_777
    static let modifiedText = "Sun, 06 Nov 1994 08:49:37 GMT"

    /// DIR with an index, assets, a directory without index, a subdirectory with one, and links;
    /// `outside/secret.txt` must never be served.
    static func makeTree() throws -> (tree: TempTree, dir: String) {
        let tree = try TempTree()
        let date = Date(timeIntervalSince1970: TimeInterval(modified))
        try tree.file("www/index.html", "<h1>home</h1>\n", modified: date)
        try tree.file("www/style.css", "body{}\n", modified: date)
        try tree.file("www/app.js", "1;\n", mode: 0o755, modified: date)
        try tree.file("www/data.bin", "\u{1}\u{2}", modified: date)
        try tree.file("www/sub/index.html", "<h1>sub</h1>\n", modified: date)
        try tree.directory("www/docs")
        try tree.file("www/a b/c.txt", "spaced\n", modified: date)
        try tree.file("outside/secret.txt", "secret\n")
        try tree.file("www-evil/secret.txt", "secret\n")
        try tree.symlink("www/alias.js", to: "style.css")
        try tree.symlink("www/link-out.txt", to: "../outside/secret.txt")
        try tree.symlink("www/linkdir-out", to: tree.root + "/outside")
        try tree.symlink("www/link-sibling.txt", to: "../www-evil/secret.txt")
        try tree.symlink("www/indexed-out", to: "../outside")
        try tree.file("outside/index.html", "secret index\n")
        try tree.fifo("www/pipe")
        return (tree, tree.root + "/www")
    }

    static func answer(_ dir: String, _ target: String, method: String = "GET", headers: [(name: String, value: String)] = []) throws -> StaticFiles.Answer {
        try StaticFiles(directory: dir).answer(HTTPRequestHead(method: method, target: target, headers: HTTPHeaders(headers)))
    }

    @Test("GET of a file: 200 head with Content-Type, Content-Length, Last-Modified, to stream the file after", arguments: [
        ("/style.css", "style.css", "text/css; charset=utf-8", 7),
        ("/app.js", "app.js", "text/javascript; charset=utf-8", 3),
        ("/data.bin", "data.bin", "application/octet-stream", 2),
        ("/index.html", "index.html", "text/html; charset=utf-8", 14),
        ("/", "index.html", "text/html; charset=utf-8", 14),
        ("/?v=2", "index.html", "text/html; charset=utf-8", 14),
        ("/sub/", "sub/index.html", "text/html; charset=utf-8", 13),
        ("/a%20b/c.txt", "a b/c.txt", "text/plain; charset=utf-8", 7),
        ("/sub/../style.css", "style.css", "text/css; charset=utf-8", 7),
        ("/alias.js", "style.css", "text/javascript; charset=utf-8", 7),
    ])
    func servesFile(target: String, file: String, type: String, size: Int) throws {
        let (tree, dir) = try Self.makeTree()
        let head = HTTPResponse(status: .ok, headers: HTTPHeaders([
            (name: "Content-Type", value: type),
            (name: "Content-Length", value: String(size)),
            (name: "Last-Modified", value: Self.modifiedText),
        ]))
        #expect(try Self.answer(dir, target) == .file(path: dir + "/" + file, byteCount: size, head: head))
        withExtendedLifetime(tree) {}
    }

    @Test("RFC 9110 §9.3.2: HEAD gets the GET's header fields and no body")
    func head() throws {
        let (tree, dir) = try Self.makeTree()
        let answer = try Self.answer(dir, "/style.css", method: "HEAD")
        guard case .response(let response) = answer else {
            Issue.record("expected a complete response, got \(answer)")
            return
        }
        #expect(String(decoding: response.serialized(includingBody: false), as: UTF8.self) ==
            "HTTP/1.1 200 OK\r\nContent-Type: text/css; charset=utf-8\r\nContent-Length: 7\r\nLast-Modified: \(Self.modifiedText)\r\n\r\n")
        #expect(response.serialized(includingBody: true) == response.serialized(includingBody: false))
        withExtendedLifetime(tree) {}
    }

    @Test("As http.FileServer: a directory without its slash, or a file with one, gets 301 to the canonical path", arguments: [
        ("/sub", "/sub/"),
        ("/sub?x=1&y", "/sub/?x=1&y"),
        ("/docs", "/docs/"),
        ("/a%20b", "/a%20b/"),
        ("//sub", "/sub/"),
        ("/style.css/", "/style.css"),
        ("/style.css/.", "/style.css"),
    ])
    func redirects(target: String, location: String) throws {
        let (tree, dir) = try Self.makeTree()
        let answer = try Self.answer(dir, target)
        guard case .response(let response) = answer else {
            Issue.record("expected a redirect, got \(answer)")
            return
        }
        #expect(response.status == .movedPermanently)
        #expect(response.headers.first("Location") == location)
        withExtendedLifetime(tree) {}
    }

    @Test("404: missing files, a directory without index.html, FIFOs; the connection stays open", arguments: [
        "/missing.html", "/docs/", "/sub/missing", "/pipe", "/STYLE.CSS", "/style.css%00",
    ])
    func notFound(target: String) throws {
        let (tree, dir) = try Self.makeTree()
        let expected = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 28\r\n\r\n404 Not Found: no such file\n"
        let answer = try Self.answer(dir, target)
        #expect(answer == .response(StaticFiles.notFound))
        if case .response(let response) = answer {
            #expect(String(decoding: response.serialized(), as: UTF8.self) == expected)
        }
        withExtendedLifetime(tree) {}
    }

    @Test("SPEC §5: same confinement as --dir (.., %2e%2e, %2f, double encoding, symlinks out)", arguments: [
        "/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/%2E%2E%2Foutside%2Fsecret.txt",
        "/sub/%2e%2e/%2e%2e/outside/secret.txt", "/%252e%252e/outside/secret.txt", "/..%5coutside%5csecret.txt",
        "/link-out.txt", "/linkdir-out/secret.txt", "/linkdir-out/", "/link-sibling.txt", "/indexed-out/",
        "/../www-evil/secret.txt", "/etc/passwd", "http://example.com/../outside/secret.txt",
    ])
    func confinement(target: String) throws {
        let (tree, dir) = try Self.makeTree()
        #expect(try Self.answer(dir, target) == .response(StaticFiles.notFound))
        #expect(try Self.answer(dir, target, method: "HEAD") == .response(StaticFiles.notFound))
        withExtendedLifetime(tree) {}
    }

    @Test("RFC 9110 §15.5.6: other methods get 405 with Allow: GET, HEAD", arguments: ["POST", "PUT", "DELETE", "OPTIONS", "get"])
    func methodNotAllowed(method: String) throws {
        let (tree, dir) = try Self.makeTree()
        guard case .response(let response) = try Self.answer(dir, "/style.css", method: method) else {
            Issue.record("expected a response")
            return
        }
        let wire = String(decoding: response.serialized(), as: UTF8.self)
        #expect(wire.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
        #expect(response.headers.first("Allow") == "GET, HEAD")
        withExtendedLifetime(tree) {}
    }

    @Test("RFC 9110 §13.1.3, §13.2.2: If-Modified-Since and If-None-Match decide 304 or 200", arguments: [
        ([("If-Modified-Since", modifiedText)], true),
        ([("If-Modified-Since", "Sun, 06 Nov 1994 08:49:38 GMT")], true),
        ([("If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")], false),
        ([("If-Modified-Since", "Sunday, 06-Nov-94 08:49:37 GMT")], true),
        ([("If-Modified-Since", "Sun Nov  6 08:49:37 1994")], true),
        ([("If-Modified-Since", "yesterday")], false),
        ([("If-Modified-Since", modifiedText), ("If-Modified-Since", modifiedText)], false),
        ([("If-None-Match", "\"abc\""), ("If-Modified-Since", modifiedText)], false),
        ([("If-None-Match", "*")], true),
        ([("If-None-Match", "\"a\", *")], true),
        ([], false),
    ] as [([(String, String)], Bool)])
    func conditional(headers: [(String, String)], notModified: Bool) throws {
        let (tree, dir) = try Self.makeTree()
        let fields = headers.map { (name: $0.0, value: $0.1) }
        for method in ["GET", "HEAD"] {
            let answer = try Self.answer(dir, "/style.css", method: method, headers: fields)
            if notModified {
                let expected = HTTPResponse(status: .notModified, headers: HTTPHeaders([(name: "Last-Modified", value: Self.modifiedText)]))
                #expect(answer == .response(expected))
                #expect(String(decoding: expected.serialized(), as: UTF8.self) == "HTTP/1.1 304 Not Modified\r\nLast-Modified: \(Self.modifiedText)\r\n\r\n")
            } else if method == "GET" {
                guard case .file = answer else {
                    Issue.record("expected the file, got \(answer)")
                    continue
                }
            } else {
                guard case .response(let response) = answer else {
                    Issue.record("expected a HEAD response, got \(answer)")
                    continue
                }
                #expect(response.status == .ok)
            }
        }
        withExtendedLifetime(tree) {}
    }

    @Test("inlined(maxBytes:) reads a small file whole and refuses a larger one")
    func inlined() throws {
        let (tree, dir) = try Self.makeTree()
        let answer = try Self.answer(dir, "/style.css")
        let response = try #require(answer.inlined(maxBytes: 1024))
        #expect(String(decoding: response.serialized(), as: UTF8.self) ==
            "HTTP/1.1 200 OK\r\nContent-Type: text/css; charset=utf-8\r\nLast-Modified: \(Self.modifiedText)\r\nContent-Length: 7\r\n\r\nbody{}\n")
        #expect(answer.inlined(maxBytes: 6) == nil)
        #expect(StaticFiles.Answer.response(StaticFiles.notFound).inlined(maxBytes: 0) == StaticFiles.notFound)
        withExtendedLifetime(tree) {}
    }
}
