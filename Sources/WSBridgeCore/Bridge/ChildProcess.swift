import Foundation
import Synchronization

/// The exit status Foundation reports after reaping, shared with its termination handler thread.
final class ReapedStatus: Sendable {
    let value = Mutex<ExitStatus?>(nil)
}

/// What to run for one session.
public struct SpawnRequest: Sendable {
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
}

/// A running child: its pid (which is also its process group, SPEC §3) and the parent's ends of
/// its pipes, non-blocking and close-on-exec, owned by the session from here on.
public final class ChildProcess: @unchecked Sendable {
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
    /// Kept alive until the session ends: Foundation reaps the child through it.
    private let process: Process
    /// Set by Foundation's termination handler once it has reaped the child.
    private let reapedStatus: ReapedStatus

    fileprivate init(pid: Int32, stdinFD: Int32, stdoutFD: Int32, stderrFD: Int32, exitFD: Int32, process: Process,
                     reapedStatus: ReapedStatus) {
        self.pid = pid
        self.stdinFD = stdinFD
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.exitFD = exitFD
        self.process = process
        self.reapedStatus = reapedStatus
    }

    /// How the child ended, or nil while it runs. Looked at without reaping (waitid WNOWAIT):
    /// Foundation reports an exit only once every descendant that inherited its internal socket
    /// has gone, which for a child with a background grandchild can be much later.
    public func exitStatus() -> ExitStatus? {
        switch Syscalls.peekExit(pid) {
        case .running: return nil
        case .exited(let code): return .exited(code)
        case .signalled(let signal): return .signalled(signal)
        case .reaped: return reapedStatus.value.withLock { $0 }
        }
    }

    /// Whether any member of the child's process group is still alive (or an unreaped zombie).
    public var groupExists: Bool { Syscalls.groupExists(pid) }

    /// Signals the whole process group, so grandchildren go too.
    public func signalGroup(_ signal: Int32) {
        Syscalls.signalGroup(pid, signal)
    }
}

/// Starts children with Foundation `Process`, one at a time, on a thread of its own.
///
/// One at a time, because `Pipe()` fds are not close-on-exec: two spawns racing could leak one
/// child's pipe ends into the other, which would then never see EOF. On a dedicated `Thread`,
/// because a child inherits the signal mask of the thread that spawns it, and libdispatch's worker
/// threads block SIGINT and SIGTERM, which would make the teardown ladder's signals ineffective.
/// Off the event loops, because `Process.run()` takes milliseconds.
public final class Spawner: @unchecked Sendable {
    private struct Job {
        var request: SpawnRequest
        var completion: @Sendable (Result<ChildProcess, SpawnError>) -> Void
    }

    private let jobs = Mutex<[Job]>([])
    private let jobsAvailable = DispatchSemaphore(value: 0)

    /// Starts the spawning thread.
    public init() {
        let thread = Thread { [self] in self.runJobs() }
        thread.name = "wsbridge-spawner"
        thread.start()
    }

    /// Starts a child; `completion` runs on the spawner thread with the result.
    public func spawn(_ request: SpawnRequest, completion: @escaping @Sendable (Result<ChildProcess, SpawnError>) -> Void) {
        jobs.withLock { $0.append(Job(request: request, completion: completion)) }
        jobsAvailable.signal()
    }

    private func runJobs() {
        while true {
            jobsAvailable.wait()
            guard let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            job.completion(Self.start(job.request))
        }
    }

    private static func start(_ request: SpawnRequest) -> Result<ChildProcess, SpawnError> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: request.executable)
        process.arguments = request.arguments
        process.environment = request.environment
        process.currentDirectoryURL = URL(fileURLWithPath: request.workingDirectory, isDirectory: true)
        let stdinPipe = Pipe(), stdoutPipe = Pipe(), stderrPipe = Pipe()
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        let reapedStatus = ReapedStatus()
        process.terminationHandler = { finished in
            let status: ExitStatus = finished.terminationReason == .uncaughtSignal
                ? .signalled(finished.terminationStatus) : .exited(finished.terminationStatus)
            reapedStatus.value.withLock { $0 = status }
        }
        do {
            try process.run()
        } catch {
            return .failure(SpawnError(message: "cannot start \(request.executable): \(Self.describe(error))"))
        }
        // Our own close-on-exec copies; the Pipe's originals are closed right away so no later
        // child can inherit them.
        let stdinFD = Syscalls.duplicateCloseOnExec(stdinPipe.fileHandleForWriting.fileDescriptor)
        let stdoutFD = Syscalls.duplicateCloseOnExec(stdoutPipe.fileHandleForReading.fileDescriptor)
        let stderrFD = Syscalls.duplicateCloseOnExec(stderrPipe.fileHandleForReading.fileDescriptor)
        try? stdinPipe.fileHandleForWriting.close()
        try? stdoutPipe.fileHandleForReading.close()
        try? stderrPipe.fileHandleForReading.close()
        let pid = process.processIdentifier
        guard stdinFD >= 0, stdoutFD >= 0, stderrFD >= 0 else {
            for fd in [stdinFD, stdoutFD, stderrFD] where fd >= 0 { Syscalls.close(fd) }
            Syscalls.signalGroup(pid, Syscalls.forceKill)
            return .failure(SpawnError(message: "out of file descriptors"))
        }
        for fd in [stdinFD, stdoutFD, stderrFD] { Syscalls.setNonBlocking(fd) }
        // The child cannot have been reaped yet unless it already exited and closed Foundation's
        // socket; then there is no pidfd, and the session finds the exit by looking.
        let exitFD = Syscalls.openProcessFD(pid)
        return .success(ChildProcess(pid: pid, stdinFD: stdinFD, stdoutFD: stdoutFD, stderrFD: stderrFD,
                                     exitFD: exitFD, process: process, reapedStatus: reapedStatus))
    }

    private static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return Syscalls.describe(Int32(underlying.code))
        }
        if nsError.domain == NSPOSIXErrorDomain { return Syscalls.describe(Int32(nsError.code)) }
        return nsError.localizedDescription
    }
}
