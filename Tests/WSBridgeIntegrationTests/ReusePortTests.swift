import Foundation
import Glibc
import Testing

/// SPEC §15 `--reuseport`: a new wsbridge starts on the port of a running one, which then drains
/// after SIGTERM, while clients keep connecting. `Fixtures/reuseport_restart.py` runs the whole
/// scenario in a network namespace of its own (`unshare -n`), so that it may set
/// `net.ipv4.tcp_migrate_req` there without touching the machine.
@Suite("Restart with --reuseport")
struct ReusePortTests {
    struct Report: Decodable {
        var seed: UInt64
        var sessions: Int
        var servedByA: Int
        var servedByB: Int
        var servedByAAfterItsExit: Int
        var drained: [String]
        var refused: Int
        var failed: [Failure]
        var events: Events
        var stderrA: [String]
        var stderrB: [String]?
        var bExit: Int?

        struct Failure: Decodable { var session: Int; var error: String }
        struct Events: Decodable {
            var sigtermAt: Int?
            var aExit: Int?
            enum CodingKeys: String, CodingKey { case sigtermAt = "SIGTERM at", aExit = "A exit" }
        }
        enum CodingKeys: String, CodingKey {
            case seed, sessions, servedByA, servedByB, servedByAAfterItsExit, drained, refused, failed, events, stderrA, stderrB
            case bExit = "B exit"
        }
    }

    /// Runs the scenario: `count` sequential sessions, A replaced by B after a random number of
    /// them. The seed is printed so that a failure can be replayed.
    static func restart(count: Int, migrate: Bool, seed: UInt64 = UInt64.random(in: 0..<(1 << 32))) throws -> (Report, prefix: String) {
        let prefix = "reuseport-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        print("reuseport restart: \(count) sessions, tcp_migrate_req=\(migrate ? 1 : 0), seed \(seed)")
        let peer = try PeerProcess("unshare", ["-n", "python3", TestPaths.fixture("reuseport_restart.py"), TestPaths.binary,
                                               TestPaths.fixture("tagged-cat.sh"), prefix, String(count), migrate ? "1" : "0", String(seed)])
        defer { peer.stop() }
        let exit = peer.waitForExit(timeout: .seconds(300))
        #expect(exit == .exited(0), "\(peer.commandLine): \(peer.stderrText)")
        let line = peer.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
        let report = try JSONDecoder().decode(Report.self, from: Data(line.utf8))
        return (report, prefix)
    }

    @Test("SPEC §15: 2,000 sequential sessions while a second instance starts with --reuseport and the first drains after SIGTERM: none refused, none failed; the drain's own endings are 1001 or 503; after the old one exits the new one serves everything; both exit 0 and leave no child")
    func restartRefusesNothing() throws {
        let (report, prefix) = try Self.restart(count: 2_000, migrate: true)
        let context = "seed \(report.seed): \(report)"
        #expect(report.sessions == 2_000, "\(context)")
        #expect(report.refused == 0, "\(context)")
        #expect(report.failed.isEmpty, "\(context)")
        #expect(report.servedByA > 0 && report.servedByB > 0, "\(context)")
        #expect(report.servedByAAfterItsExit == 0, "\(context)")
        #expect(report.events.aExit == 0 && report.bExit == 0, "\(context)")
        // Only what was in flight at A when SIGTERM came: one session, or a connection or two
        // its loops accepted before they closed the listener.
        #expect(report.drained.count <= 5, "\(context)")
        #expect(report.drained.allSatisfy { $0 == "drained: close 1001" || $0 == "drained: 503 before the upgrade" }, "\(context)")
        #expect(!report.stderrA.joined().contains("tcp_migrate_req is 0"), "\(context)")
        let left = Deadline.poll(for: .seconds(5)) { ProcessTable.processes(mentioning: prefix).isEmpty }
        #expect(left, "left running: \(ProcessTable.processes(mentioning: prefix))")
    }

    @Test("SPEC §15: where net.ipv4.tcp_migrate_req is 0, --reuseport says at startup that a restart may reset the connections queued at the old instance, and how to set it")
    func warnsWithoutMigration() throws {
        let (report, prefix) = try Self.restart(count: 60, migrate: false)
        #expect(report.stderrA.contains { $0.contains("tcp_migrate_req is 0") && $0.contains("sysctl -w net.ipv4.tcp_migrate_req=1") },
                "\(report.stderrA)")
        #expect(report.events.aExit == 0 && report.bExit == 0, "\(report)")
        let left = Deadline.poll(for: .seconds(5)) { ProcessTable.processes(mentioning: prefix).isEmpty }
        #expect(left, "left running: \(ProcessTable.processes(mentioning: prefix))")
    }
}
