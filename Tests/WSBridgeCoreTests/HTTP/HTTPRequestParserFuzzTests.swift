import Testing
@testable import WSProtocol
import TestSupport

@Suite("HTTPRequestParser fuzz")
struct HTTPRequestParserFuzzTests {
    /// Valid inputs the mutations start from.
    static let seeds: [[UInt8]] = [
        HTTPParseHarness.head([
            "GET /chat?x=1 HTTP/1.1", "Host: server.example.com", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: http://example.com",
            "Sec-WebSocket-Protocol: chat, superchat", "Sec-WebSocket-Version: 13",
        ]),
        HTTPParseHarness.head(["GET / HTTP/1.1", "Host: h"]),
        HTTPParseHarness.head(["HEAD /a/b HTTP/1.1", "host: h", "Accept: */*", "X:  \t v \t"], lineEnd: "\n"),
        Array("\r\n\nGET * HTTP/1.1\r\nHost: h\n\r\n".utf8) + [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58],
        HTTPParseHarness.head(["GET /1 HTTP/1.1", "Host: h"]) + HTTPParseHarness.head(["POST /2 HTTP/1.1", "Host: h", "A: b"]),
        HTTPParseHarness.head(["GET /old HTTP/1.0", "Host: h", "Connection: keep-alive"]),
    ]

    /// Bytes that matter to the grammar, favoured by the mutations.
    static let interesting: [UInt8] = [0x0D, 0x0A, 0x20, 0x09, 0x3A, 0x00, 0x7F, 0x80, 0xFF, 0x3F, 0x2F, 0x2C, 0x48]

    /// One random change to `input`.
    private static func mutate(_ input: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var bytes = input
        switch random.below(8) {
        case 0 where !bytes.isEmpty:
            bytes[random.below(bytes.count)] ^= UInt8(1) << UInt8(random.below(8))
        case 1 where !bytes.isEmpty:
            bytes[random.below(bytes.count)] = interesting[random.below(interesting.count)]
        case 2:
            let insertion = (0..<(1 + random.below(4))).map { _ in
                random.below(2) == 0 ? interesting[random.below(interesting.count)] : random.byte()
            }
            bytes.insert(contentsOf: insertion, at: random.below(bytes.count + 1))
        case 3 where !bytes.isEmpty:
            let start = random.below(bytes.count)
            bytes.removeSubrange(start..<min(bytes.count, start + 1 + random.below(8)))
        case 4:
            bytes = Array(bytes.prefix(random.below(bytes.count + 1)))
        case 5 where !bytes.isEmpty:
            // Repeat a slice many times: long lines and heads that cross the limit.
            let start = random.below(bytes.count)
            let slice = bytes[start..<min(bytes.count, start + 1 + random.below(32))]
            let copies = [[UInt8]](repeating: Array(slice), count: 1 + random.below(200)).flatMap { $0 }
            bytes.insert(contentsOf: copies, at: random.below(bytes.count + 1))
        case 6:
            bytes = (0..<random.below(600)).map { _ in random.byte() }
        default:
            let other = seeds[random.below(seeds.count)]
            bytes += other.prefix(random.below(other.count + 1))
        }
        return bytes
    }

    /// `input` cut into random pieces of 1 to 64 bytes.
    private static func randomChunks(_ input: [UInt8], _ random: inout SplitMix64) -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        var index = 0
        while index < input.count {
            let size = min(input.count - index, 1 + random.below(64))
            chunks.append(Array(input[index..<(index + size)]))
            index += size
        }
        return chunks
    }

    /// Checks that a head the parser returned obeys the grammar it enforces.
    private static func expectWellFormed(_ head: HTTPRequestHead) {
        let isToken: (String) -> Bool = { !$0.isEmpty && $0.utf8.allSatisfy(HTTPSyntax.isTokenByte) }
        #expect(isToken(head.method))
        #expect(!head.target.isEmpty && head.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F })
        #expect(head.version == .http1_1)
        #expect(head.headers.values("Host").count == 1)
        for field in head.headers {
            #expect(isToken(field.name))
            #expect(!field.value.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F })
            #expect(field.value.first != " " && field.value.last != " " && field.value.first != "\t" && field.value.last != "\t")
        }
        // Whatever came in, the handshake check answers with a value, never a trap.
        if Handshake.isUpgradeRequest(head) {
            _ = try? Handshake.validate(head)
        }
    }

    @Test("Seeded mutations: only heads or typed errors, the same for any split, memory bounded")
    func mutationFuzz() {
        var random = SplitMix64(seed: 0x5753_4272_6964_6765)
        var headCount = 0
        var errorCounts: [Int: Int] = [:]
        for round in 0..<5000 {
            var input = Self.seeds[round % Self.seeds.count]
            for _ in 0..<(1 + random.below(4)) {
                input = Self.mutate(input, &random)
            }
            let limit = random.below(2) == 0 ? 256 : HTTPRequestParser.defaultMaxHeadBytes
            let mode: HTTPParseHarness.Mode = random.below(2) == 0 ? .keepParsing : .stopAfterFirstHead
            let whole = HTTPParseHarness.parse([input], maxHeadBytes: limit, mode: mode)
            let pieces = HTTPParseHarness.parse(Self.randomChunks(input, &random), maxHeadBytes: limit, mode: mode)
            #expect(pieces == whole, "round \(round)")
            if pieces != whole { return }
            whole.heads.forEach(Self.expectWellFormed)
            headCount += whole.heads.count
            if let error = whole.error {
                errorCounts[error.status.code, default: 0] += 1
            }
        }
        // The mutations must reach every outcome, or the test proves little.
        #expect(headCount > 500)
        #expect(errorCounts[400, default: 0] > 500)
        #expect(errorCounts[431, default: 0] > 10)
        #expect(errorCounts[505, default: 0] > 10)
    }

    @Test("Random bytes in random pieces never hold more than the limit plus one append")
    func garbageStaysBounded() {
        var random = SplitMix64(seed: 42)
        for _ in 0..<200 {
            let limit = 64 + random.below(1024)
            var parser = HTTPRequestParser(maxHeadBytes: limit)
            var largestAppend = 0
            for _ in 0..<64 {
                let chunk = (0..<(1 + random.below(256))).map { _ in
                    random.below(4) == 0 ? Self.interesting[random.below(Self.interesting.count)] : random.byte()
                }
                largestAppend = max(largestAppend, chunk.count)
                parser.append(contentsOf: chunk)
                #expect(parser.bufferedByteCount <= limit + chunk.count)
                do {
                    while let head = try parser.next() { Self.expectWellFormed(head) }
                } catch {
                    #expect(parser.bufferedByteCount == 0)
                }
                #expect(parser.bufferedByteCount < limit)
            }
            #expect(largestAppend <= 256)
        }
    }
}
