import Dispatch
import WSProtocol
import WSPlatform
import WSBridging
import WSDeflate

/// One upgraded connection and its child: moves messages between the socket and the child's
/// pipes through the session's codecs, with one bounded buffer per direction (SPEC §7), and ends
/// the session as SPEC §3 says.
///
/// Every fd is registered edge-triggered; readiness is kept in flags until a read or write returns
/// EAGAIN, and `pump()` moves as much as the buffers allow. A full stdin buffer stops socket reads,
/// a full socket buffer stops stdout reads, and neither direction ever waits for the other.
final class WebSocketSession: EventHandler {
    // MARK: Identity
    let id: UInt64
    let client: ClientOrigin
    let local: SocketAddress
    let head: HTTPRequestHead
    /// What the session runs.
    let script: ScriptTarget
    /// The subprotocol chosen in the handshake (`--subprotocol`), passed to the child.
    let subprotocol: String?
    unowned let loop: EventLoop
    let context: ServerContext
    let registry: ConnectionRegistry
    let startNanoseconds = Syscalls.monotonicNanoseconds()
    var configuration: ServerConfiguration { context.configuration }

    // MARK: Socket side
    /// The client's byte stream.
    let transport: any Transport
    var socketRegistration: EventLoop.Registration?
    /// Starts readable: a socket handed over from its HTTP connection gets no fresh edge.
    var socketReadiness = SocketReadiness.readable
    /// Frames waiting for the socket (the stdout → socket buffer).
    var socketOut = PendingWrites()
    /// The payload of the latest ping, when its pong waits for room in `socketOut`.
    var deferredPong: [UInt8]?
    var decoder: FrameDecoder
    var machine: ConnectionStateMachine
    /// permessage-deflate, when agreed in the handshake: the client's compressed messages pass
    /// through the inflater on their way to the framing; ours through the deflater.
    var inflater: MessageInflater?
    var deflater: MessageDeflater?
    /// Messages shorter than this go out uncompressed.
    var minimumCompressedBytes = Int.max
    var framing: Framing
    /// `--pingms`: when the client last sent a frame of any kind, and the next ping.
    var lastFrameReceivedAt = Syscalls.monotonicNanoseconds()
    var pingTimer: TimerQueue.TimerID?

    // MARK: Child side
    /// The child, once the spawner started it.
    var child: ChildProcess?
    var pipes = ChildPipes()
    /// The ladder's first step: stdin closes once what is queued for it is written.
    var closeStdinWhenDrained = false
    /// With `--passstderr`, stderr lines become messages too, split and repaired as stdout's are.
    var stderrFraming: Framing
    var exitStatus: ExitStatus?
    var hasLoggedReplacement = false
    /// `--pty` (SPEC §12): resize requests, the terminal's line limit and the end of input.
    var terminalInput: TerminalInput?
    /// A resize that came while the child was starting.
    var pendingTerminalSize: TerminalSize?

    // MARK: End of the session
    /// When stdout ends, when the close frame goes, when the ladder starts, when it is all over.
    var lifecycle = SessionLifecycle()
    /// Carries the lifecycle's events and actions out in order.
    let events = EventFeeder<SessionLifecycle.Event>()
    /// The lifecycle's running timers.
    var timers: [SessionLifecycle.Timer: TimerQueue.TimerID] = [:]
    /// The child's stdout has ended (with `--passstderr` the output ends with stderr too).
    var hasStdoutEnded = false
    /// The child's pidfd (-1 when closed or unavailable): readable once the child exits.
    var exitFD: Int32 = -1
    var exitRegistration: EventLoop.Registration?
    /// The teardown ladder, once started.
    var teardown: TeardownRunner?
    var isPumpScheduled = false
    /// Counts pump passes that moved bytes, so the idle-memory timer can tell traffic happened.
    var activityCount = 0
    /// Whether the last read of the socket was large: then the next one goes straight into the
    /// session's own buffer; small reads go through the loop's scratch buffer, so a quiet session
    /// only keeps the bytes it got (SPEC §7). Stdout's reads follow the same rule (`ChildPipes`).
    var isSocketReadBulk = false
    static let bulkReadBytes = ChildPipes.bulkReadBytes
    var idleReleaseTimer: TimerQueue.TimerID?
    var bytesIn = 0
    var bytesOut = 0
    /// What `--metrics` has been told of `bytesIn` and `bytesOut`.
    var bytesInReported = 0
    var bytesOutReported = 0
    var closeCodeSent: CloseCode?
    /// Set when the client is an `EventSource` rather than a WebSocket (SPEC §12).
    var eventStream: EventStreamState?

    /// The pipes' sources are `ChildPipes`'s.
    static let socketSource: UInt8 = 0, exitSource: UInt8 = 4

    init(transport: any Transport, id: UInt64, client: ClientOrigin, local: SocketAddress, head: HTTPRequestHead, script: ScriptTarget, subprotocol: String?,
         deflate: DeflateParameters?, loop: EventLoop,
         context: ServerContext, registry: ConnectionRegistry, handshakeResponse: [UInt8], bytesAfterHead: [UInt8],
         eventStreamID: String? = nil) {
        self.transport = transport
        self.id = id
        self.client = client
        self.local = local
        self.head = head
        self.script = script
        self.subprotocol = subprotocol
        self.loop = loop
        self.context = context
        self.registry = registry
        let limit = context.configuration.maxMessageBytes
        if let deflate, let settings = context.configuration.deflate {
            // A compressed frame may be a little longer than the message it inflates to (stored
            // blocks); the inflated size is checked exactly while inflating.
            decoder = FrameDecoder(maxPayloadBytes: limit.map(MessageAssembler.compressedBound), allowedReservedBits: 0b100)
            inflater = settings.makeInflater(deflate, maxMessageBytes: limit, workspace: loop.deflateWorkspace)
            deflater = settings.makeDeflater(deflate, workspace: loop.deflateWorkspace)
            minimumCompressedBytes = settings.minimumCompressedBytes(deflate)
        } else {
            decoder = FrameDecoder(maxPayloadBytes: limit)
        }
        machine = ConnectionStateMachine(maxMessageBytes: limit)
        framing = Framing(mode: context.configuration.framing, maxMessageBytes: limit)
        stderrFraming = Framing(mode: .line, maxMessageBytes: limit)
        if context.configuration.terminal != nil { terminalInput = TerminalInput(framing: context.configuration.framing) }
        socketOut.bytes.append(contentsOf: handshakeResponse)
        if let eventStreamID {
            // An event stream's client sends nothing after its GET that the session would use.
            eventStream = EventStreamState(sessionID: eventStreamID)
            lifecycle = SessionLifecycle(clientAnswersClose: false)
            EventStreamEncoder.appendOpening(sessionID: eventStreamID, to: &socketOut.bytes)
        } else {
            decoder.append(contentsOf: bytesAfterHead)
        }
    }

    /// Sends the 101, then starts the child (SPEC §3: the child starts after the 101 is sent).
    /// `socketRegistration` is the HTTP connection's registration of the socket, handed over.
    func start(taking socketRegistration: EventLoop.Registration?) {
        registry.add(self)
        context.sessionStarted()
        context.metrics.sessionStarted()
        context.metrics.answered(eventStream == nil ? .switchingProtocols : .ok)
        if let socketRegistration {
            self.socketRegistration = self.loop.transfer(socketRegistration, to: self)
        } else {
            self.socketRegistration = self.loop.register(transport.fd, handler: self, source: Self.socketSource, interest: .readWrite)
        }
        flushSocket()
        if eventStream == nil { schedulePing() } else { startEventStream() }
        loop.withRemoteHost(of: client.lookupAddress, isEnabled: configuration.reverseLookup) { [self] name in
            spawnChild(remoteHost: name)
        }
    }

    private func spawnChild(remoteHost: String?) {
        var inputs = ChildEnvironment.Inputs(
            head: head, parentEnvironment: configuration.parentEnvironment, passEnv: configuration.passEnv,
            remote: client.peer, local: local, uniqueID: String(id), scriptName: script.scriptName,
            pathInfo: script.pathInfo, pathTranslated: script.executable, tls: transport.tlsSession, subprotocol: subprotocol)
        inputs.remoteHost = remoteHost
        inputs.forwarded = client.forwarded
        inputs.authentication = client.identity.map { ($0.authType, $0.user) }
        inputs.hookVariables = client.hookVariables
        if eventStream != nil { inputs.transport = "sse" }
        inputs.isTerminal = configuration.terminal != nil
        let request = SpawnRequest(executable: script.executable, arguments: script.arguments,
                                   environment: ChildEnvironment.build(inputs),
                                   workingDirectory: Self.directory(of: script.executable),
                                   terminal: configuration.terminalSetup(query: head.query))
        let requested = Syscalls.monotonicNanoseconds()
        registry.spawners.spawn(request, on: loop) { [self] result in
            if case .success = result { context.metrics.spawned(seconds: Double(Syscalls.monotonicNanoseconds() - requested) / 1e9) }
            childSpawned(result)
        }
    }

    func handle(_ events: PollEvents, source: UInt8) {
        switch source {
        case Self.socketSource:
            if events.contains(.hangup) || events.contains(.error) {
                socketReadiness = .peerEnded
            } else if events.contains(.readable) && socketReadiness == .drained {
                socketReadiness = .readable
            }
            if events.contains(.writable) || events.contains(.error) { socketOut.writerBecameWritable() }
        case ChildPipes.stdinSource, ChildPipes.stdoutSource, ChildPipes.stderrSource:
            pipes.becameReady(source: source)
        case Self.exitSource:
            childExited()
        default:
            preconditionFailure("unknown event source \(source)")
        }
        pump()
    }

    /// The context every log line of this session carries (SPEC §8).
    var logContext: [(key: String, value: String)] {
        var fields: [(key: String, value: String)] = [("remote", client.logDescription), ("id", String(id)), ("path", head.path)]
        if let child { fields.append(("pid", String(child.pid))) }
        if eventStream != nil { fields.append(("transport", "sse")) }
        return fields
    }

    func log(_ level: LogLevel, _ message: String, _ extra: [(key: String, value: String)] = []) {
        guard context.logger.isEnabled(level) else { return }
        context.logger.log(level, message, fields: logContext + extra)
    }

    private func childSpawned(_ result: Result<ChildProcess, SpawnError>) {
        switch result {
        case .failure(let error):
            log(.error, "SPAWN FAILED", [("error", error.message)])
            feed(.childFailedToStart(reason: CloseReason.truncated(error.message)))
            pump()
        case .success(let child):
            self.child = child
            context.childStarted(child.pid)
            // Weak: the child's report handler outlives nothing, but a strong reference here would
            // make session → child → report handler → session a cycle that keeps every session.
            // The report arrives on the spawner pool's loop; the session lives on its own.
            let session = WeakSendable(self)
            let loop = self.loop
            child.whenExitReported { loop.execute { session.value?.checkChild() } }
            // Logged first: adopting the pipes can run a child that already ended to its close.
            log(.access, "CONNECT")
            adoptPipes(of: child)
            // Whatever the client did while the child was starting takes effect now, in order
            // (SPEC §3): the lifecycle starts the ladder if it was asked for, whose first step
            // still writes the messages that came before to stdin.
            feed(.childStarted)
            pump()
        }
    }

    private func adoptPipes(of child: ChildProcess) {
        pipes.adopt(child, on: loop, for: self, isTerminal: terminalInput != nil)
        if let pendingTerminalSize { resizeTerminal(pendingTerminalSize) }
        exitFD = child.exitFD
        // Without a pidfd (an old kernel), the spawner's report once Foundation reaps the child is
        // the only news of its exit; it arrives through `whenExitReported`.
        if exitFD >= 0 {
            exitRegistration = loop.register(exitFD, handler: self, source: Self.exitSource, interest: .read)
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
