import WSProtocol

/// One message to send to the client, produced from the child's stdout.
///
/// The payload is usually a slice of the framing codec's stdout buffer, so no bytes are copied on
/// the way out. Its indices are those of that buffer (they do not start at 0). Drop it before the
/// codec next reads stdout: a slice still alive then makes the buffer copy itself (copy-on-write).
public struct OutboundMessage: Sendable, Equatable {
    /// The message's type: `.text` (always valid UTF-8) or `.binary`.
    public var opcode: Opcode
    /// The message's bytes.
    public var payload: ArraySlice<UInt8>

    /// Creates a message.
    public init(opcode: Opcode, payload: ArraySlice<UInt8>) {
        self.opcode = opcode
        self.payload = payload
    }
}

