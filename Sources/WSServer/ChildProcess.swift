import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import WSPlatform

/// The exit status the spawner process reports: set on the spawner pool's loop, read on the
/// session's.
final class ReportedExit: Sendable {
    let status = Mutex<ExitStatus?>(nil)
    /// Called (on the spawner pool's loop) once the status is set.
    let onReport = Mutex<(@Sendable () -> Void)?>(nil)

    func report(_ exit: ExitStatus) {
        status.withLock { $0 = exit }
        onReport.withLock { $0 }?()
    }
}

/// A running child: its pid (which is also its process group, SPEC §3) and the server's ends of
/// its pipes, non-blocking (the spawner made them so) and close-on-exec, owned by the session
/// from here on.
public final class ChildProcess: Sendable {
    /// The child's pid and process group id.
    public let pid: Int32
    /// Write end of the child's stdin.
    public let stdinFD: Int32
    /// Read end of the child's stdout.
    public let stdoutFD: Int32
    /// Read end of the child's stderr.
    public let stderrFD: Int32
    /// A pidfd of the child (-1 on kernels without them), for the session to own and close:
    /// readable once the child exits, and what makes reading its status from /proc safe.
    public let exitFD: Int32
    private let reportedExit: ReportedExit
    /// The spawner process that started the child, which alone can report its exit.
    public let spawner: Spawner

    init(pid: Int32, stdinFD: Int32, stdoutFD: Int32, stderrFD: Int32, exitFD: Int32,
                     reportedExit: ReportedExit, spawner: Spawner) {
        self.pid = pid
        self.stdinFD = stdinFD
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.exitFD = exitFD
        self.reportedExit = reportedExit
        self.spawner = spawner
    }

    /// How the child ended, once the spawner process has reported it; nil until then.
    public func reportedExitStatus() -> ExitStatus? {
        reportedExit.status.withLock { $0 }
    }

    /// How the child ended: as the spawner reported it, or, before that report arrives, as the
    /// kernel tells through `pidFD` (the child's pidfd, which the caller keeps open): from the
    /// pidfd once the spawner's Foundation has reaped the child, which it does within moments of
    /// the exit, or from /proc while the child is still an unreaped zombie. The pidfd is asked
    /// again after /proc, since the reap may fall between the two reads. nil while it runs, and
    /// where neither vouches (kernels before 6.15 once the child is reaped): then the session
    /// asks the spawner, a round trip of a few hundred microseconds the end of every connection
    /// used to pay.
    public func exitStatus(pidFD: Int32) -> ExitStatus? {
        if let reported = reportedExitStatus() { return reported }
        guard pidFD >= 0, Self.readsKernelStatus else { return nil }
        return Syscalls.exitStatusFromProcessFD(pidFD) ?? Syscalls.exitStatusFromProc(pid, pidFD: pidFD)
            ?? Syscalls.exitStatusFromProcessFD(pidFD)
    }

    /// Off only in tests (`WSBRIDGE_INTERNAL_STATUS_FROM_SPAWNER` set), which prove that every
    /// status also arrives when neither the pidfd nor /proc vouches for it, through the spawner.
    private static let readsKernelStatus = ProcessInfo.processInfo.environment["WSBRIDGE_INTERNAL_STATUS_FROM_SPAWNER"] == nil

    /// Runs `action` when the spawner reports the exit (on the spawner pool's loop), or at once
    /// (on the caller's thread) if it has; it may run twice, so it must be idempotent.
    public func whenExitReported(_ action: @escaping @Sendable () -> Void) {
        reportedExit.onReport.withLock { $0 = action }
        if reportedExitStatus() != nil { action() }
    }

    /// Whether any member of the child's process group is still alive (or an unreaped zombie).
    public var groupExists: Bool { Syscalls.groupExists(pid) }

    /// Whether a member of the group is alive, zombies not counted (a /proc scan: use sparingly).
    public var groupHasLiveMembers: Bool { Syscalls.groupHasLiveMembers(pid) }

    /// Signals the whole process group, so grandchildren go too.
    public func signalGroup(_ signal: Int32) {
        Syscalls.signalGroup(pid, signal)
    }
}
