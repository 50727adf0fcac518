import Testing
@testable import WSProtocol

@Suite("HTTPRequestParser head limit")
struct HTTPRequestParserLimitTests {
    static let tooLargeStatusLine = Array("HTTP/1.1 431 Request Header Fields Too Large\r\n".utf8)

    /// A complete head of exactly `size` bytes (padding one field value to reach it).
    static func head(ofSize size: Int, prefix: String = "") -> [UInt8] {
        let fixed = prefix.utf8.count + "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n".utf8.count
        precondition(size >= fixed)
        return Array((prefix + "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "v", count: size - fixed) + "\r\n\r\n").utf8)
    }

    @Test("A head of exactly the limit is accepted, one byte more is 431 (small limit, every split)")
    func exactLimit() {
        let limit = 96
        let fits = HTTPParseHarness.parseEverySplit(Self.head(ofSize: limit), maxHeadBytes: limit)
        #expect(fits.heads.count == 1)
        #expect(fits.error == nil)
        let over = HTTPParseHarness.parseEverySplit(Self.head(ofSize: limit + 1), maxHeadBytes: limit)
        #expect(over.heads.isEmpty)
        #expect(over.error == .headTooLarge)
        #expect(over.error?.response.statusLineBytes == Self.tooLargeStatusLine)
    }

    @Test("SPEC §5: the default limit is 16 KiB; 16 KiB + 1 is 431")
    func defaultLimit() {
        #expect(HTTPRequestParser.defaultMaxHeadBytes == 16_384)
        let fits = HTTPParseHarness.parse([Self.head(ofSize: 16_384)])
        #expect(fits.heads.count == 1)
        let over = HTTPParseHarness.parse([Self.head(ofSize: 16_385)])
        #expect(over.error == .headTooLarge)
        let overByteByByte = HTTPParseHarness.parse(Self.head(ofSize: 16_385).map { [$0] })
        #expect(overByteByByte.error == .headTooLarge)
    }

    @Test("431 comes as soon as the limit is reached without the end, not when the head ends")
    func failsEarly() throws {
        var parser = HTTPRequestParser(maxHeadBytes: 1024)
        parser.append(contentsOf: Array("GET / HTTP/1.1\r\nHost: h\r\nX: ".utf8))
        #expect(try parser.next() == nil)
        var sent = parser.bufferedByteCount
        var thrown: HTTPError?
        while thrown == nil && sent < 4096 {
            parser.append(contentsOf: [UInt8](repeating: UInt8(ascii: "a"), count: 100))
            sent += 100
            do {
                #expect(try parser.next() == nil)
                #expect(parser.bufferedByteCount < 1024)
            } catch {
                thrown = error
            }
        }
        #expect(thrown == .headTooLarge)
        #expect(sent >= 1024 && sent < 1124)
    }

    @Test("The limit counts the line ends: an LF at the last allowed byte cannot end the head")
    func terminatorBeyondLimit() {
        let limit = 64
        // The head ends with CRLF CRLF, so without its last byte it still has no end.
        let head = Self.head(ofSize: limit + 1)
        let outcome = HTTPParseHarness.parse([Array(head.dropLast())], maxHeadBytes: limit)
        #expect(outcome.error == .headTooLarge)
    }

    @Test("Skipped empty lines count against the limit, so endless empty lines end in 431")
    func emptyLinesCount() {
        let limit = 64
        let prefix = String(repeating: "\r\n", count: 4)
        let fits = HTTPParseHarness.parseEverySplit(Self.head(ofSize: limit, prefix: prefix), maxHeadBytes: limit)
        #expect(fits.heads.count == 1)
        let over = HTTPParseHarness.parseEverySplit(Self.head(ofSize: limit + 1, prefix: prefix), maxHeadBytes: limit)
        #expect(over.error == .headTooLarge)
        let endless = HTTPParseHarness.parse(Array(repeating: Array("\r\n".utf8), count: 100), maxHeadBytes: limit)
        #expect(endless.error == .headTooLarge)
    }

    @Test("Bytes behind a complete head do not count against its limit")
    func trailingBytesDoNotCount() {
        let limit = 128
        let payload = [UInt8](repeating: 0x82, count: 10_000)
        let outcome = HTTPParseHarness.parse([Self.head(ofSize: limit) + payload], maxHeadBytes: limit, mode: .stopAfterFirstHead)
        #expect(outcome.heads.count == 1)
        #expect(outcome.error == nil)
        #expect(outcome.remaining == payload)
    }

    @Test("Each head of a persistent connection gets the whole limit")
    func limitPerHead() {
        let limit = 80
        let input = Self.head(ofSize: limit) + Self.head(ofSize: limit) + Self.head(ofSize: limit + 1)
        let outcome = HTTPParseHarness.parseEverySplit(input, maxHeadBytes: limit)
        #expect(outcome.heads.count == 2)
        #expect(outcome.error == .headTooLarge)
    }

    @Test("Searching resumes where it stopped: 16 KiB fed byte by byte is searched once, not again from the start")
    func incrementalSearch() throws {
        let input = Self.head(ofSize: 16_384)
        var parser = HTTPRequestParser()
        var heads = 0
        var worstRestart = 0
        for byte in input {
            parser.append(contentsOf: CollectionOfOne(byte))
            if try parser.next() != nil {
                heads += 1
            } else if let resume = parser.searchResumeOffset {
                // Each search starts at most at the last line ending seen (which may still begin
                // the blank line), never back at the start of the head.
                worstRestart = max(worstRestart, parser.bufferedByteCount - resume)
            }
        }
        #expect(heads == 1)
        #expect(worstRestart <= 2, "a search restarted \(worstRestart) bytes before the end of what had arrived")
    }
}
