import WSProtocol

/// The client's side of a `--pty` session (SPEC §12), in front of the framing: it takes the
/// resize requests out of the input, keeps input lines within what the terminal takes, and knows
/// what ends the child's input. Pure: no I/O.
///
/// - Raw framing: a text message is a resize request (`TerminalResize`), binary messages are
///   input. A malformed or out-of-range request is refused with 1007.
/// - Line framing: every line of a text message must fit the terminal's line (`maxLineBytes`), or
///   the session closes with 1009. In canonical mode Linux keeps 4095 bytes of a line and drops the
///   rest without telling anyone, so a longer line would reach the child cut short.
public struct TerminalInput: Sendable {
    /// N_TTY's line buffer is 4096 bytes, and the newline needs one (measured on Linux 6: a line
    /// of 4095 bytes and its newline arrive whole, a longer one is cut to 4095).
    public static let maxLineBytes = 4095
    /// VEOF as the spawner sets up every terminal (^D, the default).
    public static let endOfFileCharacter: UInt8 = 0x04

    /// The session's framing.
    public let framing: FramingMode
    /// The resize request arriving in fragments.
    private var resizeRequest: [UInt8] = []
    /// Bytes of the current input line so far (line framing).
    private var lineBytes = 0
    /// The last byte queued for the child's stdin, nil before any.
    public private(set) var lastByte: UInt8?

    /// Creates the input side of a session with `framing`.
    public init(framing: FramingMode) {
        self.framing = framing
    }

    /// Takes one fragment of a client message: the size it asks for when it completes a resize
    /// request; otherwise the fragment goes through `codec` into `stdin` and nil comes back.
    public mutating func take(_ fragment: MessageFragment, codec: inout Framing, into stdin: inout ByteBuffer) throws(WebSocketError) -> TerminalSize? {
        if framing == .raw && fragment.kind == .text {
            if fragment.isFirst { resizeRequest.removeAll(keepingCapacity: true) }
            guard resizeRequest.count + fragment.payload.count <= TerminalResize.maxMessageBytes else {
                throw .invalidPayload(TerminalResize.Refusal.malformed.reason)
            }
            resizeRequest.append(contentsOf: fragment.payload)
            guard fragment.isLast else { return nil }
            defer { resizeRequest = [] }
            do {
                return try TerminalResize.parse(resizeRequest)
            } catch {
                throw .invalidPayload(error.reason)
            }
        }
        if framing == .line && fragment.kind == .text { try checkLines(of: fragment) }
        let before = stdin.readableCount
        try codec.encodeInbound(fragment, into: &stdin)
        if stdin.readableCount > before { lastByte = stdin[stdin.readableCount - 1] }
        return nil
    }

    /// What ends the child's input when the ladder's first step would close a pipe: VEOF, which in
    /// canonical mode makes the child's pending `read` return what the line holds; at the start
    /// of a line that is nothing, which the child reads as end of file. So after a partial line a
    /// second one is needed. (The terminal turns a CR into a newline, ICRNL.)
    public var endOfInput: [UInt8] { Self.endOfInput(after: lastByte) }

    /// `endOfInput` after `lastByte` was the last byte written to the terminal (nil for none).
    public static func endOfInput(after lastByte: UInt8?) -> [UInt8] {
        switch lastByte {
        case nil, UInt8(ascii: "\n"), UInt8(ascii: "\r"): [endOfFileCharacter]
        case .some: [endOfFileCharacter, endOfFileCharacter]
        }
    }

    private mutating func checkLines(of fragment: MessageFragment) throws(WebSocketError) {
        // Line framing ends every message with a newline.
        if fragment.isFirst { lineBytes = 0 }
        for byte in fragment.payload {
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                lineBytes = 0
            } else {
                lineBytes += 1
                if lineBytes > Self.maxLineBytes { throw .inputLineTooLong(limit: Self.maxLineBytes) }
            }
        }
    }
}
