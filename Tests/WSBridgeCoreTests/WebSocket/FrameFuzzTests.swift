import Testing
@testable import WSProtocol
import TestSupport

@Suite("Frame fuzzing")
struct FrameFuzzTests {
    /// A frame as generated, legal or not.
    struct GeneratedFrame {
        var firstByte: UInt8
        var isMasked: Bool
        var payload: [UInt8]

        var opcode: Opcode? { Opcode(rawValue: firstByte & 0x0F) }
        var isFinal: Bool { firstByte & 0x80 != 0 }
        var reservedBits: UInt8 { (firstByte >> 4) & 0b111 }

        /// Whether a server decoder with this payload limit returns the frame rather than an error.
        func isDecodable(maxPayloadBytes: Int?) -> Bool {
            guard isMasked, reservedBits == 0, let opcode else { return false }
            if opcode.isControl && (!isFinal || payload.count > 125) { return false }
            return maxPayloadBytes.map { payload.count <= $0 } ?? true
        }

        /// The wire bytes, minimal length encoding, masked with `key` when masked.
        func encoded(key: [UInt8]) -> [UInt8] {
            var bytes = [firstByte]
            let maskBit: UInt8 = isMasked ? 0x80 : 0
            switch payload.count {
            case ...125: bytes.append(maskBit | UInt8(payload.count))
            case ...0xFFFF: bytes += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
            default: bytes += [maskBit | 127] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: payload.count >> ($0 * 8)) }
            }
            guard isMasked else { return bytes + payload }
            return bytes + key + payload.enumerated().map { $0.element ^ key[$0.offset % 4] }
        }
    }

    static func randomFrame(_ random: inout SplitMix64) -> GeneratedFrame {
        let opcodes: [UInt8] = [0x0, 0x1, 0x2, 0x8, 0x9, 0xA]
        var firstByte = random.chance(95) ? opcodes[random.below(opcodes.count)] : UInt8(random.below(16))
        // Control frames are almost always final, so streams get past them to the data behind.
        if random.chance(firstByte & 0x8 == 0 ? 70 : 97) { firstByte |= 0x80 }
        if random.chance(3) { firstByte |= UInt8(random.below(8)) << 4 }
        let length: Int
        switch random.below(100) {
        case 0: length = 65536 + random.below(5000)
        case 1...8: length = 126 + random.below(400)
        default: length = random.below(40)
        }
        var payload: [UInt8]
        if random.chance(50) {
            // Mostly text-like bytes, so UTF-8 validation gets past the first byte.
            let pieces: [[UInt8]] = [[0x41], [0x20], [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xED, 0xA0, 0x80], [0xFF]]
            payload = []
            while payload.count < length { payload += pieces[random.chance(90) ? random.below(5) : random.below(pieces.count)] }
            payload.removeLast(payload.count - length)
        } else {
            payload = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        return GeneratedFrame(firstByte: firstByte, isMasked: random.chance(97), payload: payload)
    }

    /// A well-formed sequence: whole messages of valid UTF-8 text or binary, fragmented, with pings
    /// and pongs between the fragments, so mutations hit deep states of the assembler.
    static func randomSession(_ random: inout SplitMix64) -> [GeneratedFrame] {
        var frames: [GeneratedFrame] = []
        for _ in 0..<(1 + random.below(4)) {
            let isText = random.chance(50)
            let fragmentCount = 1 + random.below(3)
            for index in 0..<fragmentCount {
                var payload: [UInt8] = []
                for _ in 0..<random.below(12) {
                    payload += isText ? Array(["a", "é", "€", "😀", " "][random.below(5)].utf8) : [UInt8(random.below(256))]
                }
                let opcode: UInt8 = index == 0 ? (isText ? 0x1 : 0x2) : 0x0
                frames.append(GeneratedFrame(firstByte: (index == fragmentCount - 1 ? 0x80 : 0) | opcode, isMasked: true, payload: payload))
                if random.chance(30) {
                    frames.append(GeneratedFrame(firstByte: 0x80 | (random.chance(50) ? 0x9 : 0xA), isMasked: true,
                                                 payload: (0..<random.below(20)).map { UInt8($0) }))
                }
            }
        }
        return frames
    }

    static func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        for _ in 0..<(1 + random.below(3)) {
            guard !bytes.isEmpty else { return }
            let index = random.below(bytes.count)
            switch random.below(6) {
            case 0: bytes[index] ^= 1 << UInt8(random.below(8))
            case 1: bytes[index] = UInt8(truncatingIfNeeded: random.next())
            case 2: bytes.insert(contentsOf: (0..<(1 + random.below(8))).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: index)
            case 3: bytes.removeSubrange(index..<min(bytes.count, index + 1 + random.below(16)))
            case 4: bytes.removeSubrange(index...)
            default: bytes.insert(contentsOf: bytes[index..<min(bytes.count, index + 1 + random.below(32))], at: index)
            }
        }
    }

    @Test("seeded random and mutated frame streams: only frames, actions or typed errors; memory bounded",
          .timeLimit(.minutes(2)))
    func fuzz() {
        var random = SplitMix64(seed: 0x00C0_FFEE_6455)
        var errorsSeen: [CloseCode: Int] = [:]
        var framesSeen = 0
        var messagesSeen = 0
        for _ in 0..<4000 {
            let limits: [Int?] = [nil, 0, 16, 125, 1000, 70000]
            let limit = limits[random.below(limits.count)]
            let frames = random.chance(40) ? Self.randomSession(&random)
                : (0..<(1 + random.below(8))).map { _ in Self.randomFrame(&random) }
            var stream: [UInt8] = []
            for frame in frames {
                let key = (0..<4).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                stream += frame.encoded(key: key)
            }
            let isMutated = random.chance(50)
            if isMutated { Self.mutate(&stream, &random) }
            let isReplaced = random.chance(5)
            if isReplaced { stream = (0..<random.below(300)).map { _ in UInt8(truncatingIfNeeded: random.next()) } }

            let outcome = Self.drive(stream, limit: limit, random: &random)
            framesSeen += outcome.frames.count
            messagesSeen += outcome.completedMessages
            if let error = outcome.error { errorsSeen[error.closeCode, default: 0] += 1 }
            #expect([CloseCode.protocolError, .invalidFramePayloadData, .messageTooBig].contains(outcome.error?.closeCode ?? .protocolError))

            if !isMutated && !isReplaced {
                // Untouched input: the decoder returns exactly the legal frames up to the first illegal one.
                let legal = frames.prefix { $0.isDecodable(maxPayloadBytes: limit) }
                #expect(outcome.frames.count <= legal.count)
                for (decoded, generated) in zip(outcome.frames, legal) {
                    #expect(decoded == Frame(isFinal: generated.isFinal, reservedBits: generated.reservedBits,
                                             opcode: generated.opcode!, payload: generated.payload))
                }
                if legal.count < frames.count && outcome.frames.count == legal.count && !outcome.isClosedByPeer {
                    #expect(outcome.error != nil)
                }
            }
        }
        // The generator reaches every kind of outcome, so the run above exercised them.
        #expect(framesSeen > 5000)
        #expect(messagesSeen > 1000)
        #expect(errorsSeen[.protocolError, default: 0] > 100)
        #expect(errorsSeen[.invalidFramePayloadData, default: 0] > 10)
        #expect(errorsSeen[.messageTooBig, default: 0] > 10)
    }

    /// What driving one stream produced.
    struct DriveOutcome {
        var frames: [Frame] = []
        var error: WebSocketError?
        /// The messages delivered whole.
        var completedMessages = 0
        /// The peer closed and the server answered, ending the stream early.
        var isClosedByPeer = false
    }

    /// Feeds `stream` in random chunks through decoder, state machine and a per-message UTF-8 check,
    /// checking every action and the decoder's buffered bytes after each step.
    static func drive(_ stream: [UInt8], limit: Int?, random: inout SplitMix64) -> DriveOutcome {
        var decoder = FrameDecoder(maxPayloadBytes: limit)
        var machine = ConnectionStateMachine(maxMessageBytes: limit)
        var outcome = DriveOutcome()
        var collector = FrameCollector()
        var message: [UInt8] = []
        var messageKind: Opcode?
        // Between appends the decoder holds less than one frame: a partial header (under 8 bytes) or
        // a payload no larger than the limit.
        let heldBound = max(limit ?? stream.count, 8)
        var position = 0
        while position < stream.count {
            let chunkLength = 1 + random.below(random.chance(20) ? 8192 : 64)
            let chunk = stream[position..<min(stream.count, position + chunkLength)]
            position += chunk.count
            decoder.append(contentsOf: chunk)
            #expect(decoder.bufferedByteCount <= heldBound + chunk.count)
            var isDecoding = true
            do throws(WebSocketError) {
                while true {
                    isDecoding = true
                    guard let event = try decoder.next() else { break }
                    isDecoding = false
                    if let frame = collector.take(event) { outcome.frames.append(frame) }
                    switch try machine.received(event) {
                    case .deliver(let fragment):
                        #expect(fragment.kind == .text || fragment.kind == .binary)
                        #expect(fragment.isFirst == (messageKind == nil))
                        messageKind = fragment.kind
                        message += fragment.payload
                        #expect(message.count <= limit ?? Int.max)
                        if fragment.isLast {
                            if fragment.kind == .text { #expect(String(validating: message, as: UTF8.self) != nil) }
                            message = []
                            messageKind = nil
                            outcome.completedMessages += 1
                        }
                    case .sendPong(let payload):
                        #expect(outcome.frames.last?.opcode == .ping && payload.count <= 125)
                    case .none:
                        break
                    case .peerClosed:
                        #expect(machine.state != .open)
                        if random.chance(50) {
                            #expect(machine.answerPeerClose() != .none)
                            outcome.isClosedByPeer = true
                            return outcome
                        }
                    case .closeCompleted:
                        Issue.record("a close completed although the server never sent one")
                    }
                }
            } catch {
                outcome.error = error
                let action = machine.fail(error)
                if case .send(let code, let reason) = action {
                    var wire = ByteBuffer()
                    FrameEncoder.appendClose(code: code, reason: reason, to: &wire)
                    #expect(wire.readableCount <= 127)
                    #expect(wire[0] == 0x88)
                }
                // Closed when the peer's close came first and our answer is this failure.
                #expect(machine.state == .closeSent || machine.state == .closed)
                if isDecoding {
                    // A failed decoder drops what it held and whatever else arrives, and stays failed.
                    decoder.append(contentsOf: stream[position...])
                    #expect(decoder.bufferedByteCount == 0)
                    #expect(throws: error) { try decoder.next() }
                }
                return outcome
            }
            #expect(decoder.bufferedByteCount < heldBound)
            // Drained, it holds no more than a header in progress or a control frame still arriving:
            // a data frame's payload leaves as it comes (SPEC §7).
            #expect(decoder.bufferedByteCount <= FrameDecoder.maxControlPayloadBytes)
        }
        return outcome
    }
}
