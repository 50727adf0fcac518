import Testing
@testable import WSProtocol

@Suite("MessageAssembler")
struct MessageAssemblerTests {
    /// Feeds `frames` in order; returns the fragments and the error that stopped the message, if any.
    static func assemble(_ frames: [Frame], maxMessageBytes: Int? = nil) -> (fragments: [MessageFragment], error: WebSocketError?) {
        var assembler = MessageAssembler(maxMessageBytes: maxMessageBytes)
        var fragments: [MessageFragment] = []
        for frame in frames {
            do throws(WebSocketError) {
                fragments.append(try assembler.receive(frame))
            } catch {
                #expect(!assembler.isInsideMessage, "back between messages after an error")
                return (fragments, error)
            }
        }
        return (fragments, nil)
    }

    static func text(_ bytes: [UInt8], final: Bool = true) -> Frame { Frame(isFinal: final, opcode: .text, payload: bytes) }
    static func binary(_ bytes: [UInt8], final: Bool = true) -> Frame { Frame(isFinal: final, opcode: .binary, payload: bytes) }
    static func more(_ bytes: [UInt8], final: Bool = true) -> Frame { Frame(isFinal: final, opcode: .continuation, payload: bytes) }

    @Test("an unfragmented message is one fragment, first and last")
    func single() {
        let result = Self.assemble([Self.text(Array("Hello".utf8)), Self.binary([0, 0xFF])])
        #expect(result.error == nil)
        #expect(result.fragments == [
            MessageFragment(kind: .text, payload: Array("Hello".utf8)[...], isFirst: true, isLast: true),
            MessageFragment(kind: .binary, payload: [0, 0xFF], isFirst: true, isLast: true),
        ])
    }

    @Test("RFC 6455 §5.7: \"Hel\" + \"lo\" are two fragments of one text message")
    func fragmentedText() throws {
        var assembler = MessageAssembler(maxMessageBytes: nil)
        #expect(!assembler.isInsideMessage)
        #expect(try assembler.receive(Self.text(Array("Hel".utf8), final: false))
            == MessageFragment(kind: .text, payload: Array("Hel".utf8)[...], isFirst: true, isLast: false))
        #expect(assembler.isInsideMessage)
        #expect(try assembler.receive(Self.more(Array("lo".utf8)))
            == MessageFragment(kind: .text, payload: Array("lo".utf8)[...], isFirst: false, isLast: true))
        #expect(!assembler.isInsideMessage)
    }

    @Test("binary fragments keep their kind, empty ones included")
    func fragmentedBinary() {
        let result = Self.assemble([Self.binary([1], final: false), Self.more([], final: false), Self.more([2, 3])])
        #expect(result.error == nil)
        #expect(result.fragments.map(\.kind) == [.binary, .binary, .binary])
        #expect(result.fragments.map(\.isFirst) == [true, false, false])
        #expect(result.fragments.map(\.isLast) == [false, false, true])
    }

    @Test("RFC 6455 §5.4: a continuation frame with no message in progress is 1002 (Autobahn 5.9-5.12)")
    func orphanContinuation() {
        let result = Self.assemble([Self.more(Array("fragment".utf8))])
        #expect(result.error == .protocolError("continuation frame without a message in progress"))
        let wire = closeFrameBytes(failingWith: result.error!)
        #expect(wire.prefix(4) == [0x88, UInt8(2 + result.error!.reason.utf8.count), 0x03, 0xEA])
        let afterMessage = Self.assemble([Self.text([0x41]), Self.more([0x42])])
        #expect(afterMessage.fragments.count == 1)
        #expect(afterMessage.error?.closeCode == .protocolError)
    }

    @Test("RFC 6455 §5.4: a new message inside a fragmented one is 1002 (Autobahn 5.17-5.20)", arguments: [Opcode.text, .binary])
    func interleavedMessages(opcode: Opcode) {
        let result = Self.assemble([Self.text([0x41], final: false), Frame(opcode: opcode, payload: [0x42])])
        #expect(result.fragments.count == 1)
        #expect(result.error == .protocolError("new message inside a fragmented message"))
    }

    @Test("RFC 7692 §6.1: RSV1 on a continuation frame is 1002")
    func rsv1OnContinuation() {
        let result = Self.assemble([Frame(isFinal: false, reservedBits: 0b100, opcode: .binary, payload: [1]),
                                    Frame(reservedBits: 0b100, opcode: .continuation, payload: [2])])
        #expect(result.fragments.count == 1)
        #expect(result.error?.closeCode == .protocolError)
    }

    @Test("SPEC §1 --maxframesize: the message so far over the limit is 1009, exactly the limit passes")
    func messageLimit() {
        let exact = Self.assemble([Self.binary([UInt8](repeating: 0, count: 6), final: false), Self.more([1, 2, 3, 4])],
                                  maxMessageBytes: 10)
        #expect(exact.error == nil)
        let over = Self.assemble([Self.binary([UInt8](repeating: 0, count: 6), final: false), Self.more([1, 2, 3]),
                                  Self.binary([1, 2, 3, 4, 5], final: false), Self.more([6], final: false), Self.more([7, 8, 9, 10, 11])],
                                 maxMessageBytes: 10)
        #expect(over.fragments.count == 4)
        #expect(over.error == .messageTooBig(limit: 10))
        let single = Self.assemble([Self.text(Array("elevenbytes".utf8))], maxMessageBytes: 10)
        #expect(single.error == .messageTooBig(limit: 10))
        #expect(closeFrameBytes(failingWith: .messageTooBig(limit: 10)).prefix(4).dropFirst(2) == [0x03, 0xF1])
    }

    @Test("RFC 6455 §8.1: a character split across fragments is valid")
    func splitCharacter() {
        // "€" is e2 82 ac; "κόσμε" split inside its second character.
        let euro = Self.assemble([Self.text([0xE2], final: false), Self.more([0x82], final: false), Self.more([0xAC])])
        #expect(euro.error == nil)
        #expect(euro.fragments.count == 3)
        let kosme = hex("ce ba e1 bd b9 cf 83 ce bc ce b5")
        let greek = Self.assemble([Self.text(Array(kosme[..<3]), final: false), Self.more(Array(kosme[3...]))])
        #expect(greek.error == nil)
    }

    @Test("RFC 6455 §8.1: invalid UTF-8 fails at the frame that makes it impossible (Autobahn 6.4.1-6.4.4)")
    func failFast() {
        // Autobahn 6.4.1: "κόσμε" + f4 90 80 80 (above U+10FFFF) + "edited", three fragments.
        let frames = [Self.text(hex("ce ba e1 bd b9 cf 83 ce bc ce b5"), final: false),
                      Self.more(hex("f4 90 80 80"), final: false), Self.more(Array("edited".utf8))]
        let result = Self.assemble(frames)
        #expect(result.fragments.count == 1)
        #expect(result.error == .invalidUTF8)
        #expect(closeFrameBytes(failingWith: .invalidUTF8).prefix(4) == [0x88, UInt8(2 + WebSocketError.invalidUTF8.reason.utf8.count), 0x03, 0xEF])
        // A bad byte in the first, unfinished fragment fails at once.
        #expect(Self.assemble([Self.text([0x41, 0xC0], final: false)]).error == .invalidUTF8)
        // A binary message is never checked.
        #expect(Self.assemble([Self.binary([0xC0, 0xFF])]).error == nil)
    }

    @Test("RFC 6455 §8.1: a text message ending mid-character is 1007")
    func truncatedCharacter() {
        #expect(Self.assemble([Self.text([0x41, 0xE2, 0x82])]).error == .invalidUTF8)
        let fragmented = Self.assemble([Self.text([0xE2], final: false), Self.more([0x82], final: false), Self.more([])])
        #expect(fragmented.fragments.count == 2)
        #expect(fragmented.error == .invalidUTF8)
    }

    @Test("empty text messages and empty final continuations are valid (Autobahn 1.1.1, 6.1.2)")
    func emptyMessages() {
        let result = Self.assemble([Self.text([]), Self.text([], final: false), Self.more([], final: false), Self.more([])])
        #expect(result.error == nil)
        #expect(result.fragments.count == 4)
    }
}
