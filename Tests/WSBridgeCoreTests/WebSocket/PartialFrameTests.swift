import Testing
@testable import WSBridgeCore

/// RFC 6455 §8.1: a text message fails "as soon as" its bytes cannot be valid UTF-8, also inside a
/// frame whose payload has not fully arrived (Autobahn 6.4.3, 6.4.4).
@Suite("Fail-fast UTF-8 inside a frame")
struct PartialFrameTests {
    static let key: (UInt8, UInt8, UInt8, UInt8) = (0x37, 0xFA, 0x21, 0x3D)

    /// A masked frame's bytes, as a client sends them.
    static func maskedFrame(_ opcode: Opcode, isFinal: Bool = true, _ payload: [UInt8]) -> [UInt8] {
        var buffer = ByteBuffer()
        FrameEncoder.appendMasked(opcode: opcode, isFinal: isFinal, payload: payload, maskingKey: key, to: &buffer)
        return Array(buffer.readableBytes)
    }

    @Test("the decoder shows the unmasked start of a frame still arriving")
    func decoderShowsPartialPayload() throws {
        let bytes = Self.maskedFrame(.text, Array("Hello, world".utf8))
        var decoder = FrameDecoder(maxPayloadBytes: nil)
        decoder.append(contentsOf: bytes.prefix(6 + 5))  // header, key, "Hello"
        #expect(try decoder.next() == nil)
        let partial = try #require(decoder.partialFrame)
        #expect(partial.opcode == .text)
        #expect(Array(partial.payload) == Array("Hello".utf8))
        decoder.append(contentsOf: bytes.dropFirst(11))
        #expect(try decoder.next()?.payload.elementsEqual("Hello, world".utf8) == true)
        #expect(decoder.partialFrame == nil)
    }

    @Test("an invalid byte in the first part of a text frame fails before the rest arrives")
    func failsInsideFrame() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        // "κόσμε" then 0xF4 0x90 (above U+10FFFF): invalid from the second byte of that sequence.
        let prefix: [UInt8] = [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xF4, 0x90]
        try machine.receivedPartialFrame(opcode: .text, prefix: prefix[..<5])
        #expect(throws: WebSocketError.invalidUTF8) {
            try machine.receivedPartialFrame(opcode: .text, prefix: prefix[...])
        }
    }

    @Test("a valid start is checked once and the whole frame still goes through", arguments: [1, 2, 3, 7])
    func validFrameInPieces(step: Int) throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        let text = Array("grüße, κόσμε, 😀".utf8)
        var end = step
        while end < text.count {
            try machine.receivedPartialFrame(opcode: .text, prefix: text[..<end])
            end += step
        }
        let action = try machine.receivedFrame(Frame(opcode: .text, payload: text))
        #expect(action == .deliver(MessageFragment(kind: .text, payload: text[...], isFirst: true, isLast: true)))
    }

    @Test("a continuation frame is checked against the message's UTF-8 state so far")
    func continuationUsesMessageState() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        // The first fragment ends inside a character (0xE2 0x82 of "€").
        _ = try machine.receivedFrame(Frame(isFinal: false, opcode: .text, payload: [0x41, 0xE2, 0x82]))
        #expect(throws: WebSocketError.invalidUTF8) {
            try machine.receivedPartialFrame(opcode: .continuation, prefix: [0x41][...])
        }
    }

    @Test("binary frames are not checked")
    func binaryIgnored() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        try machine.receivedPartialFrame(opcode: .binary, prefix: [0xFF, 0xFE][...])
    }
}
