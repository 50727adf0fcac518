import Testing
@testable import WSProtocol

@Suite("FrameEncoder")
struct FrameEncoderTests {
    static let hello = Array("Hello".utf8)

    /// The bytes one encoder call appends to an empty buffer.
    static func encoded(_ write: (inout ByteBuffer) -> Void) -> [UInt8] {
        var buffer = ByteBuffer()
        write(&buffer)
        return Array(buffer.readableBytes)
    }

    @Test("RFC 6455 §5.7: unmasked \"Hello\" text frame")
    func hello() {
        #expect(Self.encoded { FrameEncoder.append(opcode: .text, payload: Self.hello, to: &$0) } == hex("81 05 48 65 6c 6c 6f"))
    }

    @Test("RFC 6455 §5.7: masked \"Hello\" text frame with key 37 fa 21 3d")
    func maskedHello() {
        let bytes = Self.encoded {
            FrameEncoder.appendMasked(opcode: .text, payload: Self.hello, maskingKey: rfcMaskingKey, to: &$0)
        }
        #expect(bytes == hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"))
    }

    @Test("RFC 6455 §5.7: fragmented \"Hel\" + \"lo\"")
    func fragments() {
        let bytes = Self.encoded {
            FrameEncoder.append(opcode: .text, isFinal: false, payload: Array("Hel".utf8), to: &$0)
            FrameEncoder.append(opcode: .continuation, payload: Array("lo".utf8), to: &$0)
        }
        #expect(bytes == hex("01 03 48 65 6c") + hex("80 02 6c 6f"))
    }

    @Test("RFC 6455 §5.7: unmasked ping and masked pong")
    func pingAndPong() {
        #expect(Self.encoded { FrameEncoder.append(opcode: .ping, payload: Self.hello, to: &$0) } == hex("89 05 48 65 6c 6c 6f"))
        let pong = Self.encoded {
            FrameEncoder.appendMasked(opcode: .pong, payload: Self.hello, maskingKey: rfcMaskingKey, to: &$0)
        }
        #expect(pong == hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"))
    }

    @Test("RFC 6455 §5.7: 256 bytes take a 16-bit length, 64 KiB a 64-bit one")
    func extendedLengths() {
        let small = (0..<256).map { UInt8(truncatingIfNeeded: $0) }
        #expect(Self.encoded { FrameEncoder.append(opcode: .binary, payload: small, to: &$0) } == hex("82 7e 01 00") + small)
        let large = (0..<65536).map { UInt8(truncatingIfNeeded: $0 >> 3) }
        #expect(Self.encoded { FrameEncoder.append(opcode: .binary, payload: large, to: &$0) }
            == hex("82 7f 00 00 00 00 00 01 00 00") + large)
    }

    @Test("RFC 6455 §5.2: minimal header size at each length boundary", arguments: [
        (0, 2), (125, 2), (126, 4), (127, 4), (65535, 4), (65536, 10), (1 << 40, 10),
    ])
    func headerSizes(length: Int, size: Int) {
        #expect(FrameEncoder.headerSize(payloadLength: length) == size)
    }

    @Test("every boundary length round-trips through the decoder, masked and unmasked", arguments: [0, 1, 125, 126, 127, 65535, 65536])
    func roundTrip(length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 13) }
        let plain = Self.encoded { FrameEncoder.append(opcode: .binary, payload: payload, to: &$0) }
        #expect(plain.count == FrameEncoder.headerSize(payloadLength: length) + length)
        let maskedBytes = Self.encoded {
            FrameEncoder.appendMasked(opcode: .binary, payload: payload, maskingKey: (0xDE, 0xAD, 0xBE, 0xEF), to: &$0)
        }
        #expect(maskedBytes == masked(plain, key: (0xDE, 0xAD, 0xBE, 0xEF)))
        var decoder = FrameDecoder(maxPayloadBytes: nil)
        decoder.append(contentsOf: maskedBytes)
        #expect(try decoder.next() == .frame(Frame(opcode: .binary, payload: payload)))
    }

    @Test("FIN and RSV bits land in the first byte")
    func flags() {
        let bytes = Self.encoded { FrameEncoder.append(opcode: .binary, isFinal: false, reservedBits: 0b100, payload: [1], to: &$0) }
        #expect(bytes == hex("42 01 01"))
        let last = Self.encoded { FrameEncoder.append(opcode: .continuation, reservedBits: 0b011, payload: [UInt8](), to: &$0) }
        #expect(last == hex("b0 00"))
    }

    @Test("raw-pointer, contiguous and non-contiguous payloads encode alike")
    func payloadKinds() {
        let payload = (0..<300).map { UInt8(truncatingIfNeeded: $0) }
        let fromArray = Self.encoded { FrameEncoder.append(opcode: .binary, payload: payload, to: &$0) }
        let fromPointer = Self.encoded { buffer in
            payload.withUnsafeBytes { FrameEncoder.append(opcode: .binary, payload: $0, to: &buffer) }
        }
        let fromLazy = Self.encoded {
            FrameEncoder.append(opcode: .binary, payload: (0..<300).lazy.map { UInt8(truncatingIfNeeded: $0) }, to: &$0)
        }
        #expect(fromPointer == fromArray)
        #expect(fromLazy == fromArray)
    }

    @Test("frames append after what the buffer already holds")
    func appendsAfterExisting() {
        var buffer = ByteBuffer([0xAA, 0xBB])
        FrameEncoder.append(opcode: .pong, payload: [UInt8](), to: &buffer)
        #expect(Array(buffer.readableBytes) == hex("aa bb 8a 00"))
    }

    @Test("RFC 6455 §5.5.1: close frames with and without a code", arguments: [
        (CloseCode?.some(.normalClosure), "", "88 02 03 e8"),
        (.protocolError, "", "88 02 03 ea"),
        (.invalidFramePayloadData, "", "88 02 03 ef"),
        (.messageTooBig, "", "88 02 03 f1"),
        (CloseCode(4001), "exit 1", "88 08 0f a1 65 78 69 74 20 31"),
        (nil, "ignored without a code", "88 00"),
    ])
    func closeFrames(code: CloseCode?, reason: String, wire: String) {
        #expect(Self.encoded { FrameEncoder.appendClose(code: code, reason: reason, to: &$0) } == hex(wire))
    }

    @Test("RFC 6455 §5.5: a long close reason is cut to 123 bytes at a character boundary")
    func longReason() throws {
        for (reason, expectedBytes) in [(String(repeating: "a", count: 200), 123), (String(repeating: "é", count: 100), 122),
                                        (String(repeating: "€", count: 50), 123), (String(repeating: "😀", count: 40), 120)] {
            let bytes = Self.encoded { FrameEncoder.appendClose(code: .goingAway, reason: reason, to: &$0) }
            #expect(bytes.count == 2 + 2 + expectedBytes)
            #expect(bytes[1] == UInt8(2 + expectedBytes))
            let parsed = try ClosePayload.parse(bytes[2...])
            #expect(parsed.code == .goingAway)
            #expect(reason.hasPrefix(parsed.reason))
            #expect(parsed.reason.utf8.count == expectedBytes)
        }
    }
}
