import Testing
import TestSupport
import WSProtocol
@testable import WSDeflate

/// The examples of RFC 7692 §7.2.3, inflated whole, byte by byte and split at every index.
@Suite("Deflate: RFC 7692 examples")
struct DeflateRFC7692ExampleTests {
    static let hello = Array("Hello".utf8)

    /// An example payload and what it names.
    struct Example: CustomTestStringConvertible, Sendable {
        var name: String
        var payload: [UInt8]
        var testDescription: String { name }
    }

    static let examples: [Example] = [
        Example(name: "§7.2.3.1 one compressed block", payload: [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
        Example(name: "§7.2.3.3 a stored block", payload: [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]),
        Example(name: "§7.2.3.4 BFINAL set", payload: [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]),
        Example(name: "§7.2.3.5 two blocks",
                payload: [0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00]),
        // A sender that ends with the BFINAL block, without the empty stored block after it.
        Example(name: "BFINAL block alone", payload: [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
    ]

    @Test("RFC 7692 §7.2.3: each example inflates to \"Hello\", however it is split", arguments: examples)
    func examplesInflate(example: Example) throws {
        for window in [8, 15] {
            for takeover in [true, false] {
                let inflater = MessageInflater(windowBits: window, resetsAfterEachMessage: !takeover, maxMessageBytes: 5)
                let payload = example.payload[...]
                #expect(try DeflateTestSupport.inflate(inflater, [payload], kind: .text, maxBytes: { 100 }) == Self.hello)
                #expect(try DeflateTestSupport.inflate(inflater, payload.indices.map { payload[$0...$0] }, kind: .text,
                                                       maxBytes: { 1 }) == Self.hello)
                for cut in 0...payload.count {
                    let pieces = [payload[..<cut], payload[cut...]]
                    #expect(try DeflateTestSupport.inflate(inflater, pieces, kind: .text, maxBytes: { 2 }) == Self.hello)
                }
            }
        }
    }

    @Test("RFC 7692 §7.2.3: one byte over the limit is refused", arguments: examples)
    func examplesOverLimit(example: Example) {
        let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: true, maxMessageBytes: 4)
        #expect(throws: WebSocketError.messageTooBig(limit: 4)) { try DeflateTestSupport.inflate(inflater, example.payload) }
    }

    @Test("RFC 7692 §7.2.3.1: fragmented \"Hello\" (f2 48 cd + c9 c9 07 00)")
    func fragmentedHello() throws {
        let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: false, maxMessageBytes: nil)
        let pieces: [ArraySlice<UInt8>] = [[0xf2, 0x48, 0xcd], [0xc9, 0xc9, 0x07, 0x00]]
        #expect(try DeflateTestSupport.inflate(inflater, pieces, kind: .text, maxBytes: { 1000 }) == Self.hello)
    }

    @Test("RFC 7692 §7.2.3.2: \"Hello\" again with context takeover is f2 00 11 00 00")
    func sharedWindow() throws {
        let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: false, maxMessageBytes: nil)
        #expect(try DeflateTestSupport.inflate(inflater, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]) == Self.hello)
        #expect(try DeflateTestSupport.inflate(inflater, [0xf2, 0x00, 0x11, 0x00, 0x00]) == Self.hello)
        #expect(try DeflateTestSupport.inflate(inflater, [0xf2, 0x00, 0x11, 0x00, 0x00]) == Self.hello)
    }

    @Test("RFC 7692 §7.2.2: without context takeover a back-reference to the last message is corrupt")
    func noSharedWindow() throws {
        let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: true, maxMessageBytes: nil)
        #expect(try DeflateTestSupport.inflate(inflater, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]) == Self.hello)
        #expect(throws: WebSocketError.self) { try DeflateTestSupport.inflate(inflater, [0xf2, 0x00, 0x11, 0x00, 0x00]) }
    }

    @Test("RFC 7692 §7.2.2: the window survives a BFINAL block; the next message may refer back to it")
    func windowAfterFinalBlock() throws {
        let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: false, maxMessageBytes: nil)
        #expect(try DeflateTestSupport.inflate(inflater, [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]) == Self.hello)
        #expect(try DeflateTestSupport.inflate(inflater, [0xf2, 0x00, 0x11, 0x00, 0x00]) == Self.hello)
    }

    @Test("A BFINAL block ending one piece, then an empty last piece, is the message's end")
    func finalBlockThenEmptyPiece() throws {
        let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: false, maxMessageBytes: nil)
        let pieces: [ArraySlice<UInt8>] = [[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], []]
        #expect(try DeflateTestSupport.inflate(inflater, pieces, maxBytes: { 3 }) == Self.hello)
        #expect(try DeflateTestSupport.inflate(inflater, [0xf2, 0x00, 0x11, 0x00, 0x00]) == Self.hello)
    }

    @Test("Empty messages: an empty payload and a lone 00 both inflate to nothing, with one empty last fragment")
    func emptyMessages() throws {
        for takeover in [true, false] {
            let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: !takeover, maxMessageBytes: 0)
            #expect(try DeflateTestSupport.inflate(inflater, [], kind: .text) == [])
            #expect(try DeflateTestSupport.inflate(inflater, [0x00], kind: .text) == [])
            #expect(try DeflateTestSupport.inflate(inflater, MessageDeflater(windowBits: 15, memoryLevel: 8, resetsAfterEachMessage: true)
                                                    .compress([]).map { $0 }, kind: .text) == [])
        }
    }

    @Test("RFC 7692 §7.2.3.1-2: our deflater sends \"Hello\" as f2 48 cd c9 c9 07 00, then f2 00 11 00 00 with context takeover")
    func deflaterMatchesExamples() {
        let first: [UInt8] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        let keeping = MessageDeflater(windowBits: 15, memoryLevel: 8, resetsAfterEachMessage: false)
        #expect(Array(keeping.compress(Self.hello[...])) == first)
        #expect(Array(keeping.compress(Self.hello[...])) == [0xf2, 0x00, 0x11, 0x00, 0x00])
        let resetting = MessageDeflater(windowBits: 15, memoryLevel: 8, resetsAfterEachMessage: true)
        #expect(Array(resetting.compress(Self.hello[...])) == first)
        #expect(Array(resetting.compress(Self.hello[...])) == first)
        resetting.releaseIdleMemory()
        #expect(Array(resetting.compress(Self.hello[...])) == first)
    }

    @Test("Truncated compressed data (f2 48) ends inside a block: 1007")
    func truncated() {
        let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: false, maxMessageBytes: nil)
        #expect {
            try DeflateTestSupport.inflate(inflater, [0xf2, 0x48])
        } throws: { error in
            (error as? WebSocketError)?.closeCode == .invalidFramePayloadData
        }
        // Back between messages, with an empty window.
        #expect(!inflater.hasPendingOutput)
        #expect((try? DeflateTestSupport.inflate(inflater, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00])) == Self.hello)
    }
}
