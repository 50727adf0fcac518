import Foundation
import Synchronization

/// What to run for one session.
public struct SpawnRequest: Sendable, Equatable {
    /// Absolute path of the executable.
    public var executable: String
    /// Its arguments (without argv[0]).
    public var arguments: [String]
    /// The complete environment (SPEC §4).
    public var environment: [String: String]
    /// Working directory: the script's own directory, as websocketd does.
    public var workingDirectory: String

    /// Creates a request.
    public init(executable: String, arguments: [String], environment: [String: String], workingDirectory: String) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
    }
}

/// The child could not be started; answered with close 1011 after the upgrade (SPEC §3).
public struct SpawnError: Error, Equatable, Sendable {
    /// What went wrong, for the log and the close reason.
    public var message: String

    /// Creates an error.
    public init(message: String) { self.message = message }
}

/// The exit status the spawner process reports, shared between the thread that reads its reports
/// and the event loop of the child's session.
final class ReportedExit: Sendable {
    let status = Mutex<ExitStatus?>(nil)
    /// Called (on the report thread) once the status is set.
    let onReport = Mutex<(@Sendable () -> Void)?>(nil)

    func report(_ exit: ExitStatus) {
        status.withLock { $0 = exit }
        onReport.withLock { $0 }?()
    }
}

/// A running child: its pid (which is also its process group, SPEC §3) and the server's ends of
/// its pipes, non-blocking and close-on-exec, owned by the session from here on.
public final class ChildProcess: Sendable {
    /// The child's pid and process group id.
    public let pid: Int32
    /// Write end of the child's stdin.
    public let stdinFD: Int32
    /// Read end of the child's stdout.
    public let stdoutFD: Int32
    /// Read end of the child's stderr.
    public let stderrFD: Int32
    /// A pidfd that polls readable when the child exits, or -1 where the kernel has none.
    public let exitFD: Int32
    private let reportedExit: ReportedExit

    fileprivate init(pid: Int32, stdinFD: Int32, stdoutFD: Int32, stderrFD: Int32, exitFD: Int32, reportedExit: ReportedExit) {
        self.pid = pid
        self.stdinFD = stdinFD
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.exitFD = exitFD
        self.reportedExit = reportedExit
    }

    /// How the child ended, once the spawner process has reported it; nil while it runs.
    public func exitStatus() -> ExitStatus? {
        reportedExit.status.withLock { $0 }
    }

    /// Runs `action` (on another thread) when the exit status arrives; at once if it is there.
    public func whenExitReported(_ action: @escaping @Sendable () -> Void) {
        reportedExit.onReport.withLock { $0 = action }
        if exitStatus() != nil { action() }
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

/// Starts children through the spawner process (`SpawnerProcess`), which wsbridge launches at
/// startup while it has few fds open.
///
/// Why a separate process: Foundation's `Process.run()` adds one close action for every fd up to
/// the highest one open, so in a server holding thousands of connections each spawn would cost
/// milliseconds more (measured here: a connect-to-first-message p50 of 2.4 ms idle, 16 ms with
/// 1,000 connections open). The spawner keeps that cost flat, runs `Process` for us, and hands
/// back the pipes over a Unix socket (SCM_RIGHTS).
public final class Spawner: Sendable {
    private let socketFD: Int32
    private let pending = Mutex<[UInt64: @Sendable (Result<ChildProcess, SpawnError>) -> Void]>([:])
    private let exits = Mutex<[Int32: ReportedExit]>([:])
    private let nextID = Atomic<UInt64>(0)
    private let logger: Logger

    /// Asks for the exit report of `pid` now that its pidfd says it has exited.
    public func queryExit(of pid: Int32) {
        _ = Syscalls.sendMessage(socketFD, bytes: SpawnMessage.queryExit(pid: pid).encoded())
    }

    /// Launches the spawner process from `executable` (this program) and starts reading its reports.
    public init(executable: String, logger: Logger) throws(SpawnError) {
        guard let (serverEnd, spawnerEnd) = Syscalls.makeSeqpacketPair() else {
            throw SpawnError(message: "cannot create the spawner's socket")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [SpawnerProcess.argument]
        process.environment = [:]
        // Foundation moves this fd to the spawner's fd 0 (dup2 clears close-on-exec on the copy).
        process.standardInput = FileHandle(fileDescriptor: spawnerEnd, closeOnDealloc: false)
        do {
            try process.run()
        } catch {
            Syscalls.close(serverEnd)
            Syscalls.close(spawnerEnd)
            throw SpawnError(message: "cannot start the spawner process: \(error)")
        }
        Syscalls.close(spawnerEnd)
        socketFD = serverEnd
        self.logger = logger
        let thread = Thread { [self] in self.readReports() }
        thread.name = "wsbridge-spawner-reports"
        thread.start()
    }

    /// Starts a child; `completion` runs on the report thread with the result.
    public func spawn(_ request: SpawnRequest, completion: @escaping @Sendable (Result<ChildProcess, SpawnError>) -> Void) {
        let id = nextID.add(1, ordering: .relaxed).newValue
        pending.withLock { $0[id] = completion }
        let message = SpawnMessage.spawn(id: id, request: request).encoded()
        if !Syscalls.sendMessage(socketFD, bytes: message) {
            let completion = pending.withLock { $0.removeValue(forKey: id) }
            completion?(.failure(SpawnError(message: "the spawner process is gone")))
        }
    }

    private func readReports() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while let (count, fds) = Syscalls.receiveMessage(socketFD, into: &buffer) {
            switch SpawnMessage.decode(buffer[0..<count]) {
            case .spawned(let id, let pid):
                guard fds.count >= 3, let completion = pending.withLock({ $0.removeValue(forKey: id) }) else {
                    fds.forEach(Syscalls.close)
                    continue
                }
                for fd in fds.prefix(3) { Syscalls.setNonBlocking(fd) }
                let reportedExit = ReportedExit()
                exits.withLock { $0[pid] = reportedExit }
                completion(.success(ChildProcess(pid: pid, stdinFD: fds[0], stdoutFD: fds[1], stderrFD: fds[2],
                                                 exitFD: fds.count > 3 ? fds[3] : -1, reportedExit: reportedExit)))
                fds.dropFirst(4).forEach(Syscalls.close)
            case .failed(let id, let message):
                fds.forEach(Syscalls.close)
                pending.withLock { $0.removeValue(forKey: id) }?(.failure(SpawnError(message: message)))
            case .exited(let pid, let status):
                fds.forEach(Syscalls.close)
                exits.withLock { $0.removeValue(forKey: pid) }?.report(status)
            case .spawn, .queryExit, nil:
                fds.forEach(Syscalls.close)
            }
        }
        logger.log(.fatal, "the spawner process ended; new connections cannot start children")
        let waiting = pending.withLock { table in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for completion in waiting { completion(.failure(SpawnError(message: "the spawner process is gone"))) }
    }
}
