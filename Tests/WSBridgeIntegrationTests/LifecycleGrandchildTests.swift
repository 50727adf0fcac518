import Glibc
import Testing

/// SPEC §3 and §9: signals go to the child's whole process group, so a background grandchild
/// (`sleep 300 &`) never outlives its session, whoever ends first (websocketd issue #191).
@Suite("Lifecycle: grandchildren")
struct LifecycleGrandchildTests {
    /// How long a grandchild may outlive the end of its session (issue 3, "Done when").
    static let grandchildBound: Duration = .seconds(3)

    /// Whether the grandchild's stdout is the session's pipe or /dev/null.
    enum Output: String, CaseIterable, Sendable {
        /// It inherits the pipe, so stdout does not end while it lives.
        case inherit
        /// It writes to /dev/null, so stdout ends with the child.
        case devnull
    }

    @Test("SPEC §3: the client closes → the grandchild is gone within 3 s, the close is answered with 1000", arguments: Output.allCases)
    func clientClosesFirst(_ output: Output) async throws {
        try await withServer(command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port, path: "/grandchild/\(output.rawValue)/stay")
            let pid = try client.receivePID()
            let grandchild = try client.receivePID()
            #expect(grandchild != pid)
            #expect(ProcessTable.entry(grandchild)?.group == pid, "the grandchild is in the child's group")
            let start = ContinuousClock.now
            let (messages, close) = try client.closeHandshake(code: 1000, timeout: .seconds(3))
            #expect(messages.isEmpty)
            #expect(close == .close(code: 1000, reason: ""))
            expectProcessGone(grandchild, within: Self.grandchildBound - (ContinuousClock.now - start), what: "grandchild", server: server)
            expectGroupGone(pid, within: .seconds(1), server: server)
        }
    }

    @Test("SPEC §3: the child exits first leaving `sleep 300 &` → grandchild gone within 3 s, close 1000 with the child's status", arguments: Output.allCases)
    func childExitsFirst(_ output: Output) async throws {
        try await withServer(command: [TestPaths.fixture("lifecycle.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port, path: "/grandchild/\(output.rawValue)/exit")
            let pid = try client.receivePID()
            let grandchild = try client.receivePID()
            // The child exits right after printing the grandchild's pid.
            let start = ContinuousClock.now
            let message = try client.receiveMessage(timeout: Self.grandchildBound)
            #expect(message == .close(code: 1000, reason: ""), "got \(message)")
            try client.answerCloseAndWaitForEnd(code: 1000)
            expectProcessGone(grandchild, within: Self.grandchildBound - (ContinuousClock.now - start), what: "grandchild", server: server)
            expectGroupGone(pid, within: .seconds(1), server: server)
            let disconnect = server.waitForLog { $0.message == "DISCONNECT" && $0["pid"] == String(pid) }
            #expect(disconnect?["exit"] == "0", "\(disconnect.map(String.init(describing:)) ?? "no DISCONNECT line")")
        }
    }
}
