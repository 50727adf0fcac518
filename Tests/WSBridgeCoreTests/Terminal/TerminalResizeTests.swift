import Testing
import TestSupport
@testable import WSBridging

/// SPEC §12: with `--pty` and raw framing a text message `{"cols":C,"rows":R}` resizes the
/// terminal; the parser is strict.
@Suite("Terminal resize message")
struct TerminalResizeTests {
    static let accepted: [(text: String, columns: Int, rows: Int)] = [
        (#"{"cols":100,"rows":40}"#, 100, 40),
        (#"{"rows":40,"cols":100}"#, 100, 40),
        (" \t\r\n{ \"cols\" : 1 ,\n\"rows\"\t:\r1000 } \n", 1, 1000),
        (#"{"cols":0,"rows":5}"#, -1, -1),  // well formed, out of range
        (#"{"cols":1001,"rows":5}"#, -1, -1),
        (#"{"cols":99999999999999999999999,"rows":5}"#, -1, -1),
    ]

    static let malformed: [String] = [
        "", "{}", "[100,40]", #"{"cols":100}"#, #"{"cols":100,"rows":40,}"#, #"{"cols":100,"rows":40,"x":1}"#,
        #"{"cols":100,"cols":40}"#, #"{"cols":"100","rows":40}"#, #"{"cols":-1,"rows":40}"#, #"{"cols":+1,"rows":40}"#,
        #"{"cols":01,"rows":40}"#, #"{"cols":1.0,"rows":40}"#, #"{"cols":1e2,"rows":40}"#, #"{"cols":1E2,"rows":40}"#,
        #"{'cols':100,'rows':40}"#, #"{"co\u006cs":100,"rows":40}"#, #"{"COLS":100,"rows":40}"#, #"{"cols":100 "rows":40}"#,
        #"{"cols":100,"rows":40}}"#, #"{"cols":100,"rows":40} x"#, #"x{"cols":100,"rows":40}"#, "{\"cols\":100,\"rows\":40}\u{0}",
        "\u{A0}{\"cols\":100,\"rows\":40}", #"{"cols":null,"rows":40}"#, #"{"cols":100;"rows":40}"#,
        "{\"cols\":100,\"rows\":40" + String(repeating: " ", count: 300) + "}",
    ]

    @Test("SPEC §12: {\"cols\":C,\"rows\":R} with JSON whitespace, either order", arguments: accepted)
    func accepts(_ row: (text: String, columns: Int, rows: Int)) {
        if row.columns < 0 {
            #expect(throws: TerminalResize.Refusal.outOfRange) { try TerminalResize.parse(Array(row.text.utf8)) }
        } else {
            #expect((try? TerminalResize.parse(Array(row.text.utf8))) == TerminalSize(columns: row.columns, rows: row.rows))
        }
    }

    @Test("Anything else is malformed", arguments: malformed)
    func refuses(_ text: String) {
        #expect(throws: TerminalResize.Refusal.malformed) { try TerminalResize.parse(Array(text.utf8)) }
    }

    @Test("Seeded mutations: a message either resizes to a size in range that it spells, or is refused")
    func mutations() {
        var random = SplitMix64(seed: 0x5151_2E5A)
        let seeds = Self.accepted.map(\.text) + Self.malformed
        let alphabet = Array("{}\":, \t\n\r0123456789colsrw-.e".utf8)
        for _ in 0..<20_000 {
            var bytes = Array(seeds[random.below(seeds.count)].utf8)
            for _ in 0..<(1 + random.below(3)) {
                switch random.below(3) {
                case 0 where !bytes.isEmpty: bytes.remove(at: random.below(bytes.count))
                case 1: bytes.insert(random.chance(80) ? alphabet[random.below(alphabet.count)] : random.byte(), at: random.below(bytes.count + 1))
                default: if !bytes.isEmpty { bytes[random.below(bytes.count)] = alphabet[random.below(alphabet.count)] }
                }
            }
            guard let size = try? TerminalResize.parse(bytes) else { continue }
            #expect(TerminalSize.allowedCells.contains(size.columns) && TerminalSize.allowedCells.contains(size.rows))
            // What it accepted, with the whitespace taken out, is exactly one of the two spellings.
            let compact = String(decoding: bytes.filter { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }, as: UTF8.self)
            #expect(compact == "{\"cols\":\(size.columns),\"rows\":\(size.rows)}" || compact == "{\"rows\":\(size.rows),\"cols\":\(size.columns)}",
                    "accepted \(compact)")
        }
    }
}
