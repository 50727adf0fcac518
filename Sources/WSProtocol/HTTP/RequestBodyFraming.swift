/// How the body of a request is delimited, decided from its head alone (RFC 9112 §6.3).
///
/// Every route uses this one answer, so that no two parts of the server can disagree on where a
/// request ends: that disagreement is what request smuggling exploits. Where RFC 9112 lets a
/// server choose, it is strict, as Go's net/http (websocketd's) is:
/// - `Transfer-Encoding` together with `Content-Length` is refused (RFC 9112 §6.1 allows it; a
///   front proxy and this server could pick different lengths).
/// - `Transfer-Encoding` whose final coding is not `chunked`, or that applies `chunked` twice, is
///   refused (RFC 9112 §6.3 item 4, §7: a server MUST answer 400 and close).
/// - `Content-Length` must be 1*DIGIT (RFC 9110 §8.6: no sign, no spaces inside); repeated lines or
///   list elements must all carry the same value (RFC 9112 §6.3 item 5), else 400.
public enum RequestBodyFraming: Equatable, Sendable {
    /// No body: neither field is present, or `Content-Length: 0` (RFC 9112 §6.3 item 6).
    case none
    /// Exactly this many bytes follow the head (more than zero). A length too large for `Int` is
    /// `Int.max`: valid syntax, refused by any size limit.
    case contentLength(Int)
    /// The body is in the chunked coding, possibly after other codings.
    case chunked

    /// The framing of `head`'s body, or the 400 that answers a framing no one can rely on.
    public init(of head: HTTPRequestHead) throws(HTTPError) {
        let transferCodings = head.headers.values("Transfer-Encoding")
        let lengths = head.headers.values("Content-Length")
        if !transferCodings.isEmpty {
            guard lengths.isEmpty else {
                throw .malformed("both Transfer-Encoding and Content-Length")
            }
            let codings = head.headers.listElements("Transfer-Encoding")
            let chunkedCount = codings.count(where: { HTTPHeaders.namesMatch($0, "chunked") })
            guard let last = codings.last, HTTPHeaders.namesMatch(last, "chunked"), chunkedCount == 1 else {
                throw .malformed("Transfer-Encoding must end in chunked, once")
            }
            self = .chunked
            return
        }
        guard !lengths.isEmpty else {
            self = .none
            return
        }
        var length: Int?
        for line in lengths {
            for element in line.split(separator: ",", omittingEmptySubsequences: false) {
                guard let value = Self.parseLength(element) else { throw .malformed("invalid Content-Length") }
                guard length == nil || length == value else { throw .malformed("conflicting Content-Length values") }
                length = value
            }
        }
        self = length == 0 ? .none : .contentLength(length ?? 0)
    }

    /// Whether the request carries a body at all.
    public var hasBody: Bool { self != .none }

    /// A `Content-Length` list element: optional whitespace around 1*DIGIT; `Int.max` when it
    /// overflows; nil when it is anything else (`+5`, `-1`, `0x10`, `5 5`, empty).
    static func parseLength(_ element: Substring) -> Int? {
        let digits = element.utf8.drop { $0 == HTTPSyntax.space || $0 == HTTPSyntax.tab }
        let trimmed = digits.reversed().drop { $0 == HTTPSyntax.space || $0 == HTTPSyntax.tab }
        guard !trimmed.isEmpty, trimmed.allSatisfy(HTTPSyntax.isDigit) else { return nil }
        var value = 0
        for byte in trimmed.reversed() {
            let (times10, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflowA && !overflowB else { return Int.max }
            value = sum
        }
        return value
    }
}
