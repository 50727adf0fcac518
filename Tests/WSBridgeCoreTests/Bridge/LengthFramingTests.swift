import Testing
@testable import WSProtocol
@testable import WSBridging

@Suite("LengthFraming")
struct LengthFramingTests {
    static let hello: [UInt8] = [0x01, 0x00, 0x00, 0x00, 0x05] + Array("hello".utf8)
    static let binary: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0xFF, 0x0A]
    static let emptyText: [UInt8] = [0x01, 0x00, 0x00, 0x00, 0x00]
    static let emptyBinary: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00]
    static let embeddedNewlines: [UInt8] = [0x01, 0x00, 0x00, 0x00, 0x06] + Array("a\nb\r\nc".utf8)
    static let large = (0..<204_800).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }

    /// A record on the wire and the message it carries (SPEC.md §2, length framing).
    struct RecordCase: CustomStringConvertible, Sendable {
        var name: String
        var record: [UInt8]
        var message: ReceivedMessage
        var description: String { name }
    }

    static let recordCases: [RecordCase] = [
        RecordCase(name: "text \"hello\"", record: hello, message: ReceivedMessage(.text, "hello")),
        RecordCase(name: "binary", record: binary, message: ReceivedMessage(.binary, [0x00, 0xFF, 0x0A])),
        RecordCase(name: "empty text", record: emptyText, message: ReceivedMessage(.text, [])),
        RecordCase(name: "empty binary", record: emptyBinary, message: ReceivedMessage(.binary, [])),
        RecordCase(name: "embedded newlines", record: embeddedNewlines, message: ReceivedMessage(.text, "a\nb\r\nc")),
    ]

    @Test("SPEC §2: a record on stdout becomes exactly its message", arguments: recordCases)
    func outboundRecord(_ testCase: RecordCase) {
        let run = FramingHarness.expectSameForEverySplit(mode: .length, limit: 1024, testCase.record)
        #expect(run.error == nil)
        #expect(run.messages == [testCase.message])
    }

    @Test("SPEC §2: an inbound message becomes exactly its record", arguments: recordCases)
    func inboundRecord(_ testCase: RecordCase) {
        let result = FramingHarness.encode(mode: .length, limit: 1024, [message(testCase.message.opcode, testCase.message.bytes)])
        #expect(result.error == nil)
        #expect(result.stdin == testCase.record)
    }

    @Test("SPEC §2: records in a row keep their types and boundaries")
    func recordsInARow() {
        let stream = Self.hello + Self.emptyBinary + Self.embeddedNewlines + Self.emptyText + Self.binary
        let run = FramingHarness.expectSameForEverySplit(mode: .length, limit: 6, stream)
        #expect(run.error == nil)
        #expect(run.messages == [
            ReceivedMessage(.text, "hello"), ReceivedMessage(.binary, []), ReceivedMessage(.text, "a\nb\r\nc"),
            ReceivedMessage(.text, []), ReceivedMessage(.binary, [0x00, 0xFF, 0x0A]),
        ])
    }

    @Test("SPEC §2: a 200 KiB message both ways, header 02 00 03 20 00")
    func largeMessage() {
        let inbound = FramingHarness.encode(mode: .length, limit: nil, [message(.binary, Self.large)])
        #expect(inbound.stdin.prefix(5) == [0x02, 0x00, 0x03, 0x20, 0x00])
        #expect(inbound.stdin.count == 204_805)
        #expect(inbound.stdin.dropFirst(5).elementsEqual(Self.large))
        let run = FramingHarness.expectSameForEverySplit(mode: .length, limit: 204_800, inbound.stdin)
        #expect(run.error == nil)
        #expect(run.messages == [ReceivedMessage(.binary, Self.large)])

        let text = [UInt8](repeating: 0x61, count: 204_800)
        let textRecord = FramingHarness.encode(mode: .length, limit: nil, [message(.text, text)]).stdin
        #expect(textRecord.prefix(5) == [0x01, 0x00, 0x03, 0x20, 0x00])
        #expect(FramingHarness.run(mode: .length, limit: nil, chunks: [textRecord]).messages == [ReceivedMessage(.text, text)])
    }

    @Test("SPEC §2: a fragmented message is written whole when its last fragment arrives")
    func inboundFragmented() throws {
        var framing = Framing(mode: .length, maxMessageBytes: 16)
        var stdin = ByteBuffer()
        let pieces = fragments(.text, [Array("hel".utf8), [], Array("lo".utf8)])
        try framing.encodeInbound(pieces[0], into: &stdin)
        try framing.encodeInbound(pieces[1], into: &stdin)
        #expect(stdin.isEmpty)
        try framing.encodeInbound(pieces[2], into: &stdin)
        #expect(Array(stdin.readableBytes) == Self.hello)
        for piece in fragments(.binary, [[0x00], [0xFF], [0x0A]]) { try framing.encodeInbound(piece, into: &stdin) }
        #expect(Array(stdin.readableBytes) == Self.hello + Self.binary)
    }

    @Test("SPEC §1 --maxframesize: an inbound message over the limit closes with 1009")
    func inboundLimit() {
        let exact = FramingHarness.encode(mode: .length, limit: 5, fragments(.binary, [[1, 2], [3, 4, 5]]))
        #expect(exact.error == nil)
        #expect(exact.stdin == [0x02, 0, 0, 0, 5, 1, 2, 3, 4, 5])
        let whole = FramingHarness.encode(mode: .length, limit: 5, [message(.binary, [1, 2, 3, 4, 5, 6])])
        #expect(whole.error == .messageTooBig(limit: 5))
        #expect(whole.error?.closeCode.rawValue == 1009)
        #expect(whole.stdin.isEmpty)
        let fragmented = FramingHarness.encode(mode: .length, limit: 5, fragments(.text, [[0x61, 0x62], [0x63, 0x64], [0x65, 0x66], [0x67]]))
        #expect(fragmented.error == .messageTooBig(limit: 5))
        #expect(fragmented.stdin.isEmpty)
    }

    @Test("SPEC §2: cat echoes every message exactly, type and boundaries included")
    func roundTrip() {
        let messages: [[MessageFragment]] = [
            [message("hello")], fragments(.binary, [[0], [], [1, 2]]), [message("")],
            fragments(.text, [Array("é".utf8.prefix(1)), Array("é\n".utf8.dropFirst())]), [message(.binary, [])],
        ]
        let stdin = FramingHarness.encode(mode: .length, limit: 64, messages.flatMap { $0 })
        #expect(stdin.error == nil)
        let run = FramingHarness.expectSameForEverySplit(mode: .length, limit: 64, stdin.stdin)
        #expect(run.error == nil)
        #expect(run.messages == [
            ReceivedMessage(.text, "hello"), ReceivedMessage(.binary, [0, 1, 2]), ReceivedMessage(.text, ""),
            ReceivedMessage(.text, "é\n"), ReceivedMessage(.binary, []),
        ])
    }

    @Test("SPEC §2: an unknown opcode from the child closes with 1011 once its header is read",
          arguments: [0x00, 0x03, 0x08, 0x09, 0x0A, 0x0F, 0x81, 0xFF] as [UInt8])
    func unknownOpcode(_ opcode: UInt8) {
        let header: [UInt8] = [opcode, 0, 0, 0, 1]
        let run = FramingHarness.expectSameForEverySplit(mode: .length, limit: 64, Self.hello + header)
        #expect(run.messages == [ReceivedMessage(.text, "hello")])
        #expect(run.error?.closeCode.rawValue == 1011)
        if case .internalError? = run.error {} else { Issue.record("expected internalError, got \(String(describing: run.error))") }
        let headerOnly = FramingHarness.run(mode: .length, limit: 64, chunks: [header], finish: false)
        #expect(headerOnly.error?.closeCode == .internalError)
    }

    @Test("SPEC §2: a record over --maxframesize closes with 1011 as soon as its header is read")
    func recordLimit() {
        let exact = FramingHarness.run(mode: .length, limit: 10, chunks: [[0x02, 0, 0, 0, 10] + Array(0..<10)])
        #expect(exact.error == nil)
        #expect(exact.messages == [ReceivedMessage(.binary, Array(0..<10))])
        let headerOnly = FramingHarness.run(mode: .length, limit: 10, chunks: [[0x02, 0, 0, 0, 11]], finish: false)
        #expect(headerOnly.error?.closeCode.rawValue == 1011)
        let huge = FramingHarness.run(mode: .length, limit: 1_048_576, chunks: [[0x01, 0xFF, 0xFF, 0xFF, 0xFF]], finish: false)
        #expect(huge.error?.closeCode == .internalError)
        let run = FramingHarness.expectSameForEverySplit(mode: .length, limit: 10, Self.binary + [0x01, 0, 0, 0, 11] + Array(repeating: 0x61, count: 11))
        #expect(run.messages == [ReceivedMessage(.binary, [0x00, 0xFF, 0x0A])])
        #expect(run.error?.closeCode == .internalError)
    }

    @Test("SPEC §2, RFC 6455 §8.1: invalid UTF-8 in a text record closes with 1011; in binary it is fine")
    func invalidUTF8Text() {
        let bad: [UInt8] = [0x01, 0, 0, 0, 3, 0x61, 0xC0, 0xAF]
        let run = FramingHarness.expectSameForEverySplit(mode: .length, limit: 64, Self.emptyText + bad + Self.hello)
        #expect(run.messages == [ReceivedMessage(.text, [])])
        #expect(run.error?.closeCode.rawValue == 1011)
        let truncated = FramingHarness.run(mode: .length, limit: 64, chunks: [[0x01, 0, 0, 0, 2, 0x61, 0xE2]])
        #expect(truncated.error?.closeCode == .internalError)
        let binary = FramingHarness.run(mode: .length, limit: 64, chunks: [[0x02, 0, 0, 0, 3, 0x61, 0xC0, 0xAF]])
        #expect(binary.error == nil)
        #expect(binary.messages == [ReceivedMessage(.binary, [0x61, 0xC0, 0xAF])])
    }

    @Test("SPEC §2: stdout ending inside a record closes with 1011; ending between records is clean")
    func truncatedAtEOF() {
        for cut in [1, 4, 5, 7] {
            let run = FramingHarness.run(mode: .length, limit: 64, chunks: [Self.binary + Array(Self.hello.prefix(cut))])
            #expect(run.messages == [ReceivedMessage(.binary, [0x00, 0xFF, 0x0A])], "cut at \(cut)")
            #expect(run.error?.closeCode.rawValue == 1011, "cut at \(cut)")
        }
        let clean = FramingHarness.run(mode: .length, limit: 64, chunks: [Self.binary])
        #expect(clean.error == nil)
        #expect(FramingHarness.run(mode: .length, limit: 64, chunks: []).messages.isEmpty)
    }

    @Test("an error is sticky: asking again gives the same error")
    func stickyError() {
        var framing = Framing(mode: .length, maxMessageBytes: 64)
        [0x07, 0, 0, 0, 0].withUnsafeBytes { framing.appendStdout($0) }
        var errors: [WebSocketError] = []
        for _ in 0..<2 {
            do throws(WebSocketError) { _ = try framing.nextOutbound() } catch { errors.append(error) }
        }
        #expect(errors.count == 2)
        #expect(errors.first == errors.last)
    }
}
