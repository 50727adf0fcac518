import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Running out of fds must not spin the server or lose it: accepts pause, sessions that cannot get
/// a child end with an answer, and once connections close the server serves again.
@Suite("Out of file descriptors")
struct FileDescriptorExhaustionTests {
    static func cpuSeconds(_ pid: pid_t) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test("with a hard limit of 96 fds and 120 connections, the server does not spin and recovers")
    func exhaustionRecovers() throws {
        let stderr = try OutputCollector()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -n 96 && exec \"$0\" --port=0 --address=127.0.0.1 \"$1\"",
                             TestPaths.binary, TestPaths.fixture("echo-cat.sh")]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr.writeHandle
        try process.run()
        stderr.closeWriteEnd()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        var port: UInt16?
        _ = Deadline.poll(for: .seconds(5)) {
            if let match = stderr.text.firstMatch(of: #/ws://127\.0\.0\.1:([0-9]+)/#) { port = UInt16(match.1) }
            return port != nil
        }
        let serverPort = try #require(port, "no startup line: \(stderr.text)")

        // Far more connections than the server has fds for, each holding one while its request
        // head is awaited; the rest wait in the listen queue, where accept fails with EMFILE.
        var clients: [WebSocketTestClient] = []
        for _ in 0..<120 {
            if let client = try? WebSocketTestClient(port: serverPort) { clients.append(client) }
        }
        usleep(300_000)
        let before = try #require(Self.cpuSeconds(process.processIdentifier))
        usleep(1_000_000)
        let after = try #require(Self.cpuSeconds(process.processIdentifier))
        // A server spinning on a pending accept would burn a whole core here.
        #expect(after - before < 0.5, "the server used \(after - before) s of CPU in 1 s while out of fds")
        for client in clients { client.closeAbruptly() }

        // Once the fds are back, a new session works.
        let recovered = Deadline.poll(for: .seconds(10), every: .milliseconds(200)) {
            guard let client = try? WebSocketTestClient.connect(port: serverPort, timeout: .seconds(2)),
                  (try? client.receivePID()) != nil else { return false }
            try? client.sendText("back")
            let echoed = (try? client.receiveMessage()) == .text("back")
            _ = try? client.closeHandshake()
            return echoed
        }
        #expect(recovered, "the server did not serve again: \(stderr.text.suffix(2000))")
        #expect(process.isRunning)
    }
}
