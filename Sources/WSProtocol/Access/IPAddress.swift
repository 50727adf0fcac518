/// An IPv4 or IPv6 address, parsed from its text without the platform (RFC 4291 §2.2, RFC 791
/// dotted quads). IPv4 is kept as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291
/// §2.5.5.2), so that a dual-stack listener's `::ffff:127.0.0.1` peer and a `127.0.0.1/32` range
/// compare as the same address.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The 16 bytes of the (mapped) IPv6 address, most significant first.
    public private(set) var bytes: [UInt8]

    /// Whether the address is IPv4 (stored mapped).
    public var isIPv4: Bool { bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"; nil for anything else (no zone
    /// ids, no brackets, no ports, no leading zeros in an IPv4 part, which some parsers read as octal).
    public init?<Text: StringProtocol>(_ text: Text) {
        let utf8 = Array(text.utf8)
        if let v4 = Self.parseIPv4(utf8[...]) {
            self.init(bytes: [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + v4)
        } else if let v6 = Self.parseIPv6(utf8) {
            self.init(bytes: v6)
        } else {
            return nil
        }
    }

    /// Dotted decimal for IPv4, RFC 5952's canonical form for IPv6.
    public var description: String {
        if isIPv4 { return bytes[12...].map(String.init).joined(separator: ".") }
        var groups: [Int] = []
        for index in stride(from: 0, to: 16, by: 2) { groups.append(Int(bytes[index]) << 8 | Int(bytes[index + 1])) }
        // The longest run of two or more zero groups becomes "::" (the first such run on a tie).
        var best = (start: -1, length: 0)
        var run = (start: -1, length: 0)
        for (index, group) in groups.enumerated() {
            if group == 0 {
                if run.start < 0 { run = (index, 0) }
                run.length += 1
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        func hex(_ range: ArraySlice<Int>) -> String { range.map { String($0, radix: 16) }.joined(separator: ":") }
        guard best.length >= 2 else { return hex(groups[...]) }
        return hex(groups[0..<best.start]) + "::" + hex(groups[(best.start + best.length)...])
    }

    static func parseIPv4(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var parts: [UInt8] = []
        var value = -1
        var digits = 0
        for byte in text {
            if byte == UInt8(ascii: ".") {
                guard value >= 0, parts.count < 3 else { return nil }
                parts.append(UInt8(value))
                value = -1
                digits = 0
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                if digits == 1 && value == 0 { return nil }
                value = max(value, 0) * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
                guard value <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard value >= 0, parts.count == 3 else { return nil }
        parts.append(UInt8(value))
        return parts
    }

    static func parseIPv6(_ text: [UInt8]) -> [UInt8]? {
        guard text.count >= 2, text.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        var index = 0
        if text.starts(with: [UInt8(ascii: ":"), UInt8(ascii: ":")]) {
            sawGap = true
            index = 2
            if index == text.count { return [UInt8](repeating: 0, count: 16) }
        } else if text[0] == UInt8(ascii: ":") {
            return nil
        }
        var embeddedV4: [UInt8]?
        while index < text.count {
            // An embedded IPv4 address ends the text (RFC 4291 §2.2, form 3).
            if let dot = text[index...].firstIndex(of: UInt8(ascii: ".")),
               !text[index..<dot].contains(UInt8(ascii: ":")) {
                guard let v4 = parseIPv4(text[index...]) else { return nil }
                embeddedV4 = v4
                index = text.count
                break
            }
            var value: UInt32 = 0
            var digits = 0
            while index < text.count, let digit = PercentDecoding.hexValue(text[index]) {
                value = value << 4 | UInt32(digit)
                digits += 1
                index += 1
                guard digits <= 4 else { return nil }
            }
            guard digits > 0 else { return nil }
            if sawGap { tail.append(UInt16(value)) } else { head.append(UInt16(value)) }
            guard index < text.count else { break }
            guard text[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            if index < text.count && text[index] == UInt8(ascii: ":") {
                guard !sawGap else { return nil }
                sawGap = true
                index += 1
                if index == text.count { break }
            } else if index == text.count {
                return nil
            }
        }
        let groupCount = head.count + tail.count + (embeddedV4 == nil ? 0 : 2)
        if sawGap {
            guard groupCount <= 7 else { return nil }
        } else {
            guard groupCount == 8 else { return nil }
        }
        var bytes: [UInt8] = []
        for group in head { bytes += [UInt8(group >> 8), UInt8(group & 0xFF)] }
        let zeros = 16 - groupCount * 2
        if sawGap { bytes += [UInt8](repeating: 0, count: zeros) }
        for group in tail { bytes += [UInt8(group >> 8), UInt8(group & 0xFF)] }
        if let embeddedV4 { bytes += embeddedV4 }
        return bytes.count == 16 ? bytes : nil
    }
}

/// An address range in CIDR notation ("10.0.0.0/8", "2001:db8::/32"; a bare address is one host).
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    /// Prefix length over the 128-bit (mapped) form.
    public let prefixLength: Int

    public init?<Text: StringProtocol>(_ text: Text) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        let maximum = address.isIPv4 ? 32 : 128
        var length = maximum
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].count <= 3, parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber),
                  let value = Int(parts[1]), value <= maximum else { return nil }
            if parts[1].count > 1 && parts[1].first == "0" { return nil }
            length = value
        }
        self.address = address
        self.prefixLength = address.isIPv4 ? length + 96 : length
    }

    public func contains(_ other: IPAddress) -> Bool {
        var remaining = prefixLength
        for index in 0..<16 where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if address.bytes[index] & mask != other.bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String {
        "\(address)/\(address.isIPv4 ? prefixLength - 96 : prefixLength)"
    }
}
