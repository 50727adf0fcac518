import Testing
@testable import WSProtocol
@testable import WSBridging

/// How inbound messages reach the stdin buffer (SPEC §2, §7): a message that arrives in pieces is
/// written in one piece when it fits one pipe write (64 KiB), as websocketd does (its TestEDGE008:
/// 10,000 bytes in 4 KiB fragments through `--binary cat` come back as one message); a larger one
/// is written as it arrives, so memory stays bounded whatever the message's size.
@Suite("Inbound streaming")
struct InboundStreamingTests {
    static let hold = InboundMessageHold.maxHeldBytes

    /// Feeds `fragments` one by one; returns the stdin bytes after each.
    static func stdinAfterEach(_ mode: FramingMode, limit: Int? = nil, _ fragments: [MessageFragment]) throws -> [[UInt8]] {
        var framing = Framing(mode: mode, maxMessageBytes: limit)
        var stdin = ByteBuffer()
        var result: [[UInt8]] = []
        for fragment in fragments {
            try framing.encodeInbound(fragment, into: &stdin)
            result.append(Array(stdin.readableBytes))
        }
        return result
    }

    /// `count` bytes in pieces of `pieceLength`, as fragments of one message; `messageLength` on the
    /// first when the message is one frame arriving in pieces.
    static func pieces(_ kind: Opcode, _ bytes: [UInt8], pieceLength: Int, isOneFrame: Bool) -> [MessageFragment] {
        stride(from: 0, to: bytes.count, by: pieceLength).map { start in
            let end = min(bytes.count, start + pieceLength)
            return MessageFragment(kind: kind, payload: bytes[start..<end], isFirst: start == 0, isLast: end == bytes.count,
                                   messageLength: start == 0 && isOneFrame ? bytes.count : nil)
        }
    }

    static func bytes(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) } }

    @Test("websocketd TestEDGE008: 10,000 bytes in 4 KiB fragments reach stdin at once, when the last arrives",
          arguments: [FramingMode.raw, .line], [false, true])
    func smallMessageHeld(mode: FramingMode, isOneFrame: Bool) throws {
        let payload = Array(repeating: UInt8(ascii: "a"), count: 10_000)
        let after = try Self.stdinAfterEach(mode, Self.pieces(.text, payload, pieceLength: 4096, isOneFrame: isOneFrame))
        #expect(after.dropLast().allSatisfy { $0.isEmpty })
        #expect(after.last == payload + (mode == .line ? [0x0A] : []))
    }

    @Test("a 64 KiB message is held whole; one byte more starts streaming", arguments: [false, true])
    func holdBoundary(isOneFrame: Bool) throws {
        let exact = Self.bytes(Self.hold)
        let held = try Self.stdinAfterEach(.raw, Self.pieces(.binary, exact, pieceLength: 4096, isOneFrame: isOneFrame))
        #expect(held.dropLast().allSatisfy { $0.isEmpty })
        #expect(held.last == exact)

        let over = Self.bytes(Self.hold + 1)
        let streamed = try Self.stdinAfterEach(.raw, Self.pieces(.binary, over, pieceLength: 4096, isOneFrame: isOneFrame))
        if isOneFrame {
            // The frame's header gave the length: streamed from the first piece.
            #expect(streamed.first == Array(over.prefix(4096)))
        } else {
            // Held while it fit, then written together with the piece that made it too large.
            #expect(streamed[15].isEmpty)
            #expect(streamed[16] == over)
        }
        #expect(streamed.last == over)
    }

    @Test("line framing counts the \"\\n\" in what a pipe write carries")
    func lineHoldCountsNewline() throws {
        let fits = Array(repeating: UInt8(ascii: "x"), count: Self.hold - 1)
        let held = try Self.stdinAfterEach(.line, Self.pieces(.text, fits, pieceLength: 10_000, isOneFrame: true))
        #expect(held.dropLast().allSatisfy { $0.isEmpty })
        #expect(held.last == fits + [0x0A])
        let over = fits + [UInt8(ascii: "x")]
        let streamed = try Self.stdinAfterEach(.line, Self.pieces(.text, over, pieceLength: 10_000, isOneFrame: true))
        #expect(streamed.first?.count == 10_000)
        #expect(streamed.last == over + [0x0A])
    }

    @Test("SPEC §7: a large message streams: stdin grows by each piece as it comes, in raw and line framing",
          arguments: [FramingMode.raw, .line], [false, true])
    func largeMessageStreams(mode: FramingMode, isOneFrame: Bool) throws {
        let payload = Array(repeating: UInt8(ascii: "z"), count: 1 << 20)
        var framing = Framing(mode: mode, maxMessageBytes: nil)
        var stdin = ByteBuffer()
        var written = 0
        for fragment in Self.pieces(.text, payload, pieceLength: 65_536, isOneFrame: isOneFrame) {
            try framing.encodeInbound(fragment, into: &stdin)
            written += stdin.readableCount
            // The child reads as fast as it comes: past the first 64 KiB nothing is held back.
            if written > Self.hold { #expect(stdin.readableCount >= fragment.payload.count) }
            stdin.clear()
        }
        #expect(written == payload.count + (mode == .line ? 1 : 0))
    }

    @Test("SPEC §2 length framing: a message sent as one frame has its record header written first, its payload streamed")
    func lengthStreamsOneFrame() throws {
        let payload = Self.bytes(200_000)
        let after = try Self.stdinAfterEach(.length, Self.pieces(.binary, payload, pieceLength: 50_000, isOneFrame: true))
        // 0x030D40 = 200,000.
        #expect(after[0] == [0x02, 0x00, 0x03, 0x0D, 0x40] + payload.prefix(50_000))
        #expect(after.last == [0x02, 0x00, 0x03, 0x0D, 0x40] + payload)
        // A small one is held until whole, header included.
        let small = Self.bytes(10_000)
        let held = try Self.stdinAfterEach(.length, Self.pieces(.text, small, pieceLength: 4096, isOneFrame: true))
        #expect(held.dropLast().allSatisfy { $0.isEmpty })
        #expect(held.last == [0x01, 0x00, 0x00, 0x27, 0x10] + small)
    }

    @Test("SPEC §2 length framing: a fragmented message is held until its end, up to --maxframesize (1009 beyond)")
    func lengthHoldsFragmented() throws {
        let payload = Self.bytes(200_000)
        let after = try Self.stdinAfterEach(.length, Self.pieces(.binary, payload, pieceLength: 50_000, isOneFrame: false))
        #expect(after.dropLast().allSatisfy { $0.isEmpty })
        #expect(after.last == [0x02, 0x00, 0x03, 0x0D, 0x40] + payload)
        #expect(throws: WebSocketError.messageTooBig(limit: 150_000)) {
            try Self.stdinAfterEach(.length, limit: 150_000, Self.pieces(.binary, payload, pieceLength: 50_000, isOneFrame: false))
        }
    }

    @Test("SPEC §1 --maxframesize: in length framing, a frame's declared length over the limit is 1009 at its first piece")
    func lengthLimitAtFirstPiece() {
        let payload = Self.bytes(1000)
        let result = FramingHarness.encode(mode: .length, limit: 999, Self.pieces(.binary, payload, pieceLength: 100, isOneFrame: true))
        #expect(result.error == .messageTooBig(limit: 999))
        #expect(result.stdin.isEmpty)
    }

    @Test("messages in a row keep their order and bytes whatever the pieces, in every framing", arguments: FramingMode.allCases)
    func mixedMessages(mode: FramingMode) throws {
        let sizes = [0, 1, 10_000, Self.hold - 5, Self.hold, 100_000]
        var expected: [UInt8] = []
        var fragments: [MessageFragment] = []
        for (index, size) in sizes.enumerated() {
            let payload = Array(repeating: UInt8(ascii: "a") + UInt8(index), count: size)
            if size == 0 {
                fragments.append(message(.text, []))
            } else {
                fragments += Self.pieces(.text, payload, pieceLength: 3000 + index * 1000, isOneFrame: index % 2 == 0)
            }
            switch mode {
            case .raw: expected += payload
            case .line: expected += payload + [0x0A]
            case .length:
                expected += [0x01] + withUnsafeBytes(of: UInt32(size).bigEndian) { Array($0) } + payload
            }
        }
        #expect(try Self.stdinAfterEach(mode, fragments).last == expected)
    }

    @Test("an idle session gives back the hold's storage")
    func releasesHold() throws {
        var framing = Framing(mode: .raw, maxMessageBytes: nil)
        var stdin = ByteBuffer()
        for fragment in Self.pieces(.binary, Self.bytes(10_000), pieceLength: 4096, isOneFrame: false) {
            try framing.encodeInbound(fragment, into: &stdin)
        }
        #expect(stdin.readableCount == 10_000)
        framing.releaseIdleMemory()
        #expect(framing.inboundHeldCapacity == 0)
    }
}
