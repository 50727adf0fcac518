/// Decodes the path of a request-target into file-system-safe segments, and encodes segments back
/// into a path, for `--dir`, `--staticdir` and `--cgidir` (SPEC §5: nothing outside DIR is reached).
///
/// Each segment is decoded once (RFC 3986 §2.1), so `%252e` is the three characters `%2e`, never a
/// dot. Dot segments are removed after decoding (RFC 3986 §5.2.4, §6.2.2.2: `%2e%2e` is `..`), and a
/// `..` that would climb above the root refuses the whole path instead of being clamped there.
public enum PercentDecoding {
    /// Why a path cannot name anything under a served directory; every case is answered with 404.
    public enum Refusal: Error, Equatable, Sendable {
        /// The path does not start with `/` (RFC 9112 §3.2.1: origin-form is an absolute path).
        case notAbsolute
        /// A `%` is not followed by two hexadecimal digits (RFC 3986 §2.1).
        case invalidEscape
        /// `%2F`: a slash inside a segment would be a separator to the file system.
        case encodedSlash
        /// A backslash, raw or `%5C`: a separator on other systems, never part of a served name.
        case backslash
        /// `%00` or a raw NUL: a NUL ends a C string, so the file system would see a shorter name.
        case nulByte
        /// The decoded bytes of a segment are not UTF-8, so no `String` names them faithfully.
        case invalidUTF8
        /// A `..` segment climbs above the root.
        case escapesRoot
    }

    /// Splits `path` (the part of the target before `?`, still encoded) at `/`, decodes each segment,
    /// drops empty and `.` segments and resolves `..` against the segments before it.
    public static func decodePath(_ path: String) throws(Refusal) -> DecodedPath {
        let bytes = Array(path.utf8)
        guard bytes.first == UInt8(ascii: "/") else { throw .notAbsolute }
        var segments: [String] = []
        var hasTrailingSlash = false
        var start = 1
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.count
            let segment = try decodeSegment(bytes[start..<end])
            // RFC 3986 §5.2.4: a path ending in an empty, `.` or `..` segment names a directory.
            hasTrailingSlash = end == bytes.count && (segment.isEmpty || segment == "." || segment == "..")
            switch segment {
            case "", ".":
                break
            case "..":
                guard !segments.isEmpty else { throw .escapesRoot }
                segments.removeLast()
            default:
                segments.append(segment)
            }
            start = end + 1
        }
        return DecodedPath(segments: segments, hasTrailingSlash: hasTrailingSlash)
    }

    /// Decodes one segment's `%XX` escapes, refusing those that could change which file is named.
    public static func decodeSegment(_ raw: ArraySlice<UInt8>) throws(Refusal) -> String {
        guard raw.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "\\") || $0 == 0 }) else {
            return String(decoding: raw, as: UTF8.self)
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index < raw.endIndex {
            let byte = raw[index]
            if byte == UInt8(ascii: "\\") { throw .backslash }
            if byte == 0 { throw .nulByte }
            guard byte == UInt8(ascii: "%") else {
                decoded.append(byte)
                index += 1
                continue
            }
            guard raw.endIndex - index >= 3,
                  let high = hexValue(raw[index + 1]), let low = hexValue(raw[index + 2]) else { throw .invalidEscape }
            let value = high << 4 | low
            switch value {
            case UInt8(ascii: "/"): throw .encodedSlash
            case UInt8(ascii: "\\"): throw .backslash
            case 0: throw .nulByte
            default: decoded.append(value)
            }
            index += 3
        }
        guard let text = String(validating: decoded, as: UTF8.self) else { throw .invalidUTF8 }
        return text
    }

    /// Encodes segments back into an absolute path, escaping every byte that is not a `pchar`
    /// (RFC 3986 §3.3), e.g. for a `Location` header.
    public static func encodePath<Segments: Sequence>(_ segments: Segments, trailingSlash: Bool) -> String
    where Segments.Element == String {
        var bytes: [UInt8] = [UInt8(ascii: "/")]
        var isFirst = true
        for segment in segments {
            if !isFirst { bytes.append(UInt8(ascii: "/")) }
            isFirst = false
            for byte in segment.utf8 {
                if isPathCharacter(byte) {
                    bytes.append(byte)
                } else {
                    bytes.append(UInt8(ascii: "%"))
                    bytes.append(hexDigits[Int(byte >> 4)])
                    bytes.append(hexDigits[Int(byte & 0x0F)])
                }
            }
        }
        if trailingSlash && !isFirst { bytes.append(UInt8(ascii: "/")) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Upper-case hexadecimal digits, as RFC 3986 §2.1 recommends for producers.
    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// The value of one hexadecimal digit, either case, or nil (IPv6 groups use it too).
    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Whether a byte may stand unescaped in a segment: unreserved, sub-delims, `:` or `@`
    /// (RFC 3986 §3.3 `pchar`).
    @inline(__always)
    private static func isPathCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
             UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
             UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
             UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"):
            true
        default:
            false
        }
    }
}

/// A request path after decoding: the segments that name a file under a root, in order.
public struct DecodedPath: Sendable, Equatable {
    /// The decoded segments, none empty, `.` or `..`, none holding `/`, `\` or NUL.
    public var segments: [String]
    /// Whether the path ended in `/` (or a dot segment), which names a directory.
    public var hasTrailingSlash: Bool

    /// Creates a decoded path.
    public init(segments: [String], hasTrailingSlash: Bool) {
        self.segments = segments
        self.hasTrailingSlash = hasTrailingSlash
    }

    /// The decoded path as text, `/` joined, e.g. `/sub/app.sh` (RFC 3875 §4.1.13: not URL-encoded).
    public var text: String {
        guard !segments.isEmpty else { return "/" }
        return "/" + segments.joined(separator: "/") + (hasTrailingSlash ? "/" : "")
    }
}
