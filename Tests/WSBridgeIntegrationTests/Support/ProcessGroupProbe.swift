import Foundation
import Glibc
import Testing

/// Checks whether a child and its process group still exist, the way SPEC §3 "Nothing leaks" is
/// stated: a zombie still counts, because `kill(pid, 0)` succeeds on it.
enum ProcessGroupProbe {
    /// How long a test waits for a finished session's group to disappear: the whole teardown
    /// ladder (100 + 250 + 500 ms, then SIGKILL) plus slack for a loaded machine.
    static let defaultTimeout: Duration = .seconds(3)

    /// Whether any process of group `pid`, or `pid` itself, exists. Only ESRCH means gone:
    /// EPERM means the process exists but belongs to someone else.
    static func isAlive(_ pid: pid_t) -> Bool {
        exists { kill(-pid, 0) } || exists { kill(pid, 0) }
    }

    private static func exists(_ probe: () -> Int32) -> Bool {
        probe() == 0 || errno != ESRCH
    }

    /// Polls until neither the group nor the process exists; returns false after `timeout`.
    static func waitUntilGone(_ pid: pid_t, timeout: Duration = defaultTimeout) -> Bool {
        Deadline.poll(for: timeout, every: .milliseconds(20)) { !isAlive(pid) }
    }

    /// Records an issue unless the group of `pid` is gone within `timeout`.
    static func expectGone(
        _ pid: pid_t,
        timeout: Duration = defaultTimeout,
        server: ServerProcess? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let gone = waitUntilGone(pid, timeout: timeout)
        #expect(gone, "process group \(pid) still alive after \(timeout)\(server.map { "; server log:\n\($0.stderrText)" } ?? "")", sourceLocation: sourceLocation)
        if !gone {
            // Do not leave the leak behind for the rest of the run.
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
    }
}
