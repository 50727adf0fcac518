import Foundation
import Glibc
import Testing

/// SPEC §15, several instances behind a proxy: Debian's nginx with the project's own example,
/// `scripts/nginx/wsbridge.conf`, in front of three wsbridge instances, TLS ended at nginx.
/// `Fixtures/nginx_cluster.py` drives it with Python's TLS.
@Suite("Three instances behind nginx")
struct NginxClusterTests {
    struct Report: Decodable {
        var greetingsSeen: [String]
        var spread: [String: Int]
        var echoAfterIdle: Int
        var idleErrors: [String]
        var victimClients: Int
        var victimClientsEnded: Int
        var survivorClients: Int
        var survivorClientsEchoing: Int
        var survivorErrors: [String]
        var newClientErrors: [String]
        var newSpread: [String: Int]
        var closeErrors: [String]
        var plainHTTP: [String]
        var exits: [String: Int]
        var nginxErrors: [String]
    }

    @Test("SPEC §15: scripts/nginx/wsbridge.conf in front of 3 instances: 300 wss:// clients spread over them by least_conn, each child sees its real client; idle past proxy_read_timeout, pings keep every session; SIGKILL to one ends only its own sessions, the others carry on, and 60 new clients all go to the survivors; plain http gets a 301 to https; nothing is left")
    func clusterSurvivesAnInstance() throws {
        let nginx = try SystemTools.nginx()
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let prefix = "cluster-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let peer = try PeerProcess("python3", [TestPaths.fixture("nginx_cluster.py"), TestPaths.binary, nginx,
                                               TestPaths.packageRoot.appendingPathComponent("scripts/nginx/wsbridge.conf").path,
                                               certificates.certificate("server"), certificates.key("server"),
                                               TestPaths.fixture("cluster-child.sh"), prefix, "300", "60"])
        defer { peer.stop() }
        #expect(peer.waitForExit(timeout: .seconds(240)) == .exited(0), "\(peer.stderrText)")
        let line = peer.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
        let report = try JSONDecoder().decode(Report.self, from: Data(line.utf8))
        let context = "\(report)"
        let tags = (0..<3).map { "\(prefix)-\($0)" }
        // least_conn over clients that arrive in waves: close to a third each.
        for tag in tags { #expect((80...120).contains(report.spread[tag] ?? 0), "\(tag): \(context)") }
        #expect(report.greetingsSeen == ["127.0.0.5"], "--trustedproxy with X-Forwarded-For: \(context)")
        #expect(report.echoAfterIdle == 300, "pings below proxy_read_timeout: \(report.idleErrors)")
        #expect(report.victimClients == report.spread[tags[1]] && report.victimClientsEnded == report.victimClients, "\(context)")
        #expect(report.survivorClients == 300 - report.victimClients && report.survivorClientsEchoing == report.survivorClients, "\(context)")
        #expect(report.newClientErrors.isEmpty && report.newSpread[tags[1]] == 0, "\(context)")
        #expect((report.newSpread[tags[0]] ?? 0) + (report.newSpread[tags[2]] ?? 0) == 60, "\(context)")
        #expect(report.closeErrors.isEmpty && report.survivorErrors.isEmpty, "\(context)")
        #expect(report.plainHTTP.first == "HTTP/1.1 301 Moved Permanently", "\(context)")
        #expect(report.plainHTTP.contains("Location: https://example.org/page?x=1"), "\(context)")
        #expect(report.exits == [tags[0]: 0, tags[1]: -9, tags[2]: 0], "\(context)")
        #expect(report.nginxErrors.isEmpty, "\(context)")
        // The killed instance's spawners end its children's groups (SPEC §3).
        let left = Deadline.poll(for: .seconds(5)) { ProcessTable.processes(mentioning: prefix).isEmpty }
        #expect(left, "left running: \(ProcessTable.processes(mentioning: prefix))")
    }
}
