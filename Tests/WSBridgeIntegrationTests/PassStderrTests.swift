import Foundation
import Testing

/// SPEC §1 `--passstderr` (as websocketd 0.5): every line of stdout and of stderr reaches the
/// client as a JSON text message `{"stream":"stdout"|"stderr","data":"line"}`.
@Suite("--passstderr")
struct PassStderrTests {
    /// Decodes one message as `{"stream": ..., "data": ...}` with exactly those two string members.
    static func decode(_ message: TestMessage) throws -> (stream: String, data: String) {
        guard case .text(let text) = message else { throw TestClientError.protocolViolation("expected a text message, got \(message)") }
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              object.count == 2, let stream = object["stream"] as? String, let data = object["data"] as? String else {
            throw TestClientError.protocolViolation("not a {stream, data} object: \(text)")
        }
        return (stream, data)
    }

    @Test("SPEC §1: stdout and stderr lines arrive as JSON messages, each stream in order; the close still carries exit 3")
    func linesTaggedByStream() async throws {
        try await withServer(flags: ["--passstderr"], command: [TestPaths.fixture("stdout-stderr.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            var stdout: [String] = []
            var stderr: [String] = []
            var close: TestMessage?
            while close == nil {
                let message = try client.receiveMessage(timeout: .seconds(3))
                if case .close = message {
                    close = message
                    break
                }
                let line = try Self.decode(message)
                switch line.stream {
                case "stdout": stdout.append(line.data)
                case "stderr": stderr.append(line.data)
                default: Issue.record("unknown stream \(line.stream)")
                }
            }
            // The two pipes are read independently, so only each stream's own order is defined.
            let pid = try #require(stdout.first.flatMap { pid_t($0) }, "the first stdout line is the pid: \(stdout)")
            #expect(Array(stdout.dropFirst()) == ["out one", "out two"])
            #expect(stderr == ["err one", #"err "two" \ end"#])
            #expect(close == .close(code: 4003, reason: "exit 3"))
            try client.answerCloseAndWaitForEnd(code: 4003)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §1: --passstderr is refused with raw or length framing: exit 1, one line naming both flags",
          arguments: [["--binary"], ["--framing=length"], ["--framing=raw"]])
    func refusedWithRawFraming(_ flags: [String]) throws {
        let result = try runWSBridge(["--port=0", "--address=127.0.0.1", "--passstderr"] + flags + [TestPaths.fixture("echo-cat.sh")])
        #expect(result.exit == .exited(1))
        #expect(result.stderrLines.count == 1, "\(result.stderr)")
        let line = result.stderrLines.first ?? ""
        #expect(line.contains("--passstderr"), "\(line)")
        #expect(line.contains(flags[0].hasPrefix("--binary") ? "--binary" : "--framing"), "\(line)")
    }
}
