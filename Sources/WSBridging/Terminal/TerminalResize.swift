/// The resize request of a `--pty` session in raw framing (SPEC §12): a text message
/// `{"cols":C,"rows":R}`. Strict: JSON whitespace anywhere between tokens, the two keys once each
/// in either order, each value a JSON integer without sign, fraction or exponent; nothing else.
/// Pure: no I/O.
public enum TerminalResize {
    /// The longest resize message kept: the JSON of the largest size with generous whitespace.
    /// A longer text message is refused as soon as it passes this, so nothing grows unbounded.
    public static let maxMessageBytes = 256

    /// Why a text message is not a resize request.
    public enum Refusal: Error, Sendable, Equatable {
        /// Not of the form `{"cols":C,"rows":R}`.
        case malformed
        /// Well formed, but a side is outside 1 to 1000.
        case outOfRange

        /// What the close frame says (close 1007, `WebSocketError.invalidPayload`).
        public var reason: String {
            switch self {
            case .malformed: "a text message resizes the terminal: send {\"cols\":C,\"rows\":R}"
            case .outOfRange: "terminal size out of range: cols and rows must be 1 to 1000"
            }
        }
    }

    /// Parses one whole text message.
    public static func parse<Bytes: Collection>(_ bytes: Bytes) throws(Refusal) -> TerminalSize where Bytes.Element == UInt8 {
        guard bytes.count <= maxMessageBytes else { throw .malformed }
        var reader = Reader(bytes: Array(bytes))
        var columns: Int?, rows: Int?
        reader.skipWhitespace()
        guard reader.take(UInt8(ascii: "{")) else { throw .malformed }
        for index in 0..<2 {
            if index == 1 { guard reader.take(UInt8(ascii: ",")) else { throw .malformed } }
            let key = try reader.key()
            guard reader.take(UInt8(ascii: ":")) else { throw .malformed }
            let value = try reader.integer()
            switch key {
            case .columns:
                guard columns == nil else { throw .malformed }
                columns = value
            case .rows:
                guard rows == nil else { throw .malformed }
                rows = value
            }
        }
        guard reader.take(UInt8(ascii: "}")), reader.isAtEnd, let columns, let rows else { throw .malformed }
        guard let size = TerminalSize(columns: columns, rows: rows) else { throw .outOfRange }
        return size
    }

    private enum Key { case columns, rows }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var isAtEnd: Bool { index == bytes.count }

        /// RFC 8259 §2: whitespace is space, tab, line feed and carriage return.
        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        /// Takes `byte` (after whitespace), and the whitespace after it.
        mutating func take(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            skipWhitespace()
            return true
        }

        /// `"cols"` or `"rows"`, written plainly (no escapes).
        mutating func key() throws(Refusal) -> Key {
            for (name, key) in [(Array("\"cols\"".utf8), Key.columns), (Array("\"rows\"".utf8), Key.rows)]
            where bytes[index...].starts(with: name) {
                index += name.count
                skipWhitespace()
                return key
            }
            throw .malformed
        }

        /// RFC 8259 §6: an integer is `0` or a non-zero digit then digits. A longer number than
        /// 1000 needs is out of range, not malformed, but is not accumulated past 7 digits.
        mutating func integer() throws(Refusal) -> Int {
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            let digits = bytes[start..<index]
            guard let first = digits.first, first != UInt8(ascii: "0") || digits.count == 1 else { throw .malformed }
            // A fraction or an exponent makes it a number that is not an integer.
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
                throw .malformed
            }
            skipWhitespace()
            guard digits.count <= 7 else { return Int.max }
            return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
    }
}
