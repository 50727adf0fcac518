import WSPlatform
import WSTLS

/// What a listening socket serves (SPEC §10): plain HTTP and WebSocket, the same over TLS, or
/// (`--redirport`) a 301 to https for every request.
enum ListenerRole: Sendable, Equatable {
    case plain
    case tls
    case redirectToHTTPS(port: Int)
    /// `--metrics` (SPEC §14): `/metrics` and `/healthz`, plain HTTP, open until exit.
    case metrics
}

/// A listening socket shared by every event loop: each loop registers it (EPOLLEXCLUSIVE, so one
/// loop wakes per connection) and accepts onto itself, which spreads connections over the cores.
final class Listener: EventHandler {
    let fd: Int32
    let address: SocketAddress
    let role: ListenerRole
    private unowned let loop: EventLoop
    private let context: ServerContext
    private let registry: ConnectionRegistry
    private var registration: EventLoop.Registration?
    private var lastAcceptErrorLog: UInt64 = 0
    private var isStopped = false

    init(fd: Int32, address: SocketAddress, role: ListenerRole, loop: EventLoop, context: ServerContext, registry: ConnectionRegistry) {
        self.fd = fd
        self.address = address
        self.role = role
        self.loop = loop
        self.context = context
        self.registry = registry
    }

    func start() {
        registration = loop.register(fd, handler: self, source: 0, interest: .sharedListener)
    }

    /// Stops accepting on this loop (the fd itself is closed by the server).
    func stop() {
        isStopped = true
        if let registration { loop.deregister(registration) }
        registration = nil
    }

    private func pause() {
        if let registration { loop.deregister(registration) }
        registration = nil
        loop.schedule(afterNanoseconds: 100_000_000) { [weak self] in
            guard let self, !self.isStopped, self.registration == nil else { return }
            self.start()
        }
    }

    func handle(_ events: PollEvents, source: UInt8) {
        // A bounded batch: the listener is level-triggered, so what is left wakes us again.
        for _ in 0..<64 {
            guard registration != nil else { return }
            switch Syscalls.accept(fd) {
            case .accepted(let connectionFD, let peer, let local):
                guard let transport = makeTransport(connectionFD) else {
                    Syscalls.close(connectionFD)
                    continue
                }
                if role == .metrics {
                    MetricsConnection(transport: transport, loop: loop, context: context).start()
                    continue
                }
                var redirectPort: Int?
                if case .redirectToHTTPS(let port) = role { redirectPort = port }
                let connection = HTTPConnection(transport: transport, peer: peer, local: local, loop: loop,
                                                context: context, registry: registry, redirectsToHTTPSPort: redirectPort)
                connection.start()
            case .wouldBlock:
                return
            case .failed(let error):
                // Out of fds (EMFILE, ENFILE) and friends: the pending connection stays pending, and
                // a level-triggered listener would wake this loop at once, again and again. Pause
                // accepting for a moment while sessions end and free fds; log at most once a second.
                let now = Syscalls.monotonicNanoseconds()
                if now - lastAcceptErrorLog > 1_000_000_000 {
                    lastAcceptErrorLog = now
                    context.logger.log(.error, "accept failed; pausing accepts for 100 ms", ["error": Syscalls.describe(error)])
                }
                pause()
                return
            }
        }
    }

    /// The connection's transport: TLS with the context current now (a reload changes it for
    /// later connections only), else the plain socket.
    private func makeTransport(_ fd: Int32) -> (any Transport)? {
        guard role == .tls, let store = context.configuration.tls else { return SocketTransport(fd: fd) }
        guard let transport = TLSTransport(fd: fd, context: store.context) else {
            context.logger.log(.error, "cannot start a TLS connection (out of memory?)")
            return nil
        }
        return transport
    }
}
