import WSPlatform

/// Gives back the pages of wsbridge's own code that an idle server does not run: once startup is
/// over (option parsing, configuration, TLS setup and Foundation's own start run once), and again
/// after each busy spell, once no session is open and no connection has come for `quietPeriod`.
/// The pages stay in the page cache, reclaimable, and fault back in (a minor fault each) when
/// they run again. On the 2-core bench machine this halves the resident code of an idle server
/// (issue 10: idle PSS). The spawners do the same for themselves (`SpawnerProcess`).
///
/// Runs on one event loop: a timer that looks every `quietPeriod`.
final class IdleCodeTrim {
    static let quietPeriodNanoseconds: UInt64 = 5_000_000_000

    private let context: ServerContext
    private unowned let loop: EventLoop
    /// The connection count at the last look, and at the last trim.
    private var seenConnections: UInt64 = 0
    private var trimmedAt: UInt64?

    init(context: ServerContext, loop: EventLoop) {
        self.context = context
        self.loop = loop
    }

    func start() {
        trimIfQuiet()
    }

    private func trimIfQuiet() {
        let connections = context.connectionsAccepted
        let isQuiet = connections == seenConnections && context.liveSessions == 0 && context.liveSharedChildren == 0
        if isQuiet && trimmedAt != connections && !context.isShuttingDown {
            Syscalls.releaseExecutableCodePages()
            trimmedAt = connections
        }
        seenConnections = connections
        _ = loop.schedule(afterNanoseconds: Self.quietPeriodNanoseconds) { [weak self] in self?.trimIfQuiet() }
    }
}
