import Testing
@testable import WSProtocol

@Suite("Masking")
struct MaskingTests {
    /// The byte-by-byte definition of RFC 6455 §5.3: octet i is XORed with key octet (i + offset) mod 4.
    static func reference(_ bytes: [UInt8], key: Masking.Key, keyOffset: Int) -> [UInt8] {
        let keyBytes = [key.0, key.1, key.2, key.3]
        return bytes.enumerated().map { $0.element ^ keyBytes[($0.offset + keyOffset) % 4] }
    }

    @Test("RFC 6455 §5.7: \"Hello\" with key 37 fa 21 3d gives 7f 9f 4d 51 58")
    func rfcVector() {
        var bytes = Array("Hello".utf8)
        bytes.withUnsafeMutableBytes { Masking.apply(key: rfcMaskingKey, to: $0) }
        #expect(bytes == hex("7f 9f 4d 51 58"))
    }

    @Test("word at a time equals the byte-wise definition for every length 0...64, key offset and alignment")
    func matchesReference() {
        let key: Masking.Key = (0x37, 0xFA, 0x21, 0x3D)
        for length in 0...64 {
            let original = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7) }
            for keyOffset in 0..<4 {
                let expected = Self.reference(original, key: key, keyOffset: keyOffset)
                // Start the bytes at every offset from an 8-byte boundary, so both the byte-wise
                // head and the word loop see every phase.
                for alignment in 0..<8 {
                    var storage = [UInt8](repeating: 0xEE, count: length + 16)
                    storage.withUnsafeMutableBytes { raw in
                        let start = (8 - Int(bitPattern: raw.baseAddress!) & 7) & 7 + alignment
                        let region = UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + length)])
                        region.copyBytes(from: original)
                        Masking.apply(key: key, to: region, keyOffset: keyOffset)
                        #expect(Array(region) == expected, "length \(length), offset \(keyOffset), alignment \(alignment)")
                        // The bytes around the region are untouched.
                        #expect(raw[..<start].allSatisfy { $0 == 0xEE })
                        #expect(raw[(start + length)...].allSatisfy { $0 == 0xEE })
                    }
                }
            }
        }
    }

    @Test("a payload masked in pieces, each with its position as key offset, equals it masked whole")
    func pieces() {
        let key: Masking.Key = (1, 0x80, 0xFF, 0x42)
        let original = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 3) }
        let expected = Self.reference(original, key: key, keyOffset: 0)
        for pieceLength in [1, 3, 5, 7, 8, 13, 64, 333] {
            var bytes = original
            bytes.withUnsafeMutableBytes { raw in
                var position = 0
                while position < raw.count {
                    let end = min(position + pieceLength, raw.count)
                    Masking.apply(key: key, to: UnsafeMutableRawBufferPointer(rebasing: raw[position..<end]), keyOffset: position)
                    position = end
                }
            }
            #expect(bytes == expected, "pieces of \(pieceLength)")
        }
    }

    @Test("masking twice restores the bytes")
    func involution() {
        let original = (0..<777).map { UInt8(truncatingIfNeeded: $0 ^ 0x5A) }
        var bytes = original
        bytes.withUnsafeMutableBytes { Masking.apply(key: (9, 99, 199, 255), to: $0, keyOffset: 2) }
        #expect(bytes != original)
        bytes.withUnsafeMutableBytes { Masking.apply(key: (9, 99, 199, 255), to: $0, keyOffset: 2) }
        #expect(bytes == original)
    }
}
