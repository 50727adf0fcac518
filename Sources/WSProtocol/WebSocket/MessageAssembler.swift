/// Follows the data frames of the message in progress (RFC 6455 §5.4): checks that continuation
/// frames continue a message and new messages do not interrupt one, enforces the message size limit
/// as soon as a frame's header declares its length, and validates text as UTF-8 piece by piece so a
/// bad message fails as soon as it cannot be valid (RFC 6455 §8.1). Nothing is buffered: whole
/// frames and the pieces of frames still arriving are passed on as fragments, so a consumer can
/// stream a message of any size the limit allows.
public struct MessageAssembler: Sendable {
    /// The message in progress.
    private struct Message: Sendable {
        /// `.text` or `.binary`.
        var kind: Opcode
        /// The bytes of the message so far, counting the whole of a frame whose head has arrived
        /// (already checked against the limit).
        var declaredBytes: Int
        /// The UTF-8 check of a text message so far; nil for binary, and for a compressed message
        /// (its inflater checks the inflated bytes).
        var validator: UTF8Validator?
        /// The message's first frame had RSV1 (permessage-deflate): its payload is compressed.
        var isCompressed: Bool
        /// No fragment of the message has been handed on yet.
        var isAtStart: Bool
    }

    /// The data frame whose payload is arriving in pieces.
    private struct StreamedFrame: Sendable {
        /// The frame ends its message.
        var isFinal: Bool
        /// Payload bytes still to come.
        var remainingCount: Int
        /// The whole message's length when this frame is all of it (see `MessageFragment.messageLength`).
        var messageLength: Int?
    }

    /// Where the message stream stands.
    private enum State: Sendable {
        /// Between messages.
        case idle
        /// Between the frames of a fragmented message.
        case betweenFrames(Message)
        /// Inside a data frame whose payload arrives in pieces.
        case insideFrame(Message, StreamedFrame)
    }

    private let maxMessageBytes: Int?
    private let maxCompressedMessageBytes: Int?
    private var state = State.idle

    /// maxMessageBytes: nil = no limit (SPEC: --maxframesize is a *message* limit after reassembly; 1009 beyond it).
    public init(maxMessageBytes: Int?) {
        precondition(maxMessageBytes.map { $0 >= 0 } ?? true, "a negative message limit")
        self.maxMessageBytes = maxMessageBytes
        maxCompressedMessageBytes = maxMessageBytes.map(Self.compressedBound)
    }

    /// The most compressed bytes a message of `limit` bytes can take: a deflater that finds
    /// nothing to compress sends stored blocks, 5 bytes of header per block of up to 64 KiB, plus
    /// a few bytes of flush; the slack is generous so that no honest compressor is refused. The
    /// inflated size is what the limit is about, and the inflater checks it exactly.
    public static func compressedBound(_ limit: Int) -> Int {
        let (bound, overflow) = limit.addingReportingOverflow(limit / 64 + 1024)
        return overflow ? Int.max : bound
    }

    /// Whether a message has started and its last byte has not arrived yet.
    public var isInsideMessage: Bool {
        switch state {
        case .idle: false
        case .betweenFrames, .insideFrame: true
        }
    }

    /// Takes a whole data frame (text, binary, continuation; never control — precondition) and returns it as a fragment of its message, after checking: continuation with no message in progress → 1002; text/binary while a fragmented message is in progress → 1002; the message so far exceeds maxMessageBytes → 1009; text whose bytes so far cannot be valid UTF-8 → 1007 (incremental, per frame: fail as soon as this frame makes it impossible); the final fragment of a text message ending mid-character → 1007.
    ///
    /// After an error the assembler is back between messages.
    public mutating func receive(_ frame: Frame) throws(WebSocketError) -> MessageFragment {
        var message = try startFrame(opcode: frame.opcode, reservedBits: frame.reservedBits,
                                     payloadLength: frame.payload.count)
        try check(frame.payload, endingMessage: frame.isFinal, of: &message)
        var fragment = MessageFragment(kind: message.kind, payload: frame.payload, isFirst: message.isAtStart,
                                       isLast: frame.isFinal)
        fragment.isCompressed = message.isCompressed
        message.isAtStart = false
        state = frame.isFinal ? .idle : .betweenFrames(message)
        return fragment
    }

    /// Takes the head of a data frame whose payload will arrive in pieces (`receivePiece`), with the
    /// checks of `receive(_:)` that need no payload: the sequence of frames, and the message's size
    /// limit against the length the header declares, before any of it is read (RFC 6455 §10.4).
    public mutating func receiveHead(_ head: FrameHead) throws(WebSocketError) {
        let message = try startFrame(opcode: head.opcode, reservedBits: head.reservedBits,
                                     payloadLength: head.payloadLength)
        precondition(head.payloadLength > 0, "an empty frame is never streamed")
        // A compressed message's length is known only once inflated.
        let isWholeMessage = message.isAtStart && head.isFinal && !message.isCompressed
        state = .insideFrame(message, StreamedFrame(isFinal: head.isFinal, remainingCount: head.payloadLength,
                                                    messageLength: isWholeMessage ? head.payloadLength : nil))
    }

    /// Takes the next piece of the frame announced by `receiveHead(_:)` and returns it as a fragment
    /// of its message, after checking that text stays valid UTF-8 (1007 at the first piece that
    /// makes it impossible, or at the end of the message if a character is left unfinished).
    public mutating func receivePiece(_ piece: ArraySlice<UInt8>, isFrameEnd: Bool) throws(WebSocketError) -> MessageFragment {
        guard case .insideFrame(var message, var frame) = state else {
            preconditionFailure("a payload piece without a frame head")
        }
        precondition(isFrameEnd ? piece.count == frame.remainingCount : piece.count < frame.remainingCount,
                     "the pieces do not add up to the frame's length")
        let isMessageEnd = isFrameEnd && frame.isFinal
        try check(piece, endingMessage: isMessageEnd, of: &message)
        var fragment = MessageFragment(kind: message.kind, payload: piece, isFirst: message.isAtStart,
                                       isLast: isMessageEnd, messageLength: message.isAtStart ? frame.messageLength : nil)
        fragment.isCompressed = message.isCompressed
        message.isAtStart = false
        frame.remainingCount -= piece.count
        if !isFrameEnd {
            state = .insideFrame(message, frame)
        } else {
            state = isMessageEnd ? .idle : .betweenFrames(message)
        }
        return fragment
    }

    /// Forgets the message in progress (the connection is failing and no more data is taken).
    public mutating func reset() {
        state = .idle
    }

    /// Checks a data frame's place in the message sequence and the message's size with this frame's
    /// length; returns the message it belongs to. On error the assembler is back between messages.
    private mutating func startFrame(opcode: Opcode, reservedBits: UInt8, payloadLength: Int) throws(WebSocketError) -> Message {
        precondition(!opcode.isControl, "control frames do not belong to messages (RFC 6455 §5.4)")
        var message: Message
        switch (state, opcode) {
        case (.idle, .continuation):
            // RFC 6455 §5.4: a continuation frame only follows a non-final text or binary frame.
            throw .protocolError("continuation frame without a message in progress")
        case (.idle, .text), (.idle, .binary):
            // RFC 7692 §6.1: RSV1 on a message's first frame marks it compressed (the decoder lets
            // RSV1 through only when permessage-deflate was negotiated).
            let isCompressed = reservedBits & 0b100 != 0
            message = Message(kind: opcode, declaredBytes: 0,
                              validator: opcode == .text && !isCompressed ? UTF8Validator() : nil,
                              isCompressed: isCompressed, isAtStart: true)
        case (.betweenFrames, .text), (.betweenFrames, .binary):
            // RFC 6455 §5.4: "the fragments of one message MUST NOT be interleaved between the
            // fragments of another message".
            state = .idle
            throw .protocolError("new message inside a fragmented message")
        case (.betweenFrames(let current), .continuation):
            message = current
        case (.insideFrame, _):
            preconditionFailure("a new frame before the streamed one ended")
        case (_, .close), (_, .ping), (_, .pong):
            preconditionFailure("control frames were excluded above")
        }
        if opcode == .continuation && reservedBits & 0b100 != 0 {
            // RFC 7692 §6.1: the "Per-Message Compressed" bit (RSV1) is only set on a message's
            // first frame.
            state = .idle
            throw .protocolError("RSV1 set on a continuation frame")
        }
        let (total, overflow) = message.declaredBytes.addingReportingOverflow(payloadLength)
        if let maxMessageBytes, let bound = message.isCompressed ? maxCompressedMessageBytes : maxMessageBytes,
           overflow || total > bound {
            state = .idle
            throw .messageTooBig(limit: maxMessageBytes)
        }
        message.declaredBytes = total
        return message
    }

    /// Validates the next bytes of a text message; binary passes. On error the assembler is back
    /// between messages.
    private mutating func check(_ bytes: ArraySlice<UInt8>, endingMessage isMessageEnd: Bool,
                                of message: inout Message) throws(WebSocketError) {
        guard var validator = message.validator else { return }
        // RFC 6455 §8.1: fail as soon as the bytes so far cannot begin valid UTF-8, and at the end
        // of the message if a character is left unfinished.
        guard validator.validate(contentsOf: bytes), !isMessageEnd || validator.isAtCharacterBoundary else {
            state = .idle
            throw .invalidUTF8
        }
        message.validator = validator
    }
}
