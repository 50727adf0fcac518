import Testing
@testable import WSProtocol
import TestSupport

@Suite("PercentDecoding")
struct PercentDecodingTests {
    @Test("RFC 3986 §2.1, §5.2.4: paths decode to segments with dot segments removed", arguments: [
        ("/", [], true),
        ("/app.sh", ["app.sh"], false),
        ("/sub/app.sh/", ["sub", "app.sh"], true),
        ("/a%20b/%41", ["a b", "A"], false),
        ("/caf%C3%A9", ["café"], false),
        ("/caf%c3%a9", ["café"], false),
        ("//a///b", ["a", "b"], false),
        ("/./a/./b/.", ["a", "b"], true),
        ("/a/../b", ["b"], false),
        ("/a/b/..", ["a"], true),
        ("/a/%2e%2e/b", ["b"], false),
        ("/a/%2E%2e/b", ["b"], false),
        ("/a/.%2e/b", ["b"], false),
        ("/a/%2e/b", ["a", "b"], false),
        ("/a..b/...", ["a..b", "..."], false),
        ("/%252e%252e/x", ["%2e%2e", "x"], false),
        ("/%252f", ["%2f"], false),
        ("/a+b;c=d:e@f", ["a+b;c=d:e@f"], false),
    ] as [(String, [String], Bool)])
    func decodes(path: String, segments: [String], trailingSlash: Bool) throws {
        let decoded = try PercentDecoding.decodePath(path)
        #expect(decoded == DecodedPath(segments: segments, hasTrailingSlash: trailingSlash))
    }

    @Test("Refused: encoded slash, backslash, NUL, bad escapes, climbing out, relative paths", arguments: [
        ("/a%2fb", PercentDecoding.Refusal.encodedSlash),
        ("/a%2Fb", .encodedSlash),
        ("/..%2f..%2fetc", .encodedSlash),
        ("/a%5cb", .backslash),
        ("/a%5Cb", .backslash),
        ("/a\\b", .backslash),
        ("/..\\..\\etc", .backslash),
        ("/a%00b", .nulByte),
        ("/a\u{0}b", .nulByte),
        ("/%", .invalidEscape),
        ("/%4", .invalidEscape),
        ("/%zz", .invalidEscape),
        ("/%4g", .invalidEscape),
        ("/%%41", .invalidEscape),
        ("/%ff", .invalidUTF8),
        ("/%c3", .invalidUTF8),
        ("/%ed%a0%80", .invalidUTF8),
        ("/..", .escapesRoot),
        ("/../etc/passwd", .escapesRoot),
        ("/a/../../etc", .escapesRoot),
        ("/%2e%2e/etc/passwd", .escapesRoot),
        ("/%2E%2E", .escapesRoot),
        ("/sub/%2e%2e/%2e%2e/x", .escapesRoot),
        ("/./../x", .escapesRoot),
        ("", .notAbsolute),
        ("a/b", .notAbsolute),
        ("*", .notAbsolute),
    ] as [(String, PercentDecoding.Refusal)])
    func refuses(path: String, refusal: PercentDecoding.Refusal) {
        #expect(throws: refusal) { try PercentDecoding.decodePath(path) }
    }

    @Test("DecodedPath.text is the decoded path for SCRIPT_NAME-style use (RFC 3875 §4.1.13)")
    func text() throws {
        #expect(try PercentDecoding.decodePath("/a%20b/c/").text == "/a b/c/")
        #expect(try PercentDecoding.decodePath("/a/..").text == "/")
        #expect(try PercentDecoding.decodePath("/x").text == "/x")
    }

    @Test("RFC 3986 §3.3: encodePath escapes what is not a pchar, upper-case hex")
    func encodes() {
        #expect(PercentDecoding.encodePath(["a b", "caf\u{E9}", "x?y#z", "%"], trailingSlash: true) == "/a%20b/caf%C3%A9/x%3Fy%23z/%25/")
        #expect(PercentDecoding.encodePath(["sub"], trailingSlash: false) == "/sub")
        #expect(PercentDecoding.encodePath([String](), trailingSlash: true) == "/")
        #expect(PercentDecoding.encodePath(["a+b;c=d:e@f!$&'()*,~-._"], trailingSlash: false) == "/a+b;c=d:e@f!$&'()*,~-._")
    }

    @Test("Encoding then decoding gives the same segments, for seeded random segments")
    func roundTrip() throws {
        var random = SplitMix64(seed: 0x5EED_0001)
        let alphabet = Array("abcXYZ019 .-_~%/?#[]@!$&'()*+,;=\\\u{E9}\u{1F600}")
        for _ in 0..<2000 {
            var segments: [String] = []
            for _ in 0..<(1 + random.below(4)) {
                var segment = String((0..<(1 + random.below(8))).map { _ in alphabet[random.below(alphabet.count)] })
                // Slashes, backslashes and dot segments are refused or removed by design, so leave them out.
                segment.removeAll { $0 == "/" || $0 == "\\" }
                if segment.isEmpty || segment == "." || segment == ".." { segment = "s" }
                segments.append(segment)
            }
            let encoded = PercentDecoding.encodePath(segments, trailingSlash: false)
            #expect(try PercentDecoding.decodePath(encoded).segments == segments, "\(encoded)")
        }
    }

    @Test("Seeded random and mutated paths: only segments or typed refusals, never a trap or a way out")
    func randomPaths() {
        var random = SplitMix64(seed: 0xD0_75EE)
        let pieces = ["/", "..", ".", "%2e", "%2E", "%2f", "%5c", "%00", "%", "%25", "a", "%41", "%c3%a9", "\\", "%ff", "%2", "é"]
        var accepted = 0
        for _ in 0..<5000 {
            var path = random.chance(90) ? "/" : ""
            for _ in 0..<random.below(10) {
                path += random.chance(85) ? pieces[random.below(pieces.count)] : String(UnicodeScalar(random.byte()))
            }
            do {
                let decoded = try PercentDecoding.decodePath(path)
                accepted += 1
                for segment in decoded.segments {
                    #expect(!segment.isEmpty && segment != "." && segment != "..", "\(path)")
                    #expect(!segment.contains("/") && !segment.contains("\\") && !segment.contains("\0"), "\(path)")
                }
            } catch {
                #expect(path.isEmpty || path.first != "/" || path.contains("%") || path.contains("\\") || path.contains("..") || path.contains("\0"), "\(path)")
            }
        }
        #expect(accepted > 500)
    }
}
