/// SHA-1 (RFC 3174, FIPS 180-4 §6.1), needed only for `Sec-WebSocket-Accept` (RFC 6455 §4.2.2).
///
/// SHA-1 is broken for collision resistance, but the handshake only uses it to prove that the
/// server read the key, so that is harmless here. Our own implementation keeps the package free of
/// dependencies.
public enum SHA1 {
    /// The length of a digest in bytes.
    public static let digestByteCount = 20

    /// The 20-byte digest of `bytes`.
    public static func hash<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var state = SHA1State()
        let handled: Void? = bytes.withContiguousStorageIfAvailable { state.update(UnsafeRawBufferPointer($0)) }
        if handled == nil {
            Array(bytes).withUnsafeBytes { state.update($0) }
        }
        return state.finalize()
    }
}

/// The running state of one SHA-1 computation, fed in any pieces.
private struct SHA1State {
    /// The five chaining words H0…H4, starting at the values of RFC 3174 §6.1.
    private var h0: UInt32 = 0x6745_2301
    private var h1: UInt32 = 0xEFCD_AB89
    private var h2: UInt32 = 0x98BA_DCFE
    private var h3: UInt32 = 0x1032_5476
    private var h4: UInt32 = 0xC3D2_E1F0
    /// Bytes of an incomplete 64-byte block.
    private var pending: [UInt8] = []
    /// The message length so far in bytes.
    private var byteCount: UInt64 = 0

    /// Adds message bytes.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        byteCount &+= UInt64(bytes.count)
        var offset = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<take])
            offset = take
            guard pending.count == 64 else { return }
            let block = pending
            block.withUnsafeBytes { compress($0) }
            pending.removeAll(keepingCapacity: true)
        }
        while bytes.count - offset >= 64 {
            compress(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 64)]))
            offset += 64
        }
        pending.append(contentsOf: bytes[offset...])
    }

    /// Pads the message (RFC 3174 §4: a 1 bit, zeros, the 64-bit bit length) and returns the digest.
    mutating func finalize() -> [UInt8] {
        let bitCount = byteCount &* 8
        var tail: [UInt8] = [0x80]
        let used = (pending.count + 1) % 64
        tail.append(contentsOf: repeatElement(0, count: used <= 56 ? 56 - used : 120 - used))
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitCount >> UInt64(shift)))
        }
        let savedCount = byteCount
        tail.withUnsafeBytes { update($0) }
        byteCount = savedCount
        precondition(pending.isEmpty, "padding ends on a block boundary")
        var digest: [UInt8] = []
        digest.reserveCapacity(SHA1.digestByteCount)
        for word in [h0, h1, h2, h3, h4] {
            digest.append(contentsOf: [UInt8(word >> 24), UInt8((word >> 16) & 0xFF), UInt8((word >> 8) & 0xFF), UInt8(word & 0xFF)])
        }
        return digest
    }

    /// Processes one 64-byte block (RFC 3174 §6.1, method 1).
    private mutating func compress(_ block: UnsafeRawBufferPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            for t in 0..<16 {
                w[t] = block.loadUnaligned(fromByteOffset: t * 4, as: UInt32.self).bigEndian
            }
            for t in 16..<80 {
                w[t] = rotateLeft(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], by: 1)
            }
            var a = h0, b = h1, c = h2, d = h3, e = h4
            for t in 0..<80 {
                let f: UInt32
                let k: UInt32
                switch t {
                case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
                case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
                case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
                default: f = b ^ c ^ d; k = 0xCA62_C1D6
                }
                let temp = rotateLeft(a, by: 5) &+ f &+ e &+ w[t] &+ k
                e = d
                d = c
                c = rotateLeft(b, by: 30)
                b = a
                a = temp
            }
            h0 &+= a
            h1 &+= b
            h2 &+= c
            h3 &+= d
            h4 &+= e
        }
    }

    /// The circular left shift S^n of RFC 3174 §3.
    @inline(__always)
    private func rotateLeft(_ word: UInt32, by count: UInt32) -> UInt32 {
        (word << count) | (word >> (32 - count))
    }
}
