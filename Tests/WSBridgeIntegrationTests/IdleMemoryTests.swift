import Foundation
import Glibc
import Testing

/// Issue 10 (idle memory): an idle server and its spawners give back the pages of their own code
/// once startup is over and again after each busy spell (`IdleCodeTrim`, `SpawnerProcess`), and
/// serve as before once they are busy again.
@Suite("Idle code pages")
struct IdleMemoryTests {
    static func residentCodeKiB(_ pid: pid_t) -> Int {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? "?"
        let text = (try? String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8)) ?? ""
        var total = 0
        var inCode = false
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), !first.hasSuffix(":"), fields.count >= 5 {
                inCode = fields[1] == "r-xp" && fields.count >= 6 && fields[5...].joined(separator: " ") == executable
            } else if inCode, fields.first == "Rss:", fields.count >= 2 {
                total += Int(fields[1]) ?? 0
            }
        }
        return total
    }

    @Test("After 40 sessions, 5 s without a connection make the server and its spawner drop a good part of their resident code (a quarter at least); the next session is served as before")
    func codeIsGivenBackWhenIdle() async throws {
        try await withServer(command: [TestPaths.fixture("echo-cat.sh")]) { server in
            for index in 0..<40 {
                let client = try WebSocketTestClient.connect(port: server.port)
                _ = try client.receiveMessage()
                try client.sendText("message \(index)")
                #expect(try client.receiveMessage() == .text("message \(index)"))
                _ = try? client.closeHandshake()
            }
            let processes = [server.pid] + ProcessTable.spawners(of: server.pid)
            let busy = processes.map(Self.residentCodeKiB)
            #expect(busy.allSatisfy { $0 > 0 }, "\(processes): \(busy)")
            // IdleCodeTrim looks every 5 s; the spawner waits 5 s after its last request.
            let trimmed = Deadline.poll(for: .seconds(20), every: .milliseconds(250)) {
                // At most three quarters (the debug build's spawner runs little code of its own).
                zip(processes, busy).allSatisfy { pid, kib in Self.residentCodeKiB(pid) * 4 <= kib * 3 }
            }
            #expect(trimmed, "resident code KiB busy \(busy), now \(processes.map(Self.residentCodeKiB))")
            let client = try WebSocketTestClient.connect(port: server.port)
            _ = try client.receiveMessage()
            try client.sendText("after the trim")
            #expect(try client.receiveMessage() == .text("after the trim"))
            _ = try? client.closeHandshake()
        }
    }
}
