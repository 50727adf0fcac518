import Testing
@testable import WSProtocol
@testable import WSServer

@Suite("OriginPolicy")
struct OriginPolicyTests {
    /// One row: the flags, the request's Host, TLS or not, its Origin fields, and whether it passes.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var sameOrigin = false
        var origins: [String] = []
        var host: String? = "server.example.com"
        var isTLS = false
        var originFields: [String]
        var allowed: Bool

        var testDescription: String { name }
    }

    static func head(_ row: Case) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        if let host = row.host { headers.add(name: "Host", value: host) }
        for origin in row.originFields { headers.add(name: "Origin", value: origin) }
        return HTTPRequestHead(method: "GET", target: "/chat", headers: headers)
    }

    /// The rows of websocketd 0.5's `CheckOriginTests` and `TestMatchOrigin` (libwebsocketd/http_test.go).
    static let websocketdCases: [Case] = [
        Case(name: "any origin allowed", originFields: ["http://example.com"], allowed: true),
        Case(name: "same origin mismatch", sameOrigin: true, originFields: ["http://example.com"], allowed: false),
        Case(name: "same origin match", sameOrigin: true, originFields: ["http://server.example.com"], allowed: true),
        Case(name: "same origin schema mismatch 1", sameOrigin: true, originFields: ["https://server.example.com"], allowed: false),
        Case(name: "same origin schema mismatch 2", sameOrigin: true, isTLS: true, originFields: ["http://server.example.com"], allowed: false),
        Case(name: "no origin allowed matches (junk prefix)", origins: ["server.example.com"], originFields: ["http://example.com"], allowed: false),
        Case(name: "no origin allowed matches (junk suffix)", origins: ["example.com.t"], originFields: ["http://example.com"], allowed: false),
        Case(name: "origin allowed clean match", origins: ["example.com"], originFields: ["http://example.com"], allowed: true),
        Case(name: "origin allowed any port match", origins: ["example.com"], originFields: ["http://example.com:81"], allowed: true),
        Case(name: "origin allowed port match", origins: ["example.com:80"], originFields: ["http://example.com"], allowed: true),
        Case(name: "origin allowed port mismatch", origins: ["example.com:81"], originFields: ["http://example.com"], allowed: false),
        Case(name: "origin allowed port 81 match", origins: ["example.com:81"], originFields: ["http://example.com:81"], allowed: true),
        Case(name: "any origin allowed, even null", originFields: ["null"], allowed: true),
        Case(name: "any origin allowed, even empty", originFields: [""], allowed: true),
        Case(name: "multiple allowed", origins: ["a.com", "b.com"], originFields: ["http://b.com"], allowed: true),
        Case(name: "scheme match", origins: ["https://example.com:443"], originFields: ["https://example.com"], allowed: true),
        Case(name: "scheme mismatch", origins: ["https://example.com"], originFields: ["http://example.com"], allowed: false),
        Case(name: "short origin string", origins: ["x"], originFields: ["http://x"], allowed: true),
    ]

    /// wsbridge's own rows: 0.5 schemes and ports, missing and odd Origins, case, IPv6, both flags.
    static let extraCases: [Case] = [
        Case(name: "no flags, no Origin at all", originFields: [], allowed: true),
        Case(name: "no flags, garbage Origin", originFields: ["not an origin"], allowed: true),
        Case(name: "scheme entry without port allows any port", origins: ["https://example.com"], originFields: ["https://example.com:8443"], allowed: true),
        Case(name: "scheme and port entry", origins: ["https://example.com:8443"], originFields: ["https://example.com:8443"], allowed: true),
        Case(name: "scheme and port entry, other scheme", origins: ["https://example.com:8443"], originFields: ["http://example.com:8443"], allowed: false),
        Case(name: "scheme and port entry, default port", origins: ["https://example.com:8443"], originFields: ["https://example.com"], allowed: false),
        Case(name: "entry without scheme matches any scheme", origins: ["example.com:8443"], originFields: ["https://example.com:8443"], allowed: true),
        Case(name: "entry https:443 against http:443", origins: ["https://example.com:443"], originFields: ["http://example.com:443"], allowed: false),
        Case(name: "case-insensitive host and scheme", origins: ["HTTPS://Example.COM"], originFields: ["https://example.com"], allowed: true),
        Case(name: "case-insensitive Origin", origins: ["example.com"], originFields: ["HTTP://EXAMPLE.COM"], allowed: true),
        Case(name: "entry with trailing slash", origins: ["https://example.com/"], originFields: ["https://example.com"], allowed: true),
        Case(name: "IPv6 entry with port", origins: ["[::1]:8080"], originFields: ["http://[::1]:8080"], allowed: true),
        Case(name: "IPv6 entry without port", origins: ["[::1]"], originFields: ["http://[::1]:9"], allowed: true),
        Case(name: "IPv6 other address", origins: ["[::1]"], originFields: ["http://[::2]"], allowed: false),
        Case(name: "list: missing Origin refused (websocketd reads it as file:)", origins: ["example.com"], originFields: [], allowed: false),
        Case(name: "list: empty Origin refused", origins: ["example.com"], originFields: [""], allowed: false),
        Case(name: "list: null refused", origins: ["example.com"], originFields: ["null"], allowed: false),
        Case(name: "list: file:// refused", origins: ["example.com"], originFields: ["file://"], allowed: false),
        Case(name: "list: Origin without scheme refused", origins: ["example.com"], originFields: ["example.com"], allowed: false),
        Case(name: "list: Origin with bad port refused", origins: ["example.com"], originFields: ["http://example.com:99999"], allowed: false),
        Case(name: "list: Origin with letters for port refused", origins: ["example.com"], originFields: ["http://example.com:8o"], allowed: false),
        Case(name: "list: Origin with userinfo refused", origins: ["example.com"], originFields: ["http://evil@example.com"], allowed: false),
        Case(name: "list: two Origin fields refused (RFC 6454 §7.3)", origins: ["example.com"], originFields: ["http://example.com", "http://example.com"], allowed: false),
        Case(name: "list: Origin with a path tolerated as websocketd", origins: ["example.com"], originFields: ["http://example.com/x"], allowed: true),
        Case(name: "list: suffix is not a match", origins: ["example.com"], originFields: ["http://evilexample.com"], allowed: false),
        Case(name: "list: subdomain is not a match", origins: ["example.com"], originFields: ["http://a.example.com"], allowed: false),
        Case(name: "same: missing Origin refused", sameOrigin: true, originFields: [], allowed: false),
        Case(name: "same: null refused", sameOrigin: true, originFields: ["null"], allowed: false),
        Case(name: "same: explicit default port in Host", sameOrigin: true, host: "server.example.com:80", originFields: ["http://server.example.com"], allowed: true),
        Case(name: "same: TLS with default ports", sameOrigin: true, isTLS: true, originFields: ["https://server.example.com:443"], allowed: true),
        Case(name: "same: other port", sameOrigin: true, host: "server.example.com:8080", originFields: ["http://server.example.com"], allowed: false),
        Case(name: "same: port match", sameOrigin: true, host: "127.0.0.1:8080", originFields: ["http://127.0.0.1:8080"], allowed: true),
        Case(name: "same: IPv6", sameOrigin: true, host: "[::1]:8080", originFields: ["http://[::1]:8080"], allowed: true),
        Case(name: "same: Host case", sameOrigin: true, host: "Server.Example.COM", originFields: ["http://server.example.com"], allowed: true),
        Case(name: "same: no Host", sameOrigin: true, host: nil, originFields: ["http://server.example.com"], allowed: false),
        Case(name: "both: same but not listed", sameOrigin: true, origins: ["other.com"], originFields: ["http://server.example.com"], allowed: false),
        Case(name: "both: listed but not same", sameOrigin: true, origins: ["example.com"], originFields: ["http://example.com"], allowed: false),
        Case(name: "both: same and listed", sameOrigin: true, origins: ["server.example.com"], originFields: ["http://server.example.com"], allowed: true),
    ]

    @Test("websocketd 0.5 http_test.go: CheckOriginTests and TestMatchOrigin", arguments: websocketdCases)
    func websocketdRules(row: Case) {
        let policy = OriginPolicy(sameOrigin: row.sameOrigin, allowedOrigins: row.origins)
        let decision = policy.decide(Self.head(row), isTLS: row.isTLS)
        #expect((decision == .allowed) == row.allowed)
    }

    @Test("Schemes (0.5), ports, missing or odd Origins, case, IPv6, both flags together", arguments: extraCases)
    func extraRules(row: Case) {
        let policy = OriginPolicy(sameOrigin: row.sameOrigin, allowedOrigins: row.origins)
        let decision = policy.decide(Self.head(row), isTLS: row.isTLS)
        #expect((decision == .allowed) == row.allowed)
    }

    @Test("RFC 6455 §4.2.2 item 4: a refused Origin is answered 403")
    func forbiddenIs403() {
        let policy = OriginPolicy(sameOrigin: true)
        let head = HTTPRequestHead(method: "GET", target: "/", headers: HTTPHeaders([(name: "Host", value: "a"), (name: "Origin", value: "http://b")]))
        #expect(throws: HandshakeError.forbiddenOrigin) { try policy.check(head, isTLS: false) }
        let wire = String(decoding: HandshakeError.forbiddenOrigin.response.serialized(), as: UTF8.self)
        #expect(wire.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        guard case .forbidden(let why) = policy.decide(head, isTLS: false) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(why.contains("http://b"))
    }

    @Test("No flags: unrestricted; check() passes")
    func unrestricted() throws {
        let policy = OriginPolicy()
        #expect(policy.isUnrestricted)
        try policy.check(HTTPRequestHead(method: "GET", target: "/"), isTLS: false)
        #expect(!OriginPolicy(sameOrigin: true).isUnrestricted)
        #expect(!OriginPolicy(allowedOrigins: ["a"]).isUnrestricted)
    }

    @Test("Entries that cannot be read are reported, match nothing, and still restrict")
    func invalidEntries() {
        let policy = OriginPolicy(allowedOrigins: ["https://", "ex ample.com", "host:port", "a:1:2", "[::1", "://x", "ok.com", ""])
        #expect(policy.invalidEntries == ["https://", "ex ample.com", "host:port", "a:1:2", "[::1", "://x"])
        #expect(policy.entries == [OriginPolicy.Entry(scheme: nil, host: "ok.com", port: nil)])
        let head = HTTPRequestHead(method: "GET", target: "/", headers: HTTPHeaders([(name: "Origin", value: "http://host")]))
        #expect(policy.decide(head, isTLS: false) != .allowed)
        let onlyInvalid = OriginPolicy(allowedOrigins: ["https://"])
        #expect(!onlyInvalid.isUnrestricted && onlyInvalid.decide(head, isTLS: false) != .allowed)
    }

    @Test("Entries parse into scheme, host and port", arguments: [
        ("example.com", OriginPolicy.Entry(scheme: nil, host: "example.com", port: nil)),
        ("Example.com:8080", OriginPolicy.Entry(scheme: nil, host: "example.com", port: 8080)),
        ("https://example.com:8443", OriginPolicy.Entry(scheme: "https", host: "example.com", port: 8443)),
        ("HTTP://[::1]:80/", OriginPolicy.Entry(scheme: "http", host: "::1", port: 80)),
        ("example.com:", OriginPolicy.Entry(scheme: nil, host: "example.com", port: nil)),
    ])
    func parsesEntries(text: String, entry: OriginPolicy.Entry) {
        #expect(OriginPolicy.parseEntry(text) == entry)
    }
}
