import Testing
import WSProtocol
@testable import WSBridging

/// SPEC §12: a `--pty` session's input: resize requests taken out in raw framing, the terminal's
/// line limit in line framing, and the ^D that ends the input.
@Suite("Terminal input")
struct TerminalInputTests {
    /// Feeds `payload` as one message of `kind`, cut into fragments at `cuts`; returns the sizes
    /// asked for, and stdin's bytes, or the error.
    static func feed(_ input: inout TerminalInput, _ kind: Opcode, _ payload: [UInt8], cuts: [Int] = []) throws(WebSocketError) -> (sizes: [TerminalSize], stdin: [UInt8]) {
        var codec = Framing(mode: input.framing, maxMessageBytes: 1 << 20)
        var stdin = ByteBuffer()
        var sizes: [TerminalSize] = []
        let bounds = [0] + cuts + [payload.count]
        for index in 0..<(bounds.count - 1) {
            let fragment = MessageFragment(kind: kind, payload: payload[bounds[index]..<bounds[index + 1]],
                                           isFirst: index == 0, isLast: index == bounds.count - 2)
            if let size = try input.take(fragment, codec: &codec, into: &stdin) { sizes.append(size) }
        }
        return (sizes, Array(stdin.readableBytes))
    }

    @Test("SPEC §12: in raw framing a text message resizes, split anywhere, and writes nothing to stdin")
    func resizeAnySplit() throws {
        let text = Array(#" {"cols": 100, "rows": 40} "#.utf8)
        for cut in 0...text.count {
            var input = TerminalInput(framing: .raw)
            let result = try Self.feed(&input, .text, text, cuts: [cut])
            #expect(result.sizes == [TerminalSize(columns: 100, rows: 40)!] && result.stdin.isEmpty, "cut at \(cut)")
            #expect(input.lastByte == nil)
        }
    }

    @Test("SPEC §12: a bad resize request is refused with 1007 and a reason that says what to send")
    func badResize() {
        for text in [#"{"cols":0,"rows":40}"#, "hello", String(repeating: " ", count: 300)] {
            var input = TerminalInput(framing: .raw)
            do {
                _ = try Self.feed(&input, .text, Array(text.utf8), cuts: [1])
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.closeCode == .invalidFramePayloadData)
                #expect(error.reason.contains("cols"), "\(error.reason)")
            }
        }
    }

    @Test("SPEC §12: binary messages are input in raw framing; the last byte decides how many ^D end it")
    func binaryIsInput() throws {
        var input = TerminalInput(framing: .raw)
        #expect(input.endOfInput == [0x04])
        let result = try Self.feed(&input, .binary, Array("ls -l".utf8), cuts: [2])
        #expect(result.stdin == Array("ls -l".utf8) && result.sizes.isEmpty)
        // After a partial line the first ^D only hands the line over; the second is the EOF.
        #expect(input.endOfInput == [0x04, 0x04])
        _ = try Self.feed(&input, .binary, Array("\r".utf8))
        #expect(input.endOfInput == [0x04])
        _ = try Self.feed(&input, .binary, [])
        #expect(input.endOfInput == [0x04])
    }

    @Test("Line framing: lines up to 4095 bytes pass, split anywhere; one byte more is 1009")
    func lineLimit() throws {
        let longest = [UInt8](repeating: UInt8(ascii: "a"), count: TerminalInput.maxLineBytes)
        for cut in [0, 1, 2048, 4094, 4095] {
            var input = TerminalInput(framing: .line)
            let result = try Self.feed(&input, .text, longest + [0x0A] + longest, cuts: [cut])
            #expect(result.stdin == longest + [0x0A] + longest + [0x0A])
            #expect(input.endOfInput == [0x04])
            // Each message starts a line of its own.
            _ = try Self.feed(&input, .text, longest)
        }
        for cut in [0, 1, 4095, 4096] {
            var input = TerminalInput(framing: .line)
            #expect(throws: WebSocketError.inputLineTooLong(limit: 4095)) {
                _ = try Self.feed(&input, .text, Array("ok\r".utf8) + longest + [UInt8(ascii: "b")], cuts: [cut])
            }
        }
        #expect(WebSocketError.inputLineTooLong(limit: 4095).closeCode == .messageTooBig)
    }

    @Test("Line framing: a binary message is still refused with 1003, as without --pty")
    func binaryInLineFraming() {
        var input = TerminalInput(framing: .line)
        #expect(throws: WebSocketError.self) { _ = try Self.feed(&input, .binary, [1, 2, 3]) }
    }

    @Test("The end of input after any last byte is one ^D at a line's start, two elsewhere")
    func endOfInputAfter() {
        #expect(TerminalInput.endOfInput(after: nil) == [4])
        #expect(TerminalInput.endOfInput(after: 0x0A) == [4])
        #expect(TerminalInput.endOfInput(after: 0x0D) == [4])
        #expect(TerminalInput.endOfInput(after: 0x41) == [4, 4])
        #expect(TerminalInput.endOfInput(after: 0x04) == [4, 4])
    }
}
