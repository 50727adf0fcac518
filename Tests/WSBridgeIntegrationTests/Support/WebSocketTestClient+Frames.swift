import Glibc

extension WebSocketTestClient {
    /// Largest frame payload the client accepts, so a broken length field cannot exhaust memory.
    static let maxReceivedPayloadBytes = 128 * 1024 * 1024

    // MARK: Encoding

    /// Encodes one frame (RFC 6455 §5.2); `mask` nil sends it unmasked, which a server must refuse.
    static func encodeFrame(opcode: UInt8, payload: [UInt8], isFinal: Bool = true, reservedBits: UInt8 = 0, mask: [UInt8]?) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(payload.count + 14)
        frame.append((isFinal ? 0x80 : 0) | (reservedBits & 0x7) << 4 | (opcode & 0xF))
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        // RFC 6455 §5.2: the minimal length encoding, 7 bits, then 16, then 64.
        switch payload.count {
        case 0...125:
            frame.append(maskBit | UInt8(payload.count))
        case 126...0xFFFF:
            frame.append(maskBit | 126)
            frame.append(UInt8(payload.count >> 8))
            frame.append(UInt8(payload.count & 0xFF))
        default:
            frame.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8(truncatingIfNeeded: UInt64(payload.count) >> UInt64(shift))) }
        }
        guard let mask else {
            frame.append(contentsOf: payload)
            return frame
        }
        precondition(mask.count == 4, "a masking key has four bytes")
        frame.append(contentsOf: mask)
        let start = frame.count
        frame.append(contentsOf: payload)
        // RFC 6455 §5.3: octet i is XORed with mask[i mod 4].
        frame.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<payload.count { buffer[start + i] ^= mask[i & 3] }
        }
        return frame
    }

    /// A fresh random masking key (RFC 6455 §5.3: unpredictable per frame).
    static func randomMask() -> [UInt8] {
        withUnsafeBytes(of: UInt32.random(in: .min ... .max)) { Array($0) }
    }

    /// Encodes a whole data message, masked, split into frames of at most `fragmentSize` bytes.
    static func encodeMessage(opcode: UInt8, payload: [UInt8], fragmentSize: Int? = nil) -> [UInt8] {
        guard let fragmentSize, fragmentSize > 0, payload.count > fragmentSize else {
            return encodeFrame(opcode: opcode, payload: payload, mask: randomMask())
        }
        var bytes: [UInt8] = []
        var offset = 0
        while offset < payload.count {
            let end = min(offset + fragmentSize, payload.count)
            // RFC 6455 §5.4: the first frame has the opcode, the rest are continuations.
            bytes += encodeFrame(
                opcode: offset == 0 ? opcode : WireOpcode.continuation,
                payload: Array(payload[offset..<end]),
                isFinal: end == payload.count,
                mask: randomMask()
            )
            offset = end
        }
        return bytes
    }

    /// Encodes a masked text message.
    static func encodeText(_ text: String, fragmentSize: Int? = nil) -> [UInt8] {
        encodeMessage(opcode: WireOpcode.text, payload: Array(text.utf8), fragmentSize: fragmentSize)
    }

    /// Encodes a masked binary message.
    static func encodeBinary(_ bytes: [UInt8], fragmentSize: Int? = nil) -> [UInt8] {
        encodeMessage(opcode: WireOpcode.binary, payload: bytes, fragmentSize: fragmentSize)
    }

    /// Payload of a close frame: the code big-endian, then the UTF-8 reason (RFC 6455 §5.5.1).
    static func closePayload(code: UInt16?, reason: String = "") -> [UInt8] {
        guard let code else { return [] }
        return [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
    }

    // MARK: Sending

    /// Sends one masked frame (or unmasked when `masked` is false, to provoke 1002).
    func sendFrame(opcode: UInt8, payload: [UInt8], isFinal: Bool = true, reservedBits: UInt8 = 0, masked: Bool = true) throws {
        try sendRaw(Self.encodeFrame(opcode: opcode, payload: payload, isFinal: isFinal, reservedBits: reservedBits, mask: masked ? Self.randomMask() : nil))
    }

    /// Sends a text message, optionally fragmented.
    func sendText(_ text: String, fragmentSize: Int? = nil) throws {
        try sendRaw(Self.encodeText(text, fragmentSize: fragmentSize))
    }

    /// Sends a binary message, optionally fragmented.
    func sendBinary(_ bytes: [UInt8], fragmentSize: Int? = nil) throws {
        try sendRaw(Self.encodeBinary(bytes, fragmentSize: fragmentSize))
    }

    /// Sends a ping with `payload`.
    func sendPing(_ payload: [UInt8] = []) throws {
        try sendFrame(opcode: WireOpcode.ping, payload: payload)
    }

    /// Sends a close frame with `code` (nil: empty payload) and `reason`.
    func sendClose(code: UInt16? = 1000, reason: String = "") throws {
        try sendFrame(opcode: WireOpcode.close, payload: Self.closePayload(code: code, reason: reason))
    }

    // MARK: Receiving

    /// Receives the next frame exactly as sent, control frames included.
    func receiveFrame(timeout: Duration = WebSocketTestClient.defaultTimeout) throws -> TestFrame {
        try receiveFrame(deadline: Deadline(after: timeout))
    }

    /// Receives the next frame before `deadline`.
    func receiveFrame(deadline: Deadline) throws -> TestFrame {
        let what = "a WebSocket frame"
        try ensureAvailable(2, deadline: deadline, what: what)
        let first = peekByte(at: 0)
        let second = peekByte(at: 1)
        let isMasked = second & 0x80 != 0
        let shortLength = Int(second & 0x7F)
        let lengthBytes = shortLength == 126 ? 2 : shortLength == 127 ? 8 : 0
        let headerLength = 2 + lengthBytes + (isMasked ? 4 : 0)
        try ensureAvailable(headerLength, deadline: deadline, what: what)
        var payloadLength = UInt64(shortLength)
        if lengthBytes > 0 {
            payloadLength = 0
            for i in 0..<lengthBytes { payloadLength = payloadLength << 8 | UInt64(peekByte(at: 2 + i)) }
        }
        guard payloadLength <= UInt64(Self.maxReceivedPayloadBytes) else {
            throw TestClientError.protocolViolation("a frame announces \(payloadLength) payload bytes")
        }
        let total = headerLength + Int(payloadLength)
        try ensureAvailable(total, deadline: deadline, what: "the \(payloadLength)-byte payload of a frame")
        let wire = consume(total)
        var payload = Array(wire[headerLength...])
        if isMasked {
            let mask = Array(wire[(headerLength - 4)..<headerLength])
            for i in payload.indices { payload[i] ^= mask[i & 3] }
        }
        return TestFrame(
            isFinal: first & 0x80 != 0,
            reservedBits: (first >> 4) & 0x7,
            opcode: first & 0xF,
            isMasked: isMasked,
            payload: payload,
            wireBytes: wire
        )
    }

    /// Receives the next data message (continuations reassembled) or close frame. Pings are
    /// answered with a pong carrying the same payload (RFC 6455 §5.5.2); pongs are skipped.
    func receiveMessage(timeout: Duration = WebSocketTestClient.defaultTimeout) throws -> TestMessage {
        let deadline = Deadline(after: timeout)
        var messageOpcode: UInt8?
        var payload: [UInt8] = []
        while true {
            let frame = try receiveFrame(deadline: deadline)
            // RFC 6455 §5.1: a server must not mask; §5.2: RSV bits need a negotiated extension.
            guard !frame.isMasked else { throw TestClientError.protocolViolation("a masked frame from the server") }
            guard frame.reservedBits == 0 else { throw TestClientError.protocolViolation("RSV bits \(frame.reservedBits) set") }
            switch frame.opcode {
            case WireOpcode.ping:
                try sendFrame(opcode: WireOpcode.pong, payload: frame.payload)
            case WireOpcode.pong:
                continue
            case WireOpcode.close:
                return try Self.parseClose(frame.payload)
            case WireOpcode.text, WireOpcode.binary:
                guard messageOpcode == nil else { throw TestClientError.protocolViolation("a new message inside a fragmented one") }
                messageOpcode = frame.opcode
                payload = frame.payload
            case WireOpcode.continuation:
                guard messageOpcode != nil else { throw TestClientError.protocolViolation("a continuation without a message") }
                payload += frame.payload
            default:
                throw TestClientError.protocolViolation("reserved opcode \(frame.opcode)")
            }
            guard let opcode = messageOpcode, frame.isFinal, !(frame.opcode & 0x8 != 0) else { continue }
            if opcode == WireOpcode.binary { return .binary(payload) }
            // RFC 6455 §8.1: a text message must be valid UTF-8.
            guard let text = String(validating: payload, as: UTF8.self) else {
                throw TestClientError.protocolViolation("invalid UTF-8 in a text message: \(payload.prefix(32))")
            }
            return .text(text)
        }
    }

    /// Decodes a close payload (RFC 6455 §5.5.1): empty, or a code plus a UTF-8 reason.
    static func parseClose(_ payload: [UInt8]) throws -> TestMessage {
        if payload.isEmpty { return .close(code: nil, reason: "") }
        guard payload.count >= 2 else { throw TestClientError.protocolViolation("a 1-byte close payload") }
        guard let reason = String(validating: payload[2...], as: UTF8.self) else {
            throw TestClientError.protocolViolation("invalid UTF-8 in a close reason")
        }
        return .close(code: UInt16(payload[0]) << 8 | UInt16(payload[1]), reason: reason)
    }

    /// Receives `count` messages before one shared deadline.
    func receiveMessages(_ count: Int, timeout: Duration = .seconds(30)) throws -> [TestMessage] {
        let deadline = Deadline(after: timeout)
        var messages: [TestMessage] = []
        messages.reserveCapacity(count)
        while messages.count < count {
            guard !deadline.hasPassed else { throw TestClientError.timedOut("message \(messages.count + 1) of \(count)") }
            let message = try receiveMessage(timeout: deadline.remaining)
            messages.append(message)
            if case .close = message { break }
        }
        return messages
    }

    /// Answers a close the server started (RFC 6455 §5.5.1) and waits for the TCP connection to
    /// end. The server may already have closed, so a failed write is not an error.
    func answerCloseAndWaitForEnd(code: UInt16?, timeout: Duration = WebSocketTestClient.defaultTimeout) throws {
        do {
            try sendClose(code: code)
        } catch TestClientError.connectionClosed {
            // The server closed the TCP connection right after its close frame (RFC 6455 §7.1.1).
        }
        let trailing = try waitForEndOfStream(timeout: timeout)
        // As a browser does once the server's FIN arrives (RFC 6455 §7.1.1).
        close()
        // RFC 6455 §5.5.1: after its close frame an endpoint sends no more data frames.
        guard trailing.isEmpty else {
            throw TestClientError.protocolViolation("\(trailing.count) bytes after the server's close frame")
        }
    }
}
