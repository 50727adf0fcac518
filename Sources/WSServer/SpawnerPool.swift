import Foundation
import Synchronization
import WSPlatform
import WSBridging

/// The server's spawner processes, sized by load rather than by core count: one from launch,
/// another while spawn requests queue or every spawner holds many children, up to
/// `maxSpawners`, and those idle for `idleNanoseconds` retired down to one.
///
/// Each spawner costs about 2 MiB of its own memory (Foundation's relocated data and heap) and
/// exists only to run `Process.run()` away from the server's fds; spawns are CPU-bound, so more
/// spawners than cores add no throughput. Four per core, as wsbridge once started, held 256
/// processes on a 64-core machine and most of an idle server's memory.
///
/// Any spawner serves any event loop, so no loop's spawns queue behind a busy spawner while
/// another sits idle. A session's loop sends its request straight to a spawner, under the pool's
/// lock, and the answer (the child's pipes) comes back on that loop's own socket
/// (`SpawnReplyChannel`): no other thread stands between a connection and its child. The pool's
/// own loop ("wsbridge-spawn") only watches the spawners' sockets (readiness, exit reports,
/// death), launches spawners and retires idle ones. It once carried every request and answer:
/// two thread hops per spawn, each a wake-up that on two cores waited for a core (0.05–1 ms
/// measured at the spawn's p50 and worse under load).
public final class SpawnerPool: @unchecked Sendable {
    /// The most spawner processes a server runs, on any machine: two per core, at most eight.
    /// Measured on 2 cores with 16 concurrent spawns (spawn c16 of `scripts/bench`, alternating
    /// runs): a cap of 4 matched the 8 spawners wsbridge used to start, within noise, while a cap
    /// of 2 cost about 10% of the connections per second and 20% of the p50. Since requests go
    /// straight to the spawners, two servers capped at 2 and 4 measured in alternating blocks
    /// (`wsbench spawnpair`, 8 × 128 spawns, twice) made the same rate within noise (1,285 and
    /// 1,386 against 1,322 and 1,338 connections/s). A spawn is mostly CPU in the spawner and its
    /// child, so beyond two per core spawners only wait for a core.
    /// `WSBRIDGE_INTERNAL_MAX_SPAWNERS` overrides it (tests).
    public static let maxSpawners: Int = {
        if let value = ProcessInfo.processInfo.environment["WSBRIDGE_INTERNAL_MAX_SPAWNERS"].flatMap(Int.init), value > 0 {
            return value
        }
        return min(8, 2 * Syscalls.processorCount())
    }()

    /// Spawn requests sent to one spawner before it answers: two, so that it starts the next
    /// child without waiting for its last answer to be read; the rest wait here for whichever
    /// spawner frees first.
    static let maxRequestsInFlight = 2

    /// Live children beyond which a spawner counts as crowded: each one holds a Foundation socket
    /// in the spawner, and every fd adds about 1.6 µs to its `Process.run()` (0.58 ms with few
    /// fds, 2.2 ms with 1,000 more, measured here), so 128 add about a third. When every spawner
    /// is crowded, the pool grows.
    static let childrenPerSpawner = 128

    /// How long a spawner with nothing to do stays before it is retired (the last one stays).
    /// Starting one again costs about 7 ms of CPU (11 ms without the static link), off the
    /// event loops.
    /// `WSBRIDGE_INTERNAL_SPAWNER_IDLE_MS` overrides it (tests).
    static let idleNanoseconds: UInt64 = {
        if let value = ProcessInfo.processInfo.environment["WSBRIDGE_INTERNAL_SPAWNER_IDLE_MS"].flatMap(UInt64.init), value > 0 {
            return value * 1_000_000
        }
        return 10_000_000_000
    }()

    /// A spawner that died before it was ready may die again at once: its replacement waits.
    private static let restartDelayNanoseconds: UInt64 = 1_000_000_000

    private let executable: String
    private let closeMilliseconds: Int
    private let logger: Logger
    /// The pool's own loop: spawners' sockets, launches, retirements.
    let loop = EventLoop(poller: EpollPoller())
    private var firstSocketFD: Int32
    private let nextID = Atomic<UInt64>(0)

    /// Guards everything below, and each spawner's bookkeeping (see `Spawner`): session loops
    /// send requests and take answers under it; the pool's loop manages spawners under it.
    let lock = NSLock()
    private var spawners: [Spawner] = []
    private var waiting: [SpawnerRequest] = []
    private var launchesUnderWay = 0
    /// The spawner each request in flight went to, by request id.
    private var inFlight: [UInt64: Spawner] = [:]
    /// Exit reports that overtook the answer to their request (they come on the spawner's own
    /// socket, the answer on the requesting loop's): kept until the answer arrives.
    private var earlyExits: [UInt64: ExitStatus] = [:]
    private var replyChannels: [ObjectIdentifier: SpawnReplyChannel] = [:]
    /// Touched on the pool's loop only.
    private var retirementTimer: TimerQueue.TimerID?

    /// Starts the first spawner process from `executable` (this program) now, while the caller
    /// has few fds open; `closeMilliseconds` is `--closems`, for the ladder spawners run if the
    /// server dies.
    public init(executable: String, closeMilliseconds: Int, logger: Logger) throws(SpawnError) {
        self.executable = executable
        self.closeMilliseconds = closeMilliseconds
        self.logger = logger
        firstSocketFD = try Spawner.launch(executable, closeMilliseconds: closeMilliseconds)
    }

    /// Starts the pool's thread.
    public func start() {
        let thread = Thread { [self] in
            let first = Spawner(socketFD: firstSocketFD, pool: self)
            lock.withLock { spawners.append(first) }
            firstSocketFD = -1
            loop.run()
        }
        thread.name = "wsbridge-spawn"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Starts a child for a session of `requester`; `completion` runs on `requester`'s thread.
    /// Call on `requester`'s thread.
    public func spawn(_ request: SpawnRequest, on requester: EventLoop,
                      completion: @escaping (Result<ChildProcess, SpawnError>) -> Void) {
        let channel = replyChannel(for: requester)
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        // Encoded here, outside the lock, on the requester's own thread.
        let message = SpawnMessage.spawn(id: id, request: request).encoded()
        lock.withLock {
            waiting.append(SpawnerRequest(id: id, message: message, channel: channel, requester: requester,
                                          completion: completion))
            dispatchLocked()
        }
    }

    /// Makes `loop`'s answer socket; call on its thread, or before it runs. The server does so
    /// for each of its loops as it starts them; a loop without one gets it on its first spawn.
    public func openReplyChannel(for loop: EventLoop) {
        _ = replyChannel(for: loop)
    }

    /// The loop's answer socket, made on first use (on its thread, which registers it). nil if it
    /// cannot be made: the spawner then answers on its own socket, through the pool's loop.
    private func replyChannel(for requester: EventLoop) -> SpawnReplyChannel? {
        let key = ObjectIdentifier(requester)
        if let channel = lock.withLock({ replyChannels[key] }) { return channel }
        guard let channel = SpawnReplyChannel(loop: requester, pool: self) else { return nil }
        lock.withLock { replyChannels[key] = channel }
        return channel
    }

    /// A spawner's answer to a request: on the requesting loop's channel (`onRequesterLoop`), or
    /// on the spawner's own socket when the request could not carry one.
    func answerArrived(_ message: SpawnMessage?, fds: [Int32], onRequesterLoop: Bool) {
        let answered: (request: SpawnerRequest, result: Result<ChildProcess, SpawnError>)?
        switch message {
        case .spawned(let id, let pid):
            answered = lock.withLock { () -> (SpawnerRequest, Result<ChildProcess, SpawnError>)? in
                guard let (spawner, request, earlyExit) = takeAnsweredLocked(id) else { return nil }
                // The freed place goes to a waiting request once this one's child is counted.
                defer { dispatchLocked() }
                guard fds.count >= 3 else {
                    // The pipes did not arrive (this process is out of fds, so the kernel
                    // dropped them): the child cannot be talked to, so it is ended at once.
                    spawner.releases.append(pid)
                    return (request, .failure(SpawnError(message: "out of file descriptors")))
                }
                let reportedExit = ReportedExit()
                if let earlyExit { reportedExit.report(earlyExit) }
                spawner.children[pid] = reportedExit
                return (request, .success(ChildProcess(pid: pid, stdinFD: fds[0], stdoutFD: fds[1], stderrFD: fds[2],
                                                       exitFD: fds.count > 3 ? fds[3] : -1,
                                                       reportedExit: reportedExit, spawner: spawner)))
            }
            if case .success = answered?.result {
                fds.dropFirst(4).forEach(Syscalls.close)
            } else {
                // No session takes this child: out of fds, or its spawner died and the request
                // failed already.
                fds.forEach(Syscalls.close)
                Syscalls.signalGroup(pid, Syscalls.forceKill)
            }
        case .failed(let id, let reason):
            fds.forEach(Syscalls.close)
            answered = lock.withLock {
                defer { dispatchLocked() }
                return takeAnsweredLocked(id).map { ($0.request, .failure(SpawnError(message: reason))) }
            }
        default:
            fds.forEach(Syscalls.close)
            return
        }
        guard let answered else { return }
        deliver(answered.result, to: answered.request, onRequesterLoop: onRequesterLoop)
    }

    /// The request `id` answers, with its spawner and any exit report that came first, no longer
    /// in flight. nil for an answer to a request that already failed (its spawner died).
    private func takeAnsweredLocked(_ id: UInt64) -> (spawner: Spawner, request: SpawnerRequest, earlyExit: ExitStatus?)? {
        guard let spawner = inFlight.removeValue(forKey: id), let request = spawner.pending.removeValue(forKey: id) else {
            return nil
        }
        return (spawner, request, earlyExits.removeValue(forKey: id))
    }

    private func deliver(_ result: Result<ChildProcess, SpawnError>, to request: SpawnerRequest, onRequesterLoop: Bool) {
        if onRequesterLoop {
            request.completion(result)
        } else {
            let completion = UncheckedSendable(request.completion)
            request.requester.execute { completion.value(result) }
        }
    }

    /// Sends every release still held back, so that the spawners, seeing the server's end,
    /// leave the groups of finished sessions alone. Called as the server exits.
    public func releaseFinishedGroups() {
        lock.withLock {
            for spawner in spawners { spawner.sendReleasesLocked() }
        }
    }

    // MARK: On the pool's loop

    /// A child of `spawner` exited, as the spawner reports when the kernel could not tell the
    /// session (see `ChildProcess.exitStatus(pidFD:)`).
    func exitReported(id: UInt64, pid: Int32, status: ExitStatus, by spawner: Spawner) {
        let reportedExit = lock.withLock { () -> ReportedExit? in
            if let reportedExit = spawner.children[pid] { return reportedExit }
            if inFlight[id] != nil { earlyExits[id] = status }
            return nil
        }
        reportedExit?.report(status)
    }

    /// A spawner became ready: it may take requests.
    func spawnerBecameReady(_ spawner: Spawner) {
        lock.withLock {
            spawner.isReady = true
            spawner.lastActiveNanoseconds = Syscalls.monotonicNanoseconds()
            dispatchLocked()
        }
    }

    /// A spawner process died (it never should): its requests fail, each on its own loop, and
    /// it is replaced.
    func spawnerEnded(_ spawner: Spawner) {
        let (failed, wasReady) = lock.withLock { () -> ([SpawnerRequest], Bool) in
            spawners.removeAll { $0 === spawner }
            let failed = Array(spawner.pending.values)
            for request in failed {
                inFlight[request.id] = nil
                earlyExits[request.id] = nil
            }
            spawner.pending.removeAll()
            spawner.children.removeAll()
            spawner.closeLocked()
            return (failed, spawner.isReady)
        }
        for request in failed {
            deliver(.failure(SpawnError(message: "the spawner process is gone")), to: request, onRequesterLoop: false)
        }
        launch(afterNanoseconds: wasReady ? 0 : Self.restartDelayNanoseconds, isReplacement: true)
    }

    // MARK: Under the lock

    private func dispatchLocked() {
        while !waiting.isEmpty, let spawner = nextSpawner() {
            let request = waiting.removeFirst()
            spawner.lastActiveNanoseconds = Syscalls.monotonicNanoseconds()
            spawner.pending[request.id] = request
            inFlight[request.id] = spawner
            spawner.sendLocked(request.message, passing: request.channel.map { [$0.spawnerEnd] } ?? [])
            // Releases ride along with the request, behind it: one wake of the spawner for both,
            // and the spawn does not wait for them.
            spawner.sendReleasesLocked()
        }
        growIfNeeded()
    }

    /// The oldest ready spawner that is doing nothing and is not crowded, so that light load
    /// stays on few spawners and the others go idle and retire; else the least busy one that
    /// can take a request; nil when every spawner has its fill of requests.
    private func nextSpawner() -> Spawner? {
        var best: Spawner?
        for spawner in spawners where spawner.isReady && spawner.pending.count < Self.maxRequestsInFlight {
            if spawner.pending.isEmpty && spawner.load < Self.childrenPerSpawner { return spawner }
            if let current = best, (current.pending.count, current.load) <= (spawner.pending.count, spawner.load) { continue }
            best = spawner
        }
        return best
    }

    /// More spawners while requests wait for one: as many as the waiting requests would fill
    /// (counting those still starting, which will take them), all at once, since a burst
    /// that waits for one start after another is mostly over before the pool has grown. One
    /// more when every spawner is crowded.
    private func growIfNeeded() {
        let starting = launchesUnderWay + spawners.count(where: { !$0.isReady })
        let room = Self.maxSpawners - spawners.count - launchesUnderWay
        guard room > 0 else { return }
        let wanted: Int
        if !waiting.isEmpty {
            wanted = (waiting.count + Self.maxRequestsInFlight - 1) / Self.maxRequestsInFlight
        } else if spawners.allSatisfy({ $0.load >= Self.childrenPerSpawner }) {
            wanted = 1
        } else {
            return
        }
        // More may be starting than are wanted now (the queue drained while they start).
        let launches = min(room, wanted - starting)
        guard launches > 0 else { return }
        for _ in 0..<launches { launchLocked(afterNanoseconds: 0, isReplacement: false) }
    }

    private func launch(afterNanoseconds delay: UInt64, isReplacement: Bool) {
        lock.withLock { launchLocked(afterNanoseconds: delay, isReplacement: isReplacement) }
    }

    /// Starts a spawner on a thread of its own: `Process.run()` here costs more with every fd the
    /// server holds (milliseconds with thousands of connections), and no loop may wait for it.
    /// A delay is only asked for on the pool's loop.
    private func launchLocked(afterNanoseconds delay: UInt64, isReplacement: Bool) {
        launchesUnderWay += 1
        let (executable, closeMilliseconds, loop) = (self.executable, self.closeMilliseconds, self.loop)
        let start: @Sendable () -> Void = { [self] in
            Thread.detachNewThread {
                let result = Result { () throws(SpawnError) in try Spawner.launch(executable, closeMilliseconds: closeMilliseconds) }
                loop.execute { self.launched(result, isReplacement: isReplacement) }
            }
        }
        if delay == 0 {
            start()
        } else {
            loop.schedule(afterNanoseconds: delay, start)
        }
    }

    private func launched(_ result: Result<Int32, SpawnError>, isReplacement: Bool) {
        switch result {
        case .success(let socketFD):
            let spawner = Spawner(socketFD: socketFD, pool: self)
            lock.withLock {
                launchesUnderWay -= 1
                spawners.append(spawner)
            }
            if isReplacement { logger.log(.error, "a spawner process ended; started a new one") }
            scheduleRetirementCheck()
        case .failure(let error):
            logger.log(.error, "cannot start a spawner process", ["error": error.message])
            let failed = lock.withLock { () -> [SpawnerRequest] in
                launchesUnderWay -= 1
                guard spawners.isEmpty else { return [] }
                // Nothing can start these children now; the next request tries again.
                let failed = waiting
                waiting.removeAll()
                return failed
            }
            for request in failed { deliver(.failure(error), to: request, onRequesterLoop: false) }
        }
    }

    /// While there is more than one spawner, looks for idle ones a few times per idle period.
    private func scheduleRetirementCheck() {
        guard retirementTimer == nil, lock.withLock({ spawners.count > 1 }) else { return }
        retirementTimer = loop.schedule(afterNanoseconds: max(Self.idleNanoseconds / 4, 50_000_000)) { [self] in
            retirementTimer = nil
            retireIdleSpawners()
            scheduleRetirementCheck()
        }
    }

    /// Retires every spawner with no child and no request that has been idle long enough, except
    /// the oldest, which always stays (and takes light load first, see `nextSpawner`).
    private func retireIdleSpawners() {
        let now = Syscalls.monotonicNanoseconds()
        lock.withLock {
            for spawner in spawners.dropFirst() {
                guard spawner.isReady, spawner.load == 0,
                      now - spawner.lastActiveNanoseconds >= Self.idleNanoseconds else { continue }
                // Released first: a spawner whose socket closes ends every group not released.
                spawner.sendReleasesLocked()
                spawner.closeLocked()
                spawners.removeAll { $0 === spawner }
            }
        }
    }
}

/// A spawn request waiting for a spawner or in flight: encoded once, with where its answer goes.
struct SpawnerRequest {
    let id: UInt64
    let message: [UInt8]
    /// The requesting loop's answer socket (nil: answer on the spawner's own socket).
    let channel: SpawnReplyChannel?
    let requester: EventLoop
    /// Runs on `requester`'s thread.
    let completion: (Result<ChildProcess, SpawnError>) -> Void
}
