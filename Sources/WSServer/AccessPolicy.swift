import Foundation
import Synchronization
import WSProtocol

/// Who may come in (SPEC §11), decided for every request before anything else: before a
/// process starts, a `--maxforks` slot is counted or a file is served.
public struct AccessPolicy: Sendable {
    /// `--token`/`--tokenfile`: the secret a request must carry, in the query (`?token=`), as
    /// `Authorization: Bearer` or in the cookie a first request got.
    public var token: [UInt8]?
    /// `--basicauth`: the users and their password hashes.
    public var passwords: PasswordFile?

    public init(token: [UInt8]? = nil, passwords: PasswordFile? = nil) {
        self.token = token
        self.passwords = passwords
    }

    /// Whether any check is on (and so upgrades are checked as with `--sameorigin`).
    public var isEnabled: Bool { token != nil || passwords != nil }

    /// What the request may do.
    enum Decision {
        /// In, with the head a script may see (the secret removed) and a cookie to set, if any.
        case allowed(HTTPRequestHead, setCookie: String?)
        /// 401.
        case refused(HTTPResponse)
        /// In if `password` matches `hash` (a check that runs off the loop); `user` is REMOTE_USER
        /// then. An unknown user is checked against another user's hash, so that a refusal takes
        /// as long whether or not the user exists, and refused whatever the result.
        case checkPassword(HTTPRequestHead, setCookie: String?, user: String, password: [UInt8], hash: String, userExists: Bool)
    }

    /// The 401 of `--basicauth`, whose challenge makes a browser ask for a user and password.
    static func basicChallenge(extraHeaders: HTTPHeaders) -> HTTPResponse {
        var headers = HTTPHeaders([(name: "WWW-Authenticate", value: #"Basic realm="wsbridge", charset="UTF-8""#)])
        headers.add(contentsOf: extraHeaders)
        return HTTPResponse.error(.unauthorized, message: "a user name and password are needed", extraHeaders: headers)
    }

    /// Checks `head`; `isTLS` marks the cookie Secure, `cookiePath` is where it applies.
    func decide(_ head: HTTPRequestHead, isTLS: Bool, cookiePath: String, extraHeaders: HTTPHeaders) -> Decision {
        let tokenDecision = decideToken(head, isTLS: isTLS, cookiePath: cookiePath, extraHeaders: extraHeaders)
        guard let passwords, case .allowed(let cleaned, let setCookie) = tokenDecision else { return tokenDecision }
        guard let (user, password) = Credentials.basic(in: head.headers) else {
            return .refused(Self.basicChallenge(extraHeaders: extraHeaders))
        }
        var withoutPassword = cleaned
        withoutPassword.headers = Credentials.removingAuthorization(from: cleaned.headers)
        let file = passwords.current
        if let hash = file.hashes[user] {
            return .checkPassword(withoutPassword, setCookie: setCookie, user: user, password: password, hash: hash, userExists: true)
        }
        guard let decoy = file.hashes.values.min() else { return .refused(Self.basicChallenge(extraHeaders: extraHeaders)) }
        return .checkPassword(withoutPassword, setCookie: setCookie, user: user, password: password, hash: decoy, userExists: false)
    }

    private func decideToken(_ head: HTTPRequestHead, isTLS: Bool, cookiePath: String, extraHeaders: HTTPHeaders) -> Decision {
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

/// `--basicauth=FILE` (SPEC §11): the htpasswd file as last loaded; SIGHUP loads it again.
public final class PasswordFile: Sendable {
    public let path: String
    private let file: Mutex<HtpasswdFile>

    /// Loads `path`; the error is the one line startup prints.
    public init(path: String) throws(PasswordFileError) {
        self.path = path
        file = Mutex(try Self.load(path))
    }

    var current: HtpasswdFile { file.withLock { $0 } }

    /// Loads the file again; on failure the old users stay.
    public func reload() throws(PasswordFileError) {
        let fresh = try Self.load(path)
        file.withLock { $0 = fresh }
    }

    private static func load(_ path: String) throws(PasswordFileError) -> HtpasswdFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PasswordFileError(message: "--basicauth=\(path): cannot read it as a UTF-8 text file")
        }
        do {
            let parsed = try HtpasswdFile.parse(text)
            guard !parsed.hashes.isEmpty else { throw PasswordFileError(message: "--basicauth=\(path): no user in it") }
            return parsed
        } catch let error as HtpasswdError {
            throw PasswordFileError(message: "--basicauth=\(path) line \(error.line): \(error.reason)")
        } catch let error as PasswordFileError {
            throw error
        } catch {
            throw PasswordFileError(message: "--basicauth=\(path): \(error)")
        }
    }
}

/// Why `--basicauth`'s file cannot be used, in one line.
public struct PasswordFileError: Error, Equatable, Sendable {
    public let message: String
}
