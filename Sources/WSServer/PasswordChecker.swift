import Foundation
import Synchronization
import WSPlatform
import WSPasswords

/// Runs `--basicauth` password checks off the event loops (SPEC §11), a few at a time and at a
/// lower CPU priority than the loops, so that a burst of wrong passwords, each a bcrypt of tens
/// of milliseconds, slows other checks but not other clients' traffic. A successful check is
/// remembered for a minute, as Caddy's basic_auth does, so a page's many requests cost one hash.
final class PasswordChecker: @unchecked Sendable {
    /// Checks waiting or running at most; one more is answered 503 at once.
    static let maxPending = 1024
    /// How long a successful check is remembered.
    static let cacheNanoseconds: UInt64 = 60_000_000_000
    static let maxCacheEntries = 4096

    private let queue: OperationQueue
    private let pending = Atomic<Int>(0)
    /// Fingerprints of (user, password, hash) that checked out, with when they expire. Neither
    /// the password nor anything it could be recovered from in less than a hash is kept.
    private let cache = Mutex<[Fingerprint: UInt64]>([:])
    /// Random per process, so that fingerprints cannot be computed ahead.
    private let salt = (UInt64.random(in: .min ... .max), UInt64.random(in: .min ... .max))

    init(workers: Int = max(1, Syscalls.processorCount() / 2)) {
        queue = OperationQueue()
        queue.name = "wsbridge-passwords"
        queue.maxConcurrentOperationCount = workers
    }

    /// Checks `password` against `hash` and calls `done` on `loop` (the caller's own) with the
    /// answer; nil when too many checks are waiting (the caller answers 503).
    func check(_ password: [UInt8], user: String, against hash: String, on loop: EventLoop, _ done: @escaping (Bool?) -> Void) {
        let fingerprint = fingerprint(user: user, password: password, hash: hash)
        let now = Syscalls.monotonicNanoseconds()
        if cache.withLock({ ($0[fingerprint] ?? 0) > now }) {
            done(true)
            return
        }
        guard pending.add(1, ordering: .relaxed).newValue <= Self.maxPending else {
            pending.subtract(1, ordering: .relaxed)
            done(nil)
            return
        }
        // Both only cross to the worker and back to the loop that owns them.
        let box = UncheckedSendable((password, done))
        queue.addOperation { [self] in
            Self.lowerPriority()
            let matches = PasswordHash.verify(box.value.0, against: hash)
            pending.subtract(1, ordering: .relaxed)
            if matches { remember(fingerprint) }
            loop.execute { box.value.1(matches) }
        }
    }

    private func remember(_ fingerprint: Fingerprint) {
        let expiry = Syscalls.monotonicNanoseconds() + Self.cacheNanoseconds
        cache.withLock { entries in
            if entries.count >= Self.maxCacheEntries {
                let now = Syscalls.monotonicNanoseconds()
                entries = entries.filter { $0.value > now }
                if entries.count >= Self.maxCacheEntries { entries.removeAll() }
            }
            entries[fingerprint] = expiry
        }
    }

    /// Forgets every remembered check (the htpasswd file was reloaded).
    func forgetAll() { cache.withLock { $0.removeAll() } }

    private struct Fingerprint: Hashable {
        let high: Int
        let low: Int
    }

    private func fingerprint(user: String, password: [UInt8], hash: String) -> Fingerprint {
        func digest(_ seed: UInt64) -> Int {
            var hasher = Hasher()
            hasher.combine(seed)
            hasher.combine(user)
            hasher.combine(password.count)
            hasher.combine(bytes: UnsafeRawBufferPointer(start: password, count: password.count))
            hasher.combine(hash)
            return hasher.finalize()
        }
        return Fingerprint(high: digest(salt.0), low: digest(salt.1))
    }

    /// Nice 10 for the worker thread: the event loops win the CPU when both want it.
    private static func lowerPriority() {
        Syscalls.setThreadNice(10)
    }
}
