import Testing
import TestSupport
@testable import WSProtocol

/// SPEC §11: what a request presents (Authorization, the token in the query or a cookie) and
/// htpasswd files, parsed without judging; seeded mutation on each.
@Suite("Credentials and htpasswd files")
struct CredentialsTests {
    static func headers(_ fields: [(String, String)]) -> HTTPHeaders { HTTPHeaders(fields.map { (name: $0.0, value: $0.1) }) }

    @Test("RFC 7617: Basic credentials decode to user and password; malformed ones are nil")
    func basic() throws {
        let parsed = try #require(Credentials.basic(in: Self.headers([("Authorization", "Basic YW5uOnMzY3I6ZXQ=")])))
        #expect(parsed.user == "ann")
        #expect(parsed.password == Array("s3cr:et".utf8), "only the first colon separates")
        #expect(Credentials.basic(in: Self.headers([("Authorization", "basic YW5uOng=")]))?.user == "ann", "the scheme is case-insensitive")
        for bad in ["Basic", "Basic !!!", "Basic YW5u", "Bearer YW5uOng=", "Basic YW5uOng= extra"] {
            #expect(Credentials.basic(in: Self.headers([("Authorization", bad)])) == nil, "\(bad)")
        }
        #expect(Credentials.basic(in: Self.headers([("Authorization", "Basic YW5uOng="), ("Authorization", "Basic YW5uOng=")])) == nil,
                "two Authorization fields are not believed")
        #expect(Credentials.bearer(in: Self.headers([("Authorization", "Bearer  tok123 ")])) == "tok123")
    }

    @Test("RFC 6265 §4.2.1: the token cookie is found among others, and removed leaving the others")
    func cookies() {
        let headers = Self.headers([("Cookie", "a=1; wsbridge_token=\"T\"; b=2"), ("Cookie", "c=3")])
        #expect(Credentials.cookie("wsbridge_token", in: headers) == "T")
        let cleaned = Credentials.removingCookie("wsbridge_token", from: headers)
        #expect(cleaned.values("Cookie") == ["a=1; b=2", "c=3"])
        let only = Credentials.removingCookie("wsbridge_token", from: Self.headers([("Cookie", "wsbridge_token=T")]))
        #expect(only.values("Cookie").isEmpty, "a Cookie field left empty goes")
    }

    @Test("The token query parameter is taken out; the other parameters keep their order and bytes")
    func queryToken() {
        #expect(Credentials.takingToken(from: "/p?a=1&token=T&b=%20") == (["T"], "/p?a=1&b=%20"))
        #expect(Credentials.takingToken(from: "/p?token=T") == (["T"], "/p"))
        #expect(Credentials.takingToken(from: "/p?mytoken=T").tokens.isEmpty)
        #expect(Credentials.takingToken(from: "/p").target == "/p")
    }

    @Test("Constant-time equality is equality")
    func constantTime() {
        #expect(Credentials.constantTimeEquals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!Credentials.constantTimeEquals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!Credentials.constantTimeEquals(Array("abc".utf8), Array("abcd".utf8)))
    }

    @Test("htpasswd: bcrypt and SHA-crypt lines, blank lines and comments; anything else names its line")
    func htpasswd() throws {
        let file = try HtpasswdFile.parse("# users\n\nann:$2y$05$abc\r\nbob:$6$salt$hash\n")
        #expect(file.hashes == ["ann": "$2y$05$abc", "bob": "$6$salt$hash"])
        for (text, line) in [("ann:$apr1$x$y", 1), ("ann:{SHA}abc", 1), ("ann:plain", 1), ("ok:$5$a$b\nnocolon", 2),
                             (":$2y$05$abc", 1), ("ann:$2y$05$a\nann:$2b$05$b", 2), ("ann:$2y$05$a b", 1)] {
            #expect(throws: HtpasswdError.self, "\(text)") { try HtpasswdFile.parse(text) }
            do { _ = try HtpasswdFile.parse(text) } catch { #expect(error.line == line, "\(text)") }
        }
    }

    @Test("Seeded mutation: no input crashes the credential and htpasswd parsers, and what they return keeps their promises")
    func mutation() {
        let seed = UInt64(0xC4ED_5EED)
        var random = SplitMix64(seed: seed)
        let seeds = ["Basic YW5uOnMzY3I6ZXQ=", "Bearer tok", "a=1; wsbridge_token=\"T\"; b=2", "/p?a=1&token=T&b=2",
                     "ann:$2y$05$abc\nbob:$6$salt$hash\n# c"]
        let alphabet = Array("AZaz09+/=:;,\"$ \n\r#?&=_-token".utf8)
        var parsedFiles = 0
        for _ in 0..<20_000 {
            var bytes = Array(seeds[random.below(seeds.count)].utf8)
            random.mutate(&bytes, alphabet: alphabet)
            let text = String(decoding: bytes, as: UTF8.self)
            let headers = Self.headers([("Authorization", text), ("Cookie", text)])
            if let basic = Credentials.basic(in: headers) { #expect(!basic.user.contains(":"), "seed \(seed): \(text)") }
            _ = Credentials.bearer(in: headers)
            let withoutCookie = Credentials.removingCookie(Credentials.tokenCookieName, from: headers)
            #expect(Credentials.cookie(Credentials.tokenCookieName, in: withoutCookie) == nil, "seed \(seed): \(text)")
            let (_, target) = Credentials.takingToken(from: "/p?" + text)
            #expect(Credentials.takingToken(from: target).tokens.isEmpty, "seed \(seed): \(text)")
            if let file = try? HtpasswdFile.parse(text) {
                parsedFiles += 1
                #expect(file.hashes.values.allSatisfy { hash in HtpasswdFile.acceptedPrefixes.contains { hash.hasPrefix($0) } })
            }
        }
        print("credentials mutation: 20000 inputs, \(parsedFiles) parsed as htpasswd files, seed \(seed)")
    }
}
