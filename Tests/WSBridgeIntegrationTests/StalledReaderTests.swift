import Foundation
import Glibc
import Testing

/// A session that is ending (its close frame queued) must not wait forever for a client that
/// takes none of its last bytes: SPEC §3 "Nothing leaks". The bound counts from the last byte the
/// client took, so a slow reader loses nothing; only one that stopped reading is dropped.
@Suite("Clients that stop reading")
struct StalledReaderTests {
    /// Prints its pid, waits for one line, then floods 1000-byte lines until ended.
    static let flooder = ["/bin/sh", "-c", "echo $$; read line || exit 0; exec yes \"$(printf '%01000d' 0)\""]

    static var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["WSBRIDGE_INTERNAL_FLUSH_STALL_MS"] = "500"
        return environment
    }

    @Test("SPEC §1, §3: a client that neither reads nor sends gets 1001 (--pingms) and, as that close waits unread, is dropped 500 ms later; its group and fds are gone (the old code kept the socket forever)",
          .timeLimit(.minutes(1)))
    func silentClientThatStopsReading() async throws {
        try await withServer(flags: ["--pingms=200"], environment: Self.environment, command: Self.flooder) { server in
            let footprint = try ServerFootprint(of: server, warmingUpOn: "/")
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            try client.sendRaw(WebSocketTestClient.encodeText("go"))
            // From here the client reads nothing and sends nothing: every buffer fills with the
            // flood, the ping timeout queues 1001 behind it, and the ladder ends the child.
            let ended = server.waitForLog(timeout: .seconds(10)) { $0.message == "DISCONNECT" && $0.fields["pid"] == String(pid) }
            #expect(ended != nil, "the session of a client that stopped reading never ended")
            if let ended { #expect(ended.fields["close"] == "1001") }
            footprint.expectNothingLeft(by: [pid], server: server)
        }
    }

    @Test("SPEC §3: a client that reads its last frames slowly (64 KiB every 150 ms, each pause shorter than the 500 ms bound) gets every line and the close",
          .timeLimit(.minutes(1)))
    func slowReaderLosesNothing() async throws {
        // 3 MiB of numbered lines, then exit 0: the lines wait in every buffer for the reader.
        let command = ["/bin/sh", "-c", "echo $$; read line || exit 0; seq 1 3000 | sed 's/$/ '\"$(printf '%01000d' 0)\"'/'"]
        try await withServer(environment: Self.environment, command: command) { server in
            let footprint = try ServerFootprint(of: server, warmingUpOn: "/")
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            try client.sendRaw(WebSocketTestClient.encodeText("go"))
            // Let the child finish into the buffers, so the session is ending before the reads.
            try await Task.sleep(for: .milliseconds(400))
            var numbers: [Int] = []
            var close: TestMessage?
            let deadline = Deadline(after: .seconds(40))
            while close == nil && !deadline.hasPassed {
                let message = try client.receiveMessage(timeout: .seconds(5))
                switch message {
                case .text(let text):
                    numbers.append(Int(text.prefix { $0 != " " }) ?? -1)
                    // A pause after every 64 KiB read, as a slow consumer would. usleep, not
                    // Task.sleep: a task that yields waits for a free thread of the cooperative
                    // pool (one per core), which other suites' blocking peers can hold for longer
                    // than the 500 ms bound; the reader would then look stalled when it is not.
                    if numbers.count % 64 == 0 { usleep(150_000) }
                case .close:
                    close = message
                default:
                    break
                }
            }
            #expect(numbers == Array(1...3000), "got \(numbers.count) lines, first gap at \(zip(numbers, 1...).first { $0 != $1 }.map { "\($0)" } ?? "-")")
            #expect(close == .close(code: 1000, reason: ""))
            footprint.expectNothingLeft(by: [pid], server: server)
        }
    }
}
