#if canImport(Glibc)
import Glibc
#endif
import WSPlatform
import WSBridging

/// One event loop's own socket for the spawners' answers: every spawn request a loop sends
/// carries a copy of `spawnerEnd`, and the spawner answers on it, so the child's pipes arrive on
/// the loop whose session asked, with no thread hop on the way. Created by the pool the first
/// time a loop spawns; lives as long as the server.
final class SpawnReplyChannel: EventHandler {
    /// Passed with each request (SCM_RIGHTS); blocking, so a spawner waits rather than drop an
    /// answer while this loop is busy.
    let spawnerEnd: Int32
    private let loopEnd: Int32
    let loop: EventLoop
    private unowned let pool: SpawnerPool
    private var registration: EventLoop.Registration?
    /// Answers are a few bytes; the buffer's pages are touched only as far as they fill.
    private var buffer = [UInt8](unsafeUninitializedCapacity: 4096) { _, count in count = 4096 }

    /// Call on `loop`'s thread; nil when no socket can be made (out of fds).
    init?(loop: EventLoop, pool: SpawnerPool) {
        guard let (loopEnd, spawnerEnd) = Syscalls.makeSeqpacketPair() else { return nil }
        Syscalls.setNonBlocking(loopEnd)
        self.loopEnd = loopEnd
        self.spawnerEnd = spawnerEnd
        self.loop = loop
        self.pool = pool
        registration = loop.register(loopEnd, handler: self, source: 0, interest: .read)
    }

    func handle(_ events: PollEvents, source: UInt8) {
        while case .message(let count, let fds) = Syscalls.receiveMessage(loopEnd, into: &buffer, isNonBlocking: true) {
            pool.answerArrived(SpawnMessage.decode(buffer[0..<count]), fds: fds, onRequesterLoop: true)
        }
    }
}
