import Foundation
#if canImport(Glibc)
import Glibc
#endif
import WSPlatform
import WSBridging

/// The server's end of one spawner process (`SpawnerProcess`): spawn requests and releases go
/// out from any loop, under the pool's lock; its socket is watched on the pool's loop for its
/// readiness, exit reports and its end. Answers to requests come back on the asking loop's own
/// channel (`SpawnReplyChannel`).
///
/// Why a separate process: Foundation's `Process.run()` adds one close action for every fd up to
/// the highest one open, so in a server holding thousands of connections each spawn would cost
/// milliseconds more (measured here: a connect-to-first-message p50 of 2.4 ms idle, 16 ms with
/// 1,000 connections open). The spawner keeps that cost flat, runs `Process` for us, and hands
/// back the pipes over a Unix socket (SCM_RIGHTS). Its own cost still grows by one Foundation
/// socket per live child, which is why the pool counts each spawner's `load`.
public final class Spawner: EventHandler, @unchecked Sendable {
    /// How long a finished session's release may wait for a request to ride along with: the
    /// spawner only needs it before the server's end, and a datagram per session woke the
    /// spawner and the pool's loop once more for every connection.
    static let releaseDelayNanoseconds: UInt64 = 100_000_000

    private let socketFD: Int32
    private unowned let pool: SpawnerPool
    /// On the pool's loop.
    private var registration: EventLoop.Registration?
    /// Replies are small; the buffer is never written before use, so only the pages they fill cost memory.
    private var receiveBuffer = [UInt8](unsafeUninitializedCapacity: 64 * 1024) { _, count in count = 64 * 1024 }

    // Guarded by the pool's lock.
    /// Requests sent and not answered yet, by id.
    var pending: [UInt64: SpawnerRequest] = [:]
    /// Children whose sessions go on (until `forget`), with where their exit report goes.
    var children: [Int32: ReportedExit] = [:]
    /// Finished sessions' children not yet released to the spawner.
    var releases: [Int32] = []
    private var releaseFlushScheduled = false
    /// Datagrams the socket could not take yet (it is non-blocking), with the fds they pass.
    private var outbox: [(bytes: [UInt8], fds: [Int32])] = []
    /// The spawner has warmed up and said so; requests sent earlier would wait for its startup.
    var isReady = false
    private var isClosed = false
    /// When it last started a child or answered (monotonic ns), for retiring idle spawners.
    var lastActiveNanoseconds = Syscalls.monotonicNanoseconds()

    /// Takes over `socketFD`, the server's end of a spawner launched with `launch`. Call on the
    /// pool's loop.
    init(socketFD: Int32, pool: SpawnerPool) {
        self.socketFD = socketFD
        self.pool = pool
        // Read interest only: with write interest every request the spawner reads would wake
        // the pool's loop (an edge each time the socket drains). A full socket is retried on a
        // timer instead (`sendLocked`), which takes far more than two requests in flight.
        registration = pool.loop.register(socketFD, handler: self, source: 0, interest: .read)
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

    /// The session of `pid` is over and its group gone: no report for it is awaited any more, it
    /// no longer counts towards `load`, and the spawner need not end it if the server dies.
    /// The release goes with the next request to this spawner, or within
    /// `releaseDelayNanoseconds`. Callable from any thread.
    public func forget(_ pid: Int32) {
        let needsTimer = pool.lock.withLock { () -> Bool in
            guard children.removeValue(forKey: pid) != nil, !isClosed else { return false }
            releases.append(pid)
            guard !releaseFlushScheduled else { return false }
            releaseFlushScheduled = true
            return true
        }
        guard needsTimer else { return }
        let loop = pool.loop
        loop.execute { [self] in
            loop.schedule(afterNanoseconds: Self.releaseDelayNanoseconds) { [self] in
                pool.lock.withLock {
                    releaseFlushScheduled = false
                    sendReleasesLocked()
                }
            }
        }
    }

    /// Asks for the exit report of `pid` now that its pidfd says it has exited and the kernel
    /// did not tell the status. Callable from any thread.
    public func queryExit(of pid: Int32) {
        pool.lock.withLock { sendLocked(SpawnMessage.queryExit(pid: pid).encoded()) }
    }

    // MARK: Under the pool's lock

    func sendReleasesLocked() {
        guard !releases.isEmpty else { return }
        sendLocked(SpawnMessage.release(pids: releases).encoded())
        releases.removeAll(keepingCapacity: true)
    }

    /// Sends a datagram now, or queues it behind those the socket could not take yet, for the
    /// pool's loop to retry. A socket that fails otherwise belongs to a spawner that is dying:
    /// the pool's loop sees its end.
    func sendLocked(_ bytes: [UInt8], passing fds: [Int32] = []) {
        guard !isClosed else { return }
        if outbox.isEmpty {
            if Syscalls.sendMessage(socketFD, bytes: bytes, passing: fds) { return }
            let error = Syscalls.lastError
            guard error == EAGAIN || error == EWOULDBLOCK else { return }
            pool.loop.execute { [self] in retryOutbox() }
        }
        outbox.append((bytes, fds))
    }

    /// On the pool's loop: sends what the socket could not take, every millisecond until it has.
    private func retryOutbox() {
        let isEmpty = pool.lock.withLock { () -> Bool in
            flushOutboxLocked()
            return outbox.isEmpty
        }
        if !isEmpty { pool.loop.schedule(afterNanoseconds: 1_000_000) { [self] in retryOutbox() } }
    }

    /// Closes the socket: the spawner sees EOF and exits, ending every group not released.
    /// On the pool's loop, which owns the registration.
    func closeLocked() {
        guard !isClosed else { return }
        isClosed = true
        if let registration { pool.loop.deregister(registration) }
        registration = nil
        Syscalls.close(socketFD)
        outbox.removeAll()
    }

    // MARK: On the pool's loop

    public func handle(_ events: PollEvents, source: UInt8) {
        receiveReports()
    }

    private func flushOutboxLocked() {
        while !isClosed, let next = outbox.first {
            guard Syscalls.sendMessage(socketFD, bytes: next.bytes, passing: next.fds) else { return }
            outbox.removeFirst()
        }
    }

    private func receiveReports() {
        while pool.lock.withLock({ !isClosed }) {
            switch Syscalls.receiveMessage(socketFD, into: &receiveBuffer, isNonBlocking: true) {
            case .message(let count, let fds):
                dispatch(SpawnMessage.decode(receiveBuffer[0..<count]), fds: fds)
            case .wouldBlock:
                return
            case .closed:
                // The spawner process died (it never should).
                pool.spawnerEnded(self)
                return
            }
        }
    }

    private func dispatch(_ message: SpawnMessage?, fds: [Int32]) {
        switch message {
        case .ready:
            fds.forEach(Syscalls.close)
            pool.spawnerBecameReady(self)
        case .spawned, .failed:
            // A request that could not carry its loop's channel is answered here.
            pool.answerArrived(message, fds: fds, onRequesterLoop: false)
        case .exited(let id, let pid, let status):
            fds.forEach(Syscalls.close)
            // Still counted until `forget`: its group may live on, and so does Foundation's
            // socket for it in the spawner.
            pool.exitReported(id: id, pid: pid, status: status, by: self)
        case .spawn, .queryExit, .release, nil:
            fds.forEach(Syscalls.close)
        }
    }
}
