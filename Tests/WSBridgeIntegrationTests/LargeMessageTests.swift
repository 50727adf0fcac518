import Foundation
import Glibc
import Testing
import TestSupport

/// SPEC §7 with `--maxframesize=0`: a message of any size flows to the child's stdin as it arrives,
/// under the stdin buffer's watermark, so the server's memory does not grow with it (issue 10,
/// fault 4: one 512 MiB frame took the server from 22 to 1,046 MiB). And a message that fits one
/// pipe write still reaches the child in one piece, as websocketd's TestEDGE008 checks.
@Suite("Large messages")
struct LargeMessageTests {
    static let mebibyte = 1 << 20

    @Test("SPEC §7: a 256 MiB frame to a child that reads nothing stops socket reads; server RSS grows < 32 MiB (--maxframesize=0)",
          .timeLimit(.minutes(1)))
    func largeFrameToChildThatDoesNotRead() async throws {
        try await withServer(flags: ["--binary", "--maxframesize=0"], command: ["/bin/sh", "-c", "echo $$; exec sleep 1000"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let (pid, rest) = try client.receiveRawPID()
            #expect(rest.isEmpty)
            let before = try #require(ProcessTable.residentKiB(server.pid))
            let length = 256 * Self.mebibyte
            // Sends until the server stops taking bytes for a second, or the whole frame is sent.
            let outcome = try client.streamFrame(opcode: WireOpcode.binary, length: length, stallTimeout: .seconds(1),
                                                 timeout: .seconds(40)) { _, chunk in
                chunk.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0x61) }
            }
            // The peak over a moment more: a server that took everything may still be copying it.
            var peak = before
            _ = Deadline.poll(for: .seconds(1), every: .milliseconds(50)) {
                peak = max(peak, ProcessTable.residentKiB(server.pid) ?? 0)
                return false
            }
            let growthKiB = peak - before
            #expect(growthKiB < 32 * 1024,
                    "server RSS grew by \(growthKiB / 1024) MiB (from \(before / 1024) MiB) after \(outcome.sentPayloadBytes / Self.mebibyte) MiB of one frame")
            #expect(outcome.isStalled, "the server took all \(length / Self.mebibyte) MiB although its child reads nothing")
            // The client vanishes in the middle of the frame: its end is noticed although the
            // session is not reading (SPEC §3), and the ladder ends the child.
            client.closeAbruptly()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    @Test("SPEC §2, §7: a 256 MiB frame streamed to a child that reads arrives intact (md5sum of every byte, --maxframesize=0)",
          .timeLimit(.minutes(1)))
    func largeFrameArrivesIntact() async throws {
        // --closems: md5sum prints its sum once stdin ends, within 100 ms + closems (SPEC §3) even on a loaded machine.
        try await withServer(flags: ["--binary", "--maxframesize=0", "--closems=2000"],
                             command: ["/bin/sh", "-c", "echo $$; exec md5sum"]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let (pid, rest) = try client.receiveRawPID()
            #expect(rest.isEmpty)
            // The same bytes go to a local md5sum, so the expected sum needs no hashing in the test.
            let local = Process()
            local.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            local.arguments = ["md5sum"]
            let localInput = Pipe(), localOutput = Pipe()
            local.standardInput = localInput
            local.standardOutput = localOutput
            try local.run()
            defer { if local.isRunning { local.terminate() } }

            let length = 256 * Self.mebibyte
            let chunkBytes = 256 * 1024
            var random = SplitMix64(seed: 0x1A_46E0)
            let template = (0..<chunkBytes).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            var localWriteFailed = false
            let outcome = try client.streamFrame(opcode: WireOpcode.binary, length: length, chunkBytes: chunkBytes,
                                                 timeout: .seconds(40)) { offset, chunk in
                // Random bytes, each chunk numbered, so a lost, repeated or reordered piece shows.
                chunk.withUnsafeMutableBytes { raw in
                    template.withUnsafeBytes { raw.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<raw.count])) }
                    raw.storeBytes(of: UInt64(offset / chunkBytes).littleEndian, toByteOffset: 0, as: UInt64.self)
                }
                do { try localInput.fileHandleForWriting.write(contentsOf: chunk) } catch { localWriteFailed = true }
            }
            #expect(outcome.sentPayloadBytes == length)
            #expect(!localWriteFailed)
            try localInput.fileHandleForWriting.close()
            let expected = String(decoding: try localOutput.fileHandleForReading.readToEnd() ?? Data(), as: UTF8.self)
            local.waitUntilExit()
            #expect(expected.count == 36)  // 32 hex digits, two spaces, "-", newline

            let (messages, close) = try client.closeHandshake(timeout: .seconds(20))
            let output = messages.reduce(into: [UInt8]()) { bytes, message in
                if case .binary(let chunk) = message { bytes += chunk }
            }
            #expect(String(decoding: output, as: UTF8.self) == expected)
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }

    /// websocketd's TestEDGE008: gorilla sends a 10,000-byte message in 4 KiB fragments, and
    /// `--binary cat` must echo it as one message. That needs the whole message in one write to the
    /// pipe: written as each fragment arrived, cat reads and echoes the first 4,096 bytes alone.
    @Test("websocketd TestEDGE008: a message sent in 4 KiB fragments comes back from --binary cat as one message, 200 times",
          .timeLimit(.minutes(1)), arguments: [10_000, 65_536])
    func fragmentedMessageEchoedWhole(size: Int) async throws {
        try await withServer(flags: ["--binary"], command: [TestPaths.fixture("echo-cat.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let (pid, rest) = try client.receiveRawPID()
            #expect(rest.isEmpty)
            var random = SplitMix64(seed: UInt64(size))
            for round in 0..<200 {
                let payload = (0..<size).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                let starts = Array(stride(from: 0, to: size, by: 4096))
                for (index, start) in starts.enumerated() {
                    let end = min(size, start + 4096)
                    try client.sendRaw(WebSocketTestClient.encodeFrame(
                        opcode: index == 0 ? WireOpcode.binary : WireOpcode.continuation, payload: Array(payload[start..<end]),
                        isFinal: end == size, mask: WebSocketTestClient.randomMask()))
                    // Each fragment in its own segments, a moment apart, so the server reads them
                    // separately, as it does under load.
                    if end < size { usleep(300) }
                }
                let message = try client.receiveMessage(timeout: .seconds(5))
                guard message == .binary(payload) else {
                    var got = "\(message)"
                    if case .binary(let bytes) = message { got = "a binary message of \(bytes.count) bytes" }
                    Issue.record("round \(round): the \(size)-byte message came back as \(got)")
                    break
                }
            }
            let (extra, close) = try client.closeHandshake()
            #expect(extra.isEmpty)
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }
}
