import Testing
@testable import WSBridging

/// sd_listen_fds(3)'s variables, read as systemd writes them (SPEC §15).
@Suite("Socket activation variables")
struct SocketActivationParseTests {
    @Test("Ours: fds from 3 with their names; another process's or none: nil; malformed: refused")
    func parses() throws {
        #expect(try SocketActivation.parse(environment: [:], pid: 42) == nil)
        #expect(try SocketActivation.parse(environment: ["LISTEN_PID": "7", "LISTEN_FDS": "1"], pid: 42) == nil)
        #expect(try SocketActivation.parse(environment: ["LISTEN_PID": "42", "LISTEN_FDS": "1"], pid: 42)
                == SocketActivation(fds: [3], names: []))
        #expect(try SocketActivation.parse(environment: ["LISTEN_PID": "42", "LISTEN_FDS": "3", "LISTEN_FDNAMES": "web:tls:"], pid: 42)
                == SocketActivation(fds: [3, 4, 5], names: ["web", "tls", ""]))
        for bad: [String: String] in [
            ["LISTEN_PID": "x", "LISTEN_FDS": "1"], ["LISTEN_PID": "-1", "LISTEN_FDS": "1"], ["LISTEN_PID": "42"],
            ["LISTEN_PID": "42", "LISTEN_FDS": "0"], ["LISTEN_PID": "42", "LISTEN_FDS": "1x"], ["LISTEN_PID": "42", "LISTEN_FDS": "5000"],
            ["LISTEN_PID": "42", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "one"],
        ] {
            #expect(throws: SocketActivation.Refusal.self, "\(bad)") { try SocketActivation.parse(environment: bad, pid: 42) }
        }
    }
}
