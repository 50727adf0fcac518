import Foundation

/// The server's spawner processes, sized by load rather than by core count: one from launch,
/// another while spawn requests queue or every spawner holds many children, up to
/// `maxSpawners`, and those idle for `idleNanoseconds` retired down to one.
///
/// Each spawner costs about 2 MiB of its own memory (Foundation's relocated data and heap) and
/// exists only to run `Process.run()` away from the server's fds; spawns are CPU-bound, so more
/// spawners than cores add no throughput. Four per core, as wsbridge once started, held 256
/// processes on a 64-core machine and most of an idle server's memory.
///
/// The pool runs on a loop of its own ("wsbridge-spawn"), which drives every spawner's socket:
/// a spawner serves every event loop, so no loop's spawns queue behind a busy spawner while
/// another sits idle. Requests arrive through `spawn(_:on:completion:)` from any loop, and each
/// answer goes back to the loop that asked.
public final class SpawnerPool: @unchecked Sendable {
    /// The most spawner processes a server runs, on any machine: two per core, at most eight.
    /// Measured on 2 cores with 16 concurrent spawns (spawn c16 of `scripts/bench`, alternating
    /// runs): a cap of 4 matched the 8 spawners wsbridge used to start, within noise, while a cap
    /// of 2 cost about 10% of the connections per second and 20% of the p50. A spawn is mostly
    /// CPU in the spawner and its child, so beyond two per core spawners only wait for a core.
    /// `WSBRIDGE_INTERNAL_MAX_SPAWNERS` overrides it (tests).
    public static let maxSpawners: Int = {
        if let value = ProcessInfo.processInfo.environment["WSBRIDGE_INTERNAL_MAX_SPAWNERS"].flatMap(Int.init), value > 0 {
            return value
        }
        return min(8, 2 * Syscalls.processorCount())
    }()

    /// Spawn requests sent to one spawner before it answers: two, so that it starts the next
    /// child without waiting for a round trip through this loop; the rest wait here for
    /// whichever spawner frees first.
    static let maxRequestsInFlight = 2

    /// Live children beyond which a spawner counts as crowded: each one holds a Foundation socket
    /// in the spawner, and every fd adds about 1.6 µs to its `Process.run()` (0.58 ms with few
    /// fds, 2.2 ms with 1,000 more, measured here), so 128 add about a third. When every spawner
    /// is crowded, the pool grows.
    static let childrenPerSpawner = 128

    /// How long a spawner with nothing to do stays before it is retired (the last one stays).
    /// Starting one again costs a few tens of milliseconds of CPU, off the event loops.
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
    private let loop = EventLoop(poller: EpollPoller())
    private var firstSocketFD: Int32
    private var spawners: [Spawner] = []
    private var waiting: [(request: SpawnRequest, completion: (Result<ChildProcess, SpawnError>) -> Void)] = []
    private var launchesUnderWay = 0
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
            spawners.append(Spawner(socketFD: firstSocketFD, loop: loop, pool: self))
            firstSocketFD = -1
            loop.run()
        }
        thread.name = "wsbridge-spawn"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Starts a child for a session of `requester`; `completion` runs on `requester`'s thread.
    /// Callable from any thread.
    public func spawn(_ request: SpawnRequest, on requester: EventLoop,
                      completion: @escaping (Result<ChildProcess, SpawnError>) -> Void) {
        let reply = UncheckedSendable(completion)
        loop.execute { [self] in
            waiting.append((request, { result in requester.execute { reply.value(result) } }))
            dispatch()
        }
    }

    // MARK: On the pool's loop

    /// A spawner became ready or answered a request: it may take another.
    func spawnerBecameAvailable() {
        dispatch()
    }

    /// A spawner process died (it never should): replace it. Its requests have failed.
    func spawnerEnded(_ spawner: Spawner, wasReady: Bool) {
        spawners.removeAll { $0 === spawner }
        launch(afterNanoseconds: wasReady ? 0 : Self.restartDelayNanoseconds, isReplacement: true)
    }

    private func dispatch() {
        while !waiting.isEmpty, let spawner = nextSpawner() {
            let next = waiting.removeFirst()
            spawner.spawn(next.request, completion: next.completion)
        }
        growIfNeeded()
    }

    /// The oldest ready spawner that is doing nothing and is not crowded, so that light load
    /// stays on few spawners and the others go idle and retire; else the least busy one that
    /// can take a request; nil when every spawner has its fill of requests.
    private func nextSpawner() -> Spawner? {
        var best: Spawner?
        for spawner in spawners where spawner.isReady && spawner.requestsInFlight < Self.maxRequestsInFlight {
            if spawner.requestsInFlight == 0 && spawner.load < Self.childrenPerSpawner { return spawner }
            if let current = best, (current.requestsInFlight, current.load) <= (spawner.requestsInFlight, spawner.load) { continue }
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
        for _ in 0..<launches { launch(afterNanoseconds: 0, isReplacement: false) }
    }

    /// Starts a spawner on a thread of its own: `Process.run()` here costs more with every fd the
    /// server holds (milliseconds with thousands of connections), and this loop must keep
    /// answering meanwhile.
    private func launch(afterNanoseconds delay: UInt64, isReplacement: Bool) {
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
        launchesUnderWay -= 1
        switch result {
        case .success(let socketFD):
            spawners.append(Spawner(socketFD: socketFD, loop: loop, pool: self))
            if isReplacement { logger.log(.error, "a spawner process ended; started a new one") }
            scheduleRetirementCheck()
        case .failure(let error):
            logger.log(.error, "cannot start a spawner process", ["error": error.message])
            guard spawners.isEmpty else { return }
            // Nothing can start these children now; the next request tries again.
            let failed = waiting
            waiting.removeAll()
            for request in failed { request.completion(.failure(error)) }
        }
    }

    /// While there is more than one spawner, looks for idle ones a few times per idle period.
    private func scheduleRetirementCheck() {
        guard retirementTimer == nil, spawners.count > 1 else { return }
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
        for spawner in spawners.dropFirst() {
            guard spawner.isReady, spawner.load == 0, now - spawner.lastActiveNanoseconds >= Self.idleNanoseconds else { continue }
            spawner.retire()
            spawners.removeAll { $0 === spawner }
        }
    }
}
