import WSProtocol

/// Raw framing (SPEC.md §2, `--binary`, websocketd's binary mode): every inbound payload goes to
/// stdin byte for byte, and each chunk read from stdout goes out as one binary message.
@usableFromInline
struct RawFraming: StdoutBuffering, Sendable {
    /// The largest outbound message when no smaller limit is configured: one typical pipe read.
    static let defaultMaxChunkBytes = 65_536

    /// Stdout bytes not yet sent.
    /// Stdout bytes not yet turned into messages.
    var stdout = ByteBuffer()
    /// The largest outbound message; more buffered stdout is split into several.
    let maxChunkBytes: Int

    /// Creates the codec of one session; `maxMessageBytes` caps each outbound chunk.
    init(maxMessageBytes: Int?) {
        maxChunkBytes = Swift.max(1, Swift.min(Self.defaultMaxChunkBytes, maxMessageBytes ?? Int.max))
    }



    /// Writes the payload to stdin unchanged, whatever the message's type: at once when the message
    /// arrives whole, otherwise held until whole while it fits one pipe write, and beyond that
    /// streamed as it comes (see `InboundMessageHold`). Stateless, as line framing's (see there).
    static func encodeInbound(_ fragment: MessageFragment, hold: inout InboundMessageHold, into stdin: inout ByteBuffer) {
        switch fragment.kind {
        case .text, .binary:
            if fragment.isFirst && fragment.isLast {
                stdin.append(contentsOf: fragment.payload)
                return
            }
            if let length = fragment.messageLength, length > InboundMessageHold.maxHeldBytes {
                hold.passThrough(into: &stdin)
            }
            hold.append(contentsOf: fragment.payload, into: &stdin)
            if fragment.isLast { hold.endMessage(into: &stdin) }
        case .continuation, .close, .ping, .pong:
            preconditionFailure("a message fragment is text or binary")
        }
    }

    /// All buffered stdout, up to `maxChunkBytes`, as one binary message; `nil` when none is buffered.
    @usableFromInline
    mutating func nextOutbound() -> OutboundMessage? {
        let count = Swift.min(stdout.readableCount, maxChunkBytes)
        guard count > 0 else { return nil }
        let payload = stdout.readableBytes.prefix(count)
        stdout.moveReaderIndex(forwardBy: count)
        return OutboundMessage(opcode: .binary, payload: payload)
    }

    /// At stdout EOF: whatever is still buffered, then `nil` (raw bytes have no partial records).
    mutating func finishOutbound() -> OutboundMessage? {
        nextOutbound()
    }
}
