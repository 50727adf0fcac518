/// A piece of an inbound data message, in order, as the message assembler hands it on: a whole frame,
/// or part of a frame's payload as it arrives, so a consumer can stream a message of any size without
/// holding it whole (SPEC §7).
public struct MessageFragment: Sendable, Equatable {
    /// The message's type, `.text` or `.binary` (also on the fragments carried by continuation frames).
    public var kind: Opcode
    /// This fragment's bytes (for text: already checked to be a valid UTF-8 prefix).
    public var payload: ArraySlice<UInt8>
    /// Whether this is the message's first fragment.
    public var isFirst: Bool
    /// Whether this is the message's last fragment.
    public var isLast: Bool
    /// The whole message's length in bytes, when it is known at its first fragment: a message sent
    /// as a single frame declares it in that frame's header (RFC 6455 §5.2). `nil` on every later
    /// fragment, and on the first one of a fragmented message, whose length is known only at its end.
    public var messageLength: Int?
    /// Whether the payload is still compressed (permessage-deflate, RFC 7692: the message's first
    /// frame had RSV1): an inflater turns it into the message's bytes, which are checked there
    /// (UTF-8, size) since nothing can be said of them before.
    public var isCompressed = false

    /// Creates a fragment whose message length is known exactly when it is a whole message (first
    /// and last).
    public init(kind: Opcode, payload: ArraySlice<UInt8>, isFirst: Bool, isLast: Bool) {
        self.init(kind: kind, payload: payload, isFirst: isFirst, isLast: isLast,
                  messageLength: isFirst && isLast ? payload.count : nil)
    }

    /// Creates a fragment.
    public init(kind: Opcode, payload: ArraySlice<UInt8>, isFirst: Bool, isLast: Bool, messageLength: Int?) {
        precondition(isFirst || messageLength == nil, "only a message's first fragment carries its length")
        self.kind = kind
        self.payload = payload
        self.isFirst = isFirst
        self.isLast = isLast
        self.messageLength = messageLength
    }
}
