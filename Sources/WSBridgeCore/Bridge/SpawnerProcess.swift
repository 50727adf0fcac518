import Foundation
import Synchronization

/// The spawner process: a second copy of wsbridge, started at launch with a Unix socket as its
/// stdin, that runs Foundation `Process` for the server, hands back each child's pipes and a
/// pidfd, and reports each child's exit when Foundation reaps it or the server asks (see
/// `Spawner` for why). One request at a time.
///
/// Its children inherit its signal mask and dispositions, which startup leaves at the defaults,
/// so the teardown ladder's SIGINT and SIGTERM reach them. Foundation puts it in a process group
/// of its own, so a Ctrl-C meant for the server does not end it. When the server goes, the socket
/// reaches EOF and the spawner exits.
public enum SpawnerProcess {
    /// The argument that starts wsbridge as the spawner (internal; not a user flag).
    public static let argument = "--wsbridge-internal-spawner"

    /// Serves spawn requests on `socketFD` until the server closes it.
    public static func run(socketFD: Int32) -> Never {
        // Held while a child is started and announced, so that its exit report, sent from
        // Foundation's termination handler on another thread, always follows the announcement.
        let announcing = AnnouncementLock()
        warmUp()
        var starter = ChildStarter(socketFD: socketFD, announcing: announcing)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while case .message(let count, let fds) = Syscalls.receiveMessage(socketFD, into: &buffer) {
            fds.forEach(Syscalls.close)
            switch SpawnMessage.decode(buffer[0..<count]) {
            case .spawn(let id, let request):
                announcing.mutex.withLock { _ in starter.start(request, id: id) }
            case .queryExit(let pid):
                announcing.reportIfExited(pid, socketFD: socketFD)
            case .spawned, .failed, .exited, nil:
                continue
            }
        }
        exit(0)
    }

    /// Foundation sets up its process-monitoring thread, run loop and their fds on the first
    /// `run()`. Doing that now, with a child that exits at once, makes the first connection's spawn
    /// as fast as the others and keeps the spawner's fd count constant from here on.
    private static func warmUp() {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return }
        process.waitUntilExit()
    }
}

/// Starts one child with Foundation `Process` and hands its pipes and a pidfd to the server.
///
/// The spawner keeps no fd per child: Foundation's `run()` adds a close action (and glibc a
/// `getrlimit` call) for every fd number up to the highest open one, so each fd held here would
/// make every later spawn slower while that child lives. Foundation's own socket per child is
/// the one it cannot avoid.
private struct ChildStarter {
    let socketFD: Int32
    let announcing: AnnouncementLock
    /// Requests mostly name a handful of directories; their URLs are made once.
    private var directoryURLs: [String: URL] = [:]

    init(socketFD: Int32, announcing: AnnouncementLock) {
        self.socketFD = socketFD
        self.announcing = announcing
    }

    mutating func start(_ request: SpawnRequest, id: UInt64) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: request.executable)
        process.arguments = request.arguments
        process.environment = request.environment
        process.currentDirectoryURL = directoryURL(request.workingDirectory)
        // Our own close-on-exec pipes rather than Foundation's `Pipe`: Foundation moves the
        // child's ends onto its fds 0, 1 and 2, and no copy leaks into a later child.
        var pipes: [(read: Int32, write: Int32)] = []
        defer { for pipe in pipes { Syscalls.close(pipe.read); Syscalls.close(pipe.write) } }
        while pipes.count < 3, let pipe = Syscalls.makePipe() { pipes.append(pipe) }
        guard pipes.count == 3 else {
            fail(id, "cannot start \(request.executable): \(Syscalls.describe(Syscalls.lastError))")
            return
        }
        process.standardInput = FileHandle(fileDescriptor: pipes[0].read, closeOnDealloc: false)
        process.standardOutput = FileHandle(fileDescriptor: pipes[1].write, closeOnDealloc: false)
        process.standardError = FileHandle(fileDescriptor: pipes[2].write, closeOnDealloc: false)
        let reporter = ExitReporter(socketFD: socketFD, announcing: announcing)
        process.terminationHandler = { finished in
            let status: ExitStatus = finished.terminationReason == .uncaughtSignal
                ? .signalled(finished.terminationStatus) : .exited(finished.terminationStatus)
            reporter.report(pid: finished.processIdentifier, status: status)
        }
        do {
            try process.run()
        } catch {
            fail(id, "cannot start \(request.executable): \(Self.describe(error))")
            return
        }
        let pid = process.processIdentifier
        let pidFD = Syscalls.openProcessFD(pid)
        var passed = [pipes[0].write, pipes[1].read, pipes[2].read]
        if pidFD >= 0 { passed.append(pidFD) }
        Syscalls.sendMessage(socketFD, bytes: SpawnMessage.spawned(id: id, pid: pid).encoded(), passing: passed)
        if pidFD >= 0 { Syscalls.close(pidFD) }
    }

    private func fail(_ id: UInt64, _ message: String) {
        Syscalls.sendMessage(socketFD, bytes: SpawnMessage.failed(id: id, message: message).encoded())
    }

    private mutating func directoryURL(_ path: String) -> URL {
        if let url = directoryURLs[path] { return url }
        let url = URL(fileURLWithPath: path, isDirectory: true)
        if directoryURLs.count < 64 { directoryURLs[path] = url }
        return url
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

/// Orders a child's exit report after its announcement, and sends each exit once.
private final class AnnouncementLock: Sendable {
    let mutex = Mutex(())
    /// Children whose exit was reported early (from a query) and that Foundation has not reaped yet.
    private let reportedEarly = Mutex<Set<Int32>>([])

    /// Answers a query: reports the exit of `pid` if it has exited (looked at without reaping).
    func reportIfExited(_ pid: Int32, socketFD: Int32) {
        let status: ExitStatus
        switch Syscalls.peekExit(pid) {
        case .exited(let code): status = .exited(code)
        case .signalled(let signal): status = .signalled(signal)
        case .running, .reaped: return  // not yet, or Foundation's handler reports it
        }
        mutex.withLock { _ in
            guard reportedEarly.withLock({ $0.insert(pid).inserted }) else { return }
            _ = Syscalls.sendMessage(socketFD, bytes: SpawnMessage.exited(pid: pid, status: status).encoded())
        }
    }

    /// Foundation reaped `pid`: report it unless a query already did. Once reaped, the pid may
    /// be reused, so it leaves the set here.
    func reportReaped(_ pid: Int32, status: ExitStatus, socketFD: Int32) {
        mutex.withLock { _ in
            guard reportedEarly.withLock({ $0.remove(pid) }) == nil else { return }
            _ = Syscalls.sendMessage(socketFD, bytes: SpawnMessage.exited(pid: pid, status: status).encoded())
        }
    }
}

/// Sends a child's exit report from Foundation's termination handler thread.
private final class ExitReporter: Sendable {
    let socketFD: Int32
    let announcing: AnnouncementLock

    init(socketFD: Int32, announcing: AnnouncementLock) {
        self.socketFD = socketFD
        self.announcing = announcing
    }

    func report(pid: Int32, status: ExitStatus) {
        announcing.reportReaped(pid, status: status, socketFD: socketFD)
    }
}
