/// One parameter of an extension in `Sec-WebSocket-Extensions`: `name` or `name=value`
/// (RFC 6455 §9.1 `extension-param`).
public struct ExtensionParameter: Sendable, Equatable {
    /// The parameter's name, lowercased: names compare case-insensitively.
    public var name: String
    /// The value as written, or unquoted with its backslash escapes resolved when it was a
    /// quoted-string; nil when the parameter has no value.
    public var value: String?

    /// A parameter named `name`, with `value` if any.
    public init(name: String, value: String? = nil) {
        self.name = name
        self.value = value
    }
}

/// One element of a `Sec-WebSocket-Extensions` list: an extension the client offers with the
/// parameters it offers it with (RFC 6455 §9.1), in the client's order of preference.
public struct ExtensionOffer: Sendable, Equatable {
    /// The extension's token, lowercased: names compare case-insensitively.
    public var name: String
    /// The parameters in the order written.
    public var parameters: [ExtensionParameter]

    /// The most offers a request may make: browsers make one, Autobahn three. A bound keeps the
    /// work of negotiating with a hostile list small.
    public static let maxOffers = 64
    /// The most parameters one offer may carry (permessage-deflate defines four).
    public static let maxParametersPerOffer = 64

    /// An offer of the extension `name` with `parameters`.
    public init(name: String, parameters: [ExtensionParameter] = []) {
        self.name = name
        self.parameters = parameters
    }

    /// Parses all the `Sec-WebSocket-Extensions` field lines of a request, in order, as one
    /// comma-separated list (RFC 9110 §5.3); nil when any of it is malformed.
    ///
    /// RFC 6455 §9.1 asks the recipient of a value that does not match its ABNF to fail the
    /// connection, so a malformed list is refused whole rather than trimmed. The grammar:
    /// `extension-list = 1#extension`, `extension = token *( ";" extension-param )`,
    /// `extension-param = token [ "=" (token / quoted-string) ]`, with optional whitespace around
    /// `;`, `,` and `=` (RFC 6455 uses RFC 2616's implied LWS), tokens of RFC 9110 §5.6.2 `tchar`,
    /// and empty list elements skipped (RFC 9110 §5.6.1). A quoted value must unescape to a token
    /// (RFC 6455 §9.1). No field lines at all is an empty list; field lines without a single
    /// element are not (`1#`). At most `maxOffers` offers of `maxParametersPerOffer` parameters;
    /// the work is linear in the input.
    public static func parse(_ headerValues: [String]) -> [ExtensionOffer]? {
        var offers: [ExtensionOffer] = []
        for line in headerValues {
            var parser = Parser(bytes: Array(line.utf8))
            guard parser.parseList(into: &offers) else { return nil }
        }
        if !headerValues.isEmpty && offers.isEmpty { return nil }
        return offers
    }

    /// The offer written as one list element, `name; param; param=value`, that `parse` reads back
    /// as this offer. A value that is not a token is written as a quoted-string.
    public var headerValue: String {
        var text = name
        for parameter in parameters {
            text += "; " + parameter.name
            if let value = parameter.value {
                text += "=" + (Self.isToken(value) ? value : Self.quoted(value))
            }
        }
        return text
    }

    /// Whether `text` is a non-empty run of `tchar` (RFC 9110 §5.6.2).
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy(HTTPSyntax.isTokenByte)
    }

    /// `text` as a quoted-string, with `"` and `\` escaped (RFC 9110 §5.6.4).
    static func quoted(_ text: String) -> String {
        var result = "\""
        for character in text {
            if character == "\"" || character == "\\" { result.append("\\") }
            result.append(character)
        }
        return result + "\""
    }

    /// A single pass over one field line's bytes.
    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        /// Skips OWS (RFC 9110 §5.6.3: spaces and tabs).
        mutating func skipWhitespace() {
            while let byte = current, byte == HTTPSyntax.space || byte == HTTPSyntax.tab { index += 1 }
        }

        /// Consumes `byte` if it is next.
        mutating func take(_ byte: UInt8) -> Bool {
            guard current == byte else { return false }
            index += 1
            return true
        }

        /// Appends the elements of this line to `offers`; false when the line is malformed or
        /// the offers exceed their bound.
        mutating func parseList(into offers: inout [ExtensionOffer]) -> Bool {
            while true {
                skipWhitespace()
                guard current != nil else { return true }
                // RFC 9110 §5.6.1: an empty element (`a, , b`, a leading or trailing comma).
                if take(UInt8(ascii: ",")) { continue }
                guard let offer = parseExtension() else { return false }
                offers.append(offer)
                guard offers.count <= ExtensionOffer.maxOffers else { return false }
                skipWhitespace()
                guard current == nil || take(UInt8(ascii: ",")) else { return false }
            }
        }

        /// `extension = extension-token *( ";" extension-param )`.
        mutating func parseExtension() -> ExtensionOffer? {
            guard let name = parseToken() else { return nil }
            var offer = ExtensionOffer(name: name.lowercased())
            while true {
                skipWhitespace()
                guard take(UInt8(ascii: ";")) else { return offer }
                skipWhitespace()
                guard let parameterName = parseToken() else { return nil }
                var value: String?
                skipWhitespace()
                if take(UInt8(ascii: "=")) {
                    skipWhitespace()
                    value = current == UInt8(ascii: "\"") ? parseQuotedToken() : parseToken()
                    guard value != nil else { return nil }
                }
                offer.parameters.append(ExtensionParameter(name: parameterName.lowercased(), value: value))
                guard offer.parameters.count <= ExtensionOffer.maxParametersPerOffer else { return nil }
            }
        }

        /// `token = 1*tchar` (RFC 9110 §5.6.2).
        mutating func parseToken() -> String? {
            let start = index
            while let byte = current, HTTPSyntax.isTokenByte(byte) { index += 1 }
            guard index > start else { return nil }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        /// A quoted-string (RFC 9110 §5.6.4) whose unescaped content is a token, as RFC 6455 §9.1
        /// requires of an extension parameter's quoted value; returns the content.
        mutating func parseQuotedToken() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            var content: [UInt8] = []
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    // Only tchar survive: qdtext and quoted-pair may carry more, but the
                    // unescaped value must be a token, so anything else is malformed.
                    guard !content.isEmpty, content.allSatisfy(HTTPSyntax.isTokenByte) else { return nil }
                    return String(decoding: content, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ).
                    guard let escaped = current else { return nil }
                    index += 1
                    content.append(escaped)
                default:
                    content.append(byte)
                }
            }
            return nil
        }
    }
}
