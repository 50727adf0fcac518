import Foundation
import Glibc
import Testing

/// SPEC §15, systemd socket activation: a listening socket passed as fd 3 with `LISTEN_PID`,
/// `LISTEN_FDS` and `LISTEN_FDNAMES`, as systemd passes it (systemd itself does not run here:
/// `Fixtures/activate.py` does what it does, then execs wsbridge).
@Suite("Socket activation")
struct SocketActivationTests {
    static let activate = TestPaths.fixture("activate.py")

    /// The links of every open fd of `pid` (`socket:[INODE]`, paths, pipes).
    static func fdLinks(_ pid: pid_t) -> [String] {
        let directory = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + $0) }
    }

    @Test("SPEC §15: wsbridge serves on the passed socket (no port of its own), keeps it close-on-exec, and neither its spawners nor its children see the fd or the variables; SIGTERM still exits 0")
    func servesThePassedSocket() throws {
        let peer = try PeerProcess("python3", [Self.activate, "tcp", "--", TestPaths.binary, "--loglevel=access",
                                               TestPaths.fixture("fd-report.sh")])
        defer { peer.stop() }
        #expect(peer.waitForOutput(includingStderr: true) { $0.contains("listening on") }, "\(peer.stdoutText)\(peer.stderrText)")
        let port = try #require(UInt16(peer.stdoutText.split(separator: "\n").first.map(String.init) ?? ""))
        #expect(peer.stderrText.contains("127.0.0.1:\(port)"), "\(peer.stderrText)")
        let server = peer.pid
        let socketLink = try #require(try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(server)/fd/3"))
        #expect(socketLink.hasPrefix("socket:["))
        // O_CLOEXEC (02000000 octal) in the fd's flags.
        let info = (try? String(contentsOfFile: "/proc/\(server)/fdinfo/3", encoding: .utf8)) ?? ""
        let flags = info.split(separator: "\n").first { $0.hasPrefix("flags:") }.flatMap { Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) }
        #expect(flags.map { $0 & 0o2000000 != 0 } == true, "fdinfo: \(info)")

        let client = try WebSocketTestClient.connect(port: port)
        let report = try client.receiveMessage()
        guard case .text(let text) = report else { throw TestClientError.protocolViolation("got \(report)") }
        #expect(text.hasPrefix("listen=[] "), "\(text)")
        #expect(!text.contains(socketLink), "the child holds the passed socket: \(text)")
        _ = try? client.closeHandshake()
        for spawner in ProcessTable.spawners(of: server) {
            #expect(!Self.fdLinks(spawner).contains(socketLink), "spawner \(spawner) holds the passed socket")
            let environment = (try? String(contentsOfFile: "/proc/\(spawner)/environ", encoding: .utf8)) ?? ""
            #expect(!environment.contains("LISTEN_"), "spawner \(spawner) environment has LISTEN_*")
        }
        kill(server, SIGTERM)
        #expect(peer.waitForExit(timeout: .seconds(10)) == .exited(0))
    }

    @Test("SPEC §15: variables meant for another process (LISTEN_PID not ours) are ignored: wsbridge binds its own port, and no child sees them")
    func othersVariablesIgnored() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["LISTEN_PID"] = "1"
        environment["LISTEN_FDS"] = "1"
        environment["LISTEN_FDNAMES"] = "web"
        try await withServer(environment: environment, command: [TestPaths.fixture("fd-report.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let report = try client.receiveMessage()
            guard case .text(let text) = report else { throw TestClientError.protocolViolation("got \(report)") }
            #expect(text.hasPrefix("listen=[] "), "\(text)")
            _ = try? client.closeHandshake()
        }
    }

    @Test("SPEC §15: a malformed LISTEN_FDS for this process is a one-line startup error with exit 1", arguments: ["0", "abc", "2"])
    func malformedCount(_ count: String) throws {
        var environment = ProcessInfo.processInfo.environment
        environment["ACTIVATE_LISTEN_FDS"] = count
        let peer = try PeerProcess("python3", [Self.activate, "tcp", "--", TestPaths.binary, "cat"], environment: environment)
        defer { peer.stop() }
        let exit = peer.waitForExit(timeout: .seconds(10))
        // "2" disagrees with LISTEN_FDNAMES, which names one socket.
        #expect(exit == .exited(1), "\(peer.stderrText)")
        #expect(peer.stderrText.contains("LISTEN_FDS"), "\(peer.stderrText)")
        #expect(peer.stderrText.split(separator: "\n").count == 1, "\(peer.stderrText)")
    }
}
