import Foundation
import WSPlatform

/// The spawner process: a second copy of wsbridge, started by the server with a Unix socket as
/// its stdin, that runs Foundation `Process` for the server, hands back each child's pipes and a
/// pidfd, and reports children's exits (`ChildStarter` says when; `Spawner` says why this is a
/// separate process). One request at a time.
///
/// Its children inherit its signal mask and dispositions, which startup leaves at the defaults,
/// so the teardown ladder's SIGINT and SIGTERM reach them. Foundation puts it in a process group
/// of its own, so a Ctrl-C meant for the server does not end it.
///
/// When the server goes, however it goes (`kill -9` included), the socket reaches EOF: the
/// kernel closes the server's end with the server, and no other process holds a copy (it is
/// close-on-exec, and Foundation closes every inherited fd above 2 in what it starts). The
/// spawner then ends every group whose session was not over (`OrphanedGroups`) and exits, so
/// that nothing leaks (SPEC §3). EOF rather than `PR_SET_PDEATHSIG`: the death signal fires when
/// the *thread* that started the spawner exits, and the server starts spawners from short-lived
/// threads (`SpawnerPool`), so it would end healthy spawners; and EOF needs no signal handler.
public enum SpawnerProcess {
    /// The argument that starts wsbridge as the spawner (internal; not a user flag). The next
    /// argument is `--closems` in milliseconds, for the ladder it runs if the server dies.
    public static let argument = "--wsbridge-internal-spawner"

    /// Serves spawn requests on `socketFD` until the server closes it or dies, then ends the
    /// groups of the sessions that were not over.
    public static func run(socketFD: Int32, closeMilliseconds: Int) -> Never {
        warmUp()
        let starter = ChildStarter(socketFD: socketFD, hasProcessFDs: Syscalls.hasProcessFDs())
        Syscalls.sendMessage(socketFD, bytes: SpawnMessage.ready.encoded())
        // Startup's code (and the warm-up's) is not run again: give its pages back, and again
        // after every busy spell (see IdleCodeTrim, the server's side).
        Syscalls.releaseExecutableCodePages()
        var servedSinceTrim = false
        // Never written before use, so its pages stay untouched (and cost no memory) beyond the
        // few the largest request fills.
        var buffer = [UInt8](unsafeUninitializedCapacity: 256 * 1024) { _, count in count = 256 * 1024 }
        while true {
            if servedSinceTrim && !Syscalls.waitReadable(socketFD, milliseconds: idleTrimMilliseconds) {
                Syscalls.releaseExecutableCodePages()
                servedSinceTrim = false
            }
            guard case .message(let count, let fds) = Syscalls.receiveMessage(socketFD, into: &buffer) else { break }
            servedSinceTrim = true
            switch SpawnMessage.decode(buffer[0..<count]) {
            case .spawn(let id, let request):
                // The answer goes to the socket that came with the request, which the asking
                // event loop reads itself (`SpawnReplyChannel`); to this one if none came.
                fds.dropFirst().forEach(Syscalls.close)
                let replyFD = fds.first ?? socketFD
                starter.start(request, id: id, replyingTo: replyFD)
                if replyFD != socketFD { Syscalls.close(replyFD) }
            case .queryExit(let pid):
                fds.forEach(Syscalls.close)
                starter.reportExit(of: pid)
            case .release(let pids):
                fds.forEach(Syscalls.close)
                pids.forEach(starter.release)
            case .spawned, .failed, .exited, .ready, nil:
                fds.forEach(Syscalls.close)
            }
        }
        // A server that closed the socket on purpose (retiring an idle spawner, or exiting after
        // its shutdown) released every group first; one that died did not.
        OrphanedGroups.end(starter.unreleasedGroups, terminalGroups: starter.unreleasedTerminalGroups, closeMilliseconds: closeMilliseconds)
        exit(0)
    }

    /// How long a spawner waits without a request before it gives back its code pages again.
    static let idleTrimMilliseconds: Int32 = 5_000

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

/// Starts children with Foundation `Process`, hands their pipes and a pidfd to the server, and
/// reports their exits.
///
/// The spawner keeps no fd per child: Foundation's `run()` adds a close action (and glibc a
/// `getrlimit` call) for every fd number up to the highest open one, so each fd held here would
/// make every later spawn slower while that child lives. Foundation's own socket per child is
/// the one it cannot avoid.
///
/// How exits reach the server depends on the kernel. With pidfds (Linux 5.3+) the server watches
/// each child and reads its status from /proc, and asks here only when /proc does not vouch for
/// it; the answer comes from `waitid(WNOWAIT)` or, if Foundation reaped the child first, from its
/// `Process`. No termination handler is set then, as Foundation starts a thread for every exit to
/// run one. Without pidfds the handler's report is the server's only news of an exit.
private final class ChildStarter {
    private let socketFD: Int32
    private let reporter: ExitReporter?
    /// Children the server may still ask about: until it releases them, which it does once
    /// their session is over.
    private var children: [Int32: (process: Process, id: UInt64)] = [:]
    /// The process groups (each child's pid) whose sessions the server has not released: what
    /// must not outlive the server.
    private(set) var unreleasedGroups: Set<Int32> = []
    /// Those of them whose child runs on a pseudo-terminal (`--pty`): their ladder starts with SIGHUP.
    private(set) var unreleasedTerminalGroups: Set<Int32> = []
    /// Requests mostly name a handful of executables and directories; their URLs are made once.
    private var urls: [String: URL] = [:]

    init(socketFD: Int32, hasProcessFDs: Bool) {
        self.socketFD = socketFD
        reporter = hasProcessFDs ? nil : ExitReporter(socketFD: socketFD)
    }

    /// Starts `request`'s child and answers on `replyFD`.
    func start(_ request: SpawnRequest, id: UInt64, replyingTo replyFD: Int32) {
        let process = Process()
        process.executableURL = url(request.executable, isDirectory: false)
        process.arguments = request.arguments
        process.environment = request.environment
        process.currentDirectoryURL = url(request.workingDirectory, isDirectory: true)
        let ends = request.terminal.map(ChildEnds.terminal) ?? ChildEnds.pipes()
        defer { ends.opened.forEach(Syscalls.close) }
        guard ends.isComplete else {
            fail(id, replyFD, "cannot start \(request.executable): \(Syscalls.describe(ends.error))")
            return
        }
        process.standardInput = FileHandle(fileDescriptor: ends.child[0], closeOnDealloc: false)
        process.standardOutput = FileHandle(fileDescriptor: ends.child[1], closeOnDealloc: false)
        process.standardError = FileHandle(fileDescriptor: ends.child[2], closeOnDealloc: false)
        if let reporter {
            process.terminationHandler = { finished in
                reporter.report(id: id, pid: finished.processIdentifier, status: Self.status(of: finished))
            }
        }
        // Held until the child is announced, so that a handler's report (on Foundation's thread)
        // always follows the announcement.
        reporter?.announcing.lock()
        defer { reporter?.announcing.unlock() }
        do {
            try process.run()
        } catch {
            fail(id, replyFD, "cannot start \(request.executable): \(Self.describe(error))")
            return
        }
        let pid = process.processIdentifier
        unreleasedGroups.insert(pid)
        if request.terminal != nil { unreleasedTerminalGroups.insert(pid) }
        let pidFD = Syscalls.openProcessFD(pid)
        var passed = ends.server
        // The server's ends share their file status flags with the copies it receives.
        passed.forEach(Syscalls.setNonBlocking)
        if pidFD >= 0 { passed.append(pidFD) }
        if !Syscalls.sendMessage(replyFD, bytes: SpawnMessage.spawned(id: id, pid: pid).encoded(), passing: passed) {
            // Nobody took the child (the asking loop's socket is gone, or this process is out
            // of fds for the pipes): nothing may run that no session watches.
            Syscalls.signalGroup(pid, Syscalls.forceKill)
        }
        guard reporter == nil else { return }
        if pidFD >= 0 {
            Syscalls.close(pidFD)
            children[pid] = (process, id)
        } else {
            // No pidfd: the child was already reaped (a child that exits at once), or this
            // process is out of fds. The server has nothing to watch, so the status goes to it
            // once Foundation has it: at once in the first case, from a thread in the rare second.
            let socketFD = self.socketFD
            let finished = UncheckedSendable(process)
            Thread.detachNewThread {
                var pause: UInt32 = 1_000
                while finished.value.isRunning {
                    usleep(pause)
                    pause = min(pause * 2, 100_000)
                }
                let status = Self.status(of: finished.value)
                Syscalls.sendMessage(socketFD, bytes: SpawnMessage.exited(id: id, pid: pid, status: status).encoded())
            }
        }
    }

    /// The server is done with the session of `pid`: its group is gone and its status known.
    func release(_ pid: Int32) {
        unreleasedGroups.remove(pid)
        unreleasedTerminalGroups.remove(pid)
        children[pid] = nil
    }

    /// Answers the server's query about a child whose pidfd turned readable.
    func reportExit(of pid: Int32) {
        let status: ExitStatus
        switch Syscalls.peekExit(pid) {
        case .exited(let code): status = .exited(code)
        case .signalled(let signal): status = .signalled(signal)
        case .running: return  // not a child that exited: nothing to say
        case .reaped:
            // Foundation reaped it first; it marks the process finished a moment after.
            guard let process = children[pid]?.process else { return }
            for _ in 0..<1000 {
                guard process.isRunning else { break }
                usleep(50)
            }
            guard !process.isRunning else { return }
            status = Self.status(of: process)
        }
        guard let id = children.removeValue(forKey: pid)?.id else { return }
        Syscalls.sendMessage(socketFD, bytes: SpawnMessage.exited(id: id, pid: pid, status: status).encoded())
    }

    private static func status(of finished: Process) -> ExitStatus {
        finished.terminationReason == .uncaughtSignal ? .signalled(finished.terminationStatus) : .exited(finished.terminationStatus)
    }

    private func fail(_ id: UInt64, _ replyFD: Int32, _ message: String) {
        Syscalls.sendMessage(replyFD, bytes: SpawnMessage.failed(id: id, message: message).encoded())
    }

    /// A file URL, made once per path (Foundation's URLs cost microseconds each).
    private func url(_ path: String, isDirectory: Bool) -> URL {
        if let url = urls[path] { return url }
        let url = URL(fileURLWithPath: path, isDirectory: isDirectory)
        if urls.count < 128 { urls[path] = url }
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

/// The fds of one child being started: its ends (what Foundation moves onto its 0, 1 and 2) and
/// the server's (stdin's writer, stdout's and stderr's readers). All of them are opened here,
/// close-on-exec, and closed once the server has its copies (`opened`), so no copy leaks into a
/// later child and the spawner keeps none.
private struct ChildEnds {
    /// The child's stdin, stdout and stderr.
    var child: [Int32] = []
    /// The server's ends: stdin, stdout, stderr.
    var server: [Int32] = []
    /// Every fd opened, to close.
    var opened: [Int32] = []
    /// Why they are not all there.
    var error: Int32 = 0

    var isComplete: Bool { child.count == 3 && server.count == 3 }

    /// Three pipes (SPEC §3). Our own rather than Foundation's `Pipe`, whose fds are not
    /// close-on-exec.
    static func pipes() -> ChildEnds {
        var ends = ChildEnds()
        var pipes: [(read: Int32, write: Int32)] = []
        while pipes.count < 3, let pipe = Syscalls.makePipe() {
            pipes.append(pipe)
            ends.opened += [pipe.read, pipe.write]
        }
        guard pipes.count == 3 else {
            ends.error = Syscalls.lastError
            return ends
        }
        ends.child = [pipes[0].read, pipes[1].write, pipes[2].write]
        ends.server = [pipes[0].write, pipes[1].read, pipes[2].read]
        return ends
    }

    /// One pseudo-terminal for all three (SPEC §12, `--pty`). The server gets the primary side as
    /// stdin and a copy of it as stdout, so its event loop watches each direction on an fd of its
    /// own; and as stderr a pipe whose writer is closed here, which ends at once. Reading the
    /// primary fails with EIO once every holder of the secondary is gone: the end of the output.
    ///
    /// Foundation makes the child a process group leader but starts no session, so the terminal
    /// is not its controlling terminal (TIOCSCTTY needs a session leader): `isatty()` holds, and
    /// the server sends SIGWINCH and SIGHUP itself.
    static func terminal(_ setup: TerminalSetup) -> ChildEnds {
        var ends = ChildEnds()
        guard let (primary, secondary) = Syscalls.openTerminal(columns: setup.size.columns, rows: setup.size.rows,
                                                              keepsDefaults: setup.mode == .tty) else {
            ends.error = Syscalls.lastError
            return ends
        }
        ends.opened = [primary, secondary]
        let copy = Syscalls.duplicateCloseOnExec(primary)
        guard copy >= 0, let stderr = Syscalls.makePipe() else {
            ends.error = Syscalls.lastError
            if copy >= 0 { ends.opened.append(copy) }
            return ends
        }
        ends.opened += [copy, stderr.read, stderr.write]
        ends.child = [secondary, secondary, secondary]
        ends.server = [primary, copy, stderr.read]
        return ends
    }
}

/// Sends a child's exit report from Foundation's termination handler thread (kernels without
/// pidfds), after the child's announcement.
private final class ExitReporter: Sendable {
    let socketFD: Int32
    let announcing = NSLock()

    init(socketFD: Int32) { self.socketFD = socketFD }

    func report(id: UInt64, pid: Int32, status: ExitStatus) {
        announcing.lock()
        defer { announcing.unlock() }
        _ = Syscalls.sendMessage(socketFD, bytes: SpawnMessage.exited(id: id, pid: pid, status: status).encoded())
    }
}
