import WSProtocol

/// `--sameorigin` and `--origin=LIST`: which pages may open a WebSocket here (RFC 6455 §4.2.2 item 4,
/// §10.2), with websocketd 0.5's rules (`checkOrigin` and `matchOrigin` in libwebsocketd/http.go).
///
/// - With neither flag every request is allowed, Origin or not (websocketd: "any origin allowed,
///   even null / even empty").
/// - Otherwise the Origin is read as `scheme://host[:port]`, its port defaulting to 443 for https
///   (and wss) and 80 for anything else. A missing or empty Origin, or `null`, stands for a page
///   with no host (websocketd reads both as `file:`), so it is refused by either flag.
/// - `--sameorigin`: host and port equal those of Host, whose port defaults to 443 with TLS and 80
///   without. The scheme is not compared, but http and https differ by default port.
/// - `--origin`: some entry matches. An entry `host` matches that host on any port; `host:port`
///   only that port; a scheme (`https://host[:port]`) must also equal the Origin's scheme.
/// - Both flags: both must pass.
///
/// Better than websocketd: hosts and schemes compare without regard to case (RFC 6454 §4 lower-cases
/// them; Go compared bytes), IPv6 literals compare without their brackets, an entry's trailing `/`
/// is ignored, and a repeated Origin field is refused (RFC 6454 §7.3: at most one). One choice
/// differs: with neither flag, an Origin that is not a URL is allowed too (websocketd answered 403
/// to one its URL parser refused even then; browsers never send one, and no policy was asked for).
public struct OriginPolicy: Sendable, Equatable {
    /// The outcome for one request.
    public enum Decision: Sendable, Equatable {
        /// The upgrade may go ahead.
        case allowed
        /// The upgrade is refused with 403; the text says why, for the log.
        case forbidden(String)
    }

    /// One parsed `--origin` entry.
    public struct Entry: Sendable, Equatable {
        /// The scheme the Origin must have, lower case, or nil for any.
        public var scheme: String?
        /// The host, lower case, without IPv6 brackets.
        public var host: String
        /// The port the Origin must have, or nil for any.
        public var port: Int?
    }

    /// `--sameorigin`.
    public var requiresSameOrigin: Bool
    /// The usable `--origin` entries, in order.
    public var entries: [Entry]
    /// The `--origin` entries that could not be read as `[scheme://]host[:port]`; they match nothing,
    /// so the caller may report them at startup.
    public var invalidEntries: [String]
    /// Whether `--origin` was given with at least one entry (even one that cannot match).
    public var hasOriginList: Bool

    /// Creates the policy from the two flags' values.
    public init(sameOrigin: Bool = false, allowedOrigins: [String] = []) {
        requiresSameOrigin = sameOrigin
        entries = []
        invalidEntries = []
        for text in allowedOrigins where !text.isEmpty {
            if let entry = Self.parseEntry(text) { entries.append(entry) } else { invalidEntries.append(text) }
        }
        hasOriginList = !allowedOrigins.allSatisfy(\.isEmpty)
    }

    /// Whether every request is allowed.
    public var isUnrestricted: Bool { !requiresSameOrigin && !hasOriginList }

    /// The decision for an upgrade request; `isTLS` says whether it arrived over TLS (for Host's
    /// default port); `host`, when given, replaces the Host header (a trusted proxy's
    /// X-Forwarded-Host, SPEC §11).
    public func decide(_ head: HTTPRequestHead, isTLS: Bool, host: String? = nil) -> Decision {
        guard !isUnrestricted else { return .allowed }
        let origins = head.headers.values("Origin")
        guard origins.count <= 1 else { return .forbidden("more than one Origin header") }
        let text = origins.first ?? ""
        guard !text.isEmpty, text != "null" else { return .forbidden("no Origin host to check (Origin \(text.isEmpty ? "missing" : "null"))") }
        // RFC 6454 §6.2: an Origin is serialized as scheme "://" host [ ":" port ].
        guard let separator = text.range(of: "://"), separator.lowerBound != text.startIndex,
              case let scheme = text[..<separator.lowerBound].lowercased(),
              let origin = Self.parseAuthority(text[separator.upperBound...], defaultPort: Self.defaultPort(scheme: scheme)),
              let port = origin.port else {
            return .forbidden("Origin \(text) is not scheme://host[:port]")
        }
        if requiresSameOrigin {
            guard let hostField = host ?? head.headers.first("Host"),
                  let local = Self.parseAuthority(Substring(hostField), defaultPort: isTLS ? 443 : 80) else {
                return .forbidden("no Host to compare the Origin with")
            }
            guard local.host == origin.host, local.port == port else {
                return .forbidden("Origin \(text) is not the same origin as Host \(hostField)")
            }
        }
        if hasOriginList {
            let matches = entries.contains { entry in
                (entry.scheme == nil || entry.scheme == scheme) && entry.host == origin.host
                    && (entry.port == nil || entry.port == port)
            }
            guard matches else { return .forbidden("Origin \(text) is not in --origin") }
        }
        return .allowed
    }

    /// Throws `HandshakeError.forbiddenOrigin` (403) unless the request is allowed.
    public func check(_ head: HTTPRequestHead, isTLS: Bool, host: String? = nil) throws(HandshakeError) {
        switch decide(head, isTLS: isTLS, host: host) {
        case .allowed: return
        case .forbidden: throw .forbiddenOrigin
        }
    }

    /// Reads an `--origin` entry: `[scheme://]host[:port][/]`.
    static func parseEntry(_ text: String) -> Entry? {
        var rest = Substring(text)
        var scheme: String?
        if let separator = rest.range(of: "://") {
            let name = rest[..<separator.lowerBound]
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) else { return nil }
            scheme = name.lowercased()
            rest = rest[separator.upperBound...]
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let authority = parseAuthority(rest, defaultPort: nil) else { return nil }
        return Entry(scheme: scheme, host: authority.host, port: authority.port)
    }

    /// Splits `host[:port]` (IPv6 as `[addr]:port`) and drops anything from a `/` on (an Origin
    /// has no path, but websocketd's URL parser tolerated one); nil when malformed.
    static func parseAuthority(_ text: Substring, defaultPort: Int?) -> (host: String, port: Int?)? {
        var authority = text
        if let slash = authority.firstIndex(of: "/") { authority = authority[..<slash] }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "\t" }) else { return nil }
        guard let portText else { return (host.lowercased(), defaultPort) }
        // RFC 3986 §3.2.3: an empty port is the scheme's default.
        guard !portText.isEmpty else { return (host.lowercased(), defaultPort) }
        guard portText.count <= 5, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
              let port = Int(portText), port <= 65_535 else { return nil }
        return (host.lowercased(), port)
    }

    /// The port an Origin means when it names none: 443 for https and wss, 80 otherwise (websocketd's `tellHostPort`).
    static func defaultPort(scheme: String) -> Int {
        scheme == "https" || scheme == "wss" ? 443 : 80
    }
}
