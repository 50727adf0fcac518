import Testing
import WSProtocol
@testable import WSDeflate

/// A message that inflates to 1 GiB from 1 MiB (deflate's best ratio is about 1032:1): the limit
/// stops it after one chunk past the limit, and without a limit draining it keeps memory flat.
@Suite("Deflate bomb", .serialized)
struct DeflateBombTests {
    /// 1 GiB of zeros compressed at level 9, built without holding the GiB: with context, every
    /// 1 MiB of zeros after the first compresses to the same bytes (matches at distance 1), so the
    /// message is the first chunk's bytes and then the second's 1023 times.
    static let bomb: [UInt8] = {
        let deflater = MessageDeflater(windowBits: 15, memoryLevel: 8, resetsAfterEachMessage: false, compressionLevel: 9)
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        let first = Array(deflater.compress(zeros[...])) + PerMessageDeflate.messageTail
        let second = Array(deflater.compress(zeros[...])) + PerMessageDeflate.messageTail
        var bomb = first
        for _ in 1..<1024 { bomb += second }
        return Array(bomb.dropLast(4))
    }()

    /// The growth of the resident set while `body` runs, the least of three tries (other tests in
    /// the process may grow it meanwhile; a real leak grows it every time).
    static func residentGrowth(_ body: () throws -> Void) rethrows -> Int {
        var least = Int.max
        for _ in 0..<3 {
            let before = DeflateTestSupport.residentBytes()
            try body()
            least = min(least, DeflateTestSupport.residentBytes() - before)
            if least < 8 << 20 { break }
        }
        return least
    }

    @Test("With a 1 MiB limit the bomb fails with 1009 having inflated at most the limit, and RSS grows by less than 8 MiB")
    func limitStopsBomb() throws {
        #expect(Self.bomb.count < 1_100_000)
        let limit = 1 << 20
        var delivered = 0
        let growth = Self.residentGrowth {
            delivered = 0
            let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: false, maxMessageBytes: limit)
            #expect(throws: WebSocketError.messageTooBig(limit: limit)) {
                // Fed as 16 KiB frames, drained in 64 KiB fragments, as a connection would.
                var offset = 0
                while offset < Self.bomb.count {
                    let end = min(offset + 16384, Self.bomb.count)
                    inflater.feed(Self.bomb[offset..<end], kind: .binary, isFirst: offset == 0, isMessageEnd: end == Self.bomb.count)
                    while let fragment = try inflater.next(maxBytes: 65536) { delivered += fragment.payload.count }
                    offset = end
                }
            }
        }
        #expect(delivered <= limit)
        print("bomb with a 1 MiB limit: \(delivered) bytes delivered before 1009, RSS growth \(growth) bytes")
        #expect(growth < 8 << 20)
    }

    @Test("Without a limit, draining 64 MiB of the bomb in 64 KiB fragments keeps memory flat")
    func drainingStaysFlat() throws {
        var delivered = 0
        let growth = try Self.residentGrowth {
            delivered = 0
            let inflater = MessageInflater(windowBits: 15, resetsAfterEachMessage: false, maxMessageBytes: nil)
            var offset = 0
            outer: while offset < Self.bomb.count {
                let end = min(offset + 16384, Self.bomb.count)
                inflater.feed(Self.bomb[offset..<end], kind: .binary, isFirst: offset == 0, isMessageEnd: end == Self.bomb.count)
                while let fragment = try inflater.next(maxBytes: 65536) {
                    #expect(fragment.payload.count <= 65536)
                    delivered += fragment.payload.count
                    if delivered >= 64 << 20 { break outer }
                }
                offset = end
            }
        }
        #expect(delivered >= 64 << 20)
        print("bomb without a limit: \(delivered) bytes drained, RSS growth \(growth) bytes")
        #expect(growth < 8 << 20)
    }
}
