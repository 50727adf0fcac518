/// The header of a data frame whose payload the decoder hands out in pieces as it arrives
/// (RFC 6455 §5.2), so the frame's length is known, and checked, before any of its payload.
public struct FrameHead: Sendable, Equatable {
    /// The FIN bit: this frame ends its message.
    public var isFinal: Bool
    /// The reserved bits RSV1–RSV3 as `0b0000_0RRR` (see `Frame.reservedBits`).
    public var reservedBits: UInt8
    /// `.text`, `.binary` or `.continuation`: control frames always come out whole.
    public var opcode: Opcode
    /// The payload length the header declares; at least one byte, since an empty frame is whole.
    public var payloadLength: Int

    /// Creates a frame head.
    public init(isFinal: Bool = true, reservedBits: UInt8 = 0, opcode: Opcode, payloadLength: Int) {
        self.isFinal = isFinal
        self.reservedBits = reservedBits
        self.opcode = opcode
        self.payloadLength = payloadLength
    }
}

/// What the frame decoder makes of the bytes received so far.
///
/// A frame whose payload has fully arrived by the time its header is read comes out whole, as one
/// `.frame`: the common case, a small frame in one read, costs one event and no copy. A data frame
/// still arriving comes out as `.head`, then its payload as `.payload` pieces as the bytes arrive,
/// the last one marked, so a frame of any size passes through a buffer of one read (SPEC §7).
/// Which of the two a frame takes depends on how the input was split; the frames they describe do
/// not: `.head(h)` followed by its pieces is the same frame as one `.frame`.
public enum FrameEvent: Sendable, Equatable {
    /// A whole frame, unmasked; its payload is a slice of the decoder's buffer, valid until the
    /// decoder is next fed or asked. Control frames always come out this way (RFC 6455 §5.5: at most
    /// 125 bytes).
    case frame(Frame)
    /// The header of a data frame whose payload follows as `.payload` events.
    case head(FrameHead)
    /// The next unmasked bytes of the frame announced by the last `.head`, never empty; `isFrameEnd`
    /// on the piece that completes it. A slice of the decoder's buffer, valid as `.frame`'s payload.
    case payload(ArraySlice<UInt8>, isFrameEnd: Bool)
}
