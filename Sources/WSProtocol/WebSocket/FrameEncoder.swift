/// Writes frames (RFC 6455 §5.2) into a buffer the caller owns: unmasked as a server sends them, or
/// masked as a client does (for tests and the benchmark client).
public enum FrameEncoder {
    /// Appends a server frame (never masked, RFC 6455 §5.1) to `buffer`: minimal length encoding.
    public static func append(
        opcode: Opcode,
        isFinal: Bool = true,
        reservedBits: UInt8 = 0,
        payload: UnsafeRawBufferPointer,
        to buffer: inout ByteBuffer
    ) {
        write(opcode: opcode, isFinal: isFinal, reservedBits: reservedBits, payload: payload,
              maskingKey: nil, to: &buffer)
    }

    /// Appends a server frame whose payload is any collection of bytes; see `append(opcode:isFinal:reservedBits:payload:to:)`.
    @inlinable
    public static func append<C: Collection>(
        opcode: Opcode,
        isFinal: Bool = true,
        reservedBits: UInt8 = 0,
        payload: C,
        to buffer: inout ByteBuffer
    ) where C.Element == UInt8 {
        withContiguousBytes(of: payload) { bytes in
            write(opcode: opcode, isFinal: isFinal, reservedBits: reservedBits, payload: bytes,
                  maskingKey: nil, to: &buffer)
        }
    }

    /// A masked frame, as a client sends (tests and the benchmark client use it).
    @inlinable
    public static func appendMasked<C: Collection>(
        opcode: Opcode,
        isFinal: Bool = true,
        reservedBits: UInt8 = 0,
        payload: C,
        maskingKey: (UInt8, UInt8, UInt8, UInt8),
        to buffer: inout ByteBuffer
    ) where C.Element == UInt8 {
        withContiguousBytes(of: payload) { bytes in
            write(opcode: opcode, isFinal: isFinal, reservedBits: reservedBits, payload: bytes,
                  maskingKey: maskingKey, to: &buffer)
        }
    }

    /// A close frame: code + UTF-8 reason (reason cut to 123 bytes at a character boundary); code nil = empty payload.
    public static func appendClose(code: CloseCode?, reason: String, to buffer: inout ByteBuffer) {
        // RFC 6455 §5.5.1: a reason may only follow a status code, and the whole payload fits the
        // 125 bytes of a control frame.
        guard let code else {
            append(opcode: .close, payload: EmptyCollection<UInt8>(), to: &buffer)
            return
        }
        let reasonBytes = CloseReason.truncated(reason).utf8
        let payloadLength = 2 + reasonBytes.count
        buffer.writeWithUnsafeMutableBytes(minimumWritable: 2 + payloadLength) { space in
            space[0] = 0x80 | Opcode.close.rawValue
            space[1] = UInt8(payloadLength)
            space[2] = UInt8(truncatingIfNeeded: code.rawValue >> 8)
            space[3] = UInt8(truncatingIfNeeded: code.rawValue)
            UnsafeMutableRawBufferPointer(rebasing: space[4..<(2 + payloadLength)]).copyBytes(from: reasonBytes)
            return 2 + payloadLength
        }
    }

    /// The header size for a payload length (2, 4 or 10 bytes, unmasked).
    public static func headerSize(payloadLength: Int) -> Int {
        // RFC 6455 §5.2: 7-bit lengths up to 125, then a 16-bit and a 64-bit extended length.
        switch payloadLength {
        case ...125: 2
        case ...0xFFFF: 4
        default: 10
        }
    }

    /// Writes the header (and masking key) then the payload, masked in place when a key is given.
    @inlinable
    static func write(
        opcode: Opcode,
        isFinal: Bool,
        reservedBits: UInt8,
        payload: UnsafeRawBufferPointer,
        maskingKey: Masking.Key?,
        to buffer: inout ByteBuffer
    ) {
        let length = payload.count
        precondition(reservedBits <= 0b111, "reserved bits are three bits")
        // RFC 6455 §5.5: control frames are never fragmented and carry at most 125 bytes; our own
        // control frames are built within those limits (a pong echoes a ping the decoder checked).
        precondition(!opcode.isControl || (isFinal && length <= FrameDecoder.maxControlPayloadBytes),
                     "control frame fragmented or over 125 bytes")
        let headerLength = headerSize(payloadLength: length) + (maskingKey == nil ? 0 : 4)
        buffer.writeWithUnsafeMutableBytes(minimumWritable: headerLength + length) { space in
            space[0] = (isFinal ? 0x80 : 0) | reservedBits << 4 | opcode.rawValue
            let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
            var index = 2
            switch length {
            case ...125:
                space[1] = maskBit | UInt8(length)
            case ...0xFFFF:
                space[1] = maskBit | 126
                space[2] = UInt8(truncatingIfNeeded: length >> 8)
                space[3] = UInt8(truncatingIfNeeded: length)
                index = 4
            default:
                space[1] = maskBit | 127
                for shift in stride(from: 56, through: 0, by: -8) {
                    space[index] = UInt8(truncatingIfNeeded: UInt64(length) >> UInt64(shift))
                    index += 1
                }
            }
            if let maskingKey {
                space[index] = maskingKey.0
                space[index + 1] = maskingKey.1
                space[index + 2] = maskingKey.2
                space[index + 3] = maskingKey.3
                index += 4
            }
            if length > 0, let source = payload.baseAddress, let target = space.baseAddress {
                (target + index).copyMemory(from: source, byteCount: length)
                if let maskingKey {
                    Masking.apply(key: maskingKey, to: UnsafeMutableRawBufferPointer(start: target + index, count: length))
                }
            }
            return index + length
        }
    }

    /// Calls `body` with the collection's bytes, copying them only if they are not contiguous.
    @inlinable
    static func withContiguousBytes<C: Collection>(
        of bytes: C,
        _ body: (UnsafeRawBufferPointer) -> Void
    ) where C.Element == UInt8 {
        if bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) != nil { return }
        Array(bytes).withUnsafeBytes(body)
    }
}
