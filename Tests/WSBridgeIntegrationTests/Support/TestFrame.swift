import Glibc

/// One WebSocket frame as the test client received it, with its exact wire bytes.
struct TestFrame: Equatable {
    /// The FIN bit.
    var isFinal: Bool
    /// RSV1–RSV3 as the low three bits.
    var reservedBits: UInt8
    /// The 4-bit opcode (RFC 6455 §5.2).
    var opcode: UInt8
    /// Whether the frame carried a masking key (a server must never mask, RFC 6455 §5.1).
    var isMasked: Bool
    /// The payload, unmasked.
    var payload: [UInt8]
    /// Every byte of the frame as it arrived, header included.
    var wireBytes: [UInt8]
}

/// A whole message (continuations reassembled) or a close frame, as the test client received it.
enum TestMessage: Equatable, CustomStringConvertible {
    /// A text message, validated as UTF-8.
    case text(String)
    /// A binary message.
    case binary([UInt8])
    /// A close frame: its code (nil when the payload was empty) and reason.
    case close(code: UInt16?, reason: String)

    /// The close code when this is a close frame with one, otherwise nil.
    var closeCode: UInt16? {
        guard case .close(let code, _) = self else { return nil }
        return code
    }

    /// Short human-readable form for failure messages.
    var description: String {
        switch self {
        case .text(let text):
            text.count > 80 ? "text(\(text.utf8.count) bytes: \(text.prefix(60).debugDescription)…)" : "text(\(text.debugDescription))"
        case .binary(let bytes): "binary(\(bytes.count) bytes)"
        case .close(let code, let reason): "close(\(code.map(String.init) ?? "none"), \(reason.debugDescription))"
        }
    }
}

/// Opcodes the test client sends and expects (RFC 6455 §5.2).
enum WireOpcode {
    /// Continues a fragmented message.
    static let continuation: UInt8 = 0x0
    /// A text frame.
    static let text: UInt8 = 0x1
    /// A binary frame.
    static let binary: UInt8 = 0x2
    /// A close frame.
    static let close: UInt8 = 0x8
    /// A ping.
    static let ping: UInt8 = 0x9
    /// A pong.
    static let pong: UInt8 = 0xA
}

/// Why a test-client operation failed; every case says what it was waiting for.
enum TestClientError: Error, CustomStringConvertible {
    /// The deadline passed.
    case timedOut(String)
    /// The peer closed (or reset) the connection before the operation finished.
    case connectionClosed(String)
    /// A system call failed with `errno`.
    case system(String, Int32)
    /// The server sent something RFC 6455 or RFC 9112 forbids.
    case protocolViolation(String)
    /// The upgrade did not produce a valid 101.
    case handshakeFailed(String)

    /// Human-readable form for test failure output.
    var description: String {
        switch self {
        case .timedOut(let what): "timed out waiting for \(what)"
        case .connectionClosed(let what): "connection closed while waiting for \(what)"
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code))) (errno \(code))"
        case .protocolViolation(let what): "server broke the protocol: \(what)"
        case .handshakeFailed(let what): "handshake failed: \(what)"
        }
    }
}
