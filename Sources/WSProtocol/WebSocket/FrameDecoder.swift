/// Turns the bytes a client sends into frames (RFC 6455 §5.2), as a server reads them: every frame
/// must be masked, and each one comes out unmasked.
///
/// Feed bytes with `append`, then call `next()` until it returns `nil`. The header is parsed in
/// stages kept in a state enum, so bytes are looked at once however the input is split. A frame
/// whose payload is all there when its header is read comes out whole (`FrameEvent.frame`); a data
/// frame still arriving comes out as its head and then its payload piece by piece, each piece
/// unmasked in place and handed out as a slice of the decoder's buffer as soon as it arrives, so the
/// decoder never holds more than one read however large the frame (SPEC §7). After an error the
/// decoder stays failed: `next()` throws the same error again and appended bytes are dropped.
public struct FrameDecoder: Sendable {
    /// The fields of a frame's first header byte.
    private struct FrameStart: Sendable {
        var isFinal: Bool
        var reservedBits: UInt8
        var opcode: Opcode
    }

    /// How far the current frame has been read.
    private enum State: Sendable {
        /// Waiting for the two fixed header bytes.
        case header
        /// Waiting for the extended payload length of `byteCount` (2 or 8) bytes.
        case extendedLength(FrameStart, byteCount: Int)
        /// Waiting for the 4-byte masking key.
        case maskingKey(FrameStart, payloadLength: Int)
        /// Waiting for the whole payload of a control frame (at most 125 bytes: a pong echoes it and
        /// a close reason is parsed from it, whole).
        case wholePayload(FrameStart, payloadLength: Int, maskingKey: Masking.Key)
        /// Handing out a data frame's payload as it arrives: `remainingCount` bytes are still to
        /// come, the first of them at position `keyOffset` (mod 4) of the masking key.
        case streamingPayload(remainingCount: Int, maskingKey: Masking.Key, keyOffset: Int)
        /// The input broke the protocol; nothing more is decoded.
        case failed(WebSocketError)
    }

    /// The largest payload a control frame may carry (RFC 6455 §5.5).
    public static let maxControlPayloadBytes = 125

    private let maxPayloadBytes: Int?
    private let allowedReservedBits: UInt8
    private var buffer = ByteBuffer()
    private var state = State.header

    /// maxPayloadBytes: nil = no limit; a frame whose declared length exceeds it fails with .messageTooBig as soon as the length is read.
    /// allowedReservedBits: RSV bits an extension negotiated (0b100 for permessage-deflate later); others → 1002.
    public init(maxPayloadBytes: Int?, allowedReservedBits: UInt8 = 0) {
        precondition(maxPayloadBytes.map { $0 >= 0 } ?? true, "a negative payload limit")
        self.maxPayloadBytes = maxPayloadBytes
        self.allowedReservedBits = allowedReservedBits & 0b111
    }

    /// The bytes received and not yet returned as part of a frame (header bytes already parsed excluded).
    public var bufferedByteCount: Int { buffer.readableCount }

    /// Bytes allocated for the buffer (for tests of memory use).
    var bufferCapacity: Int { buffer.capacity }

    /// Appends received bytes.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if case .failed = state { return }
        buffer.append(bytes)
    }

    /// Appends received bytes from any collection.
    public mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        if case .failed = state { return }
        buffer.append(contentsOf: bytes)
    }

    /// Lets the caller read(2) straight into the decoder's buffer; body returns the byte count written.
    @discardableResult
    public mutating func appendWithUnsafeMutableBytes(
        minimumWritable: Int,
        _ body: (UnsafeMutableRawBufferPointer) -> Int
    ) -> Int {
        let written = buffer.writeWithUnsafeMutableBytes(minimumWritable: minimumWritable, body)
        if case .failed = state { buffer.clear() }
        return written
    }

    /// Frees the buffer's storage when it is empty and has grown past `bytes`, so that an idle
    /// connection does not keep the memory of its largest frame.
    public mutating func releaseCapacityIfEmpty(keeping bytes: Int) {
        buffer.releaseCapacityIfEmpty(keeping: bytes)
    }

    /// The next event: a whole frame, the head of a data frame still arriving, or the next piece of
    /// its payload; nil = need more bytes. Payloads are slices of the decoder's buffer, valid until
    /// the decoder is next fed or asked.
    public mutating func next() throws(WebSocketError) -> FrameEvent? {
        while true {
            switch state {
            case .header:
                guard buffer.readableCount >= 2 else { return nil }
                let start = try parseFirstByte(buffer[0])
                let second = buffer[1]
                buffer.moveReaderIndex(forwardBy: 2)
                // RFC 6455 §5.1: "a server MUST close the connection upon receiving a frame that is
                // not masked".
                guard second & 0x80 != 0 else { throw fail(.protocolError("unmasked client frame")) }
                let shortLength = Int(second & 0x7F)
                switch shortLength {
                case 126:
                    state = .extendedLength(start, byteCount: 2)
                case 127:
                    state = .extendedLength(start, byteCount: 8)
                default:
                    try checkLength(shortLength, of: start)
                    state = .maskingKey(start, payloadLength: shortLength)
                }

            case .extendedLength(let start, let byteCount):
                guard buffer.readableCount >= byteCount else { return nil }
                var length: UInt64 = 0
                for offset in 0..<byteCount { length = length << 8 | UInt64(buffer[offset]) }
                buffer.moveReaderIndex(forwardBy: byteCount)
                // RFC 6455 §5.2: the 64-bit length's most significant bit MUST be 0.
                guard length >> 63 == 0 else { throw fail(.protocolError("64-bit length with the top bit set")) }
                // RFC 6455 §5.2: "in all cases, the minimal number of bytes MUST be used to encode the
                // length". A longer encoding is a malformed frame, refused like the other MUST
                // violations of the base framing (a peer that gets this wrong is not to be trusted
                // with the rest of the header either).
                let smallestForEncoding: UInt64 = byteCount == 2 ? 126 : 0x1_0000
                guard length >= smallestForEncoding else {
                    throw fail(.protocolError("payload length \(length) not in its minimal encoding"))
                }
                guard length <= UInt64(Int.max) else { throw fail(.protocolError("payload length too large")) }
                try checkLength(Int(length), of: start)
                state = .maskingKey(start, payloadLength: Int(length))

            case .maskingKey(let start, let payloadLength):
                guard buffer.readableCount >= 4 else { return nil }
                let key = (buffer[0], buffer[1], buffer[2], buffer[3])
                buffer.moveReaderIndex(forwardBy: 4)
                // A frame that arrived whole (the common case: a small frame in one read) comes out
                // as one event without a copy; only a data frame still arriving is streamed.
                if start.opcode.isControl || buffer.readableCount >= payloadLength {
                    state = .wholePayload(start, payloadLength: payloadLength, maskingKey: key)
                } else {
                    state = .streamingPayload(remainingCount: payloadLength, maskingKey: key, keyOffset: 0)
                    return .head(FrameHead(isFinal: start.isFinal, reservedBits: start.reservedBits,
                                           opcode: start.opcode, payloadLength: payloadLength))
                }

            case .wholePayload(let start, let payloadLength, let key):
                guard buffer.readableCount >= payloadLength else { return nil }
                let payload = unmaskAndConsume(payloadLength, key: key, keyOffset: 0)
                state = .header
                return .frame(Frame(isFinal: start.isFinal, reservedBits: start.reservedBits, opcode: start.opcode,
                                    payload: payload))

            case .streamingPayload(let remainingCount, let key, let keyOffset):
                let count = Swift.min(buffer.readableCount, remainingCount)
                guard count > 0 else { return nil }
                let piece = unmaskAndConsume(count, key: key, keyOffset: keyOffset)
                let isFrameEnd = count == remainingCount
                state = isFrameEnd
                    ? .header
                    : .streamingPayload(remainingCount: remainingCount - count, maskingKey: key,
                                        keyOffset: (keyOffset + count) & 3)
                return .payload(piece, isFrameEnd: isFrameEnd)

            case .failed(let error):
                throw error
            }
        }
    }

    /// Unmasks the first `count` buffered bytes in place and consumes them; returns them as a slice
    /// of the buffer (the storage stays alive, and unchanged, until the buffer is next written).
    private mutating func unmaskAndConsume(_ count: Int, key: Masking.Key, keyOffset: Int) -> ArraySlice<UInt8> {
        buffer.withUnsafeMutableReadableBytes { bytes in
            Masking.apply(key: key, to: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<count]), keyOffset: keyOffset)
        }
        let readable = buffer.readableBytes
        let bytes = readable[readable.startIndex..<(readable.startIndex + count)]
        buffer.moveReaderIndex(forwardBy: count)
        return bytes
    }

    /// Checks the FIN, RSV and opcode fields of a frame's first byte (RFC 6455 §5.2).
    private mutating func parseFirstByte(_ byte: UInt8) throws(WebSocketError) -> FrameStart {
        let isFinal = byte & 0x80 != 0
        let reservedBits = (byte >> 4) & 0b111
        // RFC 6455 §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings
        // for non-zero values"; otherwise the receiving endpoint MUST fail the connection.
        guard reservedBits & ~allowedReservedBits == 0 else {
            throw fail(.protocolError("reserved bits \(reservedBits) set without an extension"))
        }
        // RFC 6455 §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the
        // WebSocket Connection_."
        guard let opcode = Opcode(rawValue: byte & 0x0F) else {
            throw fail(.protocolError("unknown opcode \(byte & 0x0F)"))
        }
        if opcode.isControl {
            // RFC 6455 §5.5: "Control frames themselves MUST NOT be fragmented."
            guard isFinal else { throw fail(.protocolError("fragmented control frame")) }
            // RFC 7692 §6.1: permessage-deflate, the only extension that sets a reserved bit, never
            // applies to control frames.
            guard reservedBits == 0 else { throw fail(.protocolError("reserved bits set on a control frame")) }
        }
        return FrameStart(isFinal: isFinal, reservedBits: reservedBits, opcode: opcode)
    }

    /// Enforces the control-frame and configured limits as soon as a frame's length is known.
    private mutating func checkLength(_ length: Int, of start: FrameStart) throws(WebSocketError) {
        // RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less."
        if start.opcode.isControl && length > Self.maxControlPayloadBytes {
            throw fail(.protocolError("control frame payload of \(length) bytes"))
        }
        if let maxPayloadBytes, length > maxPayloadBytes {
            throw fail(.messageTooBig(limit: maxPayloadBytes))
        }
    }

    /// Enters the failed state, drops the buffered input and returns `error` for throwing.
    private mutating func fail(_ error: WebSocketError) -> WebSocketError {
        state = .failed(error)
        buffer.clear()
        return error
    }
}
