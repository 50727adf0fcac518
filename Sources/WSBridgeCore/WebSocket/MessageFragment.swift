/// A piece of an inbound data message, in order, as the message assembler hands it on: the frames of
/// a fragmented message arrive one by one, so a consumer can stream a message without holding it whole.
public struct MessageFragment: Sendable, Equatable {
    /// The message's type, `.text` or `.binary` (also on the fragments carried by continuation frames).
    public var kind: Opcode
    /// This fragment's bytes (for text: already checked to be a valid UTF-8 prefix).
    public var payload: ArraySlice<UInt8>
    /// Whether this is the message's first fragment.
    public var isFirst: Bool
    /// Whether this is the message's last fragment.
    public var isLast: Bool

    /// Creates a fragment.
    public init(kind: Opcode, payload: ArraySlice<UInt8>, isFirst: Bool, isLast: Bool) {
        self.kind = kind
        self.payload = payload
        self.isFirst = isFirst
        self.isLast = isLast
    }
}
