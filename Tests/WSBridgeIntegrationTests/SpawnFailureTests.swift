import Foundation
import Glibc
import Testing

/// SPEC §3: a command that cannot start after the upgrade gets close 1011 with a reason, and a
/// log line; the server keeps serving.
@Suite("Spawn failures")
struct SpawnFailureTests {
    /// What happens to the command after the server started.
    enum Breakage: String, CaseIterable, Sendable {
        /// Its execute bits are cleared.
        case notExecutable
        /// It is deleted.
        case removed
    }

    /// A private copy of echo-cat.sh in a fresh directory, so breaking it disturbs no other test.
    static func makeCommand() throws -> (directory: URL, command: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wsbridge-spawn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let command = directory.appendingPathComponent("echo.sh")
        try FileManager.default.copyItem(atPath: TestPaths.fixture("echo-cat.sh"), toPath: command.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: command.path)
        return (directory, command)
    }

    @Test("SPEC §3: the command became unusable after startup → close 1011 with a reason, a log line, and the server still serves",
          arguments: Breakage.allCases)
    func commandBrokenAfterStartup(_ breakage: Breakage) async throws {
        let (directory, command) = try Self.makeCommand()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withServer(command: [command.path]) { server in
            // It works while intact.
            let before = try WebSocketTestClient.connect(port: server.port)
            let pid = try before.receivePID()
            _ = try before.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)

            switch breakage {
            case .notExecutable: try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: command.path)
            case .removed: try FileManager.default.removeItem(at: command)
            }
            let client = try WebSocketTestClient.connect(port: server.port, path: "/broken")
            let port = client.localPort
            let message = try client.receiveMessage(timeout: .seconds(3))
            guard case .close(let code, let reason) = message else {
                Issue.record("expected a close frame, got \(message)")
                return
            }
            #expect(code == 1011)
            #expect(!reason.isEmpty, "SPEC §3: the close carries a reason")
            #expect(reason.utf8.count <= 123, "RFC 6455 §5.5: a close reason fits a 125-byte control frame")
            try client.answerCloseAndWaitForEnd(code: 1011)
            let line = server.waitForLog { $0.level == "error" && $0["remote"] == "127.0.0.1:\(port)" }
            #expect(line != nil, "no error line for the failed spawn; log:\n\(server.stderrText)")
            #expect(line?["path"] == "/broken")
            #expect(line.map { !$0.fields.values.contains(where: { $0.isEmpty }) } ?? false)
            // Every session ends with a DISCONNECT line, a failed one too, with the close it sent.
            let disconnect = server.waitForLog { $0.message == "DISCONNECT" && $0["remote"] == "127.0.0.1:\(port)" }
            #expect(disconnect?["close"] == "1011", "\(disconnect.map(String.init(describing:)) ?? "no DISCONNECT line")")

            // Repaired, it serves again: the failure left nothing stuck.
            try FileManager.default.copyItem(atPath: TestPaths.fixture("echo-cat.sh"), toPath: command.path + ".new")
            _ = try? FileManager.default.removeItem(at: command)
            try FileManager.default.moveItem(atPath: command.path + ".new", toPath: command.path)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: command.path)
            let after = try WebSocketTestClient.connect(port: server.port)
            let afterPID = try after.receivePID()
            _ = try after.closeHandshake()
            ProcessGroupProbe.expectGone(afterPID, server: server)
        }
    }
}
