import Foundation
import Glibc
import Testing

/// What a server and its spawner processes hold while no session runs, taken before a test's
/// sessions so that the test can prove at its end that they left no process and no fd behind
/// (SPEC §3 "Nothing leaks").
struct ServerFootprint {
    /// The server's spawner processes.
    let spawners: [pid_t]
    /// Open fds of the server while idle.
    let serverFDs: Int
    /// Open fds of all its spawners together while idle.
    let spawnerFDs: Int

    /// Takes the footprint of `server`, which must have no session running, after one session on
    /// `path` (whose child prints its pid first, plain or as `--passstderr` JSON) has warmed up what the server and its spawners
    /// allocate once (threads, buffers, Foundation's descriptors in the spawner).
    init(of server: ServerProcess, warmingUpOn path: String) throws {
        try self.init(of: server) { try WebSocketTestClient.connect(port: server.port, path: path) }
    }

    /// Takes the footprint after a warm-up session on the connection `connect` opens and upgrades
    /// (for example one over TLS); its child prints its pid first, as above.
    init(of server: ServerProcess, warmingUpWith connect: () throws -> WebSocketTestClient) throws {
        let client = try connect()
        let first = try client.receiveMessage()
        guard case .text(let text) = first, let pid = pid_t(text.filter(\.isNumber)) else {
            throw TestClientError.protocolViolation("expected the warm-up child's pid, got \(first)")
        }
        _ = try client.closeHandshake()
        let left = ProcessTable.waitUntilGroupsGone([pid], timeout: .seconds(3))
        try #require(left.isEmpty, "the warm-up session left \(left)")
        try #require(server.waitForLog { $0.message == "DISCONNECT" } != nil, "the warm-up session did not end")
        Thread.sleep(forTimeInterval: 0.2)
        spawners = ProcessTable.spawners(of: server.pid)
        try #require(!spawners.isEmpty, "no spawner process under the server")
        serverFDs = try #require(ProcessTable.openFileCount(server.pid))
        spawnerFDs = spawners.compactMap { ProcessTable.openFileCount($0) }.reduce(0, +)
    }

    /// Records an issue unless, within `timeout`, no process of the groups `pids` remains, the
    /// spawners have no child left, and the server's and spawners' fds are back to this footprint.
    func expectNothingLeft(by pids: Set<pid_t>, server: ServerProcess, timeout: Duration = .seconds(5),
                           sourceLocation: SourceLocation = #_sourceLocation) {
        let left = ProcessTable.waitUntilGroupsGone(pids, timeout: timeout)
        #expect(left.isEmpty, "\(left.count) processes left, e.g. \(left.prefix(10))", sourceLocation: sourceLocation)
        for entry in left { kill(-entry.group, SIGKILL) }
        var children: [ProcessEntry] = []
        _ = Deadline.poll(for: timeout) {
            children = ProcessTable.spawnedChildren(of: server.pid)
            return children.isEmpty
        }
        #expect(children.isEmpty, "the spawners still have children: \(children.prefix(10))", sourceLocation: sourceLocation)
        var fds: Int?
        _ = Deadline.poll(for: timeout, every: .milliseconds(50)) {
            fds = ProcessTable.openFileCount(server.pid)
            return fds == serverFDs
        }
        #expect(fds == serverFDs, "server fds: \(fds.map(String.init) ?? "?") now, \(serverFDs) idle", sourceLocation: sourceLocation)
        var spawnerFDsNow = 0
        _ = Deadline.poll(for: timeout, every: .milliseconds(50)) {
            spawnerFDsNow = spawners.compactMap { ProcessTable.openFileCount($0) }.reduce(0, +)
            return spawnerFDsNow == spawnerFDs
        }
        #expect(spawnerFDsNow == spawnerFDs, "spawner fds: \(spawnerFDsNow) now, \(spawnerFDs) idle", sourceLocation: sourceLocation)
    }
}

extension WebSocketTestClient {
    /// Ends the sending direction with a FIN (shutdown(2)); the socket can still read.
    func shutdownWrite() {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Writes as much of `bytes` as the connection takes without reading anything: stops once the
    /// socket stays unwritable for `stall` (the peer stopped reading and every buffer between is
    /// full) or everything is written. Returns how many bytes were written.
    func sendWithoutReading(_ bytes: [UInt8], stall: Duration = .milliseconds(100), timeout: Duration = .seconds(10)) throws -> Int {
        let deadline = Deadline(after: timeout)
        var written = 0
        while written < bytes.count && !deadline.hasPassed {
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&pfd, 1, Int32(stall.components.seconds * 1000 + stall.components.attoseconds / 1_000_000_000_000_000))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { break }
            let count = min(bytes.count - written, 256 * 1024)
            let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + written, count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if sent > 0 {
                written += sent
            } else if sent < 0 && errno != EAGAIN && errno != EINTR {
                throw TestClientError.system("send", errno)
            }
        }
        return written
    }

    /// Bytes this socket holds that the peer's kernel has not acknowledged (`tx_queue` in
    /// /proc/net/tcp): 0 once everything written has reached the server's receive queue, so a
    /// FIN sent now is not stuck behind data.
    var unacknowledgedSendBytes: Int? {
        // Read to the end with read(2): the file reports size 0, and it is generated as it is read.
        let fd = open("/proc/net/tcp", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        let table = String(decoding: bytes, as: UTF8.self)
        func hex(_ port: Int) -> String {
            let digits = String(port, radix: 16, uppercase: true)
            return ":" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        }
        let (local, remote) = (hex(localPort), hex(serverPort))
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[1].hasSuffix(local), fields[2].hasSuffix(remote) else { continue }
            return fields[4].split(separator: ":").first.flatMap { Int($0, radix: 16) }
        }
        return nil
    }

    /// The server's port this socket is connected to.
    var serverPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        return result == 0 ? Int(UInt16(bigEndian: address.sin_port)) : -1
    }
}
