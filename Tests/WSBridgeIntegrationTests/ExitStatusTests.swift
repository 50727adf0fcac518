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

    @Test("SPEC §3: exit 0 → 1000, exit N → 4000+N \"exit N\", signal S → 4128+S \"signal S (NAME)\"", arguments: cases)
    func closeCarriesStatus(_ row: Case) async throws {
        try await withServer(command: [TestPaths.fixture("status.sh")] + row.arguments) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            let message = try client.receiveMessage()
            #expect(message == .close(code: row.code, reason: row.reason), "got \(message)")
            try client.answerCloseAndWaitForEnd(code: 1000)
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }
}
