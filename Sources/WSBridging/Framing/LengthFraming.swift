import WSProtocol

/// Length framing (SPEC.md §2, wsbridge's own): every message, both ways, is a 5-byte header
/// (opcode 0x01 text or 0x02 binary as in RFC 6455 §5.2, then the payload length as a 32-bit
/// big-endian unsigned integer) followed by the payload, so types and boundaries survive exactly.
@usableFromInline
struct LengthFraming: StdoutBuffering, Sendable {
    /// The size of a record header: one opcode byte and four length bytes.
    static let headerBytes = 5
    /// Capacity the inbound reassembly buffer keeps between fragmented messages.
    static let retainedInboundCapacity = 65_536

    /// Progress through the record being read from stdout.
    private enum OutboundState: Sendable {
        /// Waiting for the 5 header bytes of the next record.
        case header
        /// The header was read and consumed; waiting for `length` payload bytes.
        case payload(opcode: Opcode, length: Int)
    }

    /// Progress through the inbound message being written to stdin.
    private enum InboundState: Sendable {
        /// Between messages.
        case idle
        /// Writing a message sent as one frame, whose header declared its length: the record's
        /// header is written and the payload follows as it arrives.
        case streaming
        /// Collecting the fragments of a fragmented message, whose total length the header needs.
        case accumulating(kind: Opcode)
    }

    /// Stdout bytes not yet returned as messages.
    /// Stdout bytes not yet turned into messages.
    var stdout = ByteBuffer()
    private var outboundState = OutboundState.header
    private var inboundState = InboundState.idle
    /// The fragments so far of a fragmented inbound message.
    private var inboundMessage = ByteBuffer()
    /// The longest payload accepted either way; `nil` means no limit beyond the header's 32 bits.
    let maxMessageBytes: Int?

    /// Creates the codec of one session.
    init(maxMessageBytes: Int?) {
        self.maxMessageBytes = maxMessageBytes
    }



    /// The largest inbound message: the configured limit, and never more than the header can carry.
    private var inboundLimit: Int {
        Swift.min(maxMessageBytes ?? Int.max, Int(UInt32.max))
    }

    /// Writes a message that arrives whole at once. A message sent as one frame still arriving has
    /// its length in the frame's header: its record's header is written first and the payload
    /// follows as it arrives (held until whole while the record fits one pipe write, see
    /// `InboundMessageHold`). A fragmented message's length is known only at its end, so its
    /// fragments are collected, up to the limit (1009 beyond it), and written when the last arrives.
    mutating func encodeInbound(_ fragment: MessageFragment, hold: inout InboundMessageHold,
                                into stdin: inout ByteBuffer) throws(WebSocketError) {
        switch fragment.kind {
        case .text, .binary: break
        case .continuation, .close, .ping, .pong: preconditionFailure("a message fragment is text or binary")
        }
        switch inboundState {
        case .idle:
            precondition(fragment.isFirst, "a message continued without its first fragment")
            if fragment.payload.count > inboundLimit { throw .messageTooBig(limit: inboundLimit) }
            if fragment.isLast {
                Self.writeHeader(opcode: fragment.kind, length: fragment.payload.count, into: &stdin)
                stdin.append(contentsOf: fragment.payload)
            } else if let length = fragment.messageLength {
                if length > inboundLimit { throw .messageTooBig(limit: inboundLimit) }
                if Self.headerBytes + length > InboundMessageHold.maxHeldBytes { hold.passThrough(into: &stdin) }
                var header = ByteBuffer(capacity: Self.headerBytes)
                Self.writeHeader(opcode: fragment.kind, length: length, into: &header)
                hold.append(contentsOf: header.readableBytes, into: &stdin)
                hold.append(contentsOf: fragment.payload, into: &stdin)
                inboundState = .streaming
            } else {
                inboundMessage.append(contentsOf: fragment.payload)
                inboundState = .accumulating(kind: fragment.kind)
            }
        case .streaming:
            precondition(!fragment.isFirst, "a message started inside another")
            hold.append(contentsOf: fragment.payload, into: &stdin)
            guard fragment.isLast else { return }
            hold.endMessage(into: &stdin)
            inboundState = .idle
        case .accumulating(let kind):
            precondition(!fragment.isFirst, "a message started inside another")
            let total = inboundMessage.readableCount + fragment.payload.count
            if total > inboundLimit {
                inboundMessage.clear()
                inboundMessage.releaseCapacityIfEmpty(keeping: 0)
                inboundState = .idle
                throw .messageTooBig(limit: inboundLimit)
            }
            inboundMessage.append(contentsOf: fragment.payload)
            guard fragment.isLast else { return }
            Self.writeHeader(opcode: kind, length: total, into: &stdin)
            stdin.append(inboundMessage)
            inboundMessage.clear()
            // A connection that once carried a huge message should not hold its memory while idle.
            inboundMessage.releaseCapacityIfEmpty(keeping: Self.retainedInboundCapacity)
            inboundState = .idle
        }
    }

    /// Frees the buffers' storage while they hold nothing, so idle sessions cost little memory.
    mutating func releaseIdleMemory() {
        stdout.releaseCapacityIfEmpty(keeping: 0)
        inboundMessage.releaseCapacityIfEmpty(keeping: 0)
    }

    /// Appends the 5-byte record header.
    static func writeHeader(opcode: Opcode, length: Int, into buffer: inout ByteBuffer) {
        let value = UInt32(length)
        buffer.append(opcode.rawValue)
        buffer.append(UInt8(truncatingIfNeeded: value >> 24))
        buffer.append(UInt8(truncatingIfNeeded: value >> 16))
        buffer.append(UInt8(truncatingIfNeeded: value >> 8))
        buffer.append(UInt8(truncatingIfNeeded: value))
    }

    /// The next complete record as a message, or `nil` until all of it has arrived.
    ///
    /// A bad record throws without being consumed, so asking again throws the same error; every
    /// record before it has already come out.
    @usableFromInline
    mutating func nextOutbound() throws(WebSocketError) -> OutboundMessage? {
        let opcode: Opcode
        let length: Int
        switch outboundState {
        case .header:
            guard stdout.readableCount >= Self.headerBytes else { return nil }
            (opcode, length) = try parseHeader()
            stdout.moveReaderIndex(forwardBy: Self.headerBytes)
            outboundState = .payload(opcode: opcode, length: length)
        case .payload(let pendingOpcode, let pendingLength):
            opcode = pendingOpcode
            length = pendingLength
        }
        guard stdout.readableCount >= length else { return nil }
        let payload = stdout.readableBytes.prefix(length)
        // RFC 6455 §8.1: a text frame must be valid UTF-8; the child broke the framing contract.
        if opcode == .text && !UTF8Validator.isValid(payload) {
            throw .internalError("child wrote invalid UTF-8 in a text record")
        }
        stdout.moveReaderIndex(forwardBy: length)
        outboundState = .header
        return OutboundMessage(opcode: opcode, payload: payload)
    }

    /// At stdout EOF: the next record, then `nil` if nothing is left; a record cut short throws.
    mutating func finishOutbound() throws(WebSocketError) -> OutboundMessage? {
        if let message = try nextOutbound() { return message }
        switch outboundState {
        case .header:
            if stdout.readableCount > 0 {
                throw .internalError("child's stdout ended inside a record header")
            }
            return nil
        case .payload(_, let length):
            throw .internalError("child's stdout ended inside a \(length)-byte record")
        }
    }

    /// Reads the header at the front of stdout, checking its opcode and, at once, its length.
    private func parseHeader() throws(WebSocketError) -> (Opcode, Int) {
        let opcodeByte = stdout[0]
        let length = Int(stdout[1]) << 24 | Int(stdout[2]) << 16 | Int(stdout[3]) << 8 | Int(stdout[4])
        let opcode: Opcode
        switch Opcode(rawValue: opcodeByte) {
        case .text?: opcode = .text
        case .binary?: opcode = .binary
        case .continuation?, .close?, .ping?, .pong?, nil:
            throw .internalError("child wrote unknown record opcode 0x\(String(opcodeByte, radix: 16))")
        }
        if let limit = maxMessageBytes, length > limit {
            throw .internalError("child wrote a \(length)-byte record, over the \(limit)-byte limit")
        }
        return (opcode, length)
    }
}
