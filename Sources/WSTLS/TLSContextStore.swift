import Synchronization

/// The TLS context new connections use, replaced as a whole on reload (SIGHUP, SPEC §10): new
/// handshakes take the new files, open sessions keep the context they began with, and a reload
/// that fails keeps the old one.
package final class TLSContextStore: Sendable {
    private let current: Mutex<TLSContext>

    package init(_ context: TLSContext) { current = Mutex(context) }

    /// The context for a connection that starts now.
    package var context: TLSContext { current.withLock { $0 } }

    /// Loads the same files again; on failure the old context stays and the error says why.
    package func reload() throws(TLSConfigurationError) {
        let files = context.files
        let fresh = try TLSContext.load(files)
        current.withLock { $0 = fresh }
    }
}
