import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SPEC §1 `--reverselookup`: REMOTE_HOST from reverse DNS; without it, the address.
@Suite("Reverse lookup")
struct ReverseLookupTests {
    /// What the system's resolver says 127.0.0.1 is called (from /etc/hosts on this machine kind).
    static func loopbackName() -> String? {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var name = [CChar](repeating: 0, count: 1025)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, socklen_t(MemoryLayout<sockaddr_in>.size), &name, socklen_t(name.count), nil, 0, NI_NAMEREQD)
            }
        }
        return result == 0 ? name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : nil
    }

    @Test("--reverselookup: REMOTE_HOST is the resolver's name for the client; without it, the address",
          arguments: [true, false])
    func remoteHost(lookup: Bool) async throws {
        let expected = lookup ? (Self.loopbackName() ?? "127.0.0.1") : "127.0.0.1"
        try await withServer(flags: lookup ? ["--reverselookup"] : [], command: [TestPaths.fixture("remote-host.sh")]) { server in
            let client = try WebSocketTestClient.connect(port: server.port)
            let pid = try client.receivePID()
            #expect(try client.receiveMessage() == .text("REMOTE_ADDR=127.0.0.1"))
            #expect(try client.receiveMessage() == .text("REMOTE_HOST=\(expected)"))
            _ = try client.receiveMessage()
            ProcessGroupProbe.expectGone(pid, server: server)
        }
    }
}
