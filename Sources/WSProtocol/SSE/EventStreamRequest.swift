/// The requests of an event-stream session (SPEC §12): the GET that opens one, and the POSTs
/// that feed its stdin.
public enum EventStreamRequest {
    /// The header naming the session a POST writes to.
    public static let sessionHeader = "X-WSBridge-Session"

    /// Whether `head` asks for an event stream: a GET whose Accept lists `text/event-stream`
    /// (media types are case-insensitive, RFC 9110 §8.3.1) with a weight above 0 (§12.4.2).
    /// `EventSource` sends exactly `Accept: text/event-stream`.
    public static func isRequested(_ head: HTTPRequestHead) -> Bool {
        guard head.method == "GET" else { return false }
        return head.headers.listElements("Accept").contains(where: acceptsEventStream)
    }

    /// One element of an Accept list: `text/event-stream`, optionally with parameters, not `q=0`.
    static func acceptsEventStream(_ element: String) -> Bool {
        let parts = element.split(separator: ";", omittingEmptySubsequences: false)
        guard let type = parts.first, trimmed(type).lowercased() == "text/event-stream" else { return false }
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, trimmed(pair[0]).lowercased() == "q" else { continue }
            // RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
            let weight = trimmed(pair[1])
            if weight.first == "0" && weight.dropFirst().allSatisfy({ $0 == "." || $0 == "0" }) { return false }
        }
        return true
    }

    private static func trimmed(_ text: Substring) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return text[first...last]
    }

    /// A session id as the session announced it: 128 random bits as 32 lowercase hex digits.
    public static func makeSessionID<G: RandomNumberGenerator>(using generator: inout G) -> String {
        let digits = Array("0123456789abcdef")
        var id = ""
        id.reserveCapacity(32)
        for _ in 0..<2 {
            var bits = generator.next() as UInt64
            for _ in 0..<16 {
                id.append(digits[Int(bits & 0xF)])
                bits >>= 4
            }
        }
        return id
    }

    /// Whether `text` has the form of a session id. Anything else gets 400 before any lookup.
    public static func isWellFormedSessionID(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// A POST body's lines, each one inbound text message: split at LF, a CR before the LF
    /// dropped (so CRLF and LF bodies mean the same), a last line without LF still a line, and no
    /// line after a final LF. Nil when the body is not UTF-8 (a text message must be, RFC 6455
    /// §5.6), so the POST gets 400 rather than the script a broken message.
    public static func lines(ofBody body: [UInt8]) -> [ArraySlice<UInt8>]? {
        guard UTF8Validator.isValid(body) else { return nil }
        var lines: [ArraySlice<UInt8>] = []
        var start = body.startIndex
        while start < body.endIndex {
            let end = body[start...].firstIndex(of: UInt8(ascii: "\n")) ?? body.endIndex
            var line = body[start..<end]
            if line.last == UInt8(ascii: "\r") && end < body.endIndex { line = line.dropLast() }
            lines.append(line)
            start = end == body.endIndex ? end : end + 1
        }
        return lines
    }
}
