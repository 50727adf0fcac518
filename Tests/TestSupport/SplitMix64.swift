/// A small seeded generator (SplitMix64) so that every random and mutation test is repeatable,
/// shared by the unit and the integration tests.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    /// Starts the sequence at `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SplitMix64 {
    /// A number in `0..<bound`.
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// A random byte.
    public mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }

    /// True with probability `percent` / 100.
    public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}

extension SplitMix64 {
    /// One to five random edits of `bytes` (replace, insert or remove a byte, the new bytes drawn
    /// from `alphabet`): the mutation step the parsers' seeded mutation tests share.
    public mutating func mutate(_ bytes: inout [UInt8], alphabet: [UInt8]) {
        for _ in 0...below(4) {
            switch below(3) {
            case 0 where !bytes.isEmpty: bytes[below(bytes.count)] = alphabet[below(alphabet.count)]
            case 1: bytes.insert(alphabet[below(alphabet.count)], at: below(bytes.count + 1))
            default: if !bytes.isEmpty { bytes.remove(at: below(bytes.count)) }
            }
        }
    }
}
