import Synchronization

/// Counted slots with a bound in all and a bound per client address: sessions for
/// `--maxconnsperip`, running `--authcmd` hooks, waiting password checks. One client cannot take
/// every slot, and a table entry lives only while its client holds a slot.
final class PerClientSlots: Sendable {
    /// Whether a slot was taken, or which bound refused it.
    enum Admission: Equatable {
        case admitted
        /// Every slot is taken (503).
        case busy
        /// This client holds its most (429).
        case clientBusy
    }

    /// Slots at most in all, and per client; `Int.max` for no bound.
    let total: Int, perClient: Int
    private let held = Mutex<(total: Int, perClient: [String: Int])>((0, [:]))

    init(total: Int = .max, perClient: Int) {
        self.total = total
        self.perClient = perClient
    }

    /// Takes a slot for the client `key` when both bounds allow it.
    func reserve(_ key: String) -> Admission {
        held.withLock { held in
            guard held.total < total else { return .busy }
            let current = held.perClient[key, default: 0]
            guard current < perClient else { return .clientBusy }
            held.total += 1
            held.perClient[key] = current + 1
            return .admitted
        }
    }

    /// Gives back a slot `reserve` took for `key`.
    func release(_ key: String) {
        held.withLock { held in
            held.total -= 1
            let left = held.perClient[key, default: 1] - 1
            held.perClient[key] = left > 0 ? left : nil
        }
    }
}
