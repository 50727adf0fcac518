import Foundation
import Glibc
import Testing

extension WebSocketTestClient {
    /// The client's own port, which the server sees as REMOTE_PORT and logs in `remote=`.
    var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return result == 0 ? Int(UInt16(bigEndian: address.sin_port)) : -1
    }
}

/// Records an issue unless `pid` is gone (or only an orphaned zombie, see `ProcessEntry`) within `timeout`.
func expectProcessGone(
    _ pid: pid_t,
    within timeout: Duration,
    what: String,
    server: ServerProcess? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let gone = Deadline.poll(for: timeout, every: .milliseconds(20)) { ProcessTable.isGone(pid) }
    let state = ProcessTable.entry(pid).map(String.init(describing:)) ?? "none"
    #expect(gone, "\(what) \(pid) still there after \(timeout): \(state)\(server.map { "; server log:\n\($0.stderrText)" } ?? "")",
            sourceLocation: sourceLocation)
    if !gone { kill(pid, SIGKILL) }
}

/// Records an issue unless every process of group `pid` is gone within `timeout`.
func expectGroupGone(
    _ pid: pid_t,
    within timeout: Duration,
    server: ServerProcess? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let left = ProcessTable.waitUntilGroupsGone([pid], timeout: timeout)
    #expect(left.isEmpty, "group \(pid) still has \(left) after \(timeout)\(server.map { "; server log:\n\($0.stderrText)" } ?? "")",
            sourceLocation: sourceLocation)
    if !left.isEmpty { kill(-pid, SIGKILL) }
}
