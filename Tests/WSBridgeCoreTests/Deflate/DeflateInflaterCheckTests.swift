import Testing
import TestSupport
import WSProtocol
@testable import WSDeflate

/// What the inflater refuses: invalid UTF-8 in text, corrupt deflate data; and what it still does
/// after refusing.
@Suite("Deflate: inflater checks")
struct DeflateInflaterCheckTests {
    static func compressed(_ bytes: [UInt8]) -> [UInt8] {
        Array(MessageDeflater(windowBits: 15, memoryLevel: 8, resetsAfterEachMessage: true).compress(bytes[...]))
    }

    @Test("Invalid UTF-8 in compressed text fails at the first chunk that holds it")
    func invalidUTF8FailsFast() throws {
        let message = Array(repeating: UInt8(ascii: "a"), count: 1000) + [0xff] + Array(repeating: UInt8(ascii: "b"), count: 100_000)
        let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: false, maxMessageBytes: nil)
        inflater.feed(Self.compressed(message)[...], kind: .text, isFirst: true, isMessageEnd: true)
        var delivered = 0
        #expect(throws: WebSocketError.invalidUTF8) {
            while let fragment = try inflater.next(maxBytes: 100) { delivered += fragment.payload.count }
        }
        #expect(delivered == 1000)
        #expect(!inflater.hasPendingOutput)
        // Binary may hold any bytes.
        #expect(try DeflateTestSupport.inflate(inflater, Self.compressed(message), kind: .binary) == message)
    }

    @Test("A character split across fragment borders is fine; one left unfinished at the end is not")
    func characterAcrossBorders() throws {
        let text = Array(String(repeating: "€ü😀a", count: 300).utf8)
        for chunk in 1...9 {
            let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: true, maxMessageBytes: nil)
            #expect(try DeflateTestSupport.inflate(inflater, [Self.compressed(text)[...]], kind: .text, maxBytes: { chunk }) == text)
            #expect(throws: WebSocketError.invalidUTF8) {
                try DeflateTestSupport.inflate(inflater, [Self.compressed(text + [0xe2, 0x82])[...]], kind: .text, maxBytes: { chunk })
            }
        }
    }

    @Test("Seeded mutations of valid compressed messages never crash: they inflate within the limit or fail with 1007 or 1009")
    func mutations() throws {
        var random = SplitMix64(seed: 1234)
        let limit = 200_000
        for round in 0..<600 {
            let keepsContext = random.chance(50)
            let inflater = MessageInflater(windowBits: 9 + random.below(7), resetsAfterEachMessage: !keepsContext, maxMessageBytes: limit)
            let message = random.chance(50) ? DeflateTestSupport.jsonLines(random.below(20_000), &random)
                                            : DeflateTestSupport.randomBytes(random.below(3000), &random)
            var bytes = Self.compressed(message)
            for _ in 0..<(1 + random.below(4)) where !bytes.isEmpty {
                let index = random.below(bytes.count)
                switch random.below(4) {
                case 0: bytes[index] ^= UInt8(1 << random.below(8))
                case 1: bytes[index] = random.byte()
                case 2: bytes.remove(at: index)
                default: bytes.removeSubrange(index...)
                }
            }
            let kind: Opcode = random.chance(50) ? .text : .binary
            let pieces = DeflateTestSupport.pieces(bytes[...], .random, &random)
            do {
                var delivered = 0
                var ended = false
                for (index, piece) in pieces.enumerated() where !ended {
                    inflater.feed(piece, kind: kind, isFirst: index == 0, isMessageEnd: index == pieces.count - 1)
                    while let fragment = try inflater.next(maxBytes: 1 + random.below(5000)) {
                        delivered += fragment.payload.count
                        if fragment.isLast { ended = true; break }
                    }
                }
                #expect(ended && delivered <= limit, "round \(round)")
            } catch {
                switch error {
                case .invalidCompressedData, .invalidUTF8: #expect(error.closeCode == .invalidFramePayloadData)
                case .messageTooBig: #expect(error.closeCode == .messageTooBig)
                case .protocolError, .unsupportedData, .internalError, .invalidPayload, .inputLineTooLong: Issue.record("round \(round): unexpected \(error)")
                }
                // As documented: back between messages with an empty window, so a message compressed
                // from a fresh stream inflates.
                #expect(!inflater.hasPendingOutput)
                #expect(try DeflateTestSupport.inflate(inflater, Self.compressed(Array("after".utf8))) == Array("after".utf8))
            }
        }
    }

    @Test("releaseIdleMemory frees the stream only without context takeover, and never mid-message")
    func releaseIdleMemory() throws {
        for keepsContext in [true, false] {
            let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: !keepsContext, maxMessageBytes: nil)
            let first: [UInt8] = [0xf2, 0x48, 0xcd]
            inflater.feed(first[...], kind: .text, isFirst: true, isMessageEnd: false)
            #expect(try inflater.next(maxBytes: 10)?.payload.count == 2)
            #expect(try inflater.next(maxBytes: 10) == nil)
            inflater.releaseIdleMemory()  // mid-message: keeps everything
            inflater.feed([0xc9, 0xc9, 0x07, 0x00], kind: .text, isFirst: false, isMessageEnd: true)
            #expect(try inflater.next(maxBytes: 10)?.payload == Array("llo".utf8)[...])
            inflater.releaseIdleMemory()
            // The window of "Hello" is still there exactly when context is kept.
            if keepsContext {
                #expect(try DeflateTestSupport.inflate(inflater, [0xf2, 0x00, 0x11, 0x00, 0x00]) == Array("Hello".utf8))
            } else {
                #expect(throws: WebSocketError.self) { try DeflateTestSupport.inflate(inflater, [0xf2, 0x00, 0x11, 0x00, 0x00]) }
            }
        }
    }
}
