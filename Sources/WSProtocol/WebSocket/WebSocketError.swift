/// Everything a peer (or a child, through the bridge) can do wrong once the connection is a WebSocket;
/// each case carries the close code that answers it on the wire.
public enum WebSocketError: Error, Equatable, Sendable {
    /// The peer broke RFC 6455 (1002); the text says how.
    case protocolError(String)
    /// A message of a type the session cannot accept, such as binary in line framing (1003).
    case unsupportedData(String)
    /// A text message or close reason that is not valid UTF-8 (1007).
    case invalidUTF8
    /// A compressed message (RFC 7692) whose deflate data is corrupt or does not end where the
    /// message does (1007: data not consistent with the message, RFC 6455 §7.4.1); the text says
    /// what zlib found.
    case invalidCompressedData(String)
    /// A message the session cannot take as what its type means there (1007, RFC 6455 §7.4.1:
    /// data not consistent with the type of the message), such as a `--pty` session's text
    /// message that is not a terminal resize request; the text says what was expected.
    case invalidPayload(String)
    /// A message or line over the configured limit (1009).
    case messageTooBig(limit: Int)
    /// A line of input longer than the child's terminal takes in one line (1009): a `--pty`
    /// terminal's canonical mode would cut it short.
    case inputLineTooLong(limit: Int)
    /// Something on our side or the child's failed (1011); the text says what.
    case internalError(String)

    /// The close code that answers this error.
    public var closeCode: CloseCode {
        switch self {
        case .protocolError: .protocolError
        case .unsupportedData: .unsupportedData
        case .invalidUTF8: .invalidFramePayloadData
        case .invalidCompressedData: .invalidFramePayloadData
        case .invalidPayload: .invalidFramePayloadData
        case .messageTooBig, .inputLineTooLong: .messageTooBig
        case .internalError: .internalError
        }
    }

    /// A short reason for the close frame and the log (fits the 123 bytes a close reason may use).
    public var reason: String {
        let text: String
        switch self {
        case .protocolError(let why): text = why
        case .unsupportedData(let why): text = why
        case .invalidUTF8: text = "invalid UTF-8 in text message"
        case .invalidCompressedData(let why): text = "invalid compressed data: \(why)"
        case .invalidPayload(let why): text = why
        case .messageTooBig(let limit): text = "message over \(limit) bytes"
        case .inputLineTooLong(let limit): text = "line over \(limit) bytes, the most a terminal takes"
        case .internalError(let why): text = why
        }
        return CloseReason.truncated(text)
    }
}

/// Close reasons travel in control frames, so they are limited to 123 bytes (RFC 6455 §5.5: 125
/// bytes of payload less the 2-byte code).
public enum CloseReason {
    /// The longest reason in bytes.
    public static let maxBytes = 123

    /// `text` cut to at most 123 UTF-8 bytes at a character boundary.
    public static func truncated(_ text: String) -> String {
        if text.utf8.count <= maxBytes { return text }
        var result = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            if used + size > maxBytes { break }
            result.append(character)
            used += size
        }
        return result
    }
}
