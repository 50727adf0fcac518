import WSProtocol

/// Who may come in (SPEC §11), decided for every request before anything else: before a
/// process starts, a `--maxforks` slot is counted or a file is served.
public struct AccessPolicy: Sendable {
    /// `--token`/`--tokenfile`: the secret a request must carry, in the query (`?token=`), as
    /// `Authorization: Bearer` or in the cookie a first request got.
    public var token: [UInt8]?

    public init(token: [UInt8]? = nil) { self.token = token }

    /// Whether any check is on (and so upgrades are checked as with `--sameorigin`).
    public var isEnabled: Bool { token != nil }

    /// What the request may do.
    enum Decision {
        /// In, with the head a script may see (the secret removed) and a cookie to set, if any.
        case allowed(HTTPRequestHead, setCookie: String?)
        /// 401.
        case refused(HTTPResponse)
    }

    /// Checks `head`; `isTLS` marks the cookie Secure, `cookiePath` is where it applies.
    func decide(_ head: HTTPRequestHead, isTLS: Bool, cookiePath: String, extraHeaders: HTTPHeaders) -> Decision {
        guard let token else { return .allowed(head, setCookie: nil) }
        var cleaned = head
        let (queryTokens, target) = Credentials.takingToken(from: head.target)
        cleaned.target = target
        let bearer = Credentials.bearer(in: head.headers)
        let cookie = Credentials.cookie(Credentials.tokenCookieName, in: head.headers)
        // Checked in full whichever matches, so that timing does not tell which was tried.
        let queryMatches = queryTokens.contains { Credentials.constantTimeEquals($0.utf8, token) }
        let bearerMatches = bearer.map { Credentials.constantTimeEquals($0.utf8, token) } ?? false
        let cookieMatches = cookie.map { Credentials.constantTimeEquals($0.utf8, token) } ?? false
        guard queryMatches || bearerMatches || cookieMatches else {
            var headers = HTTPHeaders([(name: "WWW-Authenticate", value: #"Bearer realm="wsbridge""#)])
            headers.add(contentsOf: extraHeaders)
            return .refused(HTTPResponse.error(.unauthorized, message: "open the URL with the token that wsbridge printed at startup",
                                               extraHeaders: headers))
        }
        var headers = Credentials.removingCookie(Credentials.tokenCookieName, from: head.headers)
        if bearer != nil { headers = Credentials.removingAuthorization(from: headers) }
        cleaned.headers = headers
        guard queryMatches || bearerMatches else { return .allowed(cleaned, setCookie: nil) }
        let value = String(decoding: token, as: UTF8.self)
        let cookieText = "\(Credentials.tokenCookieName)=\(value); Path=\(cookiePath); HttpOnly; SameSite=Strict" + (isTLS ? "; Secure" : "")
        return .allowed(cleaned, setCookie: cookieText)
    }
}
