/// Follows the data frames of the message in progress (RFC 6455 §5.4): checks that continuation
/// frames continue a message and new messages do not interrupt one, enforces the message size limit
/// on the total so far, and validates text as UTF-8 frame by frame so a bad message fails as soon as
/// it cannot be valid (RFC 6455 §8.1). Fragments are passed on, not buffered, so a consumer can
/// stream a message of any size the limit allows.
public struct MessageAssembler: Sendable {
    /// The message in progress, if any.
    private enum State: Sendable {
        /// Between messages.
        case idle
        /// Inside a fragmented text message of `receivedBytes` so far.
        case text(receivedBytes: Int, validator: UTF8Validator)
        /// Inside a fragmented binary message of `receivedBytes` so far.
        case binary(receivedBytes: Int)
    }

    private let maxMessageBytes: Int?
    private var state = State.idle
    /// The UTF-8 check of a text frame still arriving, and how many of its bytes it has seen.
    private var partial: (validator: UTF8Validator, checkedBytes: Int)?

    /// maxMessageBytes: nil = no limit (SPEC: --maxframesize is a *message* limit after reassembly; 1009 beyond it).
    public init(maxMessageBytes: Int?) {
        precondition(maxMessageBytes.map { $0 >= 0 } ?? true, "a negative message limit")
        self.maxMessageBytes = maxMessageBytes
    }

    /// Whether a fragmented message has started and its final fragment has not arrived yet.
    public var isInsideMessage: Bool {
        switch state {
        case .idle: false
        case .text, .binary: true
        }
    }

    /// Checks the unmasked start of a data frame whose payload has not fully arrived: a text
    /// message whose bytes so far cannot be valid UTF-8 fails now with 1007, not when the rest of a
    /// large frame has come (RFC 6455 §8.1: "as soon as"). Binary frames and frames out of sequence
    /// are left to `receive(_:)`. Each byte is checked once however the frame arrives.
    public mutating func checkPartialFrame(opcode: Opcode, prefix: ArraySlice<UInt8>) throws(WebSocketError) {
        var validator: UTF8Validator
        var checkedBytes = 0
        if let partial {
            (validator, checkedBytes) = partial
        } else {
            switch (state, opcode) {
            case (.idle, .text): validator = UTF8Validator()
            case (.text(_, let messageValidator), .continuation): validator = messageValidator
            default: return
            }
        }
        guard prefix.count > checkedBytes else { return }
        guard validator.validate(contentsOf: prefix.dropFirst(checkedBytes)) else {
            state = .idle
            partial = nil
            throw .invalidUTF8
        }
        partial = (validator, prefix.count)
    }

    /// Takes a data frame (text, binary, continuation; never control — precondition) and returns it as a fragment of its message, after checking: continuation with no message in progress → 1002; text/binary while a fragmented message is in progress → 1002; the message so far exceeds maxMessageBytes → 1009; text whose bytes so far cannot be valid UTF-8 → 1007 (incremental, per frame: fail as soon as this frame makes it impossible); the final fragment of a text message ending mid-character → 1007.
    ///
    /// After an error the assembler is back between messages.
    public mutating func receive(_ frame: Frame) throws(WebSocketError) -> MessageFragment {
        precondition(!frame.opcode.isControl, "control frames do not belong to messages (RFC 6455 §5.4)")
        partial = nil
        let receivedSoFar: Int
        var validator: UTF8Validator?
        let kind: Opcode
        switch (state, frame.opcode) {
        case (.idle, .continuation):
            // RFC 6455 §5.4: a continuation frame only follows a non-final text or binary frame.
            throw .protocolError("continuation frame without a message in progress")
        case (.idle, .text):
            (kind, receivedSoFar, validator) = (.text, 0, UTF8Validator())
        case (.idle, .binary):
            (kind, receivedSoFar, validator) = (.binary, 0, nil)
        case (.text, .text), (.text, .binary), (.binary, .text), (.binary, .binary):
            // RFC 6455 §5.4: "the fragments of one message MUST NOT be interleaved between the
            // fragments of another message".
            state = .idle
            throw .protocolError("new message inside a fragmented message")
        case (.text(let received, let textValidator), .continuation):
            (kind, receivedSoFar, validator) = (.text, received, textValidator)
        case (.binary(let received), .continuation):
            (kind, receivedSoFar, validator) = (.binary, received, nil)
        case (_, .close), (_, .ping), (_, .pong):
            preconditionFailure("control frames were excluded above")
        }
        if frame.opcode == .continuation && frame.reservedBits & 0b100 != 0 {
            // RFC 7692 §6.1: the "Per-Message Compressed" bit (RSV1) is only set on a message's
            // first frame.
            state = .idle
            throw .protocolError("RSV1 set on a continuation frame")
        }

        let (total, overflow) = receivedSoFar.addingReportingOverflow(frame.payload.count)
        if let maxMessageBytes, overflow || total > maxMessageBytes {
            state = .idle
            throw .messageTooBig(limit: maxMessageBytes)
        }

        if var textValidator = validator {
            // RFC 6455 §8.1: fail as soon as the bytes so far cannot begin valid UTF-8, and at the end
            // of the message if a character is left unfinished.
            guard textValidator.validate(contentsOf: frame.payload),
                  !frame.isFinal || textValidator.isAtCharacterBoundary else {
                state = .idle
                throw .invalidUTF8
            }
            state = frame.isFinal ? .idle : .text(receivedBytes: total, validator: textValidator)
        } else {
            state = frame.isFinal ? .idle : .binary(receivedBytes: total)
        }
        return MessageFragment(kind: kind, payload: frame.payload, isFirst: frame.opcode != .continuation,
                               isLast: frame.isFinal)
    }

    /// Forgets the message in progress (the connection is failing and no more data is taken).
    public mutating func reset() {
        partial = nil
        state = .idle
    }
}
