import Foundation
import Testing

/// SPEC §15, fan-out across instances through an existing pub/sub engine with no client code of
/// ours: `wsbridge --broadcast redis-cli --raw subscribe news` on three instances, Debian's
/// redis-server on loopback. `Fixtures/redis_fanout.py` drives it.
@Suite("Fan-out across instances through Redis")
struct RedisFanOutTests {
    struct Report: Decodable {
        var redisPort: Int
        var publishCount: Int
        var publishAnswers: [String]
        var timeouts: Int
        var clientsWithAll: Int
        var wrong: [Wrong]
        var otherLines: [String]
        var subscribersAfterClients: [String]
        var exits: [String: Int]

        struct Wrong: Decodable, CustomStringConvertible {
            var client: Int
            var received: Int
            var missing: [String]
            var inOrder: Bool
            var description: String { "client \(client): \(received) received, in order \(inOrder), missing \(missing)" }
        }
    }

    @Test("SPEC §15: 3 instances of `wsbridge --broadcast redis-cli --raw subscribe news`, 300 clients across them, 1,000 messages published with redis-cli: every client receives all 1,000, in order; each shared child ends with its last client; nothing is left")
    func everyClientHearsEveryMessage() throws {
        let redisCLI = try SystemTools.require("redis-cli", package: "redis-tools")
        let redisServer = try SystemTools.redisServer()
        let prefix = "fanout-\(getpid())"
        let peer = try PeerProcess("python3", [TestPaths.fixture("redis_fanout.py"), TestPaths.binary, redisServer, redisCLI,
                                               prefix, "300", "1000"])
        defer { peer.stop() }
        #expect(peer.waitForExit(timeout: .seconds(240)) == .exited(0), "\(peer.stderrText)")
        let line = peer.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
        let report = try JSONDecoder().decode(Report.self, from: Data(line.utf8))
        let context = "\(report)"
        // Redis answers each PUBLISH with the number of subscribers: the three children.
        #expect(report.publishCount == 1_000 && report.publishAnswers == ["3"], "\(context)")
        #expect(report.timeouts == 0, "\(context)")
        #expect(report.clientsWithAll == 300, "\(report.wrong)")
        #expect(Set(report.otherLines).isSubset(of: ["message", "news", "subscribe", "1"]), "\(context)")
        #expect(report.subscribersAfterClients == ["news", "0"], "\(context)")
        #expect(report.exits == ["\(prefix)-0": 0, "\(prefix)-1": 0, "\(prefix)-2": 0], "\(context)")
        let left = Deadline.poll(for: .seconds(5)) { ProcessTable.processes(mentioning: "-p \(report.redisPort) ").isEmpty }
        #expect(left, "left running: \(ProcessTable.processes(mentioning: "-p \(report.redisPort) "))")
    }
}
