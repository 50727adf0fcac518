import Foundation
import Glibc

/// What `Fixtures/tls_probe.py` (Python's `ssl`, an implementation independent of the server's)
/// reports about one connection: the handshake's facts and, for `handshake`, the HTTP answer.
struct TLSProbeReport: Decodable, CustomStringConvertible {
    /// The answer to the probe's HTTP request.
    struct Response: Decodable {
        var status: Int
        var statusLine: String
        /// Header names in lower case.
        var headers: [String: String]
        var body: String
    }

    /// Whether everything the mode does succeeded.
    var ok: Bool
    /// Where it failed: `connect`, `handshake` or `request`.
    var stage: String?
    /// Python's exception, as `SSLError: [SSL: …] …`.
    var error: String?
    /// `TLSv1.2` or `TLSv1.3`.
    var version: String?
    /// OpenSSL's name of the cipher suite.
    var cipher: String?
    /// The protocol the server selected by ALPN, nil when none.
    var alpn: String?
    /// Whether the server sent a CertificateRequest.
    var certificateRequested: Bool?
    /// The server certificate's CN (only when it was verified: `cafile` given).
    var peerCommonName: String?
    /// Whether the connection resumed the session of an earlier one (`--resume`).
    var sessionReused: Bool?
    var response: Response?
    /// The line as printed, for failure messages.
    var line = ""

    enum CodingKeys: String, CodingKey {
        case ok, stage, error, version, cipher, alpn, certificateRequested, peerCommonName, sessionReused, response
    }

    var description: String { line }

    /// Parses one JSON line of the probe.
    static func parse(_ line: String) throws -> TLSProbeReport {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            var report = try decoder.decode(TLSProbeReport.self, from: Data(line.utf8))
            report.line = line
            return report
        } catch {
            throw PeerError.failed("tls_probe.py printed \(line.debugDescription): \(error)")
        }
    }
}

/// How the probe connects: what it offers, checks and presents.
struct TLSProbeOptions {
    /// The server name it sends (SNI) and checks; nil sends none and checks no name.
    var serverName: String?
    /// The CAs it verifies the server against; nil verifies nothing.
    var caFile: String?
    /// A client certificate and its key.
    var clientCertificate: (certificate: String, key: String)?
    /// Protocols offered by ALPN.
    var alpn: [String]?
    /// `1.0` … `1.3`.
    var minVersion: String?
    var maxVersion: String?
    /// The request's target (`handshake`) or the WebSocket's path (`flood`).
    var path = "/"
    /// The request's Host (`handshake`); nil: the server name, else the address.
    var hostHeader: String?
    /// Resume the session (a ticket) of a first connection made just before.
    var resumes = false
    /// With `resumes`: report the first connection and wait for a line on stdin before the second.
    var pausesBeforeResuming = false

    /// The probe's command-line options.
    func arguments(port: UInt16) -> [String] {
        var arguments = ["--port", String(port), "--path", path]
        if let serverName { arguments += ["--sni", serverName] }
        if let caFile { arguments += ["--cafile", caFile] }
        if let clientCertificate { arguments += ["--cert", clientCertificate.certificate, "--key", clientCertificate.key] }
        if let alpn { arguments += ["--alpn", alpn.joined(separator: ",")] }
        if let minVersion { arguments += ["--min-version", minVersion] }
        if let maxVersion { arguments += ["--max-version", maxVersion] }
        if let hostHeader { arguments += ["--host-header", hostHeader] }
        if resumes { arguments.append("--resume") }
        if pausesBeforeResuming { arguments.append("--pause") }
        return arguments
    }
}

/// Runs `Fixtures/tls_probe.py`.
enum TLSProbe {
    static var script: String { TestPaths.fixture("tls_probe.py") }

    /// Starts the probe in `mode` without waiting for it.
    static func start(_ mode: String, _ arguments: [String]) throws -> PeerProcess {
        try PeerProcess("python3", [script, mode] + arguments)
    }

    /// Runs the probe in `mode` to its end and returns every JSON line it printed.
    static func run(_ mode: String, _ arguments: [String], timeout: Duration = .seconds(30)) throws -> [TLSProbeReportLine] {
        let result = try PeerProcess.run("python3", [script, mode] + arguments, timeout: timeout)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        guard !lines.isEmpty else {
            throw PeerError.failed("tls_probe.py \(mode) printed nothing (\(result.exit)); stderr:\n\(result.stderr)")
        }
        return lines.map { TLSProbeReportLine(text: $0) }
    }

    /// Connects to `port`, handshakes, sends `GET options.path` and reads the answer.
    static func handshake(port: UInt16, _ options: TLSProbeOptions) throws -> TLSProbeReport {
        try TLSProbeReport.parse(try run("handshake", options.arguments(port: port), timeout: .seconds(20))[0].text)
    }

    /// One ClientHello's bytes, as `options` would send it (made in memory, sent nowhere).
    static func clientHello(_ options: TLSProbeOptions = TLSProbeOptions()) throws -> [UInt8] {
        let line = try run("hello", options.arguments(port: 0))[0]
        guard let hex = line.object?["hello"] as? String else { throw PeerError.failed("no hello in \(line.text)") }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { throw PeerError.failed("bad hex in \(line.text)") }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}

/// One line the probe printed, kept as text and as a JSON object.
struct TLSProbeReportLine {
    var text: String
    /// The line as a JSON object, nil when it is not one.
    var object: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }
}

/// A wss:// connection for the Swift WebSocket test client: `tls_probe.py relay` makes the TLS
/// connection and carries plaintext between it and `client`'s socket, so every helper of the
/// plain tests (upgrade, frames, close handshake, HTTP answers) works over TLS unchanged.
final class TLSRelay {
    /// The plaintext side: what it sends goes to the server encrypted.
    let client: WebSocketTestClient
    /// The handshake's facts, as the probe saw them.
    let handshake: TLSProbeReport
    private let peer: PeerProcess

    private init(client: WebSocketTestClient, handshake: TLSProbeReport, peer: PeerProcess) {
        self.client = client
        self.handshake = handshake
        self.peer = peer
    }

    /// Connects to `port` with `options` and waits for the handshake; throws when it fails.
    static func open(port: UInt16, _ options: TLSProbeOptions = TLSProbeOptions(), timeout: Duration = .seconds(10)) throws -> TLSRelay {
        let peer = try TLSProbe.start("relay", options.arguments(port: port))
        guard peer.waitForOutput(timeout: timeout, until: { $0.contains("\n") }),
              let line = peer.stdoutText.split(separator: "\n").first else {
            let stderr = peer.stderrText
            peer.stop()
            throw PeerError.failed("tls_probe.py relay reported no handshake within \(timeout); stderr:\n\(stderr)")
        }
        let report = try TLSProbeReport.parse(String(line))
        guard report.ok else {
            peer.stop()
            throw PeerError.failed("the TLS handshake failed: \(report.line)")
        }
        return TLSRelay(client: WebSocketTestClient(fileDescriptor: peer.takeInput()), handshake: report, peer: peer)
    }

    /// Opens a relay and upgrades it on `path`.
    static func connect(port: UInt16, path: String = "/", _ options: TLSProbeOptions = TLSProbeOptions()) throws -> TLSRelay {
        let relay = try open(port: port, options)
        try relay.client.upgrade(path: path)
        return relay
    }

    /// Waits for the relay to end (both sides closed) and returns how it said it ended.
    @discardableResult
    func finish(timeout: Duration = .seconds(10)) -> String? {
        client.close()
        _ = peer.waitForExit(timeout: timeout)
        peer.stop()
        let last = peer.stdoutText.split(separator: "\n").last.map(String.init)
        return last.flatMap { TLSProbeReportLine(text: $0).object?["end"] as? String }
    }

    deinit { peer.stop() }
}

extension ServerFootprint {
    /// The footprint of a TLS server, warmed up by one wss:// session on `path` (so that what
    /// OpenSSL allocates once is in the idle figures too).
    init(ofTLS server: ServerProcess, warmingUpOn path: String, _ options: TLSProbeOptions = TLSProbeOptions()) throws {
        var relays: [TLSRelay] = []
        try self.init(of: server) {
            let relay = try TLSRelay.connect(port: server.port, path: path, options)
            relays.append(relay)
            return relay.client
        }
        for relay in relays { relay.finish() }
    }
}
