import Foundation
import WSProtocol

/// `--staticdir=DIR`: answers plain GET and HEAD requests with the files under DIR (SPEC §5), as
/// websocketd does with Go's `http.FileServer`, with the same confinement as `--dir`.
///
/// The decisions are made here; the bytes of a file are not read, so a large file can be streamed
/// by the caller. Differences from `http.FileServer`: a directory without `index.html` is 404
/// rather than a listing, and Range requests are not served (the whole file is sent, RFC 9110 §14.2
/// lets a server ignore Range).
public struct StaticFiles: Sendable {
    /// What to send for one request.
    public enum Answer: Sendable, Equatable {
        /// A complete response (301, 304, 404, 405, or 200 to HEAD): write
        /// `response.serialized(includingBody: method != "HEAD")`.
        case response(HTTPResponse)
        /// 200 to GET: write `head.serialized()` (its body is empty and its Content-Length is
        /// `byteCount`), then exactly `byteCount` bytes of the file at `path`, an absolute path
        /// inside the directory; if the file yields fewer, close the connection.
        case file(path: String, byteCount: Int, head: HTTPResponse)
    }

    /// The name served for a path that names a directory.
    public static let indexFileName = "index.html"
    /// The methods served, for the Allow header of a 405 (RFC 9110 §15.5.6).
    public static let allowedMethods = "GET, HEAD"

    /// The directory files are confined to.
    public let directory: ConfinedDirectory

    /// Opens DIR: relative paths are taken from the current directory, and symlinks are resolved.
    public init(directory path: String) throws(ConfinedDirectory.OpenError) {
        directory = try ConfinedDirectory(path: path)
    }

    /// The answer to a plain (non-upgrade) request.
    /// `locationPrefix` goes before the path of a redirect's Location (`--basepath`: the client
    /// sees the prefix that routing removed).
    public func answer(_ head: HTTPRequestHead, locationPrefix: String = "") -> Answer {
        guard head.method == "GET" || head.method == "HEAD" else {
            return .response(HTTPResponse.error(
                .methodNotAllowed,
                message: "only GET and HEAD are served here",
                extraHeaders: HTTPHeaders([(name: "Allow", value: Self.allowedMethods)])
            ))
        }
        guard let decoded = try? PercentDecoding.decodePath(head.path) else { return .response(Self.notFound) }
        switch directory.entry(at: decoded.segments) {
        case nil, .other:
            return .response(Self.notFound)
        case .directory:
            guard decoded.hasTrailingSlash || decoded.segments.isEmpty else {
                // As http.FileServer: a directory is named with a trailing slash, so that relative
                // links in its index.html resolve inside it.
                return .response(Self.redirect(to: decoded.segments, trailingSlash: true, query: head.query, prefix: locationPrefix))
            }
            let index = decoded.segments + [Self.indexFileName]
            guard case .regularFile(let file) = directory.entry(at: index) else { return .response(Self.notFound) }
            return answer(file, name: Self.indexFileName, head: head)
        case .regularFile(let file):
            if decoded.hasTrailingSlash {
                // As http.FileServer: a file is named without one.
                return .response(Self.redirect(to: decoded.segments, trailingSlash: false, query: head.query, prefix: locationPrefix))
            }
            return answer(file, name: decoded.segments.last ?? "", head: head)
        }
    }

    /// The 200 or 304 for a regular file.
    private func answer(_ file: ConfinedDirectory.FileInfo, name: String, head: HTTPRequestHead) -> Answer {
        let lastModified = HTTPDate.format(secondsSince1970: file.modifiedSeconds)
        if Self.isNotModified(file, request: head.headers) {
            // RFC 9110 §15.4.5: no content; the validator fields a 200 would carry are still sent.
            return .response(HTTPResponse(status: .notModified, headers: HTTPHeaders([(name: "Last-Modified", value: lastModified)])))
        }
        let headers = HTTPHeaders([
            (name: "Content-Type", value: MIMETypes.contentType(forPath: name)),
            (name: "Content-Length", value: String(file.byteCount)),
            (name: "Last-Modified", value: lastModified),
        ])
        let response = HTTPResponse(status: .ok, headers: headers)
        return head.method == "HEAD" ? .response(response) : .file(path: file.path, byteCount: file.byteCount, head: response)
    }

    /// Whether the client's cached copy is current (RFC 9110 §13.2.2, steps 3 and 4).
    static func isNotModified(_ file: ConfinedDirectory.FileInfo, request headers: HTTPHeaders) -> Bool {
        let noneMatch = headers.listElements("If-None-Match")
        if !noneMatch.isEmpty {
            // Step 3: without entity tags only `*` can match, and a current representation exists
            // (RFC 9110 §13.1.2); when If-None-Match is present, If-Modified-Since is ignored.
            return noneMatch.contains("*")
        }
        // Step 4 and RFC 9110 §13.1.3: ignore a field that is repeated or not a valid HTTP-date.
        let modifiedSince = headers.values("If-Modified-Since")
        guard modifiedSince.count == 1, let since = HTTPDate.parseSeconds(modifiedSince[0]) else { return false }
        return file.modifiedSeconds <= since
    }

    /// 404 with a short text body; the connection stays open (RFC 9112 §9.3).
    static var notFound: HTTPResponse {
        HTTPResponse(
            status: .notFound,
            headers: HTTPHeaders([(name: "Content-Type", value: "text/plain; charset=utf-8")]),
            body: Array("404 Not Found: no such file\n".utf8)
        )
    }

    /// 301 to the canonical form of a path, built from the decoded segments so that a target such
    /// as `//evil.example/` can never become a Location that leaves this server.
    static func redirect(to segments: [String], trailingSlash: Bool, query: String, prefix: String = "") -> HTTPResponse {
        var location = prefix + PercentDecoding.encodePath(segments, trailingSlash: trailingSlash)
        if !query.isEmpty { location += "?" + query }
        return HTTPResponse(
            status: .movedPermanently,
            headers: HTTPHeaders([
                (name: "Location", value: location),
                (name: "Content-Type", value: "text/plain; charset=utf-8"),
            ]),
            body: Array("301 Moved Permanently: \(location)\n".utf8)
        )
    }
}

extension StaticFiles.Answer {
    /// The whole response with the file read into memory, for a caller that does not stream; nil
    /// when the file is larger than `maxBytes` or cannot be read.
    public func inlined(maxBytes: Int) -> HTTPResponse? {
        switch self {
        case .response(let response):
            return response
        case .file(let path, let byteCount, var head):
            guard byteCount <= maxBytes, let data = FileManager.default.contents(atPath: path),
                  data.count <= maxBytes else { return nil }
            head.body = Array(data)
            // The file may have changed since it was examined: the length sent is what was read.
            head.headers.replaceOrAdd(name: "Content-Length", value: String(data.count))
            return head
        }
    }
}
