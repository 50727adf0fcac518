import Testing
@testable import WSProtocol

@Suite("SHA1")
struct SHA1Tests {
    /// The digest as lower-case hex.
    static func hex(_ digest: [UInt8]) -> String {
        digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    @Test("RFC 3174 §7.3: the four test vectors, TEST3 being a million 'a'", arguments: [
        ("abc", 1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        ("a", 1_000_000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"),
        ("0123456701234567012345670123456701234567012345670123456701234567", 10, "dea356a2cddd90c7a7ecedc5ebb563934f460452"),
    ])
    func rfc3174Vectors(text: String, repeats: Int, expected: String) {
        let message = [[UInt8]](repeating: Array(text.utf8), count: repeats).flatMap { $0 }
        #expect(Self.hex(SHA1.hash(message)) == expected)
    }

    @Test("FIPS 180-4 example \"abc\" and the empty message")
    func fipsAndEmpty() {
        #expect(SHA1.hash("abc".utf8) == [
            0xA9, 0x99, 0x3E, 0x36, 0x47, 0x06, 0x81, 0x6A, 0xBA, 0x3E, 0x25, 0x71, 0x78, 0x50, 0xC2, 0x6C, 0x9C, 0xD0, 0xD8, 0x9D,
        ])
        #expect(Self.hex(SHA1.hash([UInt8]())) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hash([UInt8]()).count == SHA1.digestByteCount)
    }

    @Test("Lengths around the padding boundaries (55/56 and 63/64 bytes), checked against Python hashlib", arguments: [
        (55, "8ae2d46729cfe68ff927af5eec9c7d1b66d65ac2"),
        (56, "636e2ec698dac903498e648bd2f3af641d3c88cb"),
        (57, "7cb1330f35244b57437539253304ea78a6b7c443"),
        (63, "6d942da0c4392b123528f2905c713a3ce28364bd"),
        (64, "c6138d514ffa2135bfce0ed0b8fac65669917ec7"),
        (65, "69bd728ad6e13cd76ff19751fde427b00e395746"),
        (119, "41c89d06001bab4ab78736b44efe7ce18ce6ae08"),
        (120, "d3dbd653bd8597b7475321b60a36891278e6a04a"),
        (127, "89d7312a903f65cd2b3e34a975e55dbea9033353"),
        (128, "e6434bc401f98603d7eda504790c98c67385d535"),
    ])
    func paddingBoundaries(length: Int, expected: String) {
        let message = (0..<length).map { UInt8($0 % 251) }
        #expect(Self.hex(SHA1.hash(message)) == expected)
        // A collection without contiguous storage takes the other path and must agree.
        #expect(Self.hex(SHA1.hash((0..<length).lazy.map { UInt8($0 % 251) })) == expected)
    }
}
