import Testing
@testable import WSProtocol
import TestSupport

@Suite("UTF8Validator")
struct UTF8ValidatorTests {
    /// A case from Markus Kuhn's UTF-8 decoder stress test (as Autobahn 6.* uses it): the bytes, the
    /// index of the first byte after which no continuation can make them valid (nil: none), and
    /// whether they end on a character boundary.
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        var firstInvalidIndex: Int?
        var isComplete: Bool
        var testDescription: String { name }

        init(_ name: String, _ bytes: String, invalidAt: Int? = nil, complete: Bool = true) {
            self.name = name
            self.bytes = hex(bytes)
            firstInvalidIndex = invalidAt
            isComplete = invalidAt == nil && complete
        }
    }

    static let cases: [Case] = [
        // 1: correct text.
        Case("κόσμε", "ce ba e1 bd b9 cf 83 ce bc ce b5"),
        Case("empty", ""),
        // 2.1-2.3: first, last and other boundary sequences of each length.
        Case("U+0000", "00"), Case("U+0080", "c2 80"), Case("U+0800", "e0 a0 80"), Case("U+10000", "f0 90 80 80"),
        Case("U+007F", "7f"), Case("U+07FF", "df bf"), Case("U+FFFF", "ef bf bf"), Case("U+10FFFF", "f4 8f bf bf"),
        Case("U+D7FF", "ed 9f bf"), Case("U+E000", "ee 80 80"), Case("U+FFFD", "ef bf bd"), Case("U+FFFE", "ef bf be"),
        // 2.3.5 / 3.x: beyond U+10FFFF and the old 5- and 6-byte forms.
        Case("U+110000", "f4 90 80 80", invalidAt: 1), Case("U+13FFFF", "f4 bf bf bf", invalidAt: 1),
        Case("U+140000 (f5)", "f5 80 80 80", invalidAt: 0), Case("5-byte U+200000", "f8 88 80 80 80", invalidAt: 0),
        Case("6-byte U+4000000", "fc 84 80 80 80 80", invalidAt: 0), Case("U+7FFFFFFF", "fd bf bf bf bf bf", invalidAt: 0),
        // 3.1: unexpected continuation bytes.
        Case("lone 80", "80", invalidAt: 0), Case("lone bf", "bf", invalidAt: 0), Case("80 bf 80", "80 bf 80", invalidAt: 0),
        Case("ASCII then continuation", "41 42 80", invalidAt: 2),
        // 3.2: lonely start characters followed by a space.
        Case("c0 space", "c0 20", invalidAt: 0), Case("c2 space", "c2 20", invalidAt: 1), Case("e0 space", "e0 20", invalidAt: 1),
        Case("f0 space", "f0 20", invalidAt: 1), Case("f8 space", "f8 20", invalidAt: 0), Case("fc space", "fc 20", invalidAt: 0),
        // 3.3-3.4: sequences with the last continuation byte missing, alone and concatenated.
        Case("c2 at end", "c2", complete: false), Case("e0 a0 at end", "e0 a0", complete: false),
        Case("f0 90 80 at end", "f0 90 80", complete: false), Case("df then ASCII", "df 41", invalidAt: 1),
        Case("ef bf then ASCII", "ef bf 41", invalidAt: 2), Case("f4 8f bf then ASCII", "f4 8f bf 41", invalidAt: 3),
        Case("concatenated incomplete", "e0 a0 c2 f0 90 80", invalidAt: 2),
        // 3.5: impossible bytes.
        Case("fe", "fe", invalidAt: 0), Case("ff", "ff", invalidAt: 0), Case("fe fe ff ff", "fe fe ff ff", invalidAt: 0),
        // 4.1-4.3: overlong forms, including the maximal and the overlong NUL.
        Case("overlong / c0 af", "c0 af", invalidAt: 0), Case("overlong / e0 80 af", "e0 80 af", invalidAt: 1),
        Case("overlong / f0 80 80 af", "f0 80 80 af", invalidAt: 1), Case("overlong / f8", "f8 80 80 80 af", invalidAt: 0),
        Case("max overlong c1 bf", "c1 bf", invalidAt: 0), Case("max overlong e0 9f bf", "e0 9f bf", invalidAt: 1),
        Case("max overlong f0 8f bf bf", "f0 8f bf bf", invalidAt: 1), Case("overlong NUL c0 80", "c0 80", invalidAt: 0),
        Case("overlong NUL e0 80 80", "e0 80 80", invalidAt: 1), Case("overlong NUL f0 80 80 80", "f0 80 80 80", invalidAt: 1),
        // 5.1-5.2: single and paired UTF-16 surrogates.
        Case("U+D800", "ed a0 80", invalidAt: 1), Case("U+DB7F", "ed ad bf", invalidAt: 1), Case("U+DB80", "ed ae 80", invalidAt: 1),
        Case("U+DBFF", "ed af bf", invalidAt: 1), Case("U+DC00", "ed b0 80", invalidAt: 1), Case("U+DF80", "ed be 80", invalidAt: 1),
        Case("U+DFFF", "ed bf bf", invalidAt: 1), Case("U+D800 U+DC00", "ed a0 80 ed b0 80", invalidAt: 1),
        Case("U+DBFF U+DFFF", "ed af bf ed bf bf", invalidAt: 1),
        // Autobahn 6.3.1 / 6.4.1: valid text with a bad sequence in the middle.
        Case("κόσμε + surrogate + edited", "ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64", invalidAt: 12),
        Case("κόσμε + f4 90 80 80 + edited", "ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90 80 80 65 64 69 74 65 64", invalidAt: 12),
        // An ASCII run longer than a word, then a bad byte (the eight-at-a-time path).
        Case("long ASCII then ff", "41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 ff", invalidAt: 17),
    ]

    /// The index of the first byte the validator rejects, fed one byte at a time.
    static func firstRejection(_ bytes: [UInt8]) -> Int? {
        var validator = UTF8Validator()
        for (index, byte) in bytes.enumerated() {
            if !validator.validate(contentsOf: [byte]) { return index }
        }
        return nil
    }

    /// Decodes with U+FFFD for each maximal invalid subpart, driven by `step` alone.
    static func decodeReplacing(_ bytes: [UInt8]) -> String {
        var validator = UTF8Validator()
        var result = ""
        var character: [UInt8] = []
        var index = 0
        while index < bytes.count {
            switch validator.step(bytes[index]) {
            case .accepted:
                character.append(bytes[index])
                if validator.isAtCharacterBoundary {
                    result += String(decoding: character, as: UTF8.self)
                    character = []
                }
                index += 1
            case .rejected(wasInsideCharacter: true):
                // The started character is one maximal subpart; the byte is looked at again.
                result += "\u{FFFD}"
                character = []
            case .rejected(wasInsideCharacter: false):
                result += "\u{FFFD}"
                index += 1
            }
        }
        if !character.isEmpty { result += "\u{FFFD}" }
        return result
    }

    @Test("Markus Kuhn's stress cases: rejected at the right byte, whole, byte by byte and split at every index", arguments: cases)
    func kuhnCase(_ testCase: Case) {
        let bytes = testCase.bytes
        #expect(Self.firstRejection(bytes) == testCase.firstInvalidIndex)
        #expect(UTF8Validator.isValid(bytes) == testCase.isComplete)
        #expect(UTF8Validator.isValid(bytes) == (String(validating: bytes, as: UTF8.self) != nil))
        var whole = UTF8Validator()
        let wholeResult = whole.validate(contentsOf: bytes)
        #expect(wholeResult == (testCase.firstInvalidIndex == nil))
        for split in 0...bytes.count {
            var validator = UTF8Validator()
            let result = validator.validate(contentsOf: bytes[..<split]) && validator.validate(contentsOf: bytes[split...])
            #expect(result == wholeResult, "split at \(split)")
            if result { #expect(validator.isAtCharacterBoundary == testCase.isComplete, "split at \(split)") }
        }
    }

    @Test("Unicode §3.9 Table 3-8: U+FFFD per maximal subpart")
    func unicodeTable38() {
        let bytes = hex("61 f1 80 80 e1 80 c2 62 80 63 80 bf 64")
        #expect(Self.decodeReplacing(bytes) == "a\u{FFFD}\u{FFFD}\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}d")
    }

    @Test("every maximal subpart boundary matches the standard library's decoder, for every Kuhn case")
    func maximalSubpartsOfCases() {
        for testCase in Self.cases {
            #expect(Self.decodeReplacing(testCase.bytes) == String(decoding: testCase.bytes, as: UTF8.self), "\(testCase.name)")
        }
    }

    @Test("all two-byte inputs, and three-byte inputs for every lead byte, agree with the standard library")
    func exhaustiveShortInputs() {
        let thirdBytes: [UInt8] = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF4, 0xFF]
        for first in 0...255 {
            for second in 0...255 {
                let pair = [UInt8(first), UInt8(second)]
                #expect(UTF8Validator.isValid(pair) == (String(validating: pair, as: UTF8.self) != nil))
                #expect(Self.decodeReplacing(pair) == String(decoding: pair, as: UTF8.self))
                guard first >= 0xC0 else { continue }
                for third in thirdBytes {
                    let triple = pair + [third]
                    #expect(Self.decodeReplacing(triple) == String(decoding: triple, as: UTF8.self), "\(triple)")
                }
            }
        }
    }

    @Test("seeded random byte strings: validity and subparts agree with the standard library, in any split")
    func randomDifferential() {
        var random = SplitMix64(seed: 0x5EED_0F_57F8)
        let interesting: [UInt8] = [0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                                    0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF]
        for _ in 0..<3000 {
            let length = Int(random.next() % 24)
            let bytes = (0..<length).map { _ in
                random.next() % 3 == 0 ? UInt8(truncatingIfNeeded: random.next()) : interesting[Int(random.next() % UInt64(interesting.count))]
            }
            let valid = String(validating: bytes, as: UTF8.self) != nil
            #expect(UTF8Validator.isValid(bytes) == valid, "\(bytes)")
            #expect(Self.decodeReplacing(bytes) == String(decoding: bytes, as: UTF8.self), "\(bytes)")
            let split = length == 0 ? 0 : Int(random.next() % UInt64(length + 1))
            var validator = UTF8Validator()
            let pieces = validator.validate(contentsOf: bytes[..<split]) && validator.validate(contentsOf: bytes[split...])
            #expect((pieces && validator.isAtCharacterBoundary) == valid, "\(bytes) split at \(split)")
        }
    }
}
