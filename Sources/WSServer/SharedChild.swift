import WSProtocol
import WSPlatform
import WSBridging

/// One child that many clients share (SPEC §13, `--broadcast` and `--sessions`): its pipes, its
/// stdout fanned out to every attached client, its stdin fed whole messages from any of them,
/// its end decided by `SharedChildLifecycle`. Lives on one event loop with all its clients.
///
/// The child never waits for one client: each client has its own bounded queue (`--clientqueue`)
/// holding references to frames encoded once for all of them, and a client whose queue is full
/// is closed with 1013. Only when most clients are behind does stdout stop being read, which is
/// backpressure as a one-client session has it.
final class SharedChild: EventHandler {
    let id: UInt64
    /// The directory's name of the session.
    let key: String
    /// What the log calls it: the script, and the session's name for `--sessions` (never the
    /// name itself, a secret: only its first characters).
    let label: String
    let script: ScriptTarget
    unowned let loop: EventLoop
    let context: ServerContext
    let registry: ConnectionRegistry
    var configuration: ServerConfiguration { context.configuration }
    private let startNanoseconds = Syscalls.monotonicNanoseconds()

    private(set) var clients: [SharedClient] = []
    private var lifecycle = SharedChildLifecycle()
    private let events = EventFeeder<SharedChildLifecycle.Event>()

    private var child: ChildProcess?
    private var pipes = ChildPipes()
    private var framing: Framing
    private var stderrFraming: Framing
    private var closeStdinWhenDrained = false
    private var hasStdoutEnded = false
    private var exitStatus: ExitStatus?
    private var exitFD: Int32 = -1
    private var exitRegistration: EventLoop.Registration?
    private var teardown: TeardownRunner?
    private var lingerTimer: TimerQueue.TimerID?
    private var graceTimer: TimerQueue.TimerID?
    private var isPumpScheduled = false
    /// Output went out to a client that could not take all of it: no more is read before the
    /// loop's next poll.
    private var hasYieldedToClients = false
    private var hasLoggedReplacement = false
    /// The latest output, for a client that joins (`--linger`); nil without it.
    private var replay: ReplayBuffer?
    /// Clients that stopped reading their socket because stdin was full.
    private var clientsWaitingForStdin: [SharedClient] = []
    private var clientsSeen = 0
    /// `--pty` (SPEC §12): the last byte written to the terminal, for the end of input
    /// (`TerminalInput.endOfInput(after:)`); and a resize that came while the child was starting.
    private var lastInputByte: UInt8?
    private var pendingTerminalSize: TerminalSize?
    private var isTerminal: Bool { configuration.terminal != nil }

    static let exitSource: UInt8 = 4

    init(id: UInt64, key: String, label: String, script: ScriptTarget, loop: EventLoop, context: ServerContext, registry: ConnectionRegistry) {
        self.id = id
        self.key = key
        self.label = label
        self.script = script
        self.loop = loop
        self.context = context
        self.registry = registry
        framing = Framing(mode: context.configuration.framing, maxMessageBytes: context.configuration.maxMessageBytes)
        stderrFraming = Framing(mode: .line, maxMessageBytes: context.configuration.maxMessageBytes)
        if context.configuration.lingerMilliseconds > 0 { replay = ReplayBuffer(capacity: ServerConfiguration.replayBytes) }
    }

    /// Starts the child with the first client's request, without that client's own variables
    /// (SPEC §13). The child slot was taken when the directory made the session.
    /// With `--pty` the terminal takes the first client's `?cols=&rows=` (SPEC §12).
    func start(environment inputs: ChildEnvironment.Inputs) {
        registry.add(self)
        context.sharedChildStarted()
        var inputs = inputs
        inputs.isTerminal = isTerminal
        let request = SpawnRequest(executable: script.executable, arguments: script.arguments,
                                   environment: ChildEnvironment.buildShared(inputs),
                                   workingDirectory: WebSocketSession.directory(of: script.executable),
                                   terminal: configuration.terminalSetup(query: inputs.head.query))
        let requested = Syscalls.monotonicNanoseconds()
        registry.spawners.spawn(request, on: loop) { [self] result in
            if case .success = result { context.metrics.spawned(seconds: Double(Syscalls.monotonicNanoseconds() - requested) / 1e9) }
            childSpawned(result)
        }
    }

    // MARK: Clients

    /// Whether output waits for the clients. A client is behind once its queue reaches
    /// `pauseMark`. Output waits while every client is behind (then the clients as a whole set
    /// the pace: backpressure, as for a single client), or while one has been behind for less than
    /// `lagGraceNanoseconds` (a moment's lag, which its queue and socket absorb). A client behind
    /// for longer no longer holds the child or the others: its queue grows, and past
    /// `--clientqueue` it is closed with 1013 (SPEC §13).
    private func waitsForClients() -> Bool {
        guard !clients.isEmpty else { return false }
        let now = Syscalls.monotonicNanoseconds()
        var hasClientWithRoom = false
        var graceEnds: UInt64?
        for client in clients {
            guard let since = client.behindSince else {
                hasClientWithRoom = true
                continue
            }
            let end = since + Self.lagGraceNanoseconds
            if end > now { graceEnds = min(graceEnds ?? end, end) }
        }
        guard hasClientWithRoom else { return true }
        guard let graceEnds else { return false }
        // Nothing else may wake the session when the lagging client stays stalled.
        wake(at: graceEnds)
        return true
    }

    /// How long the child and the other clients wait for one client that fell behind.
    static let lagGraceNanoseconds: UInt64 = 150_000_000

    /// A client whose queue holds this much is behind.
    var pauseMark: Int { min(configuration.socketHighWatermark, configuration.clientQueueBytes / 2) }

    private var wakeTimer: (id: TimerQueue.TimerID, at: UInt64)?

    private func wake(at deadline: UInt64) {
        if let wakeTimer, wakeTimer.at <= deadline { return }
        if let wakeTimer { loop.cancel(wakeTimer.id) }
        let now = Syscalls.monotonicNanoseconds()
        let id = loop.schedule(afterNanoseconds: deadline > now ? deadline - now : 0) { [weak self] in
            guard let self else { return }
            self.wakeTimer = nil
            self.pump()
        }
        wakeTimer = (id, deadline)
    }

    /// Attaches a client that arrived on this loop (its 101 is queued); one that comes after the
    /// session's end was decided gets that end at once.
    func attach(_ client: SharedClient, registration: EventLoop.Registration?) {
        clientsSeen += 1
        guard lifecycle.acceptsClients, !context.isShuttingDown else {
            let end = lifecycle.endClose ?? (.goingAway, context.isShuttingDown ? "server shutting down" : "session ended")
            client.start(taking: registration)
            client.requestClose(code: end.code, reason: end.reason)
            return
        }
        clients.append(client)
        if lifecycle.isLingering { feed(.clientReturned) }
        log(.access, "JOIN", client: client, [("clients", String(clients.count))] + (client.isViewer ? [("viewer", "1")] : []))
        if let replay, !replay.contents.isEmpty {
            client.enqueue(replay: replay.contents)
        }
        client.start(taking: registration)
    }

    /// A client left (its close, its end, or ours): the session may end or linger.
    func detach(_ client: SharedClient) {
        if let index = clients.firstIndex(where: { $0 === client }) {
            clients.remove(at: index)
            log(.access, "LEAVE", client: client, [("clients", String(clients.count))])
        }
        clientsWaitingForStdin.removeAll { $0 === client }
        let lingers = configuration.lingerMilliseconds > 0
        guard !lifecycle.isFinished,
              context.sharedSessions.clientLeft(self, key: key, lingers: lingers && lifecycle.acceptsClients) else {
            schedulePump()
            return
        }
        feed(.lastClientLeft(lingers: lingers && lifecycle.acceptsClients))
        schedulePump()
    }

    /// Whether the shared stdin buffer takes another message now.
    var hasStdinRoom: Bool { pipes.stdin.bytes.readableCount < configuration.stdinHighWatermark }

    /// Takes one whole message (as the framing encoded it) for stdin; never interleaved with
    /// another client's. While the child starts it waits here; after stdin closed it is dropped.
    func takeInput(_ message: inout ByteBuffer) {
        defer {
            message.clear()
            message.releaseCapacityIfEmpty(keeping: 4096)
        }
        // Held while the child starts; once its stdin closed, dropped.
        guard lifecycle.keepsInput, child == nil || pipes.stdinFD >= 0 else { return }
        if !message.isEmpty { lastInputByte = message[message.readableCount - 1] }
        pipes.stdin.bytes.append(message)
        schedulePump()
    }

    /// Sets the terminal's size (`--pty`) and tells the child's group (SIGWINCH; the terminal is
    /// not its controlling terminal, see `WebSocketSession+Terminal`), or keeps it for the moment
    /// the child has started.
    func resizeTerminal(_ size: TerminalSize) {
        guard let child else {
            pendingTerminalSize = size
            return
        }
        pendingTerminalSize = nil
        _ = pipes.resizeTerminal(size, of: child)
    }

    /// `client` stopped reading because stdin is full; it is pumped again once there is room.
    func waitForStdinRoom(_ client: SharedClient) {
        guard !clientsWaitingForStdin.contains(where: { $0 === client }) else { return }
        clientsWaitingForStdin.append(client)
    }

    /// A client caught up (its queue went under the mark): output may be read again.
    func clientDrained() {
        guard lifecycle.deliversOutput, pipes.stdoutReadable else { return }
        schedulePump()
    }

    // MARK: Events

    func handle(_ events: PollEvents, source: UInt8) {
        switch source {
        case ChildPipes.stdinSource, ChildPipes.stdoutSource, ChildPipes.stderrSource:
            pipes.becameReady(source: source)
        case Self.exitSource:
            checkChild()
            if exitStatus == nil, let child { child.spawner.queryExit(of: child.pid) }
        default:
            preconditionFailure("unknown event source \(source)")
        }
        pump()
    }

    private func childSpawned(_ result: Result<ChildProcess, SpawnError>) {
        switch result {
        case .failure(let error):
            log(.error, "SPAWN FAILED", [("error", error.message)])
            feed(.childFailedToStart(reason: CloseReason.truncated(error.message)))
        case .success(let child):
            self.child = child
            context.childStarted(child.pid)
            let session = WeakSendable(self)
            let loop = self.loop
            child.whenExitReported { loop.execute { session.value?.checkChild() } }
            log(.access, "SHARED START")
            pipes.adopt(child, on: loop, for: self, isTerminal: isTerminal)
            if let pendingTerminalSize { resizeTerminal(pendingTerminalSize) }
            exitFD = child.exitFD
            if exitFD >= 0 {
                exitRegistration = loop.register(exitFD, handler: self, source: Self.exitSource, interest: .read)
            }
            feed(.childStarted)
        }
        pump()
    }

    private func checkChild() {
        guard !lifecycle.isFinished, let child, exitStatus == nil, let status = child.exitStatus(pidFD: exitFD) else { return }
        exitStatus = status
        feed(.exitStatusKnown(status))
        teardown?.checkNow()
        pump()
    }

    private func feed(_ event: SharedChildLifecycle.Event) {
        events.feed(event, isFinished: { lifecycle.isFinished }) { event in
            for action in lifecycle.handle(event) { perform(action) }
        }
    }

    private func perform(_ action: SharedChildLifecycle.Action) {
        switch action {
        case .startLadder:
            startLadder()
            closeStdinWhenDrained = true
            // A terminal's input ends with ^D after what is queued (see `WebSocketSession+Terminal`).
            if isTerminal && pipes.stdinFD >= 0 { pipes.stdin.bytes.append(contentsOf: TerminalInput.endOfInput(after: lastInputByte)) }
            _ = flushStdin()
        case .closeStdinNow:
            closeStdinWhenDrained = false
            pipes.stdin.bytes.clear()
            _ = pipes.closeStdin(on: loop)
            // Clients paused for stdin's room read on (their input is dropped from now on).
            wakeClientsWaitingForStdin()
        case .closeOutput:
            // Complete messages the codec holds still go out; the rest is read and dropped.
            if pipes.stdoutFD >= 0 { drainOutbound() }
        case .closeClients(let code, let reason):
            log(.info, "closing every client", [("code", String(code.rawValue))])
            for client in clients { client.requestClose(code: code, reason: reason) }
        case .leaveDirectory:
            context.sharedSessions.remove(self, key: key)
        case .startLinger:
            lingerTimer = loop.schedule(afterNanoseconds: UInt64(configuration.lingerMilliseconds) * 1_000_000) { [weak self] in
                guard let self else { return }
                self.lingerTimer = nil
                // Someone on the way keeps it: they will attach, and leave again in their time.
                guard self.context.sharedSessions.removeIfUnused(self, key: self.key) else { return }
                self.feed(.lingerExpired)
                self.pump()
            }
        case .cancelLinger:
            if let lingerTimer { loop.cancel(lingerTimer) }
            lingerTimer = nil
        case .startStatusGrace:
            graceTimer = loop.schedule(afterNanoseconds: UInt64(WebSocketSession.statusGraceMilliseconds) * 1_000_000) { [weak self] in
                guard let self else { return }
                self.graceTimer = nil
                self.feed(.statusGraceExpired)
                self.pump()
            }
        case .cancelStatusGrace:
            if let graceTimer { loop.cancel(graceTimer) }
            graceTimer = nil
        case .finish:
            finish()
        }
    }

    func shutdown() {
        guard !lifecycle.isFinished else { return }
        feed(.shutdownBegan)
        pump()
    }

    private func startLadder() {
        guard teardown == nil, let child else { return }
        let runner = TeardownRunner(
            loop: loop, child: child, closeMilliseconds: configuration.closeMilliseconds,
            isTerminal: isTerminal, closeStdin: {},
            signalling: { [weak self] in
                guard let self else { return }
                self.feed(.ladderSignalling)
                self.pump()
            },
            finished: { [weak self] isGone in
                guard let self else { return }
                if !isGone { self.log(.error, "child process group survived SIGKILL; giving up on it") }
                self.feed(.groupEnded(isGone: isGone))
                self.pump()
            })
        teardown = runner
        runner.start()
    }

    // MARK: Moving bytes

    private func schedulePump() {
        guard !isPumpScheduled, !lifecycle.isFinished else { return }
        isPumpScheduled = true
        loop.executeSoon { [weak self] in
            guard let self else { return }
            self.isPumpScheduled = false
            self.pump()
        }
    }

    func pump() {
        hasYieldedToClients = false
        switch Pump.run(isFinished: { lifecycle.isFinished }, pass: { pumpPass() }) {
        case .finished, .idle: return
        case .passesSpent: schedulePump()
        }
    }

    private func pumpPass() -> Bool {
        var progressed = flushStdin()
        progressed = readStdout() || progressed
        progressed = readStderr() || progressed
        return progressed
    }

    private func flushStdin() -> Bool {
        guard pipes.stdinFD >= 0 else { return false }
        let drained = pipes.flushStdin()
        if drained.failed {
            // The child closed its stdin (EPIPE): what it did not read is dropped.
            closeStdinWhenDrained = false
            pipes.stdin.bytes.clear()
            _ = pipes.closeStdin(on: loop)
        } else if pipes.stdin.bytes.isEmpty && closeStdinWhenDrained {
            closeStdinWhenDrained = false
            _ = pipes.closeStdin(on: loop)
        }
        if pipes.stdin.bytes.readableCount < configuration.stdinLowWatermark || pipes.stdinFD < 0 { wakeClientsWaitingForStdin() }
        return drained.wroteBytes
    }

    private func wakeClientsWaitingForStdin() {
        guard !clientsWaitingForStdin.isEmpty else { return }
        let waiting = clientsWaitingForStdin
        clientsWaitingForStdin.removeAll()
        for client in waiting { client.schedulePump() }
    }

    private func readStdout() -> Bool {
        guard pipes.stdoutFD >= 0, pipes.stdoutReadable else { return false }
        guard lifecycle.deliversOutput else { return discardStdout() }
        guard !hasYieldedToClients, !waitsForClients() else { return false }
        switch pipes.readStdout(into: &framing, chunkBytes: configuration.readChunkBytes, on: loop) {
        case .bytes:
            drainOutbound()
            return true
        case .wouldBlock:
            return false
        case .endOfFile, .failed:
            stdoutEnded()
            return true
        }
    }

    private func discardStdout() -> Bool { pipes.discardStdout(on: loop) }

    private func stdoutEnded() {
        var batch = OutputBatch(keepsMessages: needsMessages)
        do {
            while let message = try framing.nextOutbound() { add(stdout: message, to: &batch) }
            if let last = try framing.finishOutbound() { add(stdout: last, to: &batch) }
        } catch {
            publish(batch)
            outputFailed(error)
            return
        }
        publish(batch)
        pipes.closeStdout(on: loop)
        hasStdoutEnded = true
        if !configuration.passesStderr || pipes.stderrFD < 0 { feed(.outputEnded) }
    }

    /// The child broke its framing: every client gets the codec's code, and the child the ladder.
    private func outputFailed(_ error: WebSocketError) {
        log(.error, "child output refused", [("error", error.reason), ("code", String(error.closeCode.rawValue))])
        pipes.closeStdout(on: loop)
        hasStdoutEnded = true
        for client in clients { client.requestClose(code: error.closeCode, reason: error.reason) }
        feed(.outputEnded)
    }

    /// Output of one read: the frames encoded once for every plain client, and the messages
    /// themselves when a client compresses or the replay keeps them.
    private struct OutputBatch {
        var frames = ByteBuffer()
        var messages: [OutboundMessage] = []
        var payloadBytes = 0
        let keepsMessages: Bool
        init(keepsMessages: Bool) { self.keepsMessages = keepsMessages }
    }

    private var needsMessages: Bool { replay != nil || clients.contains { $0.compresses } }

    /// A stdout message; with `--passstderr` tagged as a one-client session tags it (SPEC §1).
    private func add(stdout message: OutboundMessage, to batch: inout OutputBatch) {
        add(configuration.passesStderr ? .tagged(stream: "stdout", message.payload) : message, to: &batch)
    }

    private func add(_ message: OutboundMessage, to batch: inout OutputBatch) {
        FrameEncoder.append(opcode: message.opcode, payload: message.payload, to: &batch.frames)
        if batch.keepsMessages { batch.messages.append(message) }
        batch.payloadBytes += message.payload.count
    }

    private func drainOutbound() {
        var batch = OutputBatch(keepsMessages: needsMessages)
        do {
            while let message = try framing.nextOutbound() { add(stdout: message, to: &batch) }
        } catch {
            publish(batch)
            outputFailed(error)
            return
        }
        publish(batch)
    }

    /// Sends a batch to every client and keeps it for the replay.
    private func publish(_ batch: OutputBatch) {
        noteReplacements()
        guard !batch.frames.isEmpty else { return }
        if var replay {
            self.replay = nil
            for message in batch.messages { replay.append(opcode: message.opcode, payload: message.payload) }
            self.replay = replay
        }
        let frames = SharedFrames(batch.frames)
        context.metrics.moved(bytesIn: 0, bytesOut: batch.payloadBytes * clients.count)
        var isAnyClientWaiting = false
        for client in clients {
            client.enqueue(frames, messages: batch.messages, payloadBytes: batch.payloadBytes)
            if client.queuedBytes > 0 { isAnyClientWaiting = true }
        }
        // A client whose socket is full flushes only once the loop has polled its readiness:
        // the next read waits for that poll, or every client behind a full socket would gain a
        // whole pump's worth of output at once (16 reads) and count as too slow while it keeps up.
        if isAnyClientWaiting {
            hasYieldedToClients = true
            schedulePump()
        }
    }

    private func noteReplacements() {
        if !hasLoggedReplacement && framing.replacedInvalidUTF8Count > 0 {
            hasLoggedReplacement = true
            log(.info, "child wrote invalid UTF-8; replaced with U+FFFD")
        }
    }

    /// Logs stderr lines, or with `--passstderr` sends them to every client as stdout's are.
    private func readStderr() -> Bool {
        guard pipes.stderrFD >= 0, pipes.stderrReadable else { return false }
        guard configuration.passesStderr && lifecycle.deliversOutput else {
            return pipes.readStderrLines(maxReads: 4, on: loop) { line in log(.error, "stderr", [("line", line)]) }
        }
        var read = Syscalls.ReadInto(pipes.stderrFD)
        _ = stderrFraming.readStdout(minimumWritable: 4096) { read.into($0) }
        var batch = OutputBatch(keepsMessages: needsMessages)
        defer { publish(batch) }
        do {
            switch read.result {
            case .bytes:
                while let line = try stderrFraming.nextOutbound() { add(.tagged(stream: "stderr", line.payload), to: &batch) }
                return true
            case .wouldBlock:
                pipes.stderrReadable = false
                return false
            case .endOfFile, .failed:
                while let line = try stderrFraming.finishOutbound() { add(.tagged(stream: "stderr", line.payload), to: &batch) }
                pipes.closeStderr(on: loop)
                if hasStdoutEnded { feed(.outputEnded) }
                return true
            }
        } catch {
            pipes.closeStderr(on: loop)
            return true
        }
    }

    // MARK: Done

    private func finish() {
        _ = pipes.readStderrLines(maxReads: 4, on: loop) { line in log(.error, "stderr", [("line", line)]) }
        loop.close(&exitFD, &exitRegistration)
        closeStdinWhenDrained = false
        pipes.closeAll(on: loop)
        teardown?.cancel()
        if let lingerTimer { loop.cancel(lingerTimer) }
        if let graceTimer { loop.cancel(graceTimer) }
        if let wakeTimer { loop.cancel(wakeTimer.id) }
        registry.remove(self)
        context.sharedSessions.remove(self, key: key)
        if let child {
            context.childEnded(child.pid)
            child.spawner.forget(child.pid)
        }
        context.releaseChildSlot()
        context.sharedChildEnded()
        let seconds = Double(Syscalls.monotonicNanoseconds() - startNanoseconds) / 1e9
        var fields: [(key: String, value: String)] = [("duration", WebSocketSession.formatSeconds(seconds)), ("clients", String(clientsSeen))]
        if let exitStatus { fields.append(("exit", exitStatus.logValue)) }
        log(.access, "SHARED END", fields)
        // Clients still closing finish on their own; they no longer reach the session.
        for client in clients { client.sessionFinished() }
        clients.removeAll()
        clientsWaitingForStdin.removeAll()
    }

    // MARK: Logs

    private var logContext: [(key: String, value: String)] {
        var fields: [(key: String, value: String)] = [("session", label), ("shared", String(id))]
        if let child { fields.append(("pid", String(child.pid))) }
        return fields
    }

    private func log(_ level: LogLevel, _ message: String, _ extra: [(key: String, value: String)] = []) {
        guard context.logger.isEnabled(level) else { return }
        context.logger.log(level, message, fields: logContext + extra)
    }

    private func log(_ level: LogLevel, _ message: String, client: SharedClient, _ extra: [(key: String, value: String)]) {
        guard context.logger.isEnabled(level) else { return }
        context.logger.log(level, message, fields: [("remote", client.origin.logDescription), ("id", String(client.id))] + logContext + extra)
    }
}

extension SharedChild: RegisteredConnection {}
