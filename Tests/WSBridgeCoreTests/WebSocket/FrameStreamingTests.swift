import Testing
@testable import WSProtocol
import TestSupport

/// SPEC §7: a data frame still arriving comes out of the decoder as its head, then its payload in
/// pieces as they arrive, so memory stays bounded whatever the frame's size; the state machine checks
/// the message limit at the head (1009) and UTF-8 piece by piece (1007 "as soon as", RFC 6455 §8.1,
/// Autobahn 6.4.3, 6.4.4).
@Suite("Frame streaming")
struct FrameStreamingTests {
    static let key: Masking.Key = (0x37, 0xFA, 0x21, 0x3D)

    /// A masked frame's bytes, as a client sends them.
    static func maskedFrame(_ opcode: Opcode, isFinal: Bool = true, _ payload: [UInt8], key: Masking.Key = key) -> [UInt8] {
        var buffer = ByteBuffer()
        FrameEncoder.appendMasked(opcode: opcode, isFinal: isFinal, payload: payload, maskingKey: key, to: &buffer)
        return Array(buffer.readableBytes)
    }

    /// The events of each chunk in turn, payloads copied.
    static func events(_ chunks: [ArraySlice<UInt8>], limit: Int? = nil) throws -> [[FrameEvent]] {
        var decoder = FrameDecoder(maxPayloadBytes: limit)
        var result: [[FrameEvent]] = []
        for chunk in chunks {
            decoder.append(contentsOf: chunk)
            var events: [FrameEvent] = []
            while let event = try decoder.next() {
                switch event {
                case .frame(let frame):
                    events.append(.frame(Frame(isFinal: frame.isFinal, reservedBits: frame.reservedBits,
                                               opcode: frame.opcode, payload: Array(frame.payload))))
                case .head: events.append(event)
                case .payload(let piece, let isFrameEnd): events.append(.payload(Array(piece)[...], isFrameEnd: isFrameEnd))
                }
            }
            result.append(events)
        }
        return result
    }

    // MARK: Decoder events

    @Test("a frame whole in one read is one event, with no head and no pieces")
    func wholeFrame() throws {
        let bytes = Self.maskedFrame(.text, Array("Hello".utf8)) + Self.maskedFrame(.binary, [])
        #expect(try Self.events([bytes[...]]) == [[
            .frame(Frame(opcode: .text, payload: Array("Hello".utf8))),
            .frame(Frame(opcode: .binary, payload: [])),
        ]])
    }

    @Test("a data frame still arriving: its head at once, then each piece as it arrives, the last marked")
    func streamedFrame() throws {
        let bytes = Self.maskedFrame(.text, isFinal: false, Array("Hello, world".utf8))
        // Header (2) and key (4), then "Hello", then the rest.
        let events = try Self.events([bytes[..<11], bytes[11...]])
        #expect(events == [
            [.head(FrameHead(isFinal: false, opcode: .text, payloadLength: 12)), .payload(Array("Hello".utf8)[...], isFrameEnd: false)],
            [.payload(Array(", world".utf8)[...], isFrameEnd: true)],
        ])
    }

    @Test("the head comes before any payload byte, and the piece after it ends where the frame does")
    func headAlone() throws {
        let bytes = Self.maskedFrame(.binary, [1, 2, 3]) + Self.maskedFrame(.binary, [4])
        let events = try Self.events([bytes[..<6], bytes[6...]])
        #expect(events == [
            [.head(FrameHead(opcode: .binary, payloadLength: 3))],
            [.payload([1, 2, 3][...], isFrameEnd: true), .frame(Frame(opcode: .binary, payload: [4]))],
        ])
    }

    @Test("RFC 6455 §5.5: a control frame arriving in pieces still comes out whole", arguments: [Opcode.ping, .pong, .close])
    func controlFrameWhole(opcode: Opcode) throws {
        let payload: [UInt8] = [0x03, 0xE8] + Array("bye".utf8)
        let bytes = Self.maskedFrame(opcode, payload)
        let chunks = bytes.indices.map { bytes[$0...$0] }
        let events = try Self.events(chunks)
        #expect(events.dropLast().allSatisfy { $0.isEmpty })
        #expect(events.last == [.frame(Frame(opcode: opcode, payload: payload))])
    }

    @Test("whole, byte by byte and split at every index give the same frames, streamed or not")
    func everySplit() {
        var random = SplitMix64(seed: 0x5745_4D53)
        let large = (0..<70_000).map { _ in random.byte() }
        let text = Array("grüße, κόσμε, 😀".utf8)
        let bytes = Self.maskedFrame(.text, isFinal: false, text) + Self.maskedFrame(.ping, [1, 2, 3])
            + Self.maskedFrame(.continuation, isFinal: false, [], key: (1, 2, 3, 4))
            + Self.maskedFrame(.continuation, Array("!".utf8), key: (5, 6, 7, 8))
            + Self.maskedFrame(.binary, large, key: (0xDE, 0xAD, 0xBE, 0xEF)) + Self.maskedFrame(.binary, [0xFF])
        let outcome = DecoderHarness.decodeEverySplit(bytes, stride: 997)
        #expect(outcome == DecodeOutcome(frames: [
            Frame(isFinal: false, opcode: .text, payload: text),
            Frame(opcode: .ping, payload: [1, 2, 3]),
            Frame(isFinal: false, opcode: .continuation, payload: []),
            Frame(opcode: .continuation, payload: Array("!".utf8)),
            Frame(opcode: .binary, payload: large),
            Frame(opcode: .binary, payload: [0xFF]),
        ]))
    }

    @Test("the masking key's phase carries over pieces of every length", arguments: [1, 2, 3, 5, 7, 8, 13])
    func maskPhaseAcrossPieces(pieceLength: Int) throws {
        let payload = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let bytes = Self.maskedFrame(.binary, payload, key: (0x01, 0x80, 0x7F, 0xFE))
        var decoder = FrameDecoder(maxPayloadBytes: nil)
        var collector = FrameCollector()
        var frames: [Frame] = []
        var offset = 0
        while offset < bytes.count {
            decoder.append(contentsOf: bytes[offset..<min(bytes.count, offset + pieceLength)])
            offset += pieceLength
            while let event = try decoder.next() {
                if let frame = collector.take(event) { frames.append(frame) }
            }
        }
        #expect(frames == [Frame(opcode: .binary, payload: payload)])
        #expect(collector.pieceCount > 1)
    }

    @Test("SPEC §7: a 16 MiB frame fed one 64 KiB read at a time never makes the decoder hold more than a read")
    func boundedMemory() throws {
        let readBytes = 65_536
        let payloadLength = 16 << 20
        var header = ByteBuffer()
        // The header of a masked 16 MiB frame, then the payload generated read by read.
        FrameEncoder.appendMasked(opcode: .binary, payload: [UInt8](), maskingKey: Self.key, to: &header)
        var headerBytes = Array(header.readableBytes)
        headerBytes.replaceSubrange(1..<2, with: [0xFF] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: payloadLength >> ($0 * 8)) })
        var decoder = FrameDecoder(maxPayloadBytes: nil)
        decoder.append(contentsOf: headerBytes)
        #expect(try decoder.next() == .head(FrameHead(opcode: .binary, payloadLength: payloadLength)))
        let keyBytes: [UInt8] = [Self.key.0, Self.key.1, Self.key.2, Self.key.3]
        let maskedRead = (0..<readBytes).map { UInt8(truncatingIfNeeded: $0 / 4) ^ keyBytes[$0 % 4] }
        var received = 0
        var isEnd = false
        while received < payloadLength {
            decoder.appendWithUnsafeMutableBytes(minimumWritable: readBytes) { space in
                space.copyBytes(from: maskedRead)
                return readBytes
            }
            guard case .payload(let piece, let isFrameEnd) = try decoder.next() else {
                Issue.record("no piece after \(received) bytes")
                return
            }
            #expect(piece.count == readBytes)
            #expect(piece.first == 0 && piece.last == UInt8(truncatingIfNeeded: (readBytes - 1) / 4))
            received += piece.count
            isEnd = isFrameEnd
            #expect(try decoder.next() == nil)
            #expect(decoder.bufferedByteCount == 0)
        }
        #expect(isEnd)
        #expect(decoder.bufferCapacity <= 2 * readBytes)
    }

    @Test("SPEC §1 --maxframesize: a frame over the limit fails at its header, before its payload is read")
    func limitAtHeader() throws {
        let bytes = Self.maskedFrame(.binary, [UInt8](repeating: 7, count: 300))
        #expect(throws: WebSocketError.messageTooBig(limit: 299)) { try Self.events([bytes.prefix(8)], limit: 299) }
        #expect(try Self.events([bytes.prefix(8)], limit: 300) == [[.head(FrameHead(opcode: .binary, payloadLength: 300))]])
    }

    // MARK: State machine and assembler

    @Test("pieces become fragments: first and last of the message marked, its length on the first when one frame carries it")
    func piecesToFragments() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        #expect(try machine.receivedFrameHead(FrameHead(opcode: .binary, payloadLength: 5)) == .none)
        #expect(try machine.receivedPayload([1, 2][...], isFrameEnd: false)
            == .deliver(MessageFragment(kind: .binary, payload: [1, 2][...], isFirst: true, isLast: false, messageLength: 5)))
        #expect(try machine.receivedPayload([3, 4, 5][...], isFrameEnd: true)
            == .deliver(MessageFragment(kind: .binary, payload: [3, 4, 5][...], isFirst: false, isLast: true)))
        #expect(!machine.isInsideMessage)

        // A fragmented message: its length is unknown at the start, the streamed second frame
        // continues it, and only the final frame's last piece ends it.
        #expect(try machine.receivedFrame(Frame(isFinal: false, opcode: .text, payload: Array("ab".utf8)))
            == .deliver(MessageFragment(kind: .text, payload: Array("ab".utf8)[...], isFirst: true, isLast: false)))
        _ = try machine.receivedFrameHead(FrameHead(isFinal: false, opcode: .continuation, payloadLength: 2))
        #expect(try machine.receivedPayload(Array("c".utf8)[...], isFrameEnd: false)
            == .deliver(MessageFragment(kind: .text, payload: Array("c".utf8)[...], isFirst: false, isLast: false)))
        #expect(try machine.receivedPayload(Array("d".utf8)[...], isFrameEnd: true)
            == .deliver(MessageFragment(kind: .text, payload: Array("d".utf8)[...], isFirst: false, isLast: false)))
        _ = try machine.receivedFrameHead(FrameHead(opcode: .continuation, payloadLength: 1))
        #expect(try machine.receivedPayload(Array("e".utf8)[...], isFrameEnd: true)
            == .deliver(MessageFragment(kind: .text, payload: Array("e".utf8)[...], isFirst: false, isLast: true)))
        #expect(!machine.isInsideMessage)
    }

    @Test("RFC 6455 §8.1: an invalid byte in the first piece of a text frame fails before the rest arrives")
    func invalidUTF8InsideFrame() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        // "κόσμε" then 0xF4 0x90 (above U+10FFFF): invalid from the second byte of that sequence.
        let prefix: [UInt8] = [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xF4, 0x90]
        _ = try machine.receivedFrameHead(FrameHead(opcode: .text, payloadLength: 100))
        _ = try machine.receivedPayload(prefix[..<5], isFrameEnd: false)
        #expect(throws: WebSocketError.invalidUTF8) {
            try machine.receivedPayload(prefix[5...], isFrameEnd: false)
        }
    }

    @Test("RFC 6455 §8.1: a character split across pieces is valid; one left unfinished at the message's end is 1007")
    func characterAcrossPieces() throws {
        let text = Array("grüße, κόσμε, 😀".utf8)
        for step in [1, 2, 3, 7] {
            var machine = ConnectionStateMachine(maxMessageBytes: nil)
            _ = try machine.receivedFrameHead(FrameHead(opcode: .text, payloadLength: text.count))
            var delivered: [UInt8] = []
            var start = 0
            while start < text.count {
                let end = min(text.count, start + step)
                if case .deliver(let fragment) = try machine.receivedPayload(text[start..<end], isFrameEnd: end == text.count) {
                    delivered += fragment.payload
                }
                start = end
            }
            #expect(delivered == text)
        }
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        _ = try machine.receivedFrameHead(FrameHead(opcode: .text, payloadLength: 3))
        _ = try machine.receivedPayload([0x41, 0xE2][...], isFrameEnd: false)
        #expect(throws: WebSocketError.invalidUTF8) { try machine.receivedPayload([0x82][...], isFrameEnd: true) }
        // Not final: the character may end in the next frame.
        var open = ConnectionStateMachine(maxMessageBytes: nil)
        _ = try open.receivedFrameHead(FrameHead(isFinal: false, opcode: .text, payloadLength: 3))
        _ = try open.receivedPayload([0x41, 0xE2][...], isFrameEnd: false)
        _ = try open.receivedPayload([0x82][...], isFrameEnd: true)
        #expect(throws: WebSocketError.invalidUTF8) { try open.receivedFrame(Frame(opcode: .continuation, payload: [0x41])) }
    }

    @Test("SPEC §1 --maxframesize: the message so far plus a head's declared length over the limit is 1009 at the head")
    func limitAtHead() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: 10)
        _ = try machine.receivedFrame(Frame(isFinal: false, opcode: .binary, payload: [UInt8](repeating: 0, count: 6)))
        #expect(throws: WebSocketError.messageTooBig(limit: 10)) {
            try machine.receivedFrameHead(FrameHead(opcode: .continuation, payloadLength: 5))
        }
        var exact = ConnectionStateMachine(maxMessageBytes: 10)
        _ = try exact.receivedFrame(Frame(isFinal: false, opcode: .binary, payload: [UInt8](repeating: 0, count: 6)))
        #expect(try exact.receivedFrameHead(FrameHead(opcode: .continuation, payloadLength: 4)) == .none)
    }

    @Test("RFC 6455 §5.4: a streamed frame out of sequence is 1002 at its head")
    func sequenceAtHead() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        #expect(throws: WebSocketError.protocolError("continuation frame without a message in progress")) {
            try machine.receivedFrameHead(FrameHead(opcode: .continuation, payloadLength: 5))
        }
        var inside = ConnectionStateMachine(maxMessageBytes: nil)
        _ = try inside.receivedFrame(Frame(isFinal: false, opcode: .text, payload: [0x41]))
        #expect(throws: WebSocketError.protocolError("new message inside a fragmented message")) {
            try inside.receivedFrameHead(FrameHead(opcode: .binary, payloadLength: 5))
        }
    }

    @Test("RFC 6455 §1.4: once the close handshake began, a streamed frame is discarded, also one already arriving")
    func discardedAfterClose() throws {
        var machine = ConnectionStateMachine(maxMessageBytes: nil)
        _ = try machine.receivedFrameHead(FrameHead(opcode: .binary, payloadLength: 4))
        _ = try machine.receivedPayload([1][...], isFrameEnd: false)
        #expect(machine.close(code: .normalClosure, reason: "") == .send(code: .normalClosure, reason: ""))
        #expect(try machine.receivedPayload([2, 3, 4][...], isFrameEnd: true) == .none)
        #expect(try machine.receivedFrameHead(FrameHead(opcode: .text, payloadLength: 2)) == .none)
        #expect(try machine.receivedPayload([0xFF, 0xFF][...], isFrameEnd: true) == .none)
        #expect(try machine.receivedFrame(Frame(opcode: .close, payload: [0x03, 0xE8])) == .closeCompleted)
    }
}
