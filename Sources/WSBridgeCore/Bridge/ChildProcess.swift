import Foundation
#if canImport(Glibc)
import Glibc
#endif
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

/// The exit status the spawner process reports, set and read on the event loop that drives the
/// spawner (the lock only makes the type `Sendable` for `ChildProcess`).
final class ReportedExit: Sendable {
    let status = Mutex<ExitStatus?>(nil)
    /// Called (on the spawner's loop) once the status is set.
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

    fileprivate init(pid: Int32, stdinFD: Int32, stdoutFD: Int32, stderrFD: Int32, exitFD: Int32,
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

    /// How the child ended: as the spawner reported it, or, before that report arrives, as /proc
    /// shows it while the child is an unreaped zombie (checked through `pidFD`, the child's
    /// pidfd, which the caller keeps open); nil while it runs.
    public func exitStatus(pidFD: Int32) -> ExitStatus? {
        if let reported = reportedExitStatus() { return reported }
        return pidFD >= 0 && Self.readsProcStatus ? Syscalls.exitStatusFromProc(pid, pidFD: pidFD) : nil
    }

    /// Off only in tests (`WSBRIDGE_INTERNAL_NO_PROC_STATUS` set), which prove that every status
    /// also arrives when /proc does not vouch for it, through the spawner.
    private static let readsProcStatus = ProcessInfo.processInfo.environment["WSBRIDGE_INTERNAL_NO_PROC_STATUS"] == nil

    /// Runs `action` (on the spawner's loop) when the spawner reports the exit; at once if it has.
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

/// Starts children through a spawner process (`SpawnerProcess`), which wsbridge launches at
/// startup while it has few fds open: a few per event loop, each driven by its loop.
///
/// Why a separate process: Foundation's `Process.run()` adds one close action for every fd up to
/// the highest one open, so in a server holding thousands of connections each spawn would cost
/// milliseconds more (measured here: a connect-to-first-message p50 of 2.4 ms idle, 16 ms with
/// 1,000 connections open). The spawner keeps that cost flat, runs `Process` for us, and hands
/// back the pipes over a Unix socket (SCM_RIGHTS). Each loop drives a few of them, so that
/// spawns on different cores do not queue behind each other and replies arrive on the loop that
/// asked; each spawner's own cost still grows by one Foundation socket per live child, so a loop
/// spreads its children over its spawners (`ConnectionRegistry.leastLoadedSpawner`).
public final class Spawner: EventHandler, @unchecked Sendable {
    private let executable: String
    private var socketFD: Int32
    private let logger: Logger
    private weak var loop: EventLoop?
    private var registration: EventLoop.Registration?
    private var pending: [UInt64: (Result<ChildProcess, SpawnError>) -> Void] = [:]
    private var exits: [Int32: ReportedExit] = [:]
    private var nextID: UInt64 = 0
    /// Requests the socket could not take yet (it is non-blocking).
    private var outbox: [[UInt8]] = []
    private var receiveBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var isGone = false

    /// Launches a spawner process from `executable` (this program).
    public init(executable: String, logger: Logger) throws(SpawnError) {
        self.executable = executable
        self.logger = logger
        socketFD = try Self.launch(executable)
    }

    /// Starts a spawner process and returns the server's (non-blocking) end of its socket.
    private static func launch(_ executable: String) throws(SpawnError) -> Int32 {
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
        Syscalls.setNonBlocking(serverEnd)
        return serverEnd
    }

    /// Children whose sessions go on, plus spawns under way: how busy (and how many Foundation
    /// sockets, so how slow to spawn) this spawner is.
    public var load: Int { exits.count + pending.count }

    /// The session of `pid` is over: no report for it is awaited any more (with pidfds the
    /// spawner reports an exit only when asked), and it no longer counts towards `load`.
    public func forget(_ pid: Int32) {
        exits.removeValue(forKey: pid)
    }

    /// Asks for the exit report of `pid` now that its pidfd says it has exited.
    public func queryExit(of pid: Int32) {
        guard !isGone else { return }
        send(SpawnMessage.queryExit(pid: pid).encoded())
    }

    /// Starts reading the spawner's replies on `loop`; every other call happens on that loop too.
    public func attach(to loop: EventLoop) {
        self.loop = loop
        registration = loop.register(socketFD, handler: self, source: 0, interest: .readWrite)
    }

    /// Starts a child; `completion` runs on the loop with the result.
    public func spawn(_ request: SpawnRequest, completion: @escaping (Result<ChildProcess, SpawnError>) -> Void) {
        guard !isGone else {
            completion(.failure(SpawnError(message: "the spawner process is gone")))
            return
        }
        nextID += 1
        pending[nextID] = completion
        send(SpawnMessage.spawn(id: nextID, request: request).encoded())
    }

    public func handle(_ events: PollEvents, source: UInt8) {
        if events.contains(.writable) { flushOutbox() }
        receiveReports()
    }

    private func send(_ message: [UInt8]) {
        outbox.append(message)
        flushOutbox()
    }

    private func flushOutbox() {
        while let message = outbox.first {
            if Syscalls.sendMessage(socketFD, bytes: message) {
                outbox.removeFirst()
                continue
            }
            let error = Syscalls.lastError
            if error == EAGAIN || error == EWOULDBLOCK { return }  // the loop calls again when writable
            spawnerEnded()
            return
        }
    }

    private func receiveReports() {
        while !isGone {
            switch Syscalls.receiveMessage(socketFD, into: &receiveBuffer, isNonBlocking: true) {
            case .message(let count, let fds):
                dispatch(SpawnMessage.decode(receiveBuffer[0..<count]), fds: fds)
            case .wouldBlock:
                return
            case .closed:
                spawnerEnded()
            }
        }
    }

    private func dispatch(_ message: SpawnMessage?, fds: [Int32]) {
        switch message {
        case .spawned(let id, let pid):
            guard let completion = pending.removeValue(forKey: id) else {
                fds.forEach(Syscalls.close)
                return
            }
            guard fds.count >= 3 else {
                // The pipes did not arrive (this process is out of fds, so the kernel dropped
                // them): the child cannot be talked to, so it is ended at once.
                fds.forEach(Syscalls.close)
                Syscalls.signalGroup(pid, Syscalls.forceKill)
                completion(.failure(SpawnError(message: "out of file descriptors")))
                return
            }
            let reportedExit = ReportedExit()
            exits[pid] = reportedExit
            fds.dropFirst(4).forEach(Syscalls.close)
            completion(.success(ChildProcess(pid: pid, stdinFD: fds[0], stdoutFD: fds[1], stderrFD: fds[2],
                                             exitFD: fds.count > 3 ? fds[3] : -1, reportedExit: reportedExit,
                                             spawner: self)))
        case .failed(let id, let message):
            fds.forEach(Syscalls.close)
            pending.removeValue(forKey: id)?(.failure(SpawnError(message: message)))
        case .exited(let pid, let status):
            fds.forEach(Syscalls.close)
            exits.removeValue(forKey: pid)?.report(status)
        case .spawn, .queryExit, nil:
            fds.forEach(Syscalls.close)
        }
    }

    /// The spawner process died (it never should): fail what waited for it and start a new one, so
    /// that the loop's next connections still get children. Exits of the old one's children can no
    /// longer be reported; their sessions end without a status after their grace period.
    private func spawnerEnded() {
        if let registration, let loop { loop.deregister(registration) }
        registration = nil
        Syscalls.close(socketFD)
        outbox.removeAll()
        exits.removeAll()
        let waiting = pending.values
        pending.removeAll()
        for completion in waiting { completion(.failure(SpawnError(message: "the spawner process is gone"))) }
        do {
            socketFD = try Self.launch(executable)
            logger.log(.error, "a spawner process ended; started a new one")
            if let loop { registration = loop.register(socketFD, handler: self, source: 0, interest: .readWrite) }
        } catch {
            isGone = true
            logger.log(.fatal, "a spawner process ended and no new one could start; new connections on its loop cannot start children",
                       ["error": error.message])
        }
    }
}
