import Testing
@testable import WSProtocol
@testable import WSBridging
import TestSupport

@Suite("UTF8Repair")
struct UTF8RepairTests {
    static func repair(_ bytes: [UInt8]) -> (bytes: [UInt8]?, replacements: Int) {
        var replacements = 0
        let repaired = bytes.withUnsafeBytes { UTF8Repair.repairing($0, replacementCount: &replacements) }
        return (repaired, replacements)
    }

    @Test("valid UTF-8 needs no repair", arguments: [
        [], Array("hello".utf8), Array("héllo wörld 🎉 日本".utf8), [0x00], [0xEF, 0xBF, 0xBE], [0xEF, 0xBF, 0xBD],
        [0xF4, 0x8F, 0xBF, 0xBF], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], Array("0123456789abcdef0123456789".utf8),
    ] as [[UInt8]])
    func validIsNil(_ bytes: [UInt8]) {
        let result = Self.repair(bytes)
        #expect(result.bytes == nil)
        #expect(result.replacements == 0)
    }

    @Test("Unicode §3.9 Table 3-11: one U+FFFD per maximal subpart")
    func unicodeExample() {
        let input: [UInt8] = [0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64]
        let result = Self.repair(input)
        #expect(result.bytes == Array("a\u{FFFD}\u{FFFD}\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}d".utf8))
        #expect(result.replacements == 6)
    }

    @Test("ASCII runs around invalid bytes are copied intact")
    func longRuns() {
        let prefix = Array("0123456789abcdefghijklmnopqrstuv".utf8)
        let input = prefix + [0xFF] + prefix + [0xE2, 0x82] + prefix + [0xF0, 0x9F]
        let expected = prefix + UTF8Repair.replacementCharacter + prefix + UTF8Repair.replacementCharacter
            + prefix + UTF8Repair.replacementCharacter
        #expect(Self.repair(input).bytes == expected)
        #expect(Self.repair(input).replacements == 3)
    }

    @Test("matches Swift's decoder (the WHATWG maximal-subpart rule) on random byte strings")
    func matchesSwiftDecoder() {
        var generator = SplitMix64(seed: 0x5EED_0F_C0DE)
        // Bytes weighted towards the edges of UTF-8's ranges, where decoders disagree.
        let interesting: [UInt8] = [
            0x00, 0x0A, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBD, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
            0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFE, 0xFF,
        ]
        var repairedCount = 0
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...40, using: &generator)
            let input: [UInt8] = (0..<length).map { _ in
                Bool.random(using: &generator)
                    ? interesting.randomElement(using: &generator) ?? 0
                    : UInt8.random(in: 0...255, using: &generator)
            }
            let expected = Array(String(decoding: input, as: UTF8.self).utf8)
            let result = Self.repair(input)
            #expect((result.bytes ?? input) == expected, "input \(input)")
            #expect((result.bytes == nil) == UTF8Validator.isValid(input))
            // Each valid U+FFFD already in the input decodes as itself, so the rest were inserted.
            let inputReplacements = Self.occurrences(of: UTF8Repair.replacementCharacter, in: input)
            let outputReplacements = Self.occurrences(of: UTF8Repair.replacementCharacter, in: expected)
            #expect(result.replacements == outputReplacements - inputReplacements, "input \(input)")
            if result.bytes != nil { repairedCount += 1 }
        }
        #expect(repairedCount > 10_000)
    }

    static func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> Int {
        guard haystack.count >= needle.count else { return 0 }
        return (0...(haystack.count - needle.count)).count { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
