/// An htpasswd file (`--basicauth`, SPEC §11): one `user:hash` a line, with the hash schemes
/// libcrypt checks safely: bcrypt (`$2y$`, `$2b$`, `$2a$`) and SHA-crypt (`$5$`, `$6$`).
/// Apache's weaker ones (MD5 `$apr1$`, SHA-1 `{SHA}`, DES crypt, plain text) are refused at
/// startup rather than accepted quietly. Blank lines and `#` comments are skipped.
public struct HtpasswdFile: Sendable, Equatable {
    /// Each user's hash.
    public private(set) var hashes: [String: String] = [:]

    public init() {}

    /// The schemes accepted, by the prefix of their hash.
    public static let acceptedPrefixes = ["$2y$", "$2b$", "$2a$", "$5$", "$6$"]

    /// Parses the file's text; the error names the first bad line by its number.
    public static func parse(_ text: String) throws(HtpasswdError) -> HtpasswdFile {
        var file = HtpasswdFile()
        var number = 0
        // "\r\n" is one Character in Swift: a file written on Windows splits at it too.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            number += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            let trimmed = line.trimmingASCIIWhitespace
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw HtpasswdError(line: number, reason: "not user:hash")
            }
            let user = String(line[..<colon])
            let hash = String(line[line.index(after: colon)...])
            guard !user.isEmpty, !user.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw HtpasswdError(line: number, reason: "no user name")
            }
            guard acceptedPrefixes.contains(where: hash.hasPrefix),
                  hash.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }), !hash.contains(":") else {
                throw HtpasswdError(line: number, reason: "the hash of \(user) is not bcrypt ($2y$) or SHA-crypt ($5$, $6$); make it with htpasswd -B or openssl passwd -6")
            }
            guard file.hashes[user] == nil else {
                throw HtpasswdError(line: number, reason: "\(user) is listed twice")
            }
            file.hashes[user] = hash
        }
        return file
    }
}

/// Why an htpasswd file cannot be used: its line number and what is wrong with it.
public struct HtpasswdError: Error, Equatable, Sendable {
    public let line: Int
    public let reason: String
}
