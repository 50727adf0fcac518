import Foundation
import Testing
import TestSupport

/// RFC 9112 §6.3 over real sockets: every request ends where the RFC says it ends, so a body is never
/// read as a request (request smuggling), and framings that two parsers could read two ways are
/// refused. Answers are compared with an oracle written here from the RFC, independently of the
/// server's own `RequestBodyFraming`.
@Suite("Request smuggling")
struct RequestSmugglingTests {
    // MARK: The site

    /// A static directory with three one-letter files: `a.txt` is what a request asks for,
    /// `b.txt` what a smuggled request asks for, `c.txt` the canary that ends every connection.
    static let site: String = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsbridge-smuggling-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in ["a", "b", "c"] {
            try? Data(name.uppercased().utf8).write(to: directory.appendingPathComponent("\(name).txt"))
        }
        return directory.path
    }()

    static let smuggled = Array("GET /b.txt HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
    static let canary = Array("GET /c.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".utf8)

    // MARK: Cases

    /// One request: its method, header lines after `Host`, and the bytes after its head.
    struct Case: CustomStringConvertible, Sendable {
        var method: String
        var fields: [String]
        var body: [UInt8]

        func head(target: String, upgrade: Bool = false) -> [UInt8] {
            var lines = ["\(method) \(target) HTTP/1.1", "Host: h"]
            if upgrade {
                lines += ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                          "Sec-WebSocket-Version: 13"]
            }
            lines += fields
            return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
        }

        var description: String {
            let shown = String(decoding: body.prefix(60), as: UTF8.self).debugDescription
            return "\(method) \(fields) body \(shown)\(body.count > 60 ? "… (\(body.count) bytes)" : "")"
        }
    }

    /// Framings built around a smuggled request: honest ones, the CL.TE, TE.CL and TE.TE shapes, and
    /// `Content-Length` values that parsers disagree on.
    static let framings: [(fields: [String], body: [UInt8])] = {
        let s = smuggled
        let n = s.count
        let chunkedSmuggled = Array("\(String(n, radix: 16))\r\n".utf8) + s + Array("\r\n0\r\n\r\n".utf8)
        let zeroThenSmuggled = Array("0\r\n\r\n".utf8) + s
        var list: [(fields: [String], body: [UInt8])] = [
            ([], []),
            ([], s),
            (["Content-Length: 0"], []),
            (["Content-Length: 0"], s),
            (["Content-Length: 000"], s),
        ]
        // Content-Length covering the smuggled bytes, written in valid and invalid ways.
        for value in ["\(n)", "0\(n)", "\(n), \(n)", "\(n),\(n)", "+\(n)", "-\(n)", "\(n), \(n + 1)", "\(n),", ",\(n)",
                      "\(n) \(n)", "\(n).0", "0x\(String(n, radix: 16))", "\(n)e0", "", "\u{0661}"] {
            list.append((["Content-Length: \(value)"], s))
        }
        list.append((["Content-Length: \(n)", "Content-Length: \(n)"], s))
        list.append((["Content-Length: \(n)", "content-length: \(n)"], s))
        list.append((["Content-Length: \(n)", "Content-Length: \(n + 1)"], s))
        list.append((["Content-Length: \(n + 1)", "Content-Length: \(n)"], s))
        list.append((["Content-Length: 99999999999999999999999"], s))
        list.append((["Content-Length: 70000"], s + Array(repeating: 0x78, count: 70000 - n)))
        // Transfer-Encoding alone, valid and obfuscated (TE.TE).
        for value in ["chunked", "Chunked", "CHUNKED", "gzip, chunked", "chunked, gzip", "chunked, chunked", "xchunked",
                      "chunked;x=1", "identity", "", "\tchunked", ", chunked"] {
            list.append((["Transfer-Encoding: \(value)"], chunkedSmuggled))
        }
        list.append((["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"], chunkedSmuggled))
        list.append((["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], chunkedSmuggled))
        // CL.TE and TE.CL: both fields, in both orders, with lengths that cover either reading.
        for (cl, body) in [("\(zeroThenSmuggled.count)", zeroThenSmuggled), ("5", zeroThenSmuggled),
                           ("\(chunkedSmuggled.count)", chunkedSmuggled), ("0", zeroThenSmuggled)] {
            list.append((["Content-Length: \(cl)", "Transfer-Encoding: chunked"], body))
            list.append((["Transfer-Encoding: chunked", "Content-Length: \(cl)"], body))
        }
        // Names that some parsers fold into the real ones.
        list.append((["Transfer-Encoding : chunked"], chunkedSmuggled))
        list.append((["Content-Length : \(n)"], s))
        list.append((["X-Pad: y", " Transfer-Encoding: chunked"], chunkedSmuggled))
        list.append((["X-Pad: y", "\tContent-Length: \(n)"], s))
        list.append((["Transfer_Encoding: chunked"], s))
        list.append((["Content_Length: \(n)"], s))
        list.append((["Transfer-Encoding\u{0B}: chunked"], chunkedSmuggled))
        // RFC 9110 §10.1.1: after a final answer, the body may or may not follow.
        list.append((["Content-Length: \(n)", "Expect: 100-continue"], s))
        return list
    }()

    static let plainCases: [Case] = ["GET", "HEAD", "POST"].flatMap { method in
        framings.map { Case(method: method, fields: $0.fields, body: $0.body) }
    }

    static let bodyFramings: [(fields: [String], body: [UInt8])] = framings

    // MARK: The oracle (RFC 9112 §5, §6.3; RFC 9110 §8.6)

    /// What the RFC lets us know about one head's framing.
    enum Framing: Equatable {
        /// The head itself is malformed: 400 (RFC 9112 §5.1 whitespace before the colon, §5.2 obs-fold).
        case malformedHead
        /// The framing is ambiguous or invalid: 400 and close.
        case invalid
        /// Chunked; nothing but CGI reads it.
        case chunked
        /// This many bytes of body.
        case length(Int)
    }

    static func isOWS(_ c: Character) -> Bool { c == " " || c == "\t" }

    static func oracleFraming(_ fields: [String]) -> Framing {
        var transferCodings: [String] = []
        var sawTransferEncoding = false
        var lengthElements: [String] = []
        for field in fields {
            guard let first = field.first, !isOWS(first), let colon = field.firstIndex(of: ":") else { return .malformedHead }
            let name = field[..<colon]
            let tchars = CharacterSet(charactersIn: "!#$%&'*+-.^_`|~").union(.alphanumerics)
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.isASCII && tchars.contains($0) }) else { return .malformedHead }
            let value = String(field[field.index(after: colon)...]).trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
            switch name.lowercased() {
            case "transfer-encoding":
                sawTransferEncoding = true
                transferCodings += value.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t")) }
                    .filter { !$0.isEmpty }
            case "content-length":
                lengthElements += value.split(separator: ",", omittingEmptySubsequences: false)
                    .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t")) }
            default:
                break
            }
        }
        if sawTransferEncoding {
            guard lengthElements.isEmpty else { return .invalid }
            let chunkedCount = transferCodings.filter { $0.lowercased() == "chunked" }.count
            guard transferCodings.last?.lowercased() == "chunked", chunkedCount == 1 else { return .invalid }
            return .chunked
        }
        guard !lengthElements.isEmpty else { return .length(0) }
        guard lengthElements.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              Set(lengthElements.map { $0.drop { $0 == "0" } }).count == 1 else { return .invalid }
        return .length(Int(lengthElements[0]) ?? Int.max)
    }

    /// The answers a `--staticdir` server owes to `request` followed by the canary, as
    /// "STATUS BODY" for 200s and "STATUS" for the rest.
    static func oracleStatic(_ request: Case) -> [String] {
        let length: Int
        switch oracleFraming(request.fields) {
        case .malformedHead, .invalid, .chunked: return ["400"]
        case .length(let count): length = count
        }
        if length > 64 * 1024 { return ["413"] }
        var answers: [String]
        switch request.method {
        case "GET": answers = ["200 A"]
        case "HEAD": answers = ["200 "]
        default: return ["405"]
        }
        if length > 0 && request.fields.contains(where: { $0.lowercased().hasPrefix("expect:") }) { return answers }
        let rest = Array(request.body.dropFirst(length))
        if rest == smuggled {
            answers.append("200 B")
        } else if !rest.isEmpty {
            return answers + ["400"]
        }
        return answers + ["200 C"]
    }

    // MARK: Reading answers

    /// Every response on the connection until the server closes it, as the oracle writes them;
    /// `methods` are the requests' methods in order (a HEAD answer has no body).
    static func readAnswers(_ client: WebSocketTestClient, methods: [String], timeout: Duration = .seconds(5)) throws -> [String] {
        let rest = try client.waitForEndOfStream(timeout: timeout)
        var bytes = rest[...]
        var answers: [String] = []
        let terminator = Array("\r\n\r\n".utf8)
        while !bytes.isEmpty {
            guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: terminator) }) else {
                answers.append("garbage \(String(decoding: bytes, as: UTF8.self).debugDescription)")
                break
            }
            let head = String(decoding: bytes[..<end], as: UTF8.self)
            bytes = bytes[(end + 4)...]
            let lines = head.components(separatedBy: "\r\n")
            let status = lines[0].split(separator: " ").dropFirst().first.map(String.init) ?? "?"
            // Without Content-Length (a CGI answer) the body runs to the end of the stream (RFC 9112 §6.3 item 8).
            let length = lines.dropFirst().compactMap { line -> Int? in
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
                return Int(parts[1].trimmingCharacters(in: .whitespaces))
            }.first ?? bytes.count
            let method = answers.count < methods.count ? methods[answers.count] : "GET"
            let bodyLength = method == "HEAD" ? 0 : min(length, bytes.count)
            let body = String(decoding: bytes.prefix(bodyLength), as: UTF8.self)
            bytes = bytes.dropFirst(bodyLength)
            answers.append(status == "200" ? "200 \(body)" : status)
        }
        return answers
    }

    static func methods(of request: Case) -> [String] { [request.method, "GET", "GET"] }

    // MARK: Tests

    @Test("Issue 9 finding 1: a Content-Length body shaped like a request gets no answer of its own (RFC 9112 §6.3)")
    func bodyIsNotARequest() async throws {
        try await withServer(flags: ["--staticdir=\(Self.site)"], command: ["cat"]) { server in
            let client = try WebSocketTestClient(port: server.port)
            let request = Case(method: "GET", fields: ["Content-Length: \(Self.smuggled.count)"], body: Self.smuggled)
            try client.sendRaw(request.head(target: "/a.txt") + request.body + Self.canary)
            #expect(try Self.readAnswers(client, methods: Self.methods(of: request)) == ["200 A", "200 C"])
        }
    }

    @Test("Issue 9 finding 1: conflicting Content-Length values get one 400 and the connection closes")
    func conflictingLengths() async throws {
        try await withServer(flags: ["--staticdir=\(Self.site)"], command: ["cat"]) { server in
            let client = try WebSocketTestClient(port: server.port)
            let request = Case(method: "GET", fields: ["Content-Length: 0", "Content-Length: \(Self.smuggled.count)"],
                               body: Self.smuggled)
            try client.sendRaw(request.head(target: "/a.txt") + request.body + Self.canary)
            #expect(try Self.readAnswers(client, methods: Self.methods(of: request)) == ["400"])
        }
    }

    @Test("Issue 9 finding 6: an upgrade with both Transfer-Encoding and Content-Length gets 400, not 101")
    func upgradeWithBothFramings() async throws {
        try await withServer(command: ["cat"]) { server in
            let client = try WebSocketTestClient(port: server.port)
            let request = Case(method: "GET", fields: ["Transfer-Encoding: chunked", "Content-Length: 5"],
                               body: Array("0\r\n\r\n".utf8))
            try client.sendRaw(request.head(target: "/", upgrade: true) + request.body)
            #expect(try client.readResponseHead().statusCode == 400)
        }
    }

    @Test("Issue 9 finding 6: a CGI Content-Length of +5 gets 400 (RFC 9110 §8.6: 1*DIGIT)")
    func signedLengthForCGI() async throws {
        try await withServer(flags: ["--cgidir=\(CGITests.cgiDir)"], command: ["cat"]) { server in
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(Array("POST /hello.sh HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello".utf8))
            #expect(try client.readResponse().statusCode == 400)
        }
    }

    @Test("Issue 9 finding 8, SPEC §8: an HTTP/1.0 request is answered 505 and logged with its method and path")
    func refusedVersionIsLoggedWithItsRequestLine() async throws {
        try await withServer(command: ["cat"]) { server in
            let client = try WebSocketTestClient(port: server.port)
            let remote = "127.0.0.1:\(client.localPort)"
            try client.sendRaw(Array("GET /old/path?q=1 HTTP/1.0\r\nHost: h\r\n\r\n".utf8))
            #expect(try client.readResponse().statusCode == 505)
            client.close()
            let line = server.waitForLog { $0["remote"] == remote && $0.message == "REFUSED" }
            #expect(line?["method"] == "GET")
            #expect(line?["path"] == "/old/path")
            #expect(line?["status"] == "505")
        }
    }

    @Test("RFC 9112 §9.6: a body still trickling in after a closing answer is read to its end, not reset")
    func slowBodyAfterClosingAnswer() async throws {
        try await withServer(flags: ["--staticdir=\(Self.site)"], command: ["cat"]) { server in
            let client = try WebSocketTestClient(port: server.port)
            try client.sendRaw(Array("GET /a.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 300\r\n\r\n".utf8))
            let response = try client.readResponse()
            #expect(response.statusCode == 200)
            // Longer in all than the second a closing connection waits after its last byte.
            for _ in 0..<3 {
                usleep(600_000)
                try client.sendRaw(Array(repeating: UInt8(ascii: "x"), count: 100))
            }
            client.shutdownWrite()
            #expect(try client.waitForEndOfStream().isEmpty)
            #expect(!client.sawReset)
        }
    }

    @Test("RFC 9112 §6.3 differential: crafted framings (GET, HEAD, POST) to --staticdir, answers and their count as the RFC requires")
    func differentialStatic() async throws {
        try await withServer(flags: ["--staticdir=\(Self.site)"], command: ["cat"]) { server in
            var mismatches: [String] = []
            for request in Self.plainCases {
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(request.head(target: "/a.txt") + request.body + Self.canary)
                let answers = try Self.readAnswers(client, methods: Self.methods(of: request))
                let expected = Self.oracleStatic(request)
                if answers != expected { mismatches.append("\(request): got \(answers), RFC wants \(expected)") }
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) of \(Self.plainCases.count):\n\(mismatches.prefix(10).joined(separator: "\n"))")
        }
    }

    @Test("RFC 9112 §6.3, RFC 3875 §4.2 differential: crafted framings to a CGI script get one answer, the body exactly as framed")
    func differentialCGI() async throws {
        try await withServer(flags: ["--cgidir=\(CGITests.cgiDir)"], command: ["cat"]) { server in
            var mismatches: [String] = []
            for framing in Self.bodyFramings {
                let request = Case(method: "POST", fields: framing.fields, body: framing.body)
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(request.head(target: "/hello.sh") + request.body + Self.canary)
                let answers = try Self.readAnswers(client, methods: ["POST"])
                let expected: [String]
                switch Self.oracleFraming(request.fields) {
                case .malformedHead, .invalid: expected = ["400"]
                case .chunked: expected = ["411"]
                case .length(let length) where length > 16 * 1024 * 1024: expected = ["413"]
                case .length(let length):
                    let body = String(decoding: request.body.prefix(length), as: UTF8.self)
                    let declared = request.fields.contains { $0.lowercased().hasPrefix("content-length:") } ? String(length) : ""
                    expected = ["200 method=POST path= query= len=\(declared)\n\(body)"]
                }
                if answers != expected { mismatches.append("\(request): got \(answers), RFC wants \(expected)") }
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) of \(Self.bodyFramings.count):\n\(mismatches.prefix(10).joined(separator: "\n"))")
        }
    }

    @Test("RFC 6455 §4.1, RFC 9112 §6.3 differential: crafted framings on an upgrade get 101 only without a body")
    func differentialUpgrade() async throws {
        try await withServer(command: ["cat"]) { server in
            var mismatches: [String] = []
            for framing in Self.bodyFramings {
                let request = Case(method: "GET", fields: framing.fields, body: [])
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(request.head(target: "/", upgrade: true))
                let status = try client.readResponseHead().statusCode
                client.closeAbruptly()
                let expected = Self.oracleFraming(request.fields) == .length(0) ? 101 : 400
                if status != expected { mismatches.append("\(request.fields): got \(status), RFC wants \(expected)") }
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) of \(Self.bodyFramings.count):\n\(mismatches.prefix(10).joined(separator: "\n"))")
        }
    }

    @Test("RFC 9112 §9.3: seeded keep-alive sequences get exactly one answer per request, in order")
    func keepAliveFuzz() async throws {
        let seed = ProcessInfo.processInfo.environment["WSBRIDGE_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        let sequences = 150
        try await withServer(flags: ["--staticdir=\(Self.site)"], command: ["cat"]) { server in
            var failures: [String] = []
            for index in 0..<sequences {
                var wire: [UInt8] = []
                var methods: [String] = []
                var expected: [String] = []
                var closed = false
                let count = random.below(8) + 1
                for position in 0..<count {
                    let last = position == count - 1
                    var fields: [String] = last ? ["Connection: close"] : []
                    var body: [UInt8] = []
                    let (method, target, answer): (String, String, String) = switch random.below(6) {
                    case 0: ("HEAD", "/b.txt", "200 ")
                    case 1: ("GET", "/missing.txt", "404")
                    case 2: ("DELETE", "/a.txt", "405")
                    default: ["a", "b", "c"].randomElement(using: &random).map { ("GET", "/\($0).txt", "200 \($0.uppercased())") }!
                    }
                    if random.below(3) == 0 {
                        // A body that looks like another request: it must be skipped, never answered.
                        body = random.below(2) == 0 ? Self.smuggled : (0..<random.below(200)).map { _ in UInt8(random.below(94) + 33) }
                        fields.append("Content-Length: \(body.count)")
                    }
                    // Nothing is sent after a request whose answer closes the connection: the
                    // server stops reading a second after that answer, and a client still
                    // writing then would see a reset (RFC 9112 §9.6).
                    guard !closed else { break }
                    let request = Case(method: method, fields: fields, body: body)
                    wire += request.head(target: target) + body
                    methods.append(method)
                    expected.append(answer)
                    // A 405 closes the connection (every error answer of ours says `Connection: close`,
                    // RFC 9112 §9.6); a 404 for a missing file is an ordinary answer and keeps it.
                    if answer == "405" { closed = true }
                }
                do {
                    let client = try WebSocketTestClient(port: server.port)
                    // Random writes, so that heads and bodies are split anywhere.
                    var offset = 0
                    while offset < wire.count {
                        let size = min(wire.count - offset, random.below(64) + 1 + (random.below(4) == 0 ? 4096 : 0))
                        try client.sendRaw(Array(wire[offset..<(offset + size)]))
                        offset += size
                        // Blocking, as the rest of the client: an await could wait seconds for a
                        // thread of the test pool while other tests block theirs.
                        if random.below(8) == 0 { usleep(1000) }
                    }
                    let answers = try Self.readAnswers(client, methods: methods)
                    if answers != expected { failures.append("sequence \(index): got \(answers), want \(expected)") }
                } catch {
                    failures.append("sequence \(index): \(error); want \(expected); sent \(String(decoding: wire, as: UTF8.self).debugDescription)")
                    break
                }
            }
            #expect(failures.isEmpty, "seed \(seed) (replay with WSBRIDGE_TEST_SEED=\(seed)), \(failures.count) of \(sequences) sequences:\n\(failures.prefix(5).joined(separator: "\n"))")
        }
    }
}
