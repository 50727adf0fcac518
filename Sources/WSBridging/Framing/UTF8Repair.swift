import WSProtocol

/// Replaces invalid UTF-8 with U+FFFD REPLACEMENT CHARACTER, one per maximal invalid subpart, exactly
/// as the WHATWG Encoding Standard's UTF-8 decoder (and so every browser) does.
///
/// Line framing needs it because a text frame must be valid UTF-8 (RFC 6455 §8.1) while a child may
/// print anything. The rule is Unicode §3.9's "maximal subpart" practice (Table 3-8): a truncated
/// but well-started sequence becomes one U+FFFD, and every byte that cannot start or continue a
/// character becomes one U+FFFD of its own.
public enum UTF8Repair {
    /// U+FFFD REPLACEMENT CHARACTER encoded as UTF-8.
    public static let replacementCharacter: [UInt8] = [0xEF, 0xBF, 0xBD]

    /// Returns `bytes` with every maximal invalid subpart replaced by U+FFFD, or `nil` when `bytes`
    /// are already valid UTF-8 (the common case, which costs one validation pass and no allocation).
    public static func repairing(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        var replacements = 0
        return repairing(bytes, replacementCount: &replacements)
    }

    /// Like `repairing(_:)`, and adds the number of U+FFFD characters inserted to `replacementCount`.
    public static func repairing(_ bytes: UnsafeRawBufferPointer, replacementCount: inout Int) -> [UInt8]? {
        var validator = UTF8Validator()
        if validator.validate(bytes) && validator.isAtCharacterBoundary { return nil }
        return rebuild(bytes, replacementCount: &replacementCount)
    }

    /// Copies `bytes`, valid runs in bulk, with U+FFFD in place of each maximal invalid subpart.
    private static func rebuild(_ bytes: UnsafeRawBufferPointer, replacementCount: inout Int) -> [UInt8] {
        let count = bytes.count
        guard let base = bytes.baseAddress, count > 0 else { return [] }
        var output: [UInt8] = []
        output.reserveCapacity(count + 2 * replacementCharacter.count)
        var validator = UTF8Validator()
        // Bytes before `runStart` are in `output`; `runStart..<characterStart` are valid, not yet copied.
        var runStart = 0
        var characterStart = 0
        var index = 0

        func flush(upTo end: Int) {
            if end > runStart {
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<end]))
            }
        }

        while index < count {
            if validator.isAtCharacterBoundary {
                // ASCII runs need no per-byte work: skip eight bytes at a time.
                while index + 8 <= count,
                      base.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                    index += 8
                }
                if index >= count { break }
                characterStart = index
            }
            switch validator.step(base.load(fromByteOffset: index, as: UInt8.self)) {
            case .accepted:
                index += 1
            case .rejected(wasInsideCharacter: true):
                // The well-started prefix is one maximal subpart; this byte is looked at again as a
                // fresh start (WHATWG Encoding "UTF-8 decoder": restore byte to the stream).
                flush(upTo: characterStart)
                output.append(contentsOf: replacementCharacter)
                replacementCount += 1
                runStart = index
            case .rejected(wasInsideCharacter: false):
                flush(upTo: index)
                output.append(contentsOf: replacementCharacter)
                replacementCount += 1
                index += 1
                runStart = index
            }
        }
        if validator.isAtCharacterBoundary {
            flush(upTo: count)
        } else {
            // A character cut off by the end of the input is one last maximal subpart.
            flush(upTo: characterStart)
            output.append(contentsOf: replacementCharacter)
            replacementCount += 1
        }
        return output
    }
}
