import Foundation
import Testing

/// SPEC §1: the command line, exit statuses, and the startup log line.
@Suite("Startup and command line")
struct StartupTests {
    @Test("SPEC §1: --version prints \"wsbridge 0.1.0\" on stdout and exits 0")
    func version() throws {
        let result = try runWSBridge(["--version"])
        #expect(result.exit == .exited(0), "stderr: \(result.stderr)")
        #expect(result.stdout == "wsbridge 0.1.0\n")
    }

    @Test("SPEC §1: --help lists every flag as --name with its default and exits 0")
    func help() throws {
        let result = try runWSBridge(["--help"])
        #expect(result.exit == .exited(0), "stderr: \(result.stderr)")
        let text = result.stdout + result.stderr
        for flag in ["--port", "--address", "--binary", "--framing", "--maxframesize", "--maxforks", "--closems", "--passenv", "--loglevel"] {
            #expect(text.contains(flag), "--help does not mention \(flag)")
        }
        #expect(text.contains("1048576"), "--help does not show the --maxframesize default")
    }

    @Test("SPEC §1: a missing command exits 1 with one stderr line naming it, before listening", arguments: [
        "/nonexistent/wsbridge-test-command",
        "wsbridge-test-command-not-on-path",
    ])
    func missingCommand(_ command: String) throws {
        let result = try runWSBridge(["--port=0", "--address=127.0.0.1", command])
        #expect(result.exit == .exited(1), "stderr: \(result.stderr)")
        #expect(result.stderrLines.count == 1, "stderr: \(result.stderr)")
        #expect(result.stderr.contains(command))
        #expect(!result.stderr.contains("listening"))
        #expect(!result.stderr.contains("ws://"))
    }

    @Test("SPEC §1: a command that exists but is not executable exits 1 naming it")
    func notExecutableCommand() throws {
        let path = TestPaths.fixture("not-executable.txt")
        let result = try runWSBridge(["--port=0", "--address=127.0.0.1", path])
        #expect(result.exit == .exited(1), "stderr: \(result.stderr)")
        #expect(result.stderrLines.count == 1, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("not-executable.txt"))
    }

    @Test("SPEC §1: an unknown flag exits 2 and names it")
    func unknownFlag() throws {
        let result = try runWSBridge(["--no-such-flag-for-wsbridge", "cat"])
        #expect(result.exit == .exited(2), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("no-such-flag-for-wsbridge"))
    }

    @Test("SPEC §1: a bad flag value exits 1")
    func badValue() throws {
        let result = try runWSBridge(["--framing=sideways", "cat"])
        #expect(result.exit == .exited(1), "stderr: \(result.stderr)")
        #expect(!result.stderr.isEmpty)
    }

    @Test("SPEC §1: no command and no --dir prints usage and exits 1")
    func noCommand() throws {
        let result = try runWSBridge(["--port=0"])
        #expect(result.exit == .exited(1), "stderr: \(result.stderr)")
        #expect(!result.stderr.isEmpty)
    }

    @Test("SPEC §1: --port=0 logs a listening line with a real port that accepts a WebSocket")
    func portZero() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            #expect(server.port != 0)
            let line = server.stderrText.split(separator: "\n").first { $0.contains("ws://127.0.0.1:\(server.port)/") }
            #expect(line?.contains("listening") == true, "log:\n\(server.stderrText)")
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let (_, close) = try client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §1: an idle server exits 0 on SIGTERM")
    func cleanShutdown() throws {
        let server = try ServerProcess.start(command: [TestPaths.fixture("echo-cat.sh")])
        let exit = server.stop()
        #expect(exit == .exited(0), "log:\n\(server.stderrText)")
    }

    @Test("SPEC §1: a port in use exits 3")
    func portInUse() throws {
        let server = try ServerProcess.start(command: [TestPaths.fixture("echo-cat.sh")])
        defer { server.stop() }
        let result = try runWSBridge(["--port=\(server.port)", "--address=127.0.0.1", TestPaths.fixture("echo-cat.sh")])
        #expect(result.exit == .exited(3), "stderr: \(result.stderr)")
        #expect(!result.stderr.isEmpty)
    }
}
