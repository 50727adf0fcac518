/// What a request presents to prove it may come in (SPEC §11), read from its head without
/// judging it: `Authorization: Basic` and `Bearer`, the `token=` query parameter and the
/// token cookie. Every comparison of a secret goes through `constantTimeEquals`.
public enum Credentials {
    /// The cookie that carries `--token` after the first request presented it.
    public static let tokenCookieName = "wsbridge_token"

    /// `Authorization: Basic` (RFC 7617): the user id and password; nil when absent or malformed
    /// (not base64, no ":", control characters in the user id).
    public static func basic(in headers: HTTPHeaders) -> (user: String, password: [UInt8])? {
        guard let value = authorization(in: headers, scheme: "basic"),
              let decoded = Base64.decode(String(value)),
              let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let user = decoded[..<colon]
        guard !user.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        return (String(decoding: user, as: UTF8.self), Array(decoded[(colon + 1)...]))
    }

    /// `Authorization: Bearer TOKEN` (RFC 6750 §2.1).
    public static func bearer(in headers: HTTPHeaders) -> Substring? {
        authorization(in: headers, scheme: "bearer")
    }

    /// The credentials of the single Authorization field with `scheme` (case-insensitive).
    private static func authorization(in headers: HTTPHeaders, scheme: String) -> Substring? {
        let fields = headers.values("Authorization")
        guard fields.count == 1 else { return nil }
        let field = fields[0].trimmingASCIIWhitespace
        guard let space = field.firstIndex(of: " "), field[..<space].lowercased() == scheme else { return nil }
        let credentials = field[field.index(after: space)...].trimmingASCIIWhitespace
        return credentials.isEmpty ? nil : credentials
    }

    /// The value of the `name` cookie (RFC 6265 §4.2.1 `name=value; name=value`), from every
    /// Cookie field; the first one wins, as browsers send the most specific first.
    public static func cookie(_ name: String, in headers: HTTPHeaders) -> Substring? {
        for field in headers.values("Cookie") {
            for pair in field.split(separator: ";") {
                let trimmed = pair.trimmingASCIIWhitespace
                guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
                var value = trimmed[trimmed.index(after: equals)...]
                if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
                return value
            }
        }
        return nil
    }

    /// The headers without the `name` cookie (a Cookie field left empty goes too), so that a
    /// secret wsbridge consumed never reaches a script as HTTP_COOKIE.
    public static func removingCookie(_ name: String, from headers: HTTPHeaders) -> HTTPHeaders {
        var kept: [(name: String, value: String)] = []
        for (fieldName, value) in headers {
            guard fieldName.lowercased() == "cookie" else {
                kept.append((fieldName, value))
                continue
            }
            let pairs = value.split(separator: ";").map(\.trimmingASCIIWhitespace).filter { pair in
                guard let equals = pair.firstIndex(of: "=") else { return true }
                return pair[..<equals] != name
            }
            if !pairs.isEmpty { kept.append((fieldName, pairs.joined(separator: "; "))) }
        }
        return HTTPHeaders(kept)
    }

    /// The headers without Authorization: a password or token wsbridge checked is not the
    /// script's to read (RFC 3875 §4.1.18 leaves it out for this reason).
    public static func removingAuthorization(from headers: HTTPHeaders) -> HTTPHeaders {
        HTTPHeaders(headers.filter { $0.name.lowercased() != "authorization" })
    }

    /// The `token` query parameters of `target` and the target without them (other parameters
    /// keep their order and bytes; a query left empty loses its "?").
    public static func takingToken(from target: String) -> (tokens: [Substring], target: String) {
        guard let question = target.firstIndex(of: "?") else { return ([], target) }
        let query = target[target.index(after: question)...]
        var tokens: [Substring] = []
        var kept: [Substring] = []
        for parameter in query.split(separator: "&", omittingEmptySubsequences: false) {
            if parameter.hasPrefix("token=") {
                tokens.append(parameter.dropFirst(6))
            } else {
                kept.append(parameter)
            }
        }
        guard !tokens.isEmpty else { return ([], target) }
        let path = target[..<question]
        return (tokens, kept.isEmpty ? String(path) : path + "?" + kept.joined(separator: "&"))
    }

    /// Whether `a` and `b` are equal, in time that depends only on their lengths, so that a
    /// client cannot learn a secret byte by byte from how long a refusal takes.
    public static func constantTimeEquals<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool
    where A.Element == UInt8, B.Element == UInt8 {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
