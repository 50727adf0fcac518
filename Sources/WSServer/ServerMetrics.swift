import Synchronization
import WSProtocol
import WSBridging

/// The counters behind `--metrics` (SPEC §14), in Prometheus text format 0.0.4. Counted as things
/// happen, by the event loops, under one lock: each update is a few additions, made once per
/// session event, HTTP answer or pump pass, never per byte. No label carries a client address,
/// a path or a user: their values come from small fixed sets (a close code's class, an HTTP
/// status, a direction).
final class ServerMetrics: Sendable {
    /// The upper bounds of `wsbridge_spawn_seconds`'s buckets: a spawn takes about a millisecond
    /// on an idle machine (Foundation's `Process.run()`), tens under load.
    static let spawnBuckets: [Double] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5]

    private struct Counts {
        var sessions = 0
        /// Closes sent, by class: "1xxx" (RFC 6455's codes), "3xxx" (registered), "4xxx"
        /// (wsbridge's 4000 + exit status).
        var closesByClass: [String: Int] = [:]
        var spawnBuckets = [Int](repeating: 0, count: ServerMetrics.spawnBuckets.count)
        var spawnSum = 0.0
        var spawnCount = 0
        var bytesIn = 0
        var bytesOut = 0
        var responsesByStatus: [Int: Int] = [:]
        var slowClientCloses = 0
    }

    private let counts = Mutex(Counts())

    func sessionStarted() { counts.withLock { $0.sessions += 1 } }

    func sessionClosed(code: CloseCode) {
        let kind = "\(code.rawValue / 1000)xxx"
        counts.withLock { $0.closesByClass[kind, default: 0] += 1 }
    }

    func spawned(seconds: Double) {
        counts.withLock { counts in
            if let bucket = Self.spawnBuckets.firstIndex(where: { seconds <= $0 }) { counts.spawnBuckets[bucket] += 1 }
            counts.spawnSum += seconds
            counts.spawnCount += 1
        }
    }

    /// Message bytes moved (SPEC §8's `in` and `out`: message bytes, not wire bytes).
    func moved(bytesIn: Int, bytesOut: Int) {
        counts.withLock {
            $0.bytesIn += bytesIn
            $0.bytesOut += bytesOut
        }
    }

    /// A shared session's client fell `--clientqueue` behind and was closed with 1013 (SPEC §13).
    func slowClientClosed() { counts.withLock { $0.slowClientCloses += 1 } }

    func answered(_ status: HTTPStatus) { counts.withLock { $0.responsesByStatus[status.code, default: 0] += 1 } }

    /// The whole exposition, with `activeSessions` read by the caller.
    func render(activeSessions: Int, sharedChildren: Int, isDraining: Bool) -> String {
        let counts = counts.withLock { $0 }
        var text = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { text += "\(name)\(sample.labels) \(sample.value)\n" }
        }
        family("wsbridge_build_info", "gauge", "The running wsbridge's version.",
               [("{version=\"\(WSBridgeVersion.current)\"}", "1")])
        family("wsbridge_draining", "gauge", "1 once shutdown began.", [("", isDraining ? "1" : "0")])
        family("wsbridge_sessions_active", "gauge", "WebSocket sessions not yet ended.", [("", String(activeSessions))])
        family("wsbridge_shared_children_active", "gauge", "Children shared by clients (--broadcast, --sessions) not yet ended.",
               [("", String(sharedChildren))])
        family("wsbridge_slow_client_closes_total", "counter", "Clients of shared children closed with 1013 for falling --clientqueue behind.",
               [("", String(counts.slowClientCloses))])
        family("wsbridge_sessions_total", "counter", "WebSocket sessions started, by transport.",
               [("{transport=\"websocket\"}", String(counts.sessions))])
        family("wsbridge_session_closes_total", "counter", "Close frames sent, by the class of their code (4xxx: 4000 + the child's exit status).",
               counts.closesByClass.keys.sorted().map { ("{code_class=\"\($0)\"}", String(counts.closesByClass[$0]!)) })
        var cumulative = 0
        var buckets: [(labels: String, value: String)] = []
        for (index, bound) in Self.spawnBuckets.enumerated() {
            cumulative += counts.spawnBuckets[index]
            buckets.append(("{le=\"\(Self.format(bound))\"}", String(cumulative)))
        }
        buckets.append(("{le=\"+Inf\"}", String(counts.spawnCount)))
        text += "# HELP wsbridge_spawn_seconds Time from a session's spawn request to its child running.\n"
        text += "# TYPE wsbridge_spawn_seconds histogram\n"
        for bucket in buckets { text += "wsbridge_spawn_seconds_bucket\(bucket.labels) \(bucket.value)\n" }
        text += "wsbridge_spawn_seconds_sum \(Self.format(counts.spawnSum))\n"
        text += "wsbridge_spawn_seconds_count \(counts.spawnCount)\n"
        family("wsbridge_message_bytes_total", "counter", "Message bytes, from clients (in) and to them (out).",
               [("{direction=\"in\"}", String(counts.bytesIn)), ("{direction=\"out\"}", String(counts.bytesOut))])
        family("wsbridge_http_responses_total", "counter", "HTTP answers on the session listeners, by status (101 for upgrades).",
               counts.responsesByStatus.keys.sorted().map { ("{status=\"\($0)\"}", String(counts.responsesByStatus[$0]!)) })
        return text
    }

    /// A float as Prometheus writes it: shortest round-trip form.
    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
