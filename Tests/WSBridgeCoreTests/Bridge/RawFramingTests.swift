import Testing
@testable import WSBridging

@Suite("RawFraming")
struct RawFramingTests {
    @Test("SPEC §2: every inbound payload goes to stdin byte for byte, text or binary, nothing added")
    func inbound() {
        let input = FramingHarness.encode(mode: .raw, limit: 4, [
            message("hi\n"),
            message(.binary, [0x00, 0xFF, 0x0A]),
        ] + fragments(.text, [Array("ab".utf8), [], Array("cdefgh".utf8)]) + [message(.binary, [])])
        #expect(input.error == nil)
        #expect(input.stdin == Array("hi\n".utf8) + [0x00, 0xFF, 0x0A] + Array("abcdefgh".utf8))
    }

    @Test("SPEC §2: a stdout chunk becomes one binary message, nothing stripped")
    func chunkIsOneMessage() throws {
        var framing = Framing(mode: .raw, maxMessageBytes: nil)
        #expect(try framing.nextOutbound() == nil)
        let bytes: [UInt8] = [0x68, 0x69, 0x0A, 0x0D, 0x0A, 0xFF, 0x00]
        bytes.withUnsafeBytes { framing.appendStdout($0) }
        #expect(framing.bufferedStdoutCount == 7)
        #expect(try framing.nextOutbound() == OutboundMessage(opcode: .binary, payload: bytes[...]))
        #expect(try framing.nextOutbound() == nil)
        #expect(framing.bufferedStdoutCount == 0)
        #expect(try framing.finishOutbound() == nil)
    }

    @Test("large stdout is split into messages of at most 64 KiB")
    func capsAt64KiB() {
        let input = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let run = FramingHarness.run(mode: .raw, limit: nil, chunks: [input])
        #expect(run.messages.map(\.bytes.count) == [65_536, 65_536, 18_928])
        #expect(run.joinedPayload == input)
        #expect(run.messages.allSatisfy { $0.opcode == .binary })
    }

    @Test("a smaller --maxframesize caps the messages too")
    func capsAtLimit() {
        let input = Array(0..<25).map(UInt8.init)
        let run = FramingHarness.run(mode: .raw, limit: 10, chunks: [input])
        #expect(run.messages.map(\.bytes.count) == [10, 10, 5])
        #expect(run.joinedPayload == input)
    }

    @Test("bytes are identical however stdout is read")
    func everySplit() {
        let input: [UInt8] = Array("line one\r\nline two\n".utf8) + [0xC0, 0xAF, 0x00, 0xFF]
        let run = FramingHarness.expectSameForEverySplit(mode: .raw, limit: nil, input)
        #expect(run.messages == [ReceivedMessage(.binary, input)])
        let byteByByte = FramingHarness.run(mode: .raw, limit: nil, chunks: input.map { [$0] })
        #expect(byteByByte.messages.count == input.count)
    }

    @Test("reads straight into the buffer")
    func readStdout() throws {
        var framing = Framing(mode: .raw, maxMessageBytes: nil)
        let read = framing.readStdout(minimumWritable: 8) { space in
            #expect(space.count >= 8)
            space.copyBytes(from: [1, 2, 3])
            return 3
        }
        #expect(read == 3)
        #expect(framing.readStdout(minimumWritable: 8) { _ in 0 } == 0)
        #expect(try framing.nextOutbound() == OutboundMessage(opcode: .binary, payload: [1, 2, 3]))
    }
}
