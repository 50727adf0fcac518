#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads HTTP/1.1 request heads from bytes that arrive in any pieces (RFC 9112 §2–§5).
///
/// Feed bytes with `append`, then call `next()` until it returns nil. The parser remembers how far
/// it has searched for the blank line that ends a head, so no byte is searched twice, and any split
/// of the input gives the same heads and errors. Only a complete head is parsed.
///
/// Choices where RFC 9112 leaves room, and why:
/// - A bare LF ends a line like CRLF does, and one CR before it is dropped (RFC 9112 §2.2 allows a
///   recipient to accept LF). Go's net/http, which websocketd uses, does the same, so requests typed
///   by hand (`printf 'GET / HTTP/1.1\n…' | nc`) keep working. A CR anywhere else is an error.
/// - Empty lines before the request line are skipped (RFC 9112 §2.2: ignore at least one), but
///   they count against the head limit so that a stream of them cannot go on forever.
/// - Everything else is strict and answered with 400: single spaces in the request line, a
///   request-target of visible ASCII only, whitespace before a field's colon (RFC 9112 §5.1),
///   obsolete line folding (RFC 9112 §5.2), control characters in values, and a missing or
///   repeated Host (RFC 9112 §3.2). Any version but HTTP/1.1 gets 505 (SPEC §5).
/// - Field values are decoded as UTF-8, an invalid sequence becoming U+FFFD; names are ASCII tokens.
/// - More than `maxHeadBytes` without the end of the head is 431 as soon as those bytes are seen.
///
/// After a head, `takeRemainingBytes()` hands over what followed it (a client may send its first
/// WebSocket frame right behind the upgrade request); calling `next()` instead reads the next head
/// of a persistent connection, after `discardBody(byteCount:)` has skipped the body of the last
/// one (its length comes from `RequestBodyFraming`).
public struct HTTPRequestParser: Sendable {
    /// The default limit on one request head: 16 KiB, as SPEC §5 demands 431 above it.
    public static let defaultMaxHeadBytes = 16 * 1024

    /// The largest head accepted, counting skipped empty lines and the final blank line.
    public let maxHeadBytes: Int

    /// Bytes received and not yet handed out as a head or remaining bytes.
    private var buffer = ByteBuffer()

    /// Where the parser is in the current head.
    private var state: State = .skippingEmptyLines(skipped: 0)

    /// Partial progress through one head, kept between appends.
    private enum State: Sendable {
        /// Dropping empty lines before a request line; `skipped` bytes of them are gone already.
        case skippingEmptyLines(skipped: Int)
        /// The request line has begun at buffer offset 0; no head ends before offset `scanned`.
        case seekingEnd(scanned: Int, skipped: Int)
        /// The body of the last head is being dropped; `remaining` bytes of it are still to come.
        case discardingBody(remaining: Int)
        /// A head was rejected; the connection answers and closes, so later bytes are dropped.
        case failed(HTTPError)
    }

    /// The result of searching the buffer for the end of a head.
    private enum Search {
        /// The head occupies the first `end` bytes, its blank line included.
        case found(end: Int)
        /// No end yet; the search resumes at `resumeAt` once more bytes arrive.
        case notYet(resumeAt: Int)
    }

    /// Creates a parser that accepts heads of at most `maxHeadBytes` bytes.
    public init(maxHeadBytes: Int = defaultMaxHeadBytes) {
        precondition(maxHeadBytes > 0, "a head limit must be positive")
        self.maxHeadBytes = maxHeadBytes
    }

    /// The method and target of the head that failed, when its request line could be read (for
    /// the log line of the refusal, SPEC §8); nil otherwise.
    public private(set) var rejectedRequestLine: HTTPRequestHead?

    /// The number of bytes held, for memory accounting: at most `maxHeadBytes` plus one append while heads are read.
    public var bufferedByteCount: Int { buffer.readableCount }

    /// Where the next search for the end of the head starts, nil when no head is being sought:
    /// the proof, for tests, that no byte is searched twice.
    var searchResumeOffset: Int? {
        if case .seekingEnd(let scanned, _) = state { return scanned }
        return nil
    }

    /// Adds received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if case .failed = state { return }
        buffer.append(bytes)
    }

    /// Adds received bytes from any collection.
    public mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        if case .failed = state { return }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete request head, nil when more bytes are needed.
    public mutating func next() throws(HTTPError) -> HTTPRequestHead? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .discardingBody(let remaining):
                let dropped = min(remaining, buffer.readableCount)
                buffer.moveReaderIndex(forwardBy: dropped)
                guard dropped == remaining else {
                    state = .discardingBody(remaining: remaining - dropped)
                    return nil
                }
                state = .skippingEmptyLines(skipped: 0)
            case .skippingEmptyLines(let skipped):
                let (dropped, requestLineStarted) = buffer.withUnsafeReadableBytes { Self.leadingEmptyLineBytes($0) }
                buffer.moveReaderIndex(forwardBy: dropped)
                let total = skipped + dropped
                // With `maxHeadBytes` of empty lines, no request line can still fit.
                if total >= maxHeadBytes { throw fail(.headTooLarge) }
                guard requestLineStarted else {
                    state = .skippingEmptyLines(skipped: total)
                    return nil
                }
                state = .seekingEnd(scanned: 0, skipped: total)
            case .seekingEnd(let scanned, let skipped):
                let budget = maxHeadBytes - skipped
                let search = buffer.withUnsafeReadableBytes { Self.searchEndOfHead($0, from: scanned, limit: budget) }
                switch search {
                case .notYet(let resumeAt):
                    // The limit is known to be broken as soon as `budget` bytes hold no end.
                    if buffer.readableCount >= budget { throw fail(.headTooLarge) }
                    state = .seekingEnd(scanned: resumeAt, skipped: skipped)
                    return nil
                case .found(let end):
                    var requestLine: HTTPRequestHead?
                    let parsed = buffer.withUnsafeReadableBytes { raw in
                        Result { () throws(HTTPError) -> HTTPRequestHead in
                            try Self.parseHead(UnsafeRawBufferPointer(rebasing: raw[0..<end]), requestLine: &requestLine)
                        }
                    }
                    switch parsed {
                    case .success(let head):
                        buffer.moveReaderIndex(forwardBy: end)
                        state = .skippingEmptyLines(skipped: 0)
                        return head
                    case .failure(let error):
                        rejectedRequestLine = requestLine
                        throw fail(error)
                    }
                }
            }
        }
    }

    /// Drops the next `byteCount` bytes, the body of the head just returned, before looking for the
    /// next head (RFC 9112 §6.3: a body of known length is skipped, never read as a request).
    public mutating func discardBody(byteCount: Int) {
        precondition(byteCount >= 0, "a body length is never negative")
        guard case .skippingEmptyLines(0) = state, byteCount > 0 else { return }
        state = .discardingBody(remaining: byteCount)
    }

    /// Bytes received after the last head returned (a client may send its first WebSocket frame
    /// right behind the upgrade request; they must not be lost). Parsing starts afresh afterwards.
    public mutating func takeRemainingBytes() -> [UInt8] {
        let bytes = Array(buffer.readableBytes)
        buffer.clear()
        if case .failed = state { return bytes }
        state = .skippingEmptyLines(skipped: 0)
        return bytes
    }

    /// Enters the failed state, dropping what is buffered, and returns `error` for throwing.
    private mutating func fail(_ error: HTTPError) -> HTTPError {
        state = .failed(error)
        buffer.clear()
        return error
    }

    /// How many leading bytes are empty lines (LF or CRLF), and whether a request line starts after them.
    private static func leadingEmptyLineBytes(_ raw: UnsafeRawBufferPointer) -> (Int, Bool) {
        var index = 0
        while index < raw.count {
            if raw[index] == HTTPSyntax.lf {
                index += 1
            } else if raw[index] == HTTPSyntax.cr {
                // A lone CR at the end may still become CRLF.
                guard index + 1 < raw.count else { return (index, false) }
                guard raw[index + 1] == HTTPSyntax.lf else { return (index, true) }
                index += 2
            } else {
                return (index, true)
            }
        }
        return (index, false)
    }

    /// Looks for the blank line that ends a head (an LF followed by LF or CRLF) in the first
    /// `limit` bytes, starting at `start`.
    private static func searchEndOfHead(_ raw: UnsafeRawBufferPointer, from start: Int, limit: Int) -> Search {
        let window = min(raw.count, limit)
        guard let base = raw.baseAddress else { return .notYet(resumeAt: start) }
        var index = start
        while index < window {
            guard let hit = memchr(base + index, Int32(HTTPSyntax.lf), window - index) else {
                return .notYet(resumeAt: window)
            }
            let lf = base.distance(to: UnsafeRawPointer(hit))
            // Stop at an LF whose following bytes have not arrived: it may still end the head.
            guard lf + 1 < window else { return .notYet(resumeAt: lf) }
            if raw[lf + 1] == HTTPSyntax.lf { return .found(end: lf + 2) }
            if raw[lf + 1] == HTTPSyntax.cr {
                guard lf + 2 < window else { return .notYet(resumeAt: lf) }
                if raw[lf + 2] == HTTPSyntax.lf { return .found(end: lf + 3) }
            }
            index = lf + 1
        }
        return .notYet(resumeAt: max(index, start))
    }

    /// Parses one complete head: request line, field lines, blank line.
    /// `requestLine` is set as soon as the request line is read, so that a refusal of the rest can
    /// still be logged with its method and path.
    private static func parseHead(_ raw: UnsafeRawBufferPointer, requestLine: inout HTTPRequestHead?) throws(HTTPError) -> HTTPRequestHead {
        var lines = LineSplitter(raw)
        guard let line = lines.next() else { preconditionFailure("a found head holds at least one line") }
        var head = try parseRequestLine(line)
        requestLine = head
        guard head.version == .http1_1 else { throw .versionNotSupported }
        var hostCount = 0
        while let line = lines.next(), !line.isEmpty {
            let field = try parseFieldLine(line)
            if HTTPHeaders.namesMatch(field.name, "Host") { hostCount += 1 }
            head.headers.add(name: field.name, value: field.value)
        }
        // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without exactly one Host.
        guard hostCount == 1 else {
            throw .malformed(hostCount == 0 ? "missing Host header" : "more than one Host header")
        }
        return head
    }

    /// Parses `method SP request-target SP HTTP-version` (RFC 9112 §3), with single spaces only.
    private static func parseRequestLine(_ line: UnsafeRawBufferPointer) throws(HTTPError) -> HTTPRequestHead {
        guard let firstSpace = line.firstIndex(of: HTTPSyntax.space),
              let secondSpace = line[(firstSpace + 1)...].firstIndex(of: HTTPSyntax.space) else {
            throw .malformed("request line is not METHOD SP TARGET SP VERSION")
        }
        let method = UnsafeRawBufferPointer(rebasing: line[0..<firstSpace])
        guard !method.isEmpty, method.allSatisfy(HTTPSyntax.isTokenByte) else { throw .malformed("invalid method") }
        let target = UnsafeRawBufferPointer(rebasing: line[(firstSpace + 1)..<secondSpace])
        // RFC 9112 §3.2: the target is a URI form, so visible ASCII only (no spaces or controls).
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .malformed("invalid request target")
        }
        let methodText = String(decoding: method, as: UTF8.self)
        let targetText = String(decoding: target, as: UTF8.self)
        guard isKnownTargetForm(targetText, method: methodText) else { throw .malformed("invalid request target") }
        let version = try parseVersion(UnsafeRawBufferPointer(rebasing: line[(secondSpace + 1)...]))
        return HTTPRequestHead(method: methodText, target: targetText, version: version)
    }

    /// Whether the target has one of the four forms of RFC 9112 §3.2: origin (`/…`), absolute
    /// (`scheme:…`), authority (CONNECT only) or asterisk (`*`).
    private static func isKnownTargetForm(_ target: String, method: String) -> Bool {
        if target.utf8.first == UInt8(ascii: "/") || target == "*" || method == "CONNECT" { return true }
        guard let colon = target.utf8.firstIndex(of: UInt8(ascii: ":")) else { return false }
        let scheme = target.utf8[..<colon]
        // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        guard let first = scheme.first, HTTPSyntax.isLetter(first) else { return false }
        return scheme.allSatisfy { HTTPSyntax.isLetter($0) || HTTPSyntax.isDigit($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E }
    }

    /// Parses `HTTP/DIGIT.DIGIT` (RFC 9112 §2.3; the name is case-sensitive).
    private static func parseVersion(_ bytes: UnsafeRawBufferPointer) throws(HTTPError) -> HTTPVersion {
        guard bytes.count == 8, bytes.starts(with: "HTTP/".utf8),
              HTTPSyntax.isDigit(bytes[5]), bytes[6] == UInt8(ascii: "."), HTTPSyntax.isDigit(bytes[7]) else {
            throw .malformed("invalid HTTP version")
        }
        return HTTPVersion(major: Int(bytes[5] - UInt8(ascii: "0")), minor: Int(bytes[7] - UInt8(ascii: "0")))
    }

    /// Parses `field-name ":" OWS field-value OWS` (RFC 9112 §5).
    private static func parseFieldLine(_ line: UnsafeRawBufferPointer) throws(HTTPError) -> HTTPHeaders.Field {
        // RFC 9112 §5.2: obs-fold may be rejected with 400; RFC 9112 §2.2: so may whitespace
        // between the request line and the first field.
        if line[0] == HTTPSyntax.space || line[0] == HTTPSyntax.tab {
            throw .malformed("header line starts with whitespace (obsolete line folding)")
        }
        var colon = 0
        while colon < line.count && HTTPSyntax.isTokenByte(line[colon]) { colon += 1 }
        guard colon < line.count, line[colon] == UInt8(ascii: ":") else {
            // RFC 9112 §5.1: whitespace between a field name and the colon MUST be answered with 400.
            if colon < line.count && (line[colon] == HTTPSyntax.space || line[colon] == HTTPSyntax.tab) {
                throw .malformed("whitespace between header name and colon")
            }
            throw .malformed("invalid header field name")
        }
        guard colon > 0 else { throw .malformed("empty header field name") }
        var start = colon + 1
        var end = line.count
        while start < end && (line[start] == HTTPSyntax.space || line[start] == HTTPSyntax.tab) { start += 1 }
        while end > start && (line[end - 1] == HTTPSyntax.space || line[end - 1] == HTTPSyntax.tab) { end -= 1 }
        let value = UnsafeRawBufferPointer(rebasing: line[start..<end])
        // RFC 9110 §5.5: a value holds visible characters, SP, HTAB and obs-text; a CR, LF or NUL
        // in it MUST be rejected or replaced, and we reject every other control too.
        guard value.allSatisfy({ ($0 >= 0x20 && $0 != 0x7F) || $0 == HTTPSyntax.tab }) else {
            throw .malformed("control character in header field value")
        }
        return (name: String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<colon]), as: UTF8.self),
                value: String(decoding: value, as: UTF8.self))
    }
}

/// Splits a complete head into lines ended by LF, dropping one CR before each LF.
private struct LineSplitter {
    /// The head's bytes.
    private let raw: UnsafeRawBufferPointer
    /// Where the next line begins.
    private var position = 0

    /// Creates a splitter over a complete head.
    init(_ raw: UnsafeRawBufferPointer) {
        self.raw = raw
    }

    /// The next line without its terminator, or nil after the last one.
    mutating func next() -> UnsafeRawBufferPointer? {
        guard position < raw.count, let base = raw.baseAddress,
              let hit = memchr(base + position, Int32(HTTPSyntax.lf), raw.count - position) else { return nil }
        let lf = base.distance(to: UnsafeRawPointer(hit))
        var end = lf
        if end > position && raw[end - 1] == HTTPSyntax.cr { end -= 1 }
        let line = UnsafeRawBufferPointer(rebasing: raw[position..<end])
        position = lf + 1
        return line
    }
}

/// The byte classes of HTTP syntax.
enum HTTPSyntax {
    /// Line feed.
    static let lf: UInt8 = 0x0A
    /// Carriage return.
    static let cr: UInt8 = 0x0D
    /// Space.
    static let space: UInt8 = 0x20
    /// Horizontal tab.
    static let tab: UInt8 = 0x09

    /// Whether `byte` is an ASCII letter.
    @inline(__always)
    static func isLetter(_ byte: UInt8) -> Bool {
        let lower = byte | 0x20
        return lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z")
    }

    /// Whether `byte` is an ASCII digit.
    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Whether `byte` is a `tchar` (RFC 9110 §5.6.2), the characters of methods and field names.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        if isLetter(byte) || isDigit(byte) { return true }
        switch byte {
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
