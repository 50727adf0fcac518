/// A frame's opcode (RFC 6455 §5.2, §11.8).
public enum Opcode: UInt8, Sendable, Equatable, Hashable {
    /// Continues a fragmented message.
    case continuation = 0x0
    /// A text frame: the message is UTF-8.
    case text = 0x1
    /// A binary frame.
    case binary = 0x2
    /// Starts or answers the close handshake.
    case close = 0x8
    /// A ping, answered by a pong with the same payload.
    case ping = 0x9
    /// A pong.
    case pong = 0xA

    /// Whether this is a control frame (RFC 6455 §5.5: opcodes with the high bit set).
    public var isControl: Bool { rawValue & 0x8 != 0 }
}
