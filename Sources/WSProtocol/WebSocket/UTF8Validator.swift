/// Checks UTF-8 incrementally: bytes may arrive in any pieces, and the validator says "invalid" at the
/// first byte after which no continuation could make the input valid (RFC 3629 §4, Unicode's
/// "maximal subpart" rule). This is what lets a text message fail fast with 1007 (RFC 6455 §8.1).
public struct UTF8Validator: Sendable, Equatable {
    /// Continuation bytes still expected for the character in progress (0 on a character boundary).
    public private(set) var pendingContinuationBytes: UInt8 = 0
    /// The smallest byte allowed next in the character in progress.
    private var lowerBound: UInt8 = 0x80
    /// The largest byte allowed next in the character in progress.
    private var upperBound: UInt8 = 0xBF

    /// Creates a validator at a character boundary.
    public init() {}

    /// Whether the input so far ends on a character boundary, that is, is complete valid UTF-8.
    public var isAtCharacterBoundary: Bool { pendingContinuationBytes == 0 }

    /// The outcome of feeding one byte.
    public enum Step: Sendable, Equatable {
        /// The byte continues valid UTF-8.
        case accepted
        /// The byte cannot follow what came before. If a character was in progress, its bytes form
        /// one maximal invalid subpart and this byte must be looked at again as a fresh start;
        /// the validator is back at a character boundary either way.
        case rejected(wasInsideCharacter: Bool)
    }

    /// Feeds one byte.
    @inline(__always)
    public mutating func step(_ byte: UInt8) -> Step {
        if pendingContinuationBytes > 0 {
            guard byte >= lowerBound && byte <= upperBound else {
                reset()
                return .rejected(wasInsideCharacter: true)
            }
            pendingContinuationBytes -= 1
            lowerBound = 0x80
            upperBound = 0xBF
            return .accepted
        }
        switch byte {
        case 0x00...0x7F:
            return .accepted
        case 0xC2...0xDF:
            pendingContinuationBytes = 1
        case 0xE0:
            pendingContinuationBytes = 2
            lowerBound = 0xA0  // no overlong three-byte forms
        case 0xE1...0xEC, 0xEE...0xEF:
            pendingContinuationBytes = 2
        case 0xED:
            pendingContinuationBytes = 2
            upperBound = 0x9F  // no UTF-16 surrogates (U+D800–U+DFFF)
        case 0xF0:
            pendingContinuationBytes = 3
            lowerBound = 0x90  // no overlong four-byte forms
        case 0xF1...0xF3:
            pendingContinuationBytes = 3
        case 0xF4:
            pendingContinuationBytes = 3
            upperBound = 0x8F  // nothing above U+10FFFF
        default:
            // 0x80–0xC1 cannot start a character, 0xF5–0xFF never appear in UTF-8.
            return .rejected(wasInsideCharacter: false)
        }
        return .accepted
    }

    /// Feeds `bytes`; returns `false` as soon as the input so far cannot be the start of valid UTF-8.
    /// After `false` the validator's state is unspecified: call `reset()` before reusing it.
    public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = bytes.count
        guard count > 0 else { return true }
        let base = bytes.baseAddress!
        var index = 0
        while index < count {
            if pendingContinuationBytes == 0 {
                // ASCII runs are the common case: check eight bytes at a time.
                while index + 8 <= count {
                    let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    if word & 0x8080_8080_8080_8080 != 0 { break }
                    index += 8
                }
                if index >= count { break }
            }
            if case .rejected = step(base.load(fromByteOffset: index, as: UInt8.self)) { return false }
            index += 1
        }
        return true
    }

    /// Feeds the bytes of any collection; see `validate(_:)`.
    public mutating func validate<Bytes: Collection>(contentsOf bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        if let result = bytes.withContiguousStorageIfAvailable({ validate(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        for byte in bytes {
            if case .rejected = step(byte) { return false }
        }
        return true
    }

    /// Returns to a character boundary.
    public mutating func reset() {
        pendingContinuationBytes = 0
        lowerBound = 0x80
        upperBound = 0xBF
    }

    /// Whether `bytes` are complete, valid UTF-8.
    public static func isValid<Bytes: Collection>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        var validator = UTF8Validator()
        return validator.validate(contentsOf: bytes) && validator.isAtCharacterBoundary
    }
}
