import Testing
@testable import WSProtocol

/// Bytes from a hex string such as `"81 05 48 65"`.
func hex(_ text: String) -> [UInt8] {
    text.split(separator: " ").map { UInt8($0, radix: 16)! }
}

/// The RFC 6455 §5.7 masking key.
let rfcMaskingKey: Masking.Key = (0x37, 0xFA, 0x21, 0x3D)

/// `frame` (an unmasked frame as a server sends it) turned into the masked frame a client sends:
/// the MASK bit set, the key inserted after the length, the payload XORed byte by byte (a reference
/// independent of `Masking`).
func masked(_ frame: [UInt8], key: Masking.Key = rfcMaskingKey) -> [UInt8] {
    let shortLength = frame[1] & 0x7F
    let headerLength = shortLength == 126 ? 4 : shortLength == 127 ? 10 : 2
    let keyBytes = [key.0, key.1, key.2, key.3]
    var result = Array(frame[..<headerLength])
    result[1] |= 0x80
    result += keyBytes
    for (offset, byte) in frame[headerLength...].enumerated() { result.append(byte ^ keyBytes[offset % 4]) }
    return result
}

/// The close frame a server sends when `error` fails the connection, as the bridge produces it:
/// `ConnectionStateMachine.fail(_:)` then `FrameEncoder.appendClose`.
func closeFrameBytes(failingWith error: WebSocketError) -> [UInt8] {
    var machine = ConnectionStateMachine(maxMessageBytes: nil)
    guard case .send(let code, let reason) = machine.fail(error) else { return [] }
    var buffer = ByteBuffer()
    FrameEncoder.appendClose(code: code, reason: reason, to: &buffer)
    return Array(buffer.readableBytes)
}

/// What a decoder made of some input: the frames (payloads copied out) and the error that ended it.
struct DecodeOutcome: Equatable {
    var frames: [Frame] = []
    var error: WebSocketError?
}

/// Turns the decoder's events back into the frames they describe (payloads copied), checking that
/// they are well formed: a whole frame, or a head followed by non-empty pieces that add up to its
/// length, the last one marked; control frames never streamed.
struct FrameCollector {
    /// The streamed frame in progress: its head and its payload so far.
    private(set) var streamed: (head: FrameHead, payload: [UInt8])?
    /// How many `.payload` events the collector took (to show that a test exercised streaming).
    private(set) var pieceCount = 0

    /// Takes the next event; returns the frame it completes, if any.
    mutating func take(_ event: FrameEvent, sourceLocation: SourceLocation = #_sourceLocation) -> Frame? {
        switch event {
        case .frame(let frame):
            #expect(streamed == nil, "a whole frame inside a streamed one", sourceLocation: sourceLocation)
            return Frame(isFinal: frame.isFinal, reservedBits: frame.reservedBits, opcode: frame.opcode,
                         payload: Array(frame.payload))
        case .head(let head):
            #expect(streamed == nil, "a head inside a streamed frame", sourceLocation: sourceLocation)
            #expect(!head.opcode.isControl && head.payloadLength > 0, "\(head) streamed", sourceLocation: sourceLocation)
            streamed = (head, [])
            return nil
        case .payload(let piece, let isFrameEnd):
            pieceCount += 1
            guard var (head, payload) = streamed else {
                Issue.record("a payload piece without a head", sourceLocation: sourceLocation)
                return nil
            }
            #expect(!piece.isEmpty, "an empty piece", sourceLocation: sourceLocation)
            payload += piece
            #expect(isFrameEnd == (payload.count == head.payloadLength) && payload.count <= head.payloadLength,
                    "pieces of \(payload.count) bytes for a \(head.payloadLength)-byte frame, end \(isFrameEnd)",
                    sourceLocation: sourceLocation)
            guard isFrameEnd else {
                streamed = (head, payload)
                return nil
            }
            streamed = nil
            head.payloadLength = payload.count
            return Frame(isFinal: head.isFinal, reservedBits: head.reservedBits, opcode: head.opcode, payload: payload)
        }
    }
}

/// Runs the decoder over input cut in every way a socket might deliver it.
enum DecoderHarness {
    /// Feeds `chunks` one at a time, draining the decoder after each; the events are turned back
    /// into frames, so any split must give the same frames.
    static func run(_ chunks: [ArraySlice<UInt8>], maxPayloadBytes: Int?, allowedReservedBits: UInt8) -> DecodeOutcome {
        var decoder = FrameDecoder(maxPayloadBytes: maxPayloadBytes, allowedReservedBits: allowedReservedBits)
        var collector = FrameCollector()
        var outcome = DecodeOutcome()
        for chunk in chunks {
            decoder.append(contentsOf: chunk)
            do throws(WebSocketError) {
                while let event = try decoder.next() {
                    if let frame = collector.take(event) { outcome.frames.append(frame) }
                }
            } catch {
                outcome.error = error
                return outcome
            }
            // Drained, the decoder holds at most a header in progress or a control frame still
            // arriving: a data frame's payload leaves as it comes (SPEC §7).
            #expect(decoder.bufferedByteCount <= FrameDecoder.maxControlPayloadBytes)
        }
        return outcome
    }

    /// Decodes `bytes` whole, byte by byte, and split in two at every index (or every `stride`-th
    /// index past the first 32), expects the same outcome each time and returns it.
    static func decodeEverySplit(
        _ bytes: [UInt8],
        maxPayloadBytes: Int? = nil,
        allowedReservedBits: UInt8 = 0,
        stride: Int = 1,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> DecodeOutcome {
        let whole = run([bytes[...]], maxPayloadBytes: maxPayloadBytes, allowedReservedBits: allowedReservedBits)
        let byteByByte = run(bytes.indices.map { bytes[$0...$0] }, maxPayloadBytes: maxPayloadBytes,
                             allowedReservedBits: allowedReservedBits)
        #expect(byteByByte == whole, "byte by byte", sourceLocation: sourceLocation)
        var split = 0
        while split <= bytes.count {
            let outcome = run([bytes[..<split], bytes[split...]], maxPayloadBytes: maxPayloadBytes,
                              allowedReservedBits: allowedReservedBits)
            #expect(outcome == whole, "split at \(split)", sourceLocation: sourceLocation)
            split += split < 32 ? 1 : stride
        }
        return whole
    }
}

@Suite("FrameDecoder")
struct FrameDecoderTests {
    static let hello = Array("Hello".utf8)

    @Test("RFC 6455 §5.7: masked \"Hello\" text frame, the RFC's own bytes")
    func maskedHello() {
        let outcome = DecoderHarness.decodeEverySplit(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"))
        #expect(outcome == DecodeOutcome(frames: [Frame(opcode: .text, payload: Self.hello)]))
    }

    @Test("RFC 6455 §5.7: masked pong, the RFC's own bytes")
    func maskedPong() {
        let outcome = DecoderHarness.decodeEverySplit(hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"))
        #expect(outcome == DecodeOutcome(frames: [Frame(opcode: .pong, payload: Self.hello)]))
    }

    @Test("RFC 6455 §5.7: fragmented \"Hel\" + \"lo\", masked by the client")
    func fragments() {
        let bytes = masked(hex("01 03 48 65 6c")) + masked(hex("80 02 6c 6f"), key: (1, 2, 3, 4))
        let outcome = DecoderHarness.decodeEverySplit(bytes)
        #expect(outcome == DecodeOutcome(frames: [
            Frame(isFinal: false, opcode: .text, payload: Array("Hel".utf8)),
            Frame(opcode: .continuation, payload: Array("lo".utf8)),
        ]))
    }

    @Test("RFC 6455 §5.7: ping \"Hello\", masked by the client")
    func ping() {
        let outcome = DecoderHarness.decodeEverySplit(masked(hex("89 05 48 65 6c 6c 6f")))
        #expect(outcome == DecodeOutcome(frames: [Frame(opcode: .ping, payload: Self.hello)]))
    }

    @Test("RFC 6455 §5.7: 256-byte binary frame with a 16-bit length, masked")
    func binary256() {
        let payload = (0..<256).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        let outcome = DecoderHarness.decodeEverySplit(masked(hex("82 7e 01 00") + payload))
        #expect(outcome == DecodeOutcome(frames: [Frame(opcode: .binary, payload: payload)]))
    }

    @Test("RFC 6455 §5.7: 64 KiB binary frame with a 64-bit length, masked")
    func binary64KiB() {
        let payload = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        // Splitting 64 KiB at all 65,546 indices costs minutes in a debug build: every index through
        // the header and key, then every 97th (a stride coprime to the key's period of 4).
        let outcome = DecoderHarness.decodeEverySplit(masked(hex("82 7f 00 00 00 00 00 01 00 00") + payload),
                                                      stride: 97)
        #expect(outcome == DecodeOutcome(frames: [Frame(opcode: .binary, payload: payload)]))
    }

    @Test("RFC 6455 §5.1: the §5.7 unmasked frames are refused from a client with 1002", arguments: [
        "81 05 48 65 6c 6c 6f", "01 03 48 65 6c", "80 02 6c 6f", "89 05 48 65 6c 6c 6f", "8a 05 48 65 6c 6c 6f",
        "82 7e 01 00", "82 7f 00 00 00 00 00 01 00 00",
    ])
    func unmaskedRefused(frame: String) {
        let outcome = DecoderHarness.decodeEverySplit(hex(frame))
        let error = WebSocketError.protocolError("unmasked client frame")
        #expect(outcome == DecodeOutcome(error: error))
        #expect(closeFrameBytes(failingWith: error).prefix(4) == [0x88, 2 + 21, 0x03, 0xEA])
    }

    @Test("several frames back to back, empty payloads included, each with its own key")
    func stream() {
        let bytes = masked(hex("82 00"), key: (9, 8, 7, 6)) + masked(hex("89 00")) + masked(hex("81 01 41"), key: (0xFF, 0, 0xFF, 0))
            + masked(hex("88 02 03 e8"))
        let outcome = DecoderHarness.decodeEverySplit(bytes)
        #expect(outcome == DecodeOutcome(frames: [
            Frame(opcode: .binary, payload: []), Frame(opcode: .ping, payload: []),
            Frame(opcode: .text, payload: [0x41]), Frame(opcode: .close, payload: [0x03, 0xE8]),
        ]))
    }

    @Test("RFC 6455 §5.2: any reserved bit without an extension is 1002", arguments: [0x10, 0x20, 0x40, 0x70] as [UInt8])
    func reservedBitsRefused(bit: UInt8) {
        let outcome = DecoderHarness.decodeEverySplit(masked([0x81 | bit, 0x01, 0x41]))
        #expect(outcome.frames.isEmpty)
        #expect(outcome.error?.closeCode == .protocolError)
        #expect(closeFrameBytes(failingWith: outcome.error!).prefix(4).dropFirst(2) == [0x03, 0xEA])
    }

    @Test("RFC 7692 §6: RSV1 passes when permessage-deflate allows it, other bits and control frames still fail")
    func reservedBitsAllowed() {
        let allowed = DecoderHarness.decodeEverySplit(masked(hex("c1 01 41")), allowedReservedBits: 0b100)
        #expect(allowed == DecodeOutcome(frames: [Frame(reservedBits: 0b100, opcode: .text, payload: [0x41])]))
        let rsv2 = DecoderHarness.decodeEverySplit(masked(hex("a1 01 41")), allowedReservedBits: 0b100)
        #expect(rsv2.error?.closeCode == .protocolError)
        let controlFrame = DecoderHarness.decodeEverySplit(masked(hex("c9 00")), allowedReservedBits: 0b100)
        #expect(controlFrame.error == .protocolError("reserved bits set on a control frame"))
    }

    @Test("RFC 6455 §5.2: reserved opcodes 3-7 and 0xB-0xF are 1002", arguments: [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] as [UInt8])
    func unknownOpcodes(opcode: UInt8) {
        let outcome = DecoderHarness.decodeEverySplit(masked([0x80 | opcode, 0x00]))
        let error = WebSocketError.protocolError("unknown opcode \(opcode)")
        #expect(outcome == DecodeOutcome(error: error))
        #expect(closeFrameBytes(failingWith: error).prefix(4) == [0x88, UInt8(2 + error.reason.utf8.count), 0x03, 0xEA])
    }

    @Test("RFC 6455 §5.5: a fragmented control frame is 1002", arguments: [0x08, 0x09, 0x0A] as [UInt8])
    func fragmentedControl(opcode: UInt8) {
        let outcome = DecoderHarness.decodeEverySplit(masked([opcode, 0x00]))
        #expect(outcome == DecodeOutcome(error: .protocolError("fragmented control frame")))
    }

    @Test("RFC 6455 §5.5: control payloads of 125 bytes pass, 126 fail with 1002 before the payload arrives")
    func controlLengthLimit() {
        let ok = DecoderHarness.decodeEverySplit(masked([0x89, 125] + [UInt8](repeating: 0x61, count: 125)))
        #expect(ok.frames == [Frame(opcode: .ping, payload: [UInt8](repeating: 0x61, count: 125))])
        // Only the header: the length alone condemns the frame (Autobahn 2.5).
        let tooLong = DecoderHarness.decodeEverySplit(hex("89 fe 00 7e"))
        #expect(tooLong == DecodeOutcome(error: .protocolError("control frame payload of 126 bytes")))
    }

    @Test("RFC 6455 §5.2: a 64-bit length with its top bit set is 1002")
    func topBitLength() {
        let outcome = DecoderHarness.decodeEverySplit(hex("82 ff 80 00 00 00 00 00 00 00"))
        #expect(outcome == DecodeOutcome(error: .protocolError("64-bit length with the top bit set")))
    }

    @Test("RFC 6455 §5.2: lengths not in their minimal encoding are 1002", arguments: [
        "82 fe 00 00", "82 fe 00 7d", "82 ff 00 00 00 00 00 00 00 7d", "82 ff 00 00 00 00 00 00 ff ff",
    ])
    func nonMinimalLengths(header: String) {
        let outcome = DecoderHarness.decodeEverySplit(hex(header))
        #expect(outcome.frames.isEmpty)
        #expect(outcome.error?.closeCode == .protocolError)
    }

    @Test("RFC 6455 §5.2: the smallest lengths of each encoding are accepted", arguments: [126, 65536])
    func minimalBoundaries(length: Int) {
        var buffer = ByteBuffer()
        let payload = [UInt8](repeating: 0x5A, count: length)
        FrameEncoder.appendMasked(opcode: .binary, payload: payload, maskingKey: (1, 2, 3, 4), to: &buffer)
        let outcome = DecoderHarness.run([buffer.readableBytes], maxPayloadBytes: nil, allowedReservedBits: 0)
        #expect(outcome == DecodeOutcome(frames: [Frame(opcode: .binary, payload: payload)]))
    }

    @Test("a declared length over the limit fails with 1009 as soon as the length is read")
    func payloadLimit() {
        let atLimit = DecoderHarness.decodeEverySplit(masked([0x82, 100] + [UInt8](repeating: 1, count: 100)),
                                                      maxPayloadBytes: 100)
        #expect(atLimit.frames.count == 1)
        // No payload bytes follow: the header alone is enough to refuse.
        for header in [hex("82 e5"), hex("82 fe 01 00"), hex("82 ff 00 00 00 01 00 00 00 00")] {
            let outcome = DecoderHarness.decodeEverySplit(header, maxPayloadBytes: 100)
            #expect(outcome == DecodeOutcome(error: .messageTooBig(limit: 100)))
        }
        #expect(closeFrameBytes(failingWith: .messageTooBig(limit: 100)).prefix(4).dropFirst(2) == [0x03, 0xF1])
    }

    @Test("after an error the decoder stays failed and drops further input")
    func staysFailed() {
        var decoder = FrameDecoder(maxPayloadBytes: nil)
        decoder.append(contentsOf: hex("81 05 48 65 6c 6c 6f"))
        #expect(throws: WebSocketError.protocolError("unmasked client frame")) { try decoder.next() }
        decoder.append(contentsOf: masked(hex("81 01 41")))
        #expect(decoder.bufferedByteCount == 0)
        #expect(throws: WebSocketError.protocolError("unmasked client frame")) { try decoder.next() }
        let written = decoder.appendWithUnsafeMutableBytes(minimumWritable: 16) { space in
            space.copyBytes(from: masked(hex("81 01 41")))
            return 7
        }
        #expect(written == 7)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test("reading straight into the buffer decodes like append")
    func directWrite() throws {
        var decoder = FrameDecoder(maxPayloadBytes: nil)
        let wire = hex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
        for chunk in [wire[..<3], wire[3...]] {
            decoder.appendWithUnsafeMutableBytes(minimumWritable: 4) { space in
                space.copyBytes(from: chunk)
                return chunk.count
            }
        }
        // The first read ended inside the header, so the frame was whole when its header was read.
        #expect(try decoder.next() == .frame(Frame(opcode: .text, payload: Self.hello)))
        #expect(try decoder.next() == nil)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test("the buffered count covers only the unconsumed bytes, payload still awaited")
    func bufferedCount() throws {
        var decoder = FrameDecoder(maxPayloadBytes: nil)
        decoder.append(contentsOf: masked(hex("81 05 48 65 6c 6c 6f")).prefix(9))
        #expect(try decoder.next() == .head(FrameHead(opcode: .text, payloadLength: 5)))
        #expect(decoder.bufferedByteCount == 3)
        // A control frame is held until whole: its 3 bytes stay buffered.
        var controlDecoder = FrameDecoder(maxPayloadBytes: nil)
        controlDecoder.append(contentsOf: masked(hex("89 05 48 65 6c 6c 6f")).prefix(9))
        #expect(try controlDecoder.next() == nil)
        #expect(controlDecoder.bufferedByteCount == 3)
    }
}
