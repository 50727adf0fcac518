import Foundation
import Glibc
import Testing

/// Checks of the test client itself, against RFC vectors and a socketpair, so that a failing
/// integration test points at the server and not at its own tools.
@Suite("Test client")
struct TestClientTests {
    @Test("FIPS 180-2 appendix A: SHA-1 of \"abc\" and of the empty message")
    func sha1Vectors() {
        let hex: ([UInt8]) -> String = { $0.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(TestSHA1.digest(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(TestSHA1.digest([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        // 56 bytes: the padding needs a second block.
        #expect(hex(TestSHA1.digest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
            == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }

    @Test("RFC 6455 §1.3: key dGhlIHNhbXBsZSBub25jZQ== gives accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    func acceptVector() {
        #expect(TestSHA1.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test("RFC 6455 §5.7: masked \"Hello\", 256-byte and 64 KiB binary headers")
    func encodingVectors() {
        let masked = WebSocketTestClient.encodeFrame(opcode: WireOpcode.text, payload: Array("Hello".utf8), mask: [0x37, 0xFA, 0x21, 0x3D])
        #expect(masked == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        let unmasked = WebSocketTestClient.encodeFrame(opcode: WireOpcode.text, payload: Array("Hello".utf8), mask: nil)
        #expect(unmasked == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        let medium = WebSocketTestClient.encodeFrame(opcode: WireOpcode.binary, payload: [UInt8](repeating: 0, count: 256), mask: nil)
        #expect(Array(medium.prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        let large = WebSocketTestClient.encodeFrame(opcode: WireOpcode.binary, payload: [UInt8](repeating: 0, count: 65536), mask: nil)
        #expect(Array(large.prefix(10)) == [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])
    }

    @Test("RFC 6455 §5.4: fragmented \"Hello\" with an interleaved ping is one message, and the ping is answered")
    func decodingOverSocketpair() throws {
        let (client, peer) = try Self.socketpair()
        defer { Glibc.close(peer) }
        // §5.7 vectors: "Hel" + ping "Hello" + "lo", then an unmasked "Hello" in one frame.
        Self.write(peer, [0x01, 0x03, 0x48, 0x65, 0x6C] + [0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F] + [0x80, 0x02, 0x6C, 0x6F])
        Self.write(peer, [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        #expect(try client.receiveMessage() == .text("Hello"))
        #expect(try client.receiveMessage() == .text("Hello"))
        // The pong went out masked with the ping's payload (§5.5.3).
        let pongReader = WebSocketTestClient(fileDescriptor: dup(peer))
        let pong = try pongReader.receiveFrame()
        #expect(pong.opcode == WireOpcode.pong && pong.isMasked && pong.payload == Array("Hello".utf8))
    }

    @Test("RFC 6455 §5.5.1: close code and reason decode; invalid UTF-8 in text is refused")
    func decodingCloseAndInvalidText() throws {
        let (client, peer) = try Self.socketpair()
        defer { Glibc.close(peer) }
        Self.write(peer, [0x88, 0x08, 0x0F, 0xAB] + Array("exit 3".utf8))
        #expect(try client.receiveMessage() == .close(code: 4011, reason: "exit 3"))
        Self.write(peer, [0x81, 0x02, 0x61, 0xFF])
        #expect(throws: TestClientError.self) { try client.receiveMessage() }
    }

    @Test("A message split every 7 bytes decodes the same as whole; 64-bit lengths work")
    func decodingSplitInput() throws {
        let (client, peer) = try Self.socketpair()
        defer { Glibc.close(peer) }
        let payload = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let wire = WebSocketTestClient.encodeFrame(opcode: WireOpcode.binary, payload: payload, mask: nil)
        let writer = Thread {
            var offset = 0
            while offset < wire.count {
                let end = min(offset + 7_001, wire.count)
                Self.write(peer, Array(wire[offset..<end]))
                offset = end
            }
        }
        writer.start()
        #expect(try client.receiveMessage() == .binary(payload))
    }

    static func socketpair() throws -> (WebSocketTestClient, Int32) {
        var fds: [Int32] = [-1, -1]
        guard Glibc.socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else {
            throw TestClientError.system("socketpair", errno)
        }
        return (WebSocketTestClient(fileDescriptor: fds[0]), fds[1])
    }

    static func write(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            guard written > 0 else { return }
            offset += written
        }
    }
}
