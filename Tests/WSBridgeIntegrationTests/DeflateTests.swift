import Foundation
import Glibc
import Testing

/// SPEC §6 permessage-deflate (RFC 7692), against `Fixtures/deflate_probe.py`: Python's zlib and
/// a WebSocket client written apart from the server's codecs.
@Suite("permessage-deflate")
struct DeflateTests {
    static var probe: String { TestPaths.fixture("deflate_probe.py") }
    /// What Chromium offers (and Firefox, without the parameter).
    static let chromiumOffer = "permessage-deflate; client_max_window_bits"

    /// Runs the probe in `mode` to its end and returns its report.
    static func run(_ mode: String, port: UInt16, _ arguments: [String], timeout: Duration = .seconds(60)) throws -> [String: Any] {
        let result = try PeerProcess.run("python3", [probe, mode, "--port", String(port)] + arguments, timeout: timeout)
        let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        guard let report = TLSProbeReportLine(text: line).object else {
            throw PeerError.failed("deflate_probe.py \(mode) printed \(result.stdout.debugDescription) (\(result.exit)); stderr:\n\(result.stderr)")
        }
        return report
    }

    static func offer(_ port: UInt16, _ lines: [String]) throws -> (status: Int, extension: String?) {
        let report = try run("offer", port: port, lines.flatMap { ["--extensions", $0] })
        return (report["status"] as? Int ?? 0, report["extension"] as? String)
    }

    @Test("SPEC §6: the answer names the agreed parameters, never an empty field; without --permessage-deflate, or for an offer zlib cannot honour, nothing is agreed and the connection still opens")
    func negotiation() async throws {
        try await withServer(flags: ["--permessage-deflate"], command: ["cat"]) { server in
            let chromium = try Self.offer(server.port, [Self.chromiumOffer])
            #expect(chromium.status == 101)
            let answer = try #require(chromium.extension)
            #expect(answer.hasPrefix("permessage-deflate"))
            #expect(try Self.offer(server.port, ["permessage-deflate"]).extension?.hasPrefix("permessage-deflate") == true)
            // Window bits 8 demanded: declined in favour of the next offer, or none.
            let fallback = try Self.offer(server.port, ["permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10"])
            #expect(fallback.extension?.contains("server_max_window_bits=10") == true, "\(fallback)")
            let none = try Self.offer(server.port, ["permessage-deflate; server_max_window_bits=8"])
            #expect(none.status == 101 && none.extension == nil)
            for malformed in ["permessage-deflate; server_max_window_bits", "permessage-deflate; bogus=1", "x-webkit-deflate-frame", ";;", ""] {
                let result = try Self.offer(server.port, [malformed])
                #expect(result.status == 101 && result.extension == nil, "\(malformed.debugDescription): \(result)")
            }
        }
        try await withServer(command: ["cat"]) { server in
            let result = try Self.offer(server.port, [Self.chromiumOffer])
            #expect(result.status == 101 && result.extension == nil)
        }
    }

    @Test("SPEC §6: 300 seeded messages (compressed or not, whole or fragmented with pings between the fragments) come back from line-framed cat equal and in order, for each kind of offer",
          arguments: [DeflateTests.chromiumOffer, "permessage-deflate", "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
                      "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9"])
    func echo(offer: String) async throws {
        try await withServer(flags: ["--permessage-deflate"], command: ["cat"]) { server in
            let seed = UInt64.random(in: 1...UInt64(Int32.max))
            let report = try Self.run("echo", port: server.port, ["--extensions", offer, "--count", "300", "--seed", String(seed)])
            print("deflate echo (\(offer)), seed \(seed): \(report)")
            #expect(report["ok"] as? Bool == true, "seed \(seed) (replay: deflate_probe.py echo --seed \(seed)): \(report)")
            #expect(report["received"] as? Int == 300)
            // Long messages go out compressed, short ones (under the threshold) as they are.
            #expect((report["compressed_received"] as? Int ?? 0) > 100, "\(report)")
            #expect(report["uncompressed_long"] as? Int == 0, "\(report)")
            #expect(report["compressed_short"] as? Int == 0, "\(report)")
            #expect((report["wire_in"] as? Int ?? .max) < (report["payload_in"] as? Int ?? 0), "\(report)")
        }
    }

    @Test("SPEC §6, §7: a compressed message that would inflate to 1 GiB gets 1009 within the first MiB inflated (default --maxframesize), the server's memory stays flat, and the next session works")
    func deflateBomb() async throws {
        try await withServer(flags: ["--permessage-deflate"], command: ["cat"]) { server in
            let before = try #require(ProcessTable.residentKiB(server.pid))
            let report = try Self.run("bomb", port: server.port, ["--extensions", Self.chromiumOffer, "--inflated-mib", "1024", "--frame-bytes", "1024"])
            let after = try #require(ProcessTable.residentKiB(server.pid))
            print("deflate bomb: \(report); server RSS \(before) → \(after) KiB")
            #expect(report["close"] as? Int == 1009, "\(report)")
            // 1 MiB inflates from about 1 KiB of this stream: the server stopped long before the
            // million frames it would take.
            #expect((report["compressed_sent"] as? Int ?? .max) < 64 * 1024, "\(report)")
            #expect(after - before < 8 * 1024)
            let next = try Self.run("echo", port: server.port, ["--extensions", Self.chromiumOffer, "--count", "20"])
            #expect(next["ok"] as? Bool == true, "\(next)")
        }
    }

    @Test("SPEC §6, §7: with --maxframesize=0 a bomb sent to a child that reads nothing stops being read: server RSS grows < 16 MiB")
    func deflateBombBackpressure() async throws {
        try await withServer(flags: ["--permessage-deflate", "--maxframesize=0"], command: ["/bin/sleep", "300"]) { server in
            let before = try #require(ProcessTable.residentKiB(server.pid))
            let bomb = try PeerProcess("python3", [Self.probe, "bomb", "--port", String(server.port), "--extensions", Self.chromiumOffer,
                                                   "--inflated-mib", "4096", "--frame-bytes", "16384", "--hold"])
            defer { bomb.stop() }
            #expect(bomb.waitForOutput(timeout: .seconds(60)) { $0.contains("\n") }, "the bomb reported nothing: \(bomb.stderrText)")
            let report = TLSProbeReportLine(text: String(bomb.stdoutText.split(separator: "\n").first ?? "")).object ?? [:]
            var peak = before
            _ = Deadline.poll(for: .seconds(1), every: .milliseconds(50)) {
                peak = max(peak, ProcessTable.residentKiB(server.pid) ?? 0)
                return false
            }
            print("deflate bomb to a child that reads nothing: \(report); server RSS \(before) → peak \(peak) KiB")
            #expect(report["stalled"] as? Bool == true, "the server read the whole bomb although its child reads nothing: \(report)")
            #expect(peak - before < 16 * 1024)
        }
    }

    @Test("SPEC §6: invalid UTF-8 inside compressed text gets 1007, RSV1 on a continuation frame 1002, corrupt deflate data 1007",
          arguments: [("invalid-utf8", 1007), ("rsv1-continuation", 1002), ("corrupt", 1007)])
    func badMessages(kind: String, code: Int) async throws {
        try await withServer(flags: ["--permessage-deflate"], command: ["cat"]) { server in
            let report = try Self.run("bad", port: server.port, ["--extensions", Self.chromiumOffer, "--kind", kind])
            #expect(report["close"] as? Int == code, "\(kind): \(report)")
        }
    }
}
