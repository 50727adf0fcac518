/// The head of a CGI script's answer (RFC 3875 §6): its header lines up to the first empty line,
/// turned into an HTTP status and headers. Fed the script's stdout incrementally; what follows the
/// head is the body.
public struct CGIResponseParser: Sendable {
    /// The largest header block accepted from a script.
    public static let maxHeadBytes = 16 * 1024

    /// The HTTP answer a script's head asks for.
    public struct Head: Sendable, Equatable {
        /// The status: from `Status:`, else 302 for a `Location:`, else 200 (RFC 3875 §6.3.3).
        public var status: HTTPStatus
        /// Every header but `Status`, in the script's order.
        public var headers: HTTPHeaders
    }

    private var buffer: [UInt8] = []
    private var scanned = 0

    /// Creates a parser.
    public init() {}

    /// Adds stdout bytes; returns the head once its empty line has arrived, with the body bytes
    /// that came after it. Throws (→ 502) for a head that is too long or malformed.
    public mutating func append<Bytes: Collection>(_ bytes: Bytes) throws(HTTPError) -> (head: Head, body: [UInt8])?
    where Bytes.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        // A line ends at LF; RFC 3875 §6.3 allows CRLF or LF (scripts often print bare LF).
        while let newline = buffer[scanned...].firstIndex(of: 0x0A) {
            let lineStart = scanned
            scanned = newline + 1
            var line = buffer[lineStart..<newline]
            if line.last == 0x0D { line = line.dropLast() }
            if line.isEmpty {
                let head = try Self.head(from: buffer[..<lineStart])
                return (head, Array(buffer[scanned...]))
            }
        }
        if buffer.count > Self.maxHeadBytes { throw .malformed("CGI response head over \(Self.maxHeadBytes) bytes") }
        return nil
    }

    private static func head(from block: ArraySlice<UInt8>) throws(HTTPError) -> Head {
        var headers = HTTPHeaders()
        var status: HTTPStatus?
        for rawLine in block.split(separator: 0x0A) {
            var line = rawLine
            if line.last == 0x0D { line = line.dropLast() }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
                throw .malformed("CGI header line without a name")
            }
            let name = String(decoding: line[..<colon], as: UTF8.self)
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces()
            guard name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), value.utf8.allSatisfy({ $0 >= 0x20 || $0 == 0x09 }) else {
                throw .malformed("CGI header line with illegal characters")
            }
            if name.lowercased() == "status" {
                // RFC 3875 §6.3.3: Status = "Status:" status-code SP reason-phrase.
                let parts = value.split(separator: " ", maxSplits: 1)
                guard let code = parts.first.flatMap({ Int($0) }), (100...599).contains(code) else {
                    throw .malformed("CGI Status header is not a status code")
                }
                status = HTTPStatus(code: code, reasonPhrase: parts.count > 1 ? String(parts[1]) : "")
            } else {
                headers.add(name: name, value: value)
            }
        }
        let hasLocation = headers.contains("Location")
        // RFC 3875 §6.3.1: a document response needs its Content-Type; a redirect needs none.
        guard hasLocation || headers.contains("Content-Type") || status != nil else {
            throw .malformed("CGI response without Content-Type, Location or Status")
        }
        return Head(status: status ?? (hasLocation ? .found : .ok), headers: headers)
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view.removeFirst() }
        while let last = view.last, last == " " || last == "\t" { view.removeLast() }
        return String(view)
    }
}
