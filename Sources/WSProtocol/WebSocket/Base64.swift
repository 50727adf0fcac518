/// Base64 with the standard alphabet and padding (RFC 4648 §4), for `Sec-WebSocket-Key` and
/// `Sec-WebSocket-Accept` (RFC 6455 §4.1, §4.2.2).
public enum Base64 {
    /// The 64 characters of RFC 4648 §4, Table 1.
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Each byte's value in the alphabet, or 0xFF for a byte outside it.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, character) in alphabet.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }()

    /// The padded base64 text of `bytes`.
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count + 2) / 3 * 4)
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = second == nil ? nil : iterator.next()
            let group = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            output.append(alphabet[Int(group >> 18)])
            output.append(alphabet[Int((group >> 12) & 0x3F)])
            output.append(second == nil ? UInt8(ascii: "=") : alphabet[Int((group >> 6) & 0x3F)])
            output.append(third == nil ? UInt8(ascii: "=") : alphabet[Int(group & 0x3F)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The bytes encoded by `text`, or nil unless it is canonical padded base64.
    ///
    /// Strict on purpose (RFC 4648 §3.3, §3.5 let a decoder reject): no whitespace, no line breaks,
    /// no URL-safe alphabet, a length that is a multiple of 4, `=` only as the final one or two
    /// characters, and zero bits where padding leaves bits unused.
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(characters.count / 4 * 3)
        var index = 0
        while index < characters.count {
            let isLastGroup = index + 4 == characters.count
            let padding = isLastGroup ? characters[index...].reversed().prefix { $0 == UInt8(ascii: "=") }.count : 0
            guard padding <= 2 else { return nil }
            var group: UInt32 = 0
            for offset in 0..<4 {
                let value = offset < 4 - padding ? values[Int(characters[index + offset])] : 0
                guard value != 0xFF else { return nil }
                group = group << 6 | UInt32(value)
            }
            output.append(UInt8(group >> 16))
            if padding < 2 { output.append(UInt8((group >> 8) & 0xFF)) }
            if padding < 1 { output.append(UInt8(group & 0xFF)) }
            // RFC 4648 §3.5: the bits that padding leaves over must be zero in canonical text.
            if padding == 2 && group & 0xFFFF != 0 { return nil }
            if padding == 1 && group & 0xFF != 0 { return nil }
            index += 4
        }
        return output
    }
}
