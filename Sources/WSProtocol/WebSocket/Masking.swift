/// The XOR masking of client-to-server payloads (RFC 6455 §5.3): byte `i` of the payload is XORed
/// with byte `i % 4` of the 32-bit masking key. Masking and unmasking are the same operation.
public enum Masking {
    /// A masking key as its four bytes in wire order.
    public typealias Key = (UInt8, UInt8, UInt8, UInt8)

    /// XORs `bytes` with the key, the key's phase starting at `keyOffset` (0-3); word at a time.
    ///
    /// `keyOffset` is the position of `bytes[0]` within the payload modulo 4, so a payload can be
    /// unmasked in pieces as it arrives. The bulk is done eight bytes at a time with aligned loads:
    /// the bytes before the first 8-byte boundary go one by one, then the key is repeated into a
    /// 64-bit word rotated to the phase reached there (a word spans two whole key periods, so the
    /// phase is the same at every later word).
    public static func apply(key: Key, to bytes: UnsafeMutableRawBufferPointer, keyOffset: Int = 0) {
        let count = bytes.count
        guard count > 0, let base = bytes.baseAddress else { return }
        var phase = keyOffset & 3
        var index = 0

        let misalignment = Int(bitPattern: base) & 7
        let head = misalignment == 0 ? 0 : Swift.min(8 - misalignment, count)
        while index < head {
            base.storeBytes(of: base.load(fromByteOffset: index, as: UInt8.self) ^ byte(of: key, at: phase),
                            toByteOffset: index, as: UInt8.self)
            phase = (phase + 1) & 3
            index += 1
        }

        if count - index >= 8 {
            var word: UInt64 = 0
            withUnsafeMutableBytes(of: &word) { wordBytes in
                for offset in 0..<8 { wordBytes[offset] = byte(of: key, at: phase + offset) }
            }
            // The words are aligned, so plain loads and stores apply; four per round keeps the loop
            // overhead low on large payloads.
            while count - index >= 32 {
                for offset in stride(from: index, to: index + 32, by: 8) {
                    base.storeBytes(of: base.load(fromByteOffset: offset, as: UInt64.self) ^ word,
                                    toByteOffset: offset, as: UInt64.self)
                }
                index += 32
            }
            while count - index >= 8 {
                base.storeBytes(of: base.load(fromByteOffset: index, as: UInt64.self) ^ word,
                                toByteOffset: index, as: UInt64.self)
                index += 8
            }
        }

        while index < count {
            base.storeBytes(of: base.load(fromByteOffset: index, as: UInt8.self) ^ byte(of: key, at: phase),
                            toByteOffset: index, as: UInt8.self)
            phase = (phase + 1) & 3
            index += 1
        }
    }

    /// The key byte for payload position `position` (taken modulo 4).
    @inline(__always)
    static func byte(of key: Key, at position: Int) -> UInt8 {
        switch position & 3 {
        case 0: key.0
        case 1: key.1
        case 2: key.2
        default: key.3
        }
    }
}
