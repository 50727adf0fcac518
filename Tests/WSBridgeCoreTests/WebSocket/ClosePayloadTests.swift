import Testing
@testable import WSProtocol

@Suite("ClosePayload")
struct ClosePayloadTests {
    /// A close payload: the code in network byte order, then the reason bytes.
    static func payload(_ code: UInt16, _ reason: [UInt8] = []) -> ArraySlice<UInt8> {
        ([UInt8(code >> 8), UInt8(code & 0xFF)] + reason)[...]
    }

    @Test("RFC 6455 §7.1.5: an empty payload has no code and no reason (Autobahn 7.3.1)")
    func empty() throws {
        let parsed = try ClosePayload.parse([])
        #expect(parsed.code == nil)
        #expect(parsed.reason == "")
    }

    @Test("RFC 6455 §5.5.1: a 1-byte payload is 1002 (Autobahn 7.3.2)")
    func oneByte() {
        #expect(throws: WebSocketError.protocolError("close frame with a 1-byte payload")) { try ClosePayload.parse([0x03]) }
    }

    @Test("RFC 6455 §5.5.1: a code alone, a code and a reason, a 123-byte reason (Autobahn 7.3.3-7.3.5)")
    func codeAndReason() throws {
        let codeOnly = try ClosePayload.parse(Self.payload(1000))
        #expect(codeOnly.code == .normalClosure && codeOnly.reason == "")
        let withReason = try ClosePayload.parse(Self.payload(1001, Array("Hello World!".utf8)))
        #expect(withReason.code == .goingAway && withReason.reason == "Hello World!")
        let longest = String(repeating: "*", count: 123)
        #expect(try ClosePayload.parse(Self.payload(1000, Array(longest.utf8))).reason == longest)
    }

    @Test("RFC 6455 §5.5: a payload over 125 bytes is 1002 (Autobahn 7.3.6)")
    func tooLong() {
        #expect(throws: WebSocketError.protocolError("close frame payload over 125 bytes")) {
            try ClosePayload.parse(Self.payload(1000, [UInt8](repeating: 0x2A, count: 124)))
        }
    }

    @Test("RFC 6455 §7.4: codes valid on the wire are accepted (Autobahn 7.7.x)", arguments: [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999,
    ] as [UInt16])
    func validCodes(code: UInt16) throws {
        #expect(try ClosePayload.parse(Self.payload(code)).code == CloseCode(code))
    }

    @Test("RFC 6455 §7.4.1-§7.4.2: reserved, unassigned and never-sent codes are 1002 (Autobahn 7.9.x)", arguments: [
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] as [UInt16])
    func invalidCodes(code: UInt16) {
        let error = WebSocketError.protocolError("invalid close code \(code)")
        #expect(throws: error) { try ClosePayload.parse(Self.payload(code)) }
        #expect(closeFrameBytes(failingWith: error).prefix(4) == [0x88, UInt8(2 + error.reason.utf8.count), 0x03, 0xEA])
    }

    @Test("RFC 6455 §8.1: a reason that is not UTF-8 is 1007 (Autobahn 7.5.1)")
    func invalidReason() {
        // Autobahn 7.5.1: "κόσμε" + ed a0 80 (a surrogate) + "edited".
        let reason = hex("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64")
        #expect(throws: WebSocketError.invalidUTF8) { try ClosePayload.parse(Self.payload(1000, reason)) }
        #expect(throws: WebSocketError.invalidUTF8) { try ClosePayload.parse(Self.payload(1000, [0x41, 0xE2, 0x82])) }
        #expect(closeFrameBytes(failingWith: .invalidUTF8).prefix(4).dropFirst(2) == [0x03, 0xEF])
    }

    @Test("an invalid code is reported before an invalid reason")
    func codeBeforeReason() {
        #expect(throws: WebSocketError.protocolError("invalid close code 1005")) { try ClosePayload.parse(Self.payload(1005, [0xFF])) }
    }

    @Test("a payload sliced out of a larger buffer parses by its own indices")
    func sliceIndices() throws {
        let buffer: [UInt8] = [0x99, 0x99, 0x0F, 0xA1, 0x65, 0x78, 0x69, 0x74, 0x20, 0x31, 0x99]
        let parsed = try ClosePayload.parse(buffer[2..<10])
        #expect(parsed.code == CloseCode(4001))
        #expect(parsed.reason == "exit 1")
    }
}
