import Testing
@testable import WSProtocol
@testable import WSBridging

@Suite("LineFraming")
struct LineFramingTests {
    /// A stdout stream and the text messages it must give (SPEC.md §2, line framing).
    struct LineCase: CustomStringConvertible, Sendable {
        var name: String
        var stdout: [UInt8]
        var messages: [[UInt8]]
        var description: String { name }
    }

    static let lineCases: [LineCase] = [
        LineCase(name: "two lines", stdout: Array("hello\nworld\n".utf8), messages: [Array("hello".utf8), Array("world".utf8)]),
        LineCase(name: "\"\\r\\n\" removed", stdout: Array("a\r\nb\n".utf8), messages: [[0x61], [0x62]]),
        LineCase(name: "only one \"\\r\" removed", stdout: Array("a\r\r\n".utf8), messages: [[0x61, 0x0D]]),
        LineCase(name: "a lone \"\\r\" neither splits nor is removed", stdout: Array("a\rb\n".utf8), messages: [[0x61, 0x0D, 0x62]]),
        LineCase(name: "empty lines give empty messages", stdout: Array("\n\r\n\n".utf8), messages: [[], [], []]),
        LineCase(name: "text after the last newline is sent at EOF", stdout: Array("one\ntwo".utf8), messages: [Array("one".utf8), Array("two".utf8)]),
        LineCase(name: "a final \"\\r\" without \"\\n\" stays", stdout: Array("abc\r".utf8), messages: [Array("abc\r".utf8)]),
        LineCase(name: "no empty message after a final newline", stdout: Array("abc\n".utf8), messages: [Array("abc".utf8)]),
        LineCase(name: "U+0000 and U+FFFE pass through", stdout: [0x00, 0xEF, 0xBF, 0xBE, 0x0A], messages: [[0x00, 0xEF, 0xBF, 0xBE]]),
        LineCase(name: "NEL, U+2028 and VT do not split", stdout: [0xC2, 0x85, 0xE2, 0x80, 0xA8, 0x0B, 0x0C, 0x0A], messages: [[0xC2, 0x85, 0xE2, 0x80, 0xA8, 0x0B, 0x0C]]),
        LineCase(name: "multi-byte characters split across reads", stdout: Array("héllo wörld 🎉\n".utf8), messages: [Array("héllo wörld 🎉".utf8)]),
        LineCase(name: "nothing at all", stdout: [], messages: []),
    ]

    @Test("SPEC §2: stdout lines become text messages", arguments: lineCases)
    func lines(_ testCase: LineCase) {
        let run = FramingHarness.expectSameForEverySplit(mode: .line, limit: 1024, testCase.stdout)
        #expect(run.error == nil)
        #expect(run.messages == testCase.messages.map { ReceivedMessage(.text, $0) })
    }

    /// Invalid bytes and the WHATWG decoder's output, one U+FFFD per maximal subpart (Unicode §3.9).
    struct RepairCase: CustomStringConvertible, Sendable {
        var name: String
        var line: [UInt8]
        var expected: String
        var description: String { name }
    }

    static let repairCases: [RepairCase] = [
        RepairCase(name: "Unicode Table 3-11 example", line: [0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64],
                   expected: "a\u{FFFD}\u{FFFD}\u{FFFD}b\u{FFFD}c\u{FFFD}\u{FFFD}d"),
        RepairCase(name: "overlong two-byte form", line: [0xC0, 0xAF], expected: "\u{FFFD}\u{FFFD}"),
        RepairCase(name: "overlong three-byte form", line: [0xE0, 0x80, 0xAF], expected: "\u{FFFD}\u{FFFD}\u{FFFD}"),
        RepairCase(name: "UTF-16 surrogate", line: [0xED, 0xA0, 0x80], expected: "\u{FFFD}\u{FFFD}\u{FFFD}"),
        RepairCase(name: "above U+10FFFF", line: [0xF4, 0x90, 0x80, 0x80], expected: "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
        RepairCase(name: "truncated four-byte character at end of line", line: [0x61, 0xF0, 0x9F, 0x98], expected: "a\u{FFFD}"),
        RepairCase(name: "truncated character before ASCII", line: [0xE2, 0x82, 0x41], expected: "\u{FFFD}A"),
        RepairCase(name: "bytes that never appear", line: [0xFF, 0xFE, 0xF5, 0x80], expected: "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
        RepairCase(name: "lone continuation byte", line: [0x80], expected: "\u{FFFD}"),
        RepairCase(name: "Latin-1 text", line: [0x63, 0x61, 0x66, 0xE9, 0x20, 0x6F, 0x6B], expected: "caf\u{FFFD} ok"),
    ]

    @Test("SPEC §2, RFC 6455 §8.1: invalid UTF-8 becomes U+FFFD per maximal subpart", arguments: repairCases)
    func repairsInvalidUTF8(_ testCase: RepairCase) {
        let run = FramingHarness.expectSameForEverySplit(mode: .line, limit: 1024, testCase.line + [0x0A])
        #expect(run.error == nil)
        #expect(run.messages == [ReceivedMessage(.text, testCase.expected)])
        #expect(testCase.expected == String(decoding: testCase.line, as: UTF8.self))
    }

    @Test("SPEC §2: replacements are counted so the first one can be logged")
    func countsReplacements() throws {
        var framing = Framing(mode: .line, maxMessageBytes: nil)
        Array("fine\n".utf8).withUnsafeBytes { framing.appendStdout($0) }
        _ = try framing.nextOutbound()
        #expect(framing.replacedInvalidUTF8Count == 0)
        [0xC0, 0xAF, 0x0A, 0xFF, 0x0A].withUnsafeBytes { framing.appendStdout($0) }
        _ = try framing.nextOutbound()
        #expect(framing.replacedInvalidUTF8Count == 2)
        _ = try framing.nextOutbound()
        #expect(framing.replacedInvalidUTF8Count == 3)
        #expect(Framing(mode: .raw, maxMessageBytes: nil).replacedInvalidUTF8Count == 0)
    }

    @Test("valid lines are slices of the stdout buffer, not copies")
    func validLinesAreNotCopied() throws {
        var framing = Framing(mode: .line, maxMessageBytes: nil)
        Array("one\ntwo\n".utf8).withUnsafeBytes { framing.appendStdout($0) }
        let first = try #require(try framing.nextOutbound())
        let second = try #require(try framing.nextOutbound())
        func storageAddress(_ slice: ArraySlice<UInt8>) -> Int {
            slice.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) - slice.startIndex }
        }
        #expect(first.payload.startIndex == 0)
        #expect(second.payload.startIndex == 4)
        #expect(storageAddress(first.payload) == storageAddress(second.payload))
        #expect(Array(second.payload) == Array("two".utf8))
    }

    /// A stdout stream with a limit of 4 bytes and what it must give.
    struct LimitCase: CustomStringConvertible, Sendable {
        var stdout: String
        var messages: [String]
        var isTooBig: Bool
        var description: String { stdout.debugDescription }
    }

    static let limitCases: [LimitCase] = [
        LimitCase(stdout: "abcd\n", messages: ["abcd"], isTooBig: false),
        LimitCase(stdout: "abcd\r\n", messages: ["abcd"], isTooBig: false),
        LimitCase(stdout: "abcd", messages: ["abcd"], isTooBig: false),
        LimitCase(stdout: "abcde\n", messages: [], isTooBig: true),
        LimitCase(stdout: "abcde", messages: [], isTooBig: true),
        LimitCase(stdout: "abcd\rx\n", messages: [], isTooBig: true),
        LimitCase(stdout: "abcd\r", messages: [], isTooBig: true),
        LimitCase(stdout: "ab\n\nabcdefgh\nok\n", messages: ["ab", ""], isTooBig: true),
    ]

    @Test("SPEC §2: a line over --maxframesize closes with 1009, after the lines before it", arguments: limitCases)
    func lineLimit(_ testCase: LimitCase) {
        let run = FramingHarness.expectSameForEverySplit(mode: .line, limit: 4, Array(testCase.stdout.utf8))
        #expect(run.messages == testCase.messages.map { ReceivedMessage(.text, $0) })
        if testCase.isTooBig {
            #expect(run.error == .messageTooBig(limit: 4))
            #expect(run.error?.closeCode.rawValue == 1009)
        } else {
            #expect(run.error == nil)
        }
    }

    @Test("the line limit counts the child's bytes, not the repaired message's")
    func limitCountsStdoutBytes() {
        let run = FramingHarness.expectSameForEverySplit(mode: .line, limit: 2, [0xFF, 0xC0, 0x0A, 0xFF, 0xFF, 0xFF, 0x0A])
        #expect(run.messages == [ReceivedMessage(.text, "\u{FFFD}\u{FFFD}")])
        #expect(run.error == .messageTooBig(limit: 2))
    }

    @Test("SPEC §2: a line without newline fails as soon as the limit is passed; memory stays bounded")
    func longLineFailsEarly() {
        var framing = Framing(mode: .line, maxMessageBytes: 100)
        var fed = 0
        var failure: WebSocketError?
        while fed < 10_000 && failure == nil {
            let added = framing.readStdout(minimumWritable: 1) { space in
                space[0] = 0x78
                return 1
            }
            #expect(added == 1)
            fed += 1
            do { _ = try framing.nextOutbound() } catch { failure = error }
        }
        #expect(failure == .messageTooBig(limit: 100))
        #expect(fed == 101)
        #expect(framing.bufferedStdoutCount == 101)
    }

    @Test("a failed read adds nothing and its result is handed back")
    func failedRead() throws {
        var framing = Framing(mode: .line, maxMessageBytes: nil)
        let result = framing.readStdout(minimumWritable: 16) { _ in -1 }
        #expect(result == -1)
        #expect(framing.bufferedStdoutCount == 0)
        #expect(try framing.nextOutbound() == nil)
        #expect(try framing.finishOutbound() == nil)
    }

    @Test("already-searched bytes are not searched again when more stdout arrives")
    func searchResumes() throws {
        var codec = LineFraming(maxLineBytes: nil)
        Array("abc".utf8).withUnsafeBytes { codec.appendStdout($0) }
        #expect(try codec.nextOutbound() == nil)
        #expect(codec.scannedCount == 3)
        Array("de".utf8).withUnsafeBytes { codec.appendStdout($0) }
        #expect(try codec.nextOutbound() == nil)
        #expect(codec.scannedCount == 5)
        Array("\nfg".utf8).withUnsafeBytes { codec.appendStdout($0) }
        #expect(try codec.nextOutbound() == OutboundMessage(opcode: .text, payload: Array("abcde".utf8)[...]))
        #expect(codec.scannedCount == 0)
        #expect(try codec.nextOutbound() == nil)
        #expect(codec.scannedCount == 2)
    }

    @Test("a long flood of lines keeps the stdout buffer small")
    func floodStaysSmall() throws {
        var framing = Framing(mode: .line, maxMessageBytes: 1024)
        let line = Array(repeating: UInt8(ascii: "z"), count: 49) + [0x0A]
        let stream = (0..<20_000).flatMap { _ in line }
        var offset = 0
        var count = 0
        while offset < stream.count {
            let read = framing.readStdout(minimumWritable: 4096) { space in
                let size = min(space.count, 4096, stream.count - offset)
                stream.withUnsafeBytes { space.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + size)])) }
                return size
            }
            offset += read
            while let message = try framing.nextOutbound() {
                #expect(message.payload.count == 49)
                count += 1
            }
            #expect(framing.bufferedStdoutCount < 50)
        }
        #expect(count == 20_000)
        #expect(framing.stdoutCapacity <= 16_384)
    }

    @Test("SPEC §2: an inbound text message is written to stdin followed by \"\\n\"")
    func inboundText() {
        #expect(FramingHarness.encode(mode: .line, limit: nil, [message("hi")]).stdin == Array("hi\n".utf8))
        #expect(FramingHarness.encode(mode: .line, limit: nil, [message("")]).stdin == [0x0A])
        #expect(FramingHarness.encode(mode: .line, limit: nil, [message("a\nb")]).stdin == Array("a\nb\n".utf8))
        #expect(FramingHarness.encode(mode: .line, limit: nil, [message("x"), message("y")]).stdin == Array("x\ny\n".utf8))
    }

    @Test("SPEC §2: a fragmented message is written with \"\\n\" when its last fragment arrives, in one piece (websocketd TestEDGE008)")
    func inboundFragments() throws {
        var framing = Framing(mode: .line, maxMessageBytes: 4)
        var stdin = ByteBuffer()
        let pieces = fragments(.text, [Array("he".utf8), Array("llo wo".utf8), Array("rld".utf8)])
        try framing.encodeInbound(pieces[0], into: &stdin)
        try framing.encodeInbound(pieces[1], into: &stdin)
        #expect(stdin.isEmpty)
        try framing.encodeInbound(pieces[2], into: &stdin)
        #expect(Array(stdin.readableBytes) == Array("hello world\n".utf8))
    }

    @Test("SPEC §2, RFC 6455 §7.4.1: a binary message in line framing closes with 1003")
    func inboundBinaryRefused() {
        let result = FramingHarness.encode(mode: .line, limit: nil, [message(.binary, [1, 2, 3])])
        #expect(result.stdin.isEmpty)
        #expect(result.error?.closeCode.rawValue == 1003)
        if case .unsupportedData? = result.error {} else { Issue.record("expected unsupportedData, got \(String(describing: result.error))") }
        let fragmented = FramingHarness.encode(mode: .line, limit: nil, fragments(.binary, [[1], [2]]))
        #expect(fragmented.stdin.isEmpty)
        #expect(fragmented.error?.closeCode == .unsupportedData)
    }
}
