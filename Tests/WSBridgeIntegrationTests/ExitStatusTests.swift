import Foundation
import Testing

/// SPEC §3: when the child's stdout ends first, the close frame carries its exit status.
@Suite("Exit status close codes")
struct ExitStatusTests {
    /// One row: the fixture's arguments, then the expected close code and reason.
    struct Case: CustomTestStringConvertible, Sendable {
        let arguments: [String]
        let code: UInt16
        let reason: String
        var testDescription: String { "\(arguments.joined(separator: " ")) → \(code) \(reason.debugDescription)" }
    }

    static let cases: [Case] = [
        Case(arguments: ["exit", "0"], code: 1000, reason: ""),
        Case(arguments: ["exit", "3"], code: 4003, reason: "exit 3"),
        Case(arguments: ["exit", "255"], code: 4255, reason: "exit 255"),
        Case(arguments: ["signal", "9"], code: 4137, reason: "signal 9 (SIGKILL)"),
        Case(arguments: ["signal", "TERM"], code: 4143, reason: "signal 15 (SIGTERM)"),
    ]

    /// Where the server learns the status: from the kernel (the child's pidfd once the spawner
    /// reaped it, /proc while it is a zombie: the usual way), or only from the spawner process,
    /// as when the kernel vouches for neither (a kernel before 6.15 and a child that ran a
    /// set-user-ID program, or one before 5.16).
    enum Source: String, CaseIterable, Sendable {
        case kernel = "the kernel", spawner = "the spawner only"

        var environment: [String: String]? {
            guard self == .spawner else { return nil }
            var environment = ProcessInfo.processInfo.environment
            environment["WSBRIDGE_INTERNAL_STATUS_FROM_SPAWNER"] = "1"
            return environment
        }
    }

    @Test("SPEC §3: exit 0 → 1000, exit N → 4000+N \"exit N\", signal S → 4128+S \"signal S (NAME)\"",
          arguments: cases, Source.allCases)
    func closeCarriesStatus(_ row: Case, from source: Source) async throws {
        try await withServer(environment: source.environment, command: [TestPaths.fixture("status.sh")] + row.arguments) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let message = try client.receiveMessage()
            #expect(message == .close(code: row.code, reason: row.reason), "got \(message)")
            try client.answerCloseAndWaitForEnd(code: 1000)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §3: children that exit at once, before the server can watch them, still close with their status",
          arguments: Source.allCases)
    func immediateExits(from source: Source) async throws {
        // No pid line: the shell exits before the spawner has even announced it, so Foundation
        // may reap it before anyone can open a pidfd for it.
        try await withServer(environment: source.environment, command: ["/bin/sh", "-c", "exit 5"]) { server in
            for _ in 0..<40 {
                let client = try WebSocketTestClient.connect(port: server.port)
                let message = try client.receiveMessage()
                #expect(message == .close(code: 4005, reason: "exit 5"), "got \(message)")
                try client.answerCloseAndWaitForEnd(code: 1000)
            }
        }
    }
}
