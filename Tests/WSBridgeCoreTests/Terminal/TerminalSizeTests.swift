import Testing
import TestSupport
@testable import WSBridging

/// SPEC §12: `?cols=C&rows=R` sizes a `--pty` child's terminal: 1 to 1000 each, else 80x24.
@Suite("Terminal size from the query")
struct TerminalSizeTests {
    static let cases: [(query: String, columns: Int, rows: Int)] = [
        ("", 80, 24),
        ("cols=100&rows=40", 100, 40),
        ("rows=40&cols=100", 100, 40),
        ("x=1&cols=132&y&rows=50&z=", 132, 50),
        ("cols=1&rows=1", 1, 1),
        ("cols=1000&rows=1000", 1000, 1000),
        ("cols=0120&rows=030", 120, 30),
        // Out of range or not a number: that side's standard value.
        ("cols=0&rows=0", 80, 24),
        ("cols=1001&rows=40", 80, 40),
        ("cols=100&rows=99999999999999999999", 100, 24),
        ("cols=-5&rows=+5", 80, 24),
        ("cols=1e2&rows=4.0", 80, 24),
        ("cols=&rows", 80, 24),
        ("cols=%31%30%30", 80, 24),
        ("cols=100", 100, 24),
        ("rows=50", 80, 50),
        // Ambiguous: given twice.
        ("cols=100&cols=100&rows=30", 80, 30),
        // Other keys that merely look alike.
        ("xcols=100&Cols=100&rows =30", 80, 24),
        ("session=abcdefghijklmnop&cols=90&rows=20&view=1", 90, 20),
    ]

    @Test("SPEC §12: ?cols=&rows= each 1 to 1000, else 80 or 24", arguments: cases)
    func parses(_ row: (query: String, columns: Int, rows: Int)) {
        let size = TerminalSize.requested(inQuery: row.query)
        #expect(size.columns == row.columns && size.rows == row.rows, "\(row.query) gave \(size)")
    }

    @Test("A size outside 1 to 1000 cannot be made")
    func validatedInit() {
        #expect(TerminalSize(columns: 0, rows: 24) == nil)
        #expect(TerminalSize(columns: 80, rows: 1001) == nil)
        #expect(TerminalSize(columns: 80, rows: 24) == .standard)
    }

    @Test("Seeded mutations of queries: always a size in range, unchanged by other parameters around it")
    func mutations() {
        var random = SplitMix64(seed: 0x7E57_5123)
        let seeds = Self.cases.map(\.query)
        let alphabet = Array("cols=rows&0123456789%+-x ".utf8)
        for _ in 0..<20_000 {
            var bytes = Array(seeds[random.below(seeds.count)].utf8)
            for _ in 0..<(1 + random.below(4)) {
                switch random.below(3) {
                case 0 where !bytes.isEmpty: bytes.remove(at: random.below(bytes.count))
                case 1: bytes.insert(random.chance(70) ? alphabet[random.below(alphabet.count)] : random.byte(), at: random.below(bytes.count + 1))
                default: if !bytes.isEmpty { bytes[random.below(bytes.count)] = alphabet[random.below(alphabet.count)] }
                }
            }
            let query = String(decoding: bytes, as: UTF8.self)
            let size = TerminalSize.requested(inQuery: query)
            #expect(TerminalSize.allowedCells.contains(size.columns) && TerminalSize.allowedCells.contains(size.rows), "\(query)")
            #expect(TerminalSize.requested(inQuery: "a=1&" + query + "&zz") == size, "\(query)")
        }
    }
}
