/// The payload of a close frame (RFC 6455 §5.5.1): empty, or a 2-byte status code in network byte
/// order followed by a UTF-8 reason.
public enum ClosePayload {
    /// Parses a received close frame's payload (RFC 6455 §5.5.1, §7.4): empty → (nil, ""); 1 byte → 1002; code not valid on the wire (CloseCode.isValidOnWire) → 1002; reason not UTF-8 → 1007.
    public static func parse(_ payload: ArraySlice<UInt8>) throws(WebSocketError) -> (code: CloseCode?, reason: String) {
        switch payload.count {
        case 0:
            // RFC 6455 §7.1.5: no code in the frame is reported as 1005, which is never sent.
            return (nil, "")
        case 1:
            // RFC 6455 §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte
            // unsigned integer"; a single byte cannot be one.
            throw .protocolError("close frame with a 1-byte payload")
        case (FrameDecoder.maxControlPayloadBytes + 1)...:
            // RFC 6455 §5.5: the decoder refuses such frames; this keeps the parser safe on its own.
            throw .protocolError("close frame payload over 125 bytes")
        default:
            break
        }
        let start = payload.startIndex
        let code = CloseCode(UInt16(payload[start]) << 8 | UInt16(payload[start + 1]))
        // RFC 6455 §7.4.1-§7.4.2: 1005, 1006 and 1015 are never sent, and codes below 1000 or
        // unassigned in the IANA registry are not valid; receiving one fails the connection (1002).
        guard code.isValidOnWire else { throw .protocolError("invalid close code \(code.rawValue)") }
        let reasonBytes = payload[(start + 2)...]
        // RFC 6455 §5.5.1: the reason is UTF-8; §8.1 makes invalid UTF-8 a 1007 failure.
        guard UTF8Validator.isValid(reasonBytes) else { throw .invalidUTF8 }
        return (code, String(decoding: reasonBytes, as: UTF8.self))
    }
}
