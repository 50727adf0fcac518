/// An HTTP version as it appears in the request line (RFC 9112 §2.3: `HTTP/DIGIT.DIGIT`).
public struct HTTPVersion: Sendable, Equatable, CustomStringConvertible {
    /// The digit before the dot.
    public var major: Int
    /// The digit after the dot.
    public var minor: Int

    /// Creates a version from its two digits.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.1, the only version wsbridge serves (SPEC §5).
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// The version as written on the wire, e.g. `HTTP/1.1` (also what CGI's `SERVER_PROTOCOL` holds).
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// The start line and header fields of one request, as the parser read them.
public struct HTTPRequestHead: Sendable, Equatable {
    /// The method token, case-sensitive (RFC 9110 §9.1), e.g. `GET`.
    public var method: String
    /// The raw request-target, e.g. `/a/b?x=1`, exactly as received (RFC 9112 §3.2).
    public var target: String
    /// The protocol version of the request line.
    public var version: HTTPVersion
    /// The header fields in the order received.
    public var headers: HTTPHeaders

    /// Creates a request head.
    public init(method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders()) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }

    /// The target before the first `?`, still percent-encoded.
    ///
    /// RFC 9112 §3.2.2: a server must accept the absolute-form (`http://host/a?b`), so for it the
    /// scheme and authority are dropped and the path starts at the first `/` after them (`/` if none).
    public var path: String {
        let beforeQuery = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? Substring(target)
        guard let authorityStart = Self.authorityStart(of: beforeQuery) else { return String(beforeQuery) }
        let afterAuthority = beforeQuery[authorityStart...]
        guard let slash = afterAuthority.utf8.firstIndex(of: UInt8(ascii: "/")) else { return "/" }
        return String(afterAuthority[slash...])
    }

    /// The target after the first `?`, raw (still percent-encoded), or `""` if there is none.
    public var query: String {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return "" }
        return String(target[target.index(after: mark)...])
    }

    /// Where the authority begins when `text` starts with `scheme://` (RFC 3986 §3.1: a scheme is a
    /// letter followed by letters, digits, `+`, `-` or `.`), or nil for any other form.
    private static func authorityStart(of text: Substring) -> Substring.Index? {
        let bytes = text.utf8
        var index = bytes.startIndex
        guard index != bytes.endIndex, HTTPSyntax.isLetter(bytes[index]) else { return nil }
        bytes.formIndex(after: &index)
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: ":") { break }
            guard HTTPSyntax.isLetter(byte) || HTTPSyntax.isDigit(byte) || byte == UInt8(ascii: "+")
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") else { return nil }
            bytes.formIndex(after: &index)
        }
        let rest = text[index...]
        guard rest.hasPrefix("://") else { return nil }
        return text.utf8.index(index, offsetBy: 3)
    }
}
