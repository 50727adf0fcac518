import Testing
@testable import WSProtocol
@testable import WSBridging
import TestSupport

@Suite("Framing fuzz")
struct FramingFuzzTests {
    /// Random stdout close to what each mode expects, so the parsers get deep before a mutation bites.
    static func stream(for mode: FramingMode, limit: Int?, using generator: inout SplitMix64) -> [UInt8] {
        let scale = limit ?? 64
        var bytes: [UInt8] = []
        for _ in 0..<Int.random(in: 0...8, using: &generator) {
            switch mode {
            case .line:
                let pieces: [[UInt8]] = [
                    Array("line".utf8), [0x0A], [0x0D, 0x0A], [0x0D], Array("é🎉".utf8), [0xC0, 0xAF], [0xE2, 0x82],
                    [0xFF], [0x00], [UInt8](repeating: 0x78, count: Int.random(in: 0...(scale + 2), using: &generator)),
                ]
                for _ in 0..<Int.random(in: 1...6, using: &generator) {
                    bytes += pieces.randomElement(using: &generator) ?? []
                }
            case .length:
                let length = Int.random(in: 0...(scale + scale / 4), using: &generator)
                let isText = Bool.random(using: &generator)
                let payload: [UInt8] = isText
                    ? (0..<length).map { _ in UInt8.random(in: 0x20...0x7E, using: &generator) }
                    : (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                LengthFraming.writeHeaderBytes(opcode: isText ? .text : .binary, length: length, into: &bytes)
                bytes += payload
            case .raw:
                bytes += (0..<Int.random(in: 0...(2 * scale), using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
        }
        return mutate(bytes, using: &generator)
    }

    /// Flips, inserts, deletes or truncates a few bytes (or leaves the stream alone).
    static func mutate(_ input: [UInt8], using generator: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 0...3, using: &generator) {
            let position = Int.random(in: 0...bytes.count, using: &generator)
            switch Int.random(in: 0..<4, using: &generator) {
            case 0 where position < bytes.count: bytes[position] = UInt8.random(in: 0...255, using: &generator)
            case 1: bytes.insert(UInt8.random(in: 0...255, using: &generator), at: position)
            case 2 where position < bytes.count: bytes.remove(at: position)
            case 3: bytes.removeLast(Int.random(in: 0...min(3, bytes.count), using: &generator))
            default: break
            }
        }
        return bytes
    }

    /// The stream cut into reads of random sizes.
    static func reads(of bytes: [UInt8], using generator: inout SplitMix64) -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            let size = min(bytes.count - offset, Int.random(in: 1...97, using: &generator))
            chunks.append(Array(bytes[offset..<(offset + size)]))
            offset += size
        }
        return chunks
    }

    @Test("random and mutated stdout gives only messages or typed errors, with bounded memory",
          arguments: FramingMode.allCases)
    func stdoutStreams(_ mode: FramingMode) {
        var generator = SplitMix64(seed: 0xF00D_0000 + UInt64(mode.rawValue.utf8.count))
        var errorCount = 0
        var messageCount = 0
        for _ in 0..<3_000 {
            let limit: Int? = Int.random(in: 0..<10, using: &generator) == 0 ? nil : Int.random(in: 0...80, using: &generator)
            let input = Self.stream(for: mode, limit: limit, using: &generator)
            let chunks = Self.reads(of: input, using: &generator)
            let bound = (limit ?? input.count) + LengthFraming.headerBytes
            var withinBounds = true
            let run = FramingHarness.run(
                mode: mode, limit: limit, chunks: chunks,
                afterRead: { framing, read in withinBounds = withinBounds && framing.bufferedStdoutCount <= bound + read },
                afterDrain: { framing in withinBounds = withinBounds && framing.bufferedStdoutCount <= bound }
            )
            #expect(withinBounds, "buffered stdout over \(bound) plus a read for \(input)")
            messageCount += run.messages.count
            for message in run.messages {
                // SPEC §2 and RFC 6455 §8.1: no text message ever carries invalid UTF-8.
                if message.opcode == .text { #expect(UTF8Validator.isValid(message.bytes)) }
                // The line limit counts the child's bytes; each invalid byte may become 3 bytes of U+FFFD.
                if let limit, mode == .length { #expect(message.bytes.count <= limit) }
                if let limit, mode == .line { #expect(message.bytes.count <= 3 * limit) }
            }
            switch mode {
            case .line:
                #expect(run.messages.allSatisfy { $0.opcode == .text })
                if let error = run.error { #expect(error == .messageTooBig(limit: limit ?? -1)) }
            case .raw:
                #expect(run.error == nil)
                #expect(run.joinedPayload == input)
                #expect(run.messages.allSatisfy { $0.opcode == .binary && $0.bytes.count <= 65_536 && !$0.bytes.isEmpty })
            case .length:
                if let error = run.error { #expect(error.closeCode == .internalError) }
            }
            if mode != .raw {
                // Any split of the input gives the same events (STYLE.md, pure codecs).
                #expect(run == FramingHarness.run(mode: mode, limit: limit, chunks: [input]))
            }
            if run.error != nil { errorCount += 1 }
        }
        #expect(messageCount > 1_000)
        if mode != .raw { #expect(errorCount > 100) }
    }

    @Test("random fragmented messages survive the length-framing round trip exactly")
    func lengthRoundTrip() {
        var generator = SplitMix64(seed: 0xEC40)
        for _ in 0..<2_000 {
            var expected: [ReceivedMessage] = []
            var inbound: [MessageFragment] = []
            for _ in 0..<Int.random(in: 0...5, using: &generator) {
                let kind: Opcode = Bool.random(using: &generator) ? .text : .binary
                let bytes = (0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0x20...0x7E, using: &generator) }
                var pieces: [[UInt8]] = []
                var offset = 0
                repeat {
                    let size = Int.random(in: 0...(bytes.count - offset), using: &generator)
                    pieces.append(Array(bytes[offset..<(offset + size)]))
                    offset += size
                } while offset < bytes.count || Int.random(in: 0..<4, using: &generator) == 0
                inbound += fragments(kind, pieces)
                expected.append(ReceivedMessage(kind, bytes))
            }
            let stdin = FramingHarness.encode(mode: .length, limit: 40, inbound)
            #expect(stdin.error == nil)
            let run = FramingHarness.run(mode: .length, limit: 40, chunks: Self.reads(of: stdin.stdin, using: &generator))
            #expect(run == OutboundRun(messages: expected, error: nil))
        }
    }
}

extension LengthFraming {
    /// Appends a record header to a byte array (test convenience over `writeHeader(opcode:length:into:)`).
    static func writeHeaderBytes(opcode: Opcode, length: Int, into bytes: inout [UInt8]) {
        var buffer = ByteBuffer()
        writeHeader(opcode: opcode, length: length, into: &buffer)
        bytes += buffer.readableBytes
    }
}
