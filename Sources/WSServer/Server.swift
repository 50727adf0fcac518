import Foundation
import Synchronization
import WSPlatform

/// The running server: listening sockets, one event loop thread per core, and the shutdown
/// sequence of SPEC §3.
public final class Server: @unchecked Sendable {
    private let context: ServerContext
    private var loops: [EventLoop] = []
    private var registries: [ConnectionRegistry] = []
    private var listeners: [[Listener]] = []
    private var listenFDs: [(fd: Int32, address: SocketAddress, role: ListenerRole)] = []
    /// Touched only on the first loop once started; held here for the server's lifetime.
    private var idleTrim: IdleCodeTrim?

    /// The addresses actually listened on for sessions (with the real port when 0 was asked for).
    public var boundAddresses: [SocketAddress] {
        listenFDs.filter { $0.role == .plain || $0.role == .tls }.map(\.address)
    }

    /// The `--metrics` listener's address.
    public var metricsAddress: SocketAddress? { listenFDs.first { $0.role == .metrics }?.address }

    /// The `--redirport` listeners' addresses.
    public var redirectAddresses: [SocketAddress] {
        listenFDs.filter { if case .redirectToHTTPS = $0.role { true } else { false } }.map(\.address)
    }

    /// Whether the TCP listeners speak TLS (`--ssl`).
    public var servesTLS: Bool { context.configuration.tls != nil }

    /// Creates a server; nothing is opened yet.
    public init(context: ServerContext) {
        self.context = context
    }

    /// Opens every listening socket. With port 0 the first socket picks a free port and the others
    /// use the same one, so that the URL printed is valid for every address. `port` nil means no
    /// TCP listener (only `unixSocket`). TCP listeners speak TLS when the configuration has it; a
    /// Unix socket stays plain (SPEC §10); `redirectPort` (`--redirport`) adds plain listeners on
    /// the same hosts that send every request to https on the TLS port.
    ///
    /// `inherited` are listening sockets a service manager passed (socket activation): they take
    /// the place of `hosts` and `port`, TLS or not as the configuration says (a Unix socket stays
    /// plain).
    ///
    /// `reusePort` (`--reuseport`) opens every TCP listener with `SO_REUSEPORT`, the metrics one
    /// included: a new instance must be able to open all of them while this one drains.
    public func listen(hosts: [String], port: Int?, unixSocket: String? = nil, redirectPort: Int? = nil,
                       metrics: (host: String, port: Int)? = nil, inherited: [Int32] = [], reusePort: Bool = false) throws(ListenError) {
        let tcpRole: ListenerRole = context.configuration.tls == nil ? .plain : .tls
        do {
            for fd in inherited {
                let address = try Syscalls.adoptListener(fd)
                listenFDs.append((fd, address, address.unixPath == nil ? tcpRole : .plain))
            }
            if let port, inherited.isEmpty {
                var chosenPort = port
                for host in hosts.isEmpty ? [""] : hosts {
                    let opened = try Syscalls.listen(host: host, port: chosenPort, reusePort: reusePort)
                    chosenPort = opened.address.port
                    listenFDs.append((opened.fd, opened.address, tcpRole))
                }
                if let redirectPort {
                    var chosenRedirectPort = redirectPort
                    for host in hosts.isEmpty ? [""] : hosts {
                        let opened = try Syscalls.listen(host: host, port: chosenRedirectPort, reusePort: reusePort)
                        chosenRedirectPort = opened.address.port
                        listenFDs.append((opened.fd, opened.address, .redirectToHTTPS(port: chosenPort)))
                    }
                }
            }
            if let unixSocket {
                let opened = try Syscalls.listenUnix(path: unixSocket)
                listenFDs.append((opened.fd, opened.address, .plain))
            }
            if let metrics {
                let opened = try Syscalls.listen(host: metrics.host, port: metrics.port, reusePort: reusePort)
                listenFDs.append((opened.fd, opened.address, .metrics))
            }
        } catch {
            for opened in listenFDs { Syscalls.close(opened.fd) }
            listenFDs.removeAll()
            throw error
        }
    }

    /// Removes the Unix socket file, if any, at exit.
    public func removeUnixSocketFiles() {
        for (_, address, _) in listenFDs {
            if let path = address.unixPath { unlink(path) }
        }
    }

    /// Starts the spawner pool (whose first spawner was launched earlier, while few fds were
    /// open) and one event loop per core, each accepting from every listener.
    public func start(spawners: SpawnerPool) {
        spawners.start()
        for _ in 0..<Syscalls.processorCount() {
            let loop = EventLoop(poller: EpollPoller())
            let registry = ConnectionRegistry(spawners: spawners)
            let loopListeners = listenFDs.map {
                Listener(fd: $0.fd, address: $0.address, role: $0.role, loop: loop, context: context, registry: registry)
            }
            // Before the loop's thread runs, which is what makes registering from here safe: the
            // loop's answer socket for spawns, so its fds are there from the start.
            spawners.openReplyChannel(for: loop)
            loops.append(loop)
            registries.append(registry)
            listeners.append(loopListeners)
            let box = UncheckedSendable((loop, loopListeners))
            let thread = Thread {
                for listener in box.value.1 { listener.start() }
                box.value.0.run()
            }
            thread.name = "wsbridge-loop"
            thread.stackSize = 1 << 20
            thread.start()
        }
        if let first = loops.first {
            let trim = IdleCodeTrim(context: context, loop: first)
            idleTrim = trim
            let box = UncheckedSendable(trim)
            first.execute { box.value.start() }
        }
    }

    /// Graceful shutdown (SPEC §3): stop accepting, send 1001 to every client and run every
    /// ladder in parallel. Returns at once; `liveSessions` tells when all have ended.
    ///
    /// Stopping means closing the listening sockets once no loop polls them, not only no longer
    /// accepting: a connection that reaches a socket still open but never accepted would wait
    /// for the whole drain and then be reset. Closed, the port refuses at once; under
    /// `--reuseport` the kernel sends new connections to the instance that replaces this one
    /// (and, with `tcp_migrate_req`, the ones already queued here too). A socket a service
    /// manager passed stays open in the manager, which keeps its queue for the next instance.
    public func beginShutdown() {
        context.beginShutdown()
        let closing = listenFDs.filter { $0.role != .metrics }.map(\.fd)
        let release = ListenerRelease(loopCount: loops.count)
        for (index, loop) in loops.enumerated() {
            let box = UncheckedSendable((listeners[index], registries[index]))
            loop.execute {
                // The metrics listener stays: /healthz answers 503 while the sessions drain.
                for listener in box.value.0 where listener.role != .metrics { listener.stop() }
                // The last loop to let go closes them: before that, another loop may still be
                // inside accept(2) on one of these fds.
                if release.letGo() {
                    for fd in closing { Syscalls.close(fd) }
                }
                box.value.1.shutdownAll()
            }
        }
    }

    /// SIGKILL to every child group still running (for an exit that cannot wait).
    public func killRemainingChildGroups() { context.killRemainingChildGroups() }

    /// Sessions not yet ended, shared children and connections owed a shutdown answer included.
    public var liveSessions: Int { context.liveSessions + context.liveSharedChildren + context.owedShutdownAnswers }
}

/// Counts the loops that still poll the listening sockets while the server shuts down.
private final class ListenerRelease: Sendable {
    private let loopsPolling: Atomic<Int>

    init(loopCount: Int) { loopsPolling = Atomic(loopCount) }

    /// One loop stopped polling; true for the last one, which may close the sockets.
    func letGo() -> Bool { loopsPolling.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }
}
