import Testing
import TestSupport
import WSProtocol
@testable import WSDeflate

/// Our deflater into our inflater, and each against Python's zlib, for seeded payloads.
@Suite("Deflate round trips")
struct DeflateRoundTripTests {
    /// Messages of 0 B to 1 MiB, random (binary) and JSON-like (text).
    static func messages(_ random: inout SplitMix64, includesLarge: Bool) -> [(Opcode, [UInt8])] {
        var result: [(Opcode, [UInt8])] = [(.text, []), (.binary, [0]), (.text, Array("Hello".utf8))]
        for size in [100, 4096, 70_000] {
            result.append((.binary, DeflateTestSupport.randomBytes(size, &random)))
            result.append((.text, DeflateTestSupport.jsonLines(size, &random)))
            result.append((.text, DeflateTestSupport.jsonLines(size, &random)))
        }
        if includesLarge {
            result.append((.text, DeflateTestSupport.jsonLines(1 << 20, &random)))
            result.append((.binary, DeflateTestSupport.randomBytes(1 << 20, &random)))
        }
        return result
    }

    @Test("Every window 9...15, with and without context takeover, split whole, byte by byte and at random",
          arguments: 9...15, [true, false])
    func roundTrip(windowBits: Int, keepsContext: Bool) throws {
        var random = SplitMix64(seed: UInt64(windowBits * 2 + (keepsContext ? 1 : 0)))
        let deflater = MessageDeflater(windowBits: windowBits, memoryLevel: 1 + random.below(9), resetsAfterEachMessage: !keepsContext)
        let inflater = MessageInflater(windowBits: windowBits, resetsAfterEachMessage: !keepsContext, maxMessageBytes: 1 << 20)
        for split in [DeflateTestSupport.Split.whole, .random, .byteByByte] {
            for (kind, message) in Self.messages(&random, includesLarge: split != .byteByByte) {
                let compressed = Array(deflater.compress(message[...]))
                if random.chance(30) { deflater.releaseIdleMemory() }
                let pieces = DeflateTestSupport.pieces(compressed[...], split, &random)
                let inflated = try DeflateTestSupport.inflate(inflater, pieces, kind: kind) {
                    random.chance(50) ? 1 + random.below(64) : 1 + random.below(100_000)
                }
                #expect(inflated == message, "\(split), \(message.count) bytes")
                if random.chance(30) { inflater.releaseIdleMemory() }
            }
        }
    }

    @Test("Python's zlib compresses, we inflate; we compress, Python inflates", arguments: [9, 12, 15], [true, false])
    func crossCheckWithPython(windowBits: Int, keepsContext: Bool) throws {
        var random = SplitMix64(seed: 7 + UInt64(windowBits))
        let messages = Self.messages(&random, includesLarge: windowBits == 15).map(\.1)

        let fromPython = try PythonZlib.compress(messages, windowBits: windowBits, keepsContext: keepsContext)
        try #require(fromPython.count == messages.count)
        let inflater = MessageInflater(windowBits: windowBits, resetsAfterEachMessage: !keepsContext, maxMessageBytes: nil)
        for (compressed, message) in zip(fromPython, messages) {
            let pieces = DeflateTestSupport.pieces(compressed[...], .random, &random)
            #expect(try DeflateTestSupport.inflate(inflater, pieces, maxBytes: { 1 + random.below(70_000) }) == message)
        }

        let deflater = MessageDeflater(windowBits: windowBits, memoryLevel: 8, resetsAfterEachMessage: !keepsContext)
        let ours = messages.map { Array(deflater.compress($0[...])) }
        let inflatedByPython = try PythonZlib.decompress(ours, windowBits: windowBits, keepsContext: keepsContext)
        #expect(inflatedByPython == messages)
    }

    @Test("Window 8: Python cannot compress with it either (zlib), but we inflate what a 256-byte window allows")
    func windowEight() throws {
        // zlib makes a raw 8-bit window request 9 bits, so 8 is checked with data whose matches stay
        // within 256 bytes: short repeats.
        var random = SplitMix64(seed: 88)
        let message = (0..<2000).flatMap { _ in Array("abcabc\(random.below(10))".utf8) }
        let deflater = MessageDeflater(windowBits: 9, memoryLevel: 8, resetsAfterEachMessage: true)
        let inflater = MessageInflater(windowBits: 8, resetsAfterEachMessage: true, maxMessageBytes: nil)
        #expect(try DeflateTestSupport.inflate(inflater, Array(deflater.compress(message[...]))) == message)
    }
}
