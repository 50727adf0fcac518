import Synchronization
import WSPlatform

/// The shared children of `--broadcast` and `--sessions` (SPEC §13), by name, across every event
/// loop. A session lives on one loop, and its clients are moved there; this is the one place
/// where a client arriving on any loop and a session ending on its own meet, under one lock: a
/// session that finds itself unused leaves here in the same step, so a client either joins a
/// session that will take it or starts a new one, never one that is ending.
final class SharedSessionDirectory: Sendable {
    private struct Entry {
        let session: UncheckedSendable<SharedChild>
        /// Clients admitted and not yet left, those on their way to the session's loop included.
        var clients: Int
    }

    private let entries = Mutex<[String: Entry]>([:])

    enum Admission {
        /// Join this session (on its loop).
        case join(SharedChild)
        /// A new session was made for the client; start it.
        case created(SharedChild)
        /// A new child was needed and `--maxforks` has none left.
        case noChildSlot
    }

    /// Admits a client to the session named `key`, or makes one with `create` (which may refuse:
    /// no child slot).
    func admit(key: String, create: () -> SharedChild?) -> Admission {
        entries.withLock { entries in
            if var entry = entries[key] {
                entry.clients += 1
                entries[key] = entry
                return .join(entry.session.value)
            }
            guard let session = create() else { return .noChildSlot }
            entries[key] = Entry(session: UncheckedSendable(session), clients: 1)
            return .created(session)
        }
    }

    /// A client of `session` left. True when it was the last one and nobody is on the way; then,
    /// unless the session `lingers`, it has left the directory.
    func clientLeft(_ session: SharedChild, key: String, lingers: Bool) -> Bool {
        entries.withLock { entries in
            guard var entry = entries[key], entry.session.value === session else { return false }
            entry.clients -= 1
            guard entry.clients == 0 else {
                entries[key] = entry
                return false
            }
            if lingers {
                entries[key] = entry
            } else {
                entries[key] = nil
            }
            return true
        }
    }

    /// Lets a lingering session go if still nobody came; true when it left.
    func removeIfUnused(_ session: SharedChild, key: String) -> Bool {
        entries.withLock { entries in
            guard let entry = entries[key], entry.session.value === session else { return true }
            guard entry.clients == 0 else { return false }
            entries[key] = nil
            return true
        }
    }

    /// Takes `session` out: the next client of its name starts a new child.
    func remove(_ session: SharedChild, key: String) {
        entries.withLock { entries in
            if let entry = entries[key], entry.session.value === session { entries[key] = nil }
        }
    }

    /// How many sessions are listed (for tests and metrics).
    var count: Int { entries.withLock { $0.count } }
}
