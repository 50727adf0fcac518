import Synchronization
import WSPlatform

/// The open event-stream sessions by id (SPEC §12), across every event loop: where a POST with
/// `X-WSBridge-Session`, accepted on any loop, finds the session whose stdin it feeds. A session
/// is listed from its start to its end; the entry holds it weakly and names its loop, the only
/// thread that may touch it.
final class EventStreamDirectory: Sendable {
    struct Entry: Sendable {
        let session: WeakSendable<WebSocketSession>
        let loop: UncheckedSendable<EventLoop>
        /// The path its GET named: a POST must name the same (SPEC §12).
        let path: String
    }

    private let entries = Mutex<[String: Entry]>([:])

    func add(_ session: WebSocketSession, id: String) {
        entries.withLock { $0[id] = Entry(session: WeakSendable(session), loop: UncheckedSendable(session.loop), path: session.head.path) }
    }

    func remove(id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }

    /// The session listed under `id`, to be used on its loop only.
    func find(id: String) -> Entry? {
        entries.withLock { $0[id] }
    }

}
