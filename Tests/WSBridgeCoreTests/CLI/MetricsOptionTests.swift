import Testing
@testable import WSCLI

@Suite("--metrics")
struct MetricsOptionTests {
    static func metrics(_ value: String) throws -> MetricsAddress? {
        guard case .run(let options) = try OptionParser.parse(["--metrics=\(value)", "cat"]) else { return nil }
        return options.metrics
    }

    @Test("SPEC §14: --metrics=[HOST:]PORT, the host 127.0.0.1 unless given, IPv6 in brackets; off by default")
    func parses() throws {
        #expect(try Self.metrics("9090") == MetricsAddress("127.0.0.1", 9090))
        #expect(try Self.metrics("0.0.0.0:9090") == MetricsAddress("0.0.0.0", 9090))
        #expect(try Self.metrics("[::1]:0") == MetricsAddress("::1", 0))
        guard case .run(let options) = try OptionParser.parse(["cat"]) else { return }
        #expect(options.metrics == nil)
    }

    @Test("a port that is not a number or out of range, or an empty host, is a usage error", arguments: ["", "x", "70000", ":9090", "host:", "-1"])
    func refuses(_ value: String) {
        #expect(throws: UsageError.self) { _ = try Self.metrics(value) }
    }
}
