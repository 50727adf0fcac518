import Foundation
import Glibc
import Testing

/// SPEC §14 `--metrics`: `/metrics` in Prometheus text format 0.0.4 and `/healthz`, on a listener
/// of their own; read with `PrometheusText`, a parser written apart from the server's writer.
@Suite("Metrics")
struct MetricsTests {
    /// The metrics listener's port, from its log line.
    static func metricsPort(_ server: ServerProcess) throws -> UInt16 {
        var port: UInt16?
        _ = Deadline.poll(for: .seconds(5)) {
            if let match = server.stderrText.firstMatch(of: #/metrics on http://127\.0\.0\.1:([0-9]+)/metrics/#) { port = UInt16(match.1) }
            return port != nil
        }
        return try #require(port, "no metrics line in \(server.stderrText)")
    }

    static func get(_ port: UInt16, _ target: String, method: String = "GET") throws -> HTTPTestResponse {
        let client = try WebSocketTestClient(port: port)
        try client.sendRaw(Array("\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
        // RFC 9110 §9.3.2: an answer to HEAD has no content, whatever its Content-Length says.
        return method == "HEAD" ? try client.readResponseHead() : try client.readResponse()
    }

    static func scrape(_ port: UInt16) throws -> PrometheusText {
        let response = try get(port, "/metrics")
        #expect(response.statusCode == 200)
        #expect(response.value(of: "Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        return try PrometheusText(String(decoding: response.body, as: UTF8.self))
    }

    @Test("SPEC §14: /metrics counts sessions, closes by class, spawns (histogram), message bytes and HTTP answers by status; every family is typed, histogram buckets add up, and no label carries an address, a path or a user")
    func counts() async throws {
        try await withServer(flags: ["--metrics=0"], command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let port = try Self.metricsPort(server)
            let before = try Self.scrape(port)
            #expect(before.value("wsbridge_sessions_active") == 0)
            #expect(before.value("wsbridge_build_info", ["version": "0.1.0"]) == 1)
            // Two sessions whose child exits 0 (close 1000), one that stays open.
            for _ in 0..<2 {
                let client = try WebSocketTestClient.connect(port: server.port, path: "/exit")
                _ = try client.receiveMessage()
                _ = try client.closeHandshake()
            }
            let active = try WebSocketTestClient.connect(port: server.port, path: "/cat")
            _ = try active.receiveMessage()
            try active.sendText("hello")
            #expect(try active.receiveMessage() == .text("hello"))
            // A plain request on the session listener: whatever it is answered is counted.
            let plain = try TLSTests.plainRequest(port: server.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").statusCode
            var metrics = try Self.scrape(port)
            _ = Deadline.poll(for: .seconds(5)) {
                metrics = (try? Self.scrape(port)) ?? metrics
                return metrics.value("wsbridge_sessions_active") == 1 && metrics.values("wsbridge_session_closes_total").reduce(0, +) >= 2
            }
            #expect(metrics.value("wsbridge_sessions_active") == 1)
            #expect(metrics.value("wsbridge_sessions_total", ["transport": "websocket"]) == 3)
            #expect(metrics.value("wsbridge_session_closes_total", ["code_class": "1xxx"]) == 2)
            #expect(metrics.value("wsbridge_http_responses_total", ["status": "101"]) == 3)
            #expect(metrics.value("wsbridge_http_responses_total", ["status": String(plain)]) == 1, "status \(plain)")
            #expect((metrics.value("wsbridge_message_bytes_total", ["direction": "in"]) ?? 0) >= 5)
            #expect((metrics.value("wsbridge_message_bytes_total", ["direction": "out"]) ?? 0) >= 5)
            #expect(metrics.value("wsbridge_spawn_seconds_count") == 3)
            // Histogram: cumulative buckets ending in +Inf = count, and a sum.
            let buckets = metrics.samples.filter { $0.name == "wsbridge_spawn_seconds_bucket" }
            #expect(buckets.last?.labels["le"] == "+Inf" && buckets.last?.value == 3)
            #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value })
            #expect((metrics.value("wsbridge_spawn_seconds_sum") ?? 0) > 0)
            // Every sample's family has a TYPE; no label names a client, a path or a user.
            for sample in metrics.samples {
                #expect(metrics.types[PrometheusText.family(of: sample.name, in: metrics.types)] != nil, "\(sample.name) has no TYPE")
                #expect(Set(sample.labels.keys).isSubset(of: ["version", "transport", "code_class", "le", "direction", "status"]), "\(sample)")
                #expect(!sample.labels.values.contains { $0.contains("127.0.0.1") || $0.contains("/") }, "\(sample)")
            }
            _ = try active.closeHandshake()
        }
    }

    @Test("SPEC §14: /healthz is 200 ok, then 503 draining once shutdown began (the metrics listener stays open while sessions drain); other paths 404, other methods 405; nothing there starts a process")
    func health() async throws {
        // A child that ignores SIGTERM keeps the server draining for its ladder.
        try await withServer(flags: ["--metrics=127.0.0.1:0", "--closems=2000"], command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let port = try Self.metricsPort(server)
            let ok = try Self.get(port, "/healthz")
            #expect(ok.statusCode == 200 && ok.body == Array("ok\n".utf8))
            #expect(try Self.get(port, "/healthz", method: "HEAD").statusCode == 200)
            #expect(try Self.get(port, "/env.sh").statusCode == 404)
            #expect(try Self.get(port, "/metrics", method: "POST").statusCode == 405)
            #expect(ProcessTable.spawnedChildren(of: server.pid).isEmpty, "the metrics listener started a process")
            let session = try WebSocketTestClient.connect(port: server.port, path: "/ignore")
            _ = try session.receiveMessage()
            kill(server.pid, SIGTERM)
            var draining: HTTPTestResponse?
            _ = Deadline.poll(for: .seconds(3)) {
                draining = try? Self.get(port, "/healthz")
                return draining?.statusCode == 503
            }
            #expect(draining?.statusCode == 503 && draining?.body == Array("draining\n".utf8), "\(String(describing: draining))")
            #expect(try Self.scrape(port).value("wsbridge_draining") == 1)
        }
    }
}
