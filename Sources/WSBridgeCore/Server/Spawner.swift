import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The server's end of one spawner process (`SpawnerProcess`): requests out, children and exit
/// reports in. Driven by the `SpawnerPool`'s loop; only `queryExit(of:)` and `forget(_:)` may be
/// called from other threads (sessions call them from their own loops).
///
/// Why a separate process: Foundation's `Process.run()` adds one close action for every fd up to
/// the highest one open, so in a server holding thousands of connections each spawn would cost
/// milliseconds more (measured here: a connect-to-first-message p50 of 2.4 ms idle, 16 ms with
/// 1,000 connections open). The spawner keeps that cost flat, runs `Process` for us, and hands
/// back the pipes over a Unix socket (SCM_RIGHTS). Its own cost still grows by one Foundation
/// socket per live child, which is why the pool counts each spawner's `load`.
public final class Spawner: EventHandler, @unchecked Sendable {
    private let socketFD: Int32
    private let loop: EventLoop
    private weak var pool: SpawnerPool?
    private var registration: EventLoop.Registration?
    private var pending: [UInt64: (Result<ChildProcess, SpawnError>) -> Void] = [:]
    /// Children whose sessions go on (until `forget`), with where their exit report goes.
    private var children: [Int32: ReportedExit] = [:]
    private var nextID: UInt64 = 0
    /// Requests the socket could not take yet (it is non-blocking).
    private var outbox: [[UInt8]] = []
    /// Replies are small; the buffer is never written before use, so only the pages they fill cost memory.
    private var receiveBuffer = [UInt8](unsafeUninitializedCapacity: 64 * 1024) { _, count in count = 64 * 1024 }
    /// The spawner has warmed up and said so; requests sent earlier would wait for its startup.
    private(set) var isReady = false
    private var isClosed = false
    /// When it last started a child or answered (monotonic ns), for retiring idle spawners.
    private(set) var lastActiveNanoseconds = Syscalls.monotonicNanoseconds()

    /// Takes over `socketFD`, the server's end of a spawner launched with `launch`. Call on
    /// `loop`'s thread.
    init(socketFD: Int32, loop: EventLoop, pool: SpawnerPool) {
        self.socketFD = socketFD
        self.loop = loop
        self.pool = pool
        registration = loop.register(socketFD, handler: self, source: 0, interest: .readWrite)
    }

    /// Starts a spawner process from `executable` (this program) and returns the server's
    /// (non-blocking, close-on-exec) end of its socket. Callable from any thread.
    ///
    /// Nothing else the server holds reaches the spawner, however many connections are open:
    /// every fd the server opens is close-on-exec, and Foundation closes every fd above 2 in the
    /// new process anyway. What it costs to start one grows with those fds (see above), which is
    /// why the pool launches spawners off its loop.
    static func launch(_ executable: String, closeMilliseconds: Int) throws(SpawnError) -> Int32 {
        guard let (serverEnd, spawnerEnd) = Syscalls.makeSeqpacketPair() else {
            throw SpawnError(message: "cannot create the spawner's socket")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [SpawnerProcess.argument, String(closeMilliseconds)]
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
    /// sockets, so how slow to spawn) this spawner is. Zero means it can be retired.
    var load: Int { children.count + pending.count }

    /// Spawn requests sent and not answered yet.
    var requestsInFlight: Int { pending.count }

    /// The session of `pid` is over and its group gone: no report for it is awaited any more, it
    /// no longer counts towards `load`, and the spawner need not end it if the server dies.
    /// Callable from any thread.
    public func forget(_ pid: Int32) {
        loop.execute { [self] in
            guard children.removeValue(forKey: pid) != nil, !isClosed else { return }
            send(SpawnMessage.release(pid: pid).encoded())
        }
    }

    /// Asks for the exit report of `pid` now that its pidfd says it has exited. Callable from
    /// any thread.
    public func queryExit(of pid: Int32) {
        loop.execute { [self] in
            guard !isClosed else { return }
            send(SpawnMessage.queryExit(pid: pid).encoded())
        }
    }

    /// Starts a child; `completion` runs on the pool's loop with the result.
    func spawn(_ request: SpawnRequest, completion: @escaping (Result<ChildProcess, SpawnError>) -> Void) {
        precondition(isReady && !isClosed, "the pool sends requests only to ready spawners")
        lastActiveNanoseconds = Syscalls.monotonicNanoseconds()
        nextID += 1
        pending[nextID] = completion
        send(SpawnMessage.spawn(id: nextID, request: request).encoded())
    }

    /// Closes the socket of an idle spawner (`load` 0): it sees EOF, has no group to end, and exits.
    func retire() {
        precondition(load == 0, "a spawner with children is never retired: closing its socket would end them")
        close()
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
        while !isClosed, let message = outbox.first {
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
        while !isClosed {
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
        case .ready:
            fds.forEach(Syscalls.close)
            isReady = true
            lastActiveNanoseconds = Syscalls.monotonicNanoseconds()
            pool?.spawnerBecameAvailable()
        case .spawned(let id, let pid):
            lastActiveNanoseconds = Syscalls.monotonicNanoseconds()
            guard let completion = pending.removeValue(forKey: id) else {
                fds.forEach(Syscalls.close)
                return
            }
            guard fds.count >= 3 else {
                // The pipes did not arrive (this process is out of fds, so the kernel dropped
                // them): the child cannot be talked to, so it is ended at once.
                fds.forEach(Syscalls.close)
                Syscalls.signalGroup(pid, Syscalls.forceKill)
                send(SpawnMessage.release(pid: pid).encoded())
                completion(.failure(SpawnError(message: "out of file descriptors")))
                pool?.spawnerBecameAvailable()
                return
            }
            let reportedExit = ReportedExit()
            children[pid] = reportedExit
            fds.dropFirst(4).forEach(Syscalls.close)
            completion(.success(ChildProcess(pid: pid, stdinFD: fds[0], stdoutFD: fds[1], stderrFD: fds[2],
                                             exitFD: fds.count > 3 ? fds[3] : -1, reportedExit: reportedExit,
                                             spawner: self)))
            pool?.spawnerBecameAvailable()
        case .failed(let id, let message):
            lastActiveNanoseconds = Syscalls.monotonicNanoseconds()
            fds.forEach(Syscalls.close)
            pending.removeValue(forKey: id)?(.failure(SpawnError(message: message)))
            pool?.spawnerBecameAvailable()
        case .exited(let pid, let status):
            fds.forEach(Syscalls.close)
            // Still counted until `forget`: its group may live on, and so does Foundation's
            // socket for it in the spawner.
            children[pid]?.report(status)
        case .spawn, .queryExit, .release, nil:
            fds.forEach(Syscalls.close)
        }
    }

    private func close() {
        guard !isClosed else { return }
        isClosed = true
        if let registration { loop.deregister(registration) }
        registration = nil
        Syscalls.close(socketFD)
        outbox.removeAll()
    }

    /// The spawner process died (it never should): fail what waited for it and let the pool
    /// replace it. Exits of its children can no longer be reported; their sessions end without
    /// a status after their grace period.
    private func spawnerEnded() {
        let wasReady = isReady
        close()
        children.removeAll()
        let waiting = pending.values
        pending.removeAll()
        for completion in waiting { completion(.failure(SpawnError(message: "the spawner process is gone"))) }
        pool?.spawnerEnded(self, wasReady: wasReady)
    }
}
