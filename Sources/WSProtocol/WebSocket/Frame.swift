/// One WebSocket frame as received or to be sent (RFC 6455 §5.2), payload already unmasked.
public struct Frame: Sendable, Equatable {
    /// The FIN bit: this frame ends its message.
    public var isFinal: Bool
    /// The three reserved bits RSV1–RSV3 as `0b0000_0RRR` (RSV1 is `0b100`); non-zero only when an
    /// extension such as permessage-deflate (RSV1) was negotiated.
    public var reservedBits: UInt8
    /// What the frame carries.
    public var opcode: Opcode
    /// The application data, unmasked. A slice of the decoder's buffer: use it before feeding the
    /// decoder more bytes, or copy it.
    public var payload: ArraySlice<UInt8>

    /// Creates a frame.
    public init(isFinal: Bool = true, reservedBits: UInt8 = 0, opcode: Opcode, payload: ArraySlice<UInt8>) {
        self.isFinal = isFinal
        self.reservedBits = reservedBits
        self.opcode = opcode
        self.payload = payload
    }

    /// Creates a frame from a byte array.
    public init(isFinal: Bool = true, reservedBits: UInt8 = 0, opcode: Opcode, payload: [UInt8]) {
        self.init(isFinal: isFinal, reservedBits: reservedBits, opcode: opcode, payload: payload[...])
    }
}
