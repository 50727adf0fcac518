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
    /// Checks waiting or running for one client address at most: one client guessing passwords
    /// cannot fill the queue in front of everyone else's logins (a bcrypt at cost 10 takes about
    /// 70 ms here: 1,000 queued guesses would hold a new login back for over a minute).
    static let maxPendingPerClient = 4
    /// How long a successful check is remembered.
    static let cacheNanoseconds: UInt64 = 60_000_000_000
    static let maxCacheEntries = 4096

    private let queue: OperationQueue
    private let slots = PerClientSlots(total: maxPending, perClient: maxPendingPerClient)
    /// Checks under way, with the requests waiting for the same answer: a page's parallel first
    /// requests with the same credentials cost one hash, and count once against the limits.
    private let inFlight = Mutex<[Fingerprint: [Waiter]]>([:])

    private struct Waiter: @unchecked Sendable {
        let loop: EventLoop
        let done: (Outcome) -> Void
    }
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

    /// What a check found.
    enum Outcome {
        case matches, differs
        /// Too many checks wait in all (503) or for this client (429).
        case busy, clientBusy
    }

    /// Checks `password` against `hash` for the client `clientKey` and calls `done` on `loop`
    /// (the caller's own) with the outcome.
    func check(_ password: [UInt8], user: String, against hash: String, clientKey: String, on loop: EventLoop,
               _ done: @escaping (Outcome) -> Void) {
        let fingerprint = fingerprint(user: user, password: password, hash: hash)
        let now = Syscalls.monotonicNanoseconds()
        if cache.withLock({ ($0[fingerprint] ?? 0) > now }) {
            done(.matches)
            return
        }
        // Joining a check under way, or starting one, is one step under the lock: two loops
        // starting the same check at once would otherwise both insert, and the second would
        // drop the first's waiters (their connections never answered).
        let admission = inFlight.withLock { waiting -> PerClientSlots.Admission? in
            let waiter = Waiter(loop: loop, done: done)
            if waiting[fingerprint] != nil {
                waiting[fingerprint]!.append(waiter)
                return nil
            }
            let admission = slots.reserve(clientKey)
            if admission == .admitted { waiting[fingerprint] = [waiter] }
            return admission
        }
        switch admission {
        case nil: return  // joined the check under way
        case .admitted?: break
        case .busy?: return done(.busy)
        case .clientBusy?: return done(.clientBusy)
        }
        // The password only crosses to the worker; each answer goes back to its waiter's loop.
        let box = UncheckedSendable(password)
        queue.addOperation { [self] in
            Self.lowerPriority()
            let matches = PasswordHash.verify(box.value, against: hash)
            slots.release(clientKey)
            if matches { remember(fingerprint) }
            let waiters = inFlight.withLock { $0.removeValue(forKey: fingerprint) ?? [] }
            for waiter in waiters {
                let answer = UncheckedSendable(waiter.done)
                waiter.loop.execute { answer.value(matches ? .matches : .differs) }
            }
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
            password.withUnsafeBytes { hasher.combine(bytes: $0) }
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
