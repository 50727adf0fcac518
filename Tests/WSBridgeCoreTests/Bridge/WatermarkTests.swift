import Testing
@testable import WSBridging

@Suite("Watermark")
struct WatermarkTests {
    /// Buffered byte counts in order and whether reading should go on after each.
    struct Sequence: CustomStringConvertible, Sendable {
        var low: Int
        var high: Int
        var steps: [(buffered: Int, reads: Bool)]
        var description: String { "low \(low) high \(high): \(steps.map(\.buffered))" }
    }

    static let sequences: [Sequence] = [
        Sequence(low: 10, high: 20, steps: [
            (0, true), (20, true), (21, false), (20, false), (15, false), (11, false),
            (10, true), (15, true), (20, true), (1000, false), (5, true), (0, true),
        ]),
        Sequence(low: 0, high: 0, steps: [(0, true), (1, false), (1, false), (0, true), (1, false)]),
        Sequence(low: 64, high: 64, steps: [(64, true), (65, false), (64, true), (63, true), (65, false), (0, true)]),
        Sequence(low: 0, high: 100, steps: [(101, false), (50, false), (1, false), (0, true), (100, true)]),
    ]

    @Test("SPEC §7: stop above high, resume only at or below low", arguments: sequences)
    func hysteresis(_ sequence: Sequence) {
        var watermark = Watermark(low: sequence.low, high: sequence.high)
        #expect(watermark.isReading)
        for (index, step) in sequence.steps.enumerated() {
            #expect(watermark.shouldRead(buffered: step.buffered) == step.reads, "step \(index): \(step.buffered)")
            #expect(watermark.isReading == step.reads)
        }
    }
}
