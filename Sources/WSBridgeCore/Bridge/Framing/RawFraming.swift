/// Raw framing (SPEC.md §2, `--binary`, websocketd's binary mode): every inbound payload goes to
/// stdin byte for byte, and each chunk read from stdout goes out as one binary message.
struct RawFraming: Sendable {
    /// The largest outbound message when no smaller limit is configured: one typical pipe read.
    static let defaultMaxChunkBytes = 65_536

    /// Stdout bytes not yet sent.
    private var stdout = ByteBuffer()
    /// The largest outbound message; more buffered stdout is split into several.
    let maxChunkBytes: Int

    /// Creates the codec of one session; `maxMessageBytes` caps each outbound chunk.
    init(maxMessageBytes: Int?) {
        maxChunkBytes = Swift.max(1, Swift.min(Self.defaultMaxChunkBytes, maxMessageBytes ?? Int.max))
    }

    /// Stdout bytes held.
    var bufferedStdoutCount: Int { stdout.readableCount }

    /// Bytes allocated for stdout (for tests of memory use).
    var stdoutCapacity: Int { stdout.capacity }

    /// Frees the stdout buffer's storage while it holds nothing, so idle sessions cost little memory.
    mutating func releaseIdleMemory() {
        stdout.releaseCapacityIfEmpty(keeping: 0)
    }

    /// Writes the payload to stdin unchanged, whatever the message's type.
    mutating func encodeInbound(_ fragment: MessageFragment, into stdin: inout ByteBuffer) {
        switch fragment.kind {
        case .text, .binary:
            stdin.append(contentsOf: fragment.payload)
        case .continuation, .close, .ping, .pong:
            preconditionFailure("a message fragment is text or binary")
        }
    }

    /// Lets `body` read stdout straight into the buffer; returns what `body` returned.
    mutating func readStdout(minimumWritable: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        var result = 0
        stdout.writeWithUnsafeMutableBytes(minimumWritable: minimumWritable) { space in
            result = body(space)
            return Swift.max(0, result)
        }
        return result
    }

    /// Appends stdout bytes.
    mutating func appendStdout(_ bytes: UnsafeRawBufferPointer) {
        stdout.append(bytes)
    }

    /// All buffered stdout, up to `maxChunkBytes`, as one binary message; `nil` when none is buffered.
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
