import Testing
@testable import WSProtocol

@Suite("Base64")
struct Base64Tests {
    @Test("RFC 4648 §10 test vectors encode and decode", arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test("RFC 6455 §1.3 and §4.1: the sample key is 16 bytes")
    func sampleKey() {
        #expect(Base64.decode("dGhlIHNhbXBsZSBub25jZQ==") == Array("the sample nonce".utf8))
    }

    @Test("Every byte value round-trips, at every length up to 3 groups")
    func roundTrip() {
        let all = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(all)) == all)
        for length in 0...9 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 251) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
            #expect(Base64.encode(bytes).utf8.count == (length + 2) / 3 * 4)
        }
    }

    @Test("Strict decoding: anything but canonical padded standard base64 is nil (RFC 4648 §3.3, §3.5)", arguments: [
        "Zg", "Zg=", "Zm9", "Zh==", "Zm9=", "Zm8", "=Zm9", "Zg==Zg==", "Zm=v", "Z===", "====", "Zm9v\n", " Zm9v", "Zm9v ",
        "Zm9-", "Zm9_", "Zm9v\r\nYmFy", "Zm9\u{E9}", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZR==",
    ])
    func rejectsNonCanonical(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
