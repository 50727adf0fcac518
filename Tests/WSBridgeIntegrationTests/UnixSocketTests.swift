import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// SPEC §1 `--unixsocket` (as websocketd 0.5): beside TCP, a stale socket file is replaced, a live
/// one is refused with exit 3, and the file is removed when the server exits.
@Suite("Unix socket listener")
struct UnixSocketTests {
    static func temporarySocketPath() -> String {
        NSTemporaryDirectory() + "wsbridge-test-\(UInt32.random(in: 0 ... .max)).sock"
    }

    static func connectUnix(_ path: String) throws -> WebSocketTestClient {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.utf8.count + 1)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard result == 0 else {
            close(fd)
            throw TestClientError.protocolViolation("cannot connect to \(path): errno \(errno)")
        }
        return WebSocketTestClient(fileDescriptor: fd)
    }

    @Test("a WebSocket session over the Unix socket echoes through the child; the file goes at exit")
    func echoOverUnixSocket() async throws {
        let path = Self.temporarySocketPath()
        // A stale socket file, as a killed server leaves behind, is replaced.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(stale, $0, socklen_t(MemoryLayout<sa_family_t>.size + path.utf8.count + 1))
            }
        }
        close(stale)
        #expect(FileManager.default.fileExists(atPath: path))

        let server = try ServerProcess.start(flags: ["--unixsocket=\(path)"], command: [TestPaths.fixture("echo-cat.sh")])
        let client = try Self.connectUnix(path)
        try client.upgrade()
        let pid = try client.receivePID()
        try client.sendText("over unix")
        #expect(try client.receiveMessage() == .text("over unix"))
        _ = try client.closeHandshake()
        ProcessGroupProbe.expectGone(pid, server: server)

        // A second server on the live socket is refused with exit 3.
        let second = try runWSBridge(["--unixsocket=\(path)", "cat"])
        #expect(second.exit == .exited(3))
        #expect(second.stderrLines.count == 1)

        #expect(server.stop() == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("Issue 9 finding 7, websocketd 0.5: a --unixsocket client is REMOTE_ADDR and REMOTE_HOST unix-socket, REMOTE_PORT empty",
          arguments: ChildKind.allCases)
    func remoteAddressOfUnixClient(kind: ChildKind) async throws {
        let path = Self.temporarySocketPath()
        try await withServer(flags: EnvironmentDump.flags + ["--unixsocket=\(path)"], command: []) { server in
            let dump = try EnvironmentDump.read(kind, client: try Self.connectUnix(path), target: "/env.sh")
            #expect(dump["REMOTE_ADDR"] == "unix-socket")
            #expect(dump["REMOTE_HOST"] == "unix-socket")
            #expect(dump["REMOTE_PORT"] == "")
            expectGroupGone(dump.pid, within: ProcessGroupProbe.defaultTimeout, server: server)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
