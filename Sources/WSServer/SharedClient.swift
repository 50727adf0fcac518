import WSProtocol
import WSPlatform
import WSBridging
import WSDeflate

/// One client's connection to a shared child (SPEC §13): its socket and codecs, its own bounded
/// queue of the session's output, and its messages handed whole to the shared stdin. Its end is
/// decided by `AttachedClientLifecycle`; the child's by the session. Lives on the session's loop.
final class SharedClient: EventHandler {
    let id: UInt64
    let origin: ClientOrigin
    let head: HTTPRequestHead
    /// `&view=1`: output only.
    let isViewer: Bool
    unowned let loop: EventLoop
    let context: ServerContext
    private var configuration: ServerConfiguration { context.configuration }
    /// The session, until it finished (a client still closing outlives it).
    private var session: SharedChild?
    private let startNanoseconds = Syscalls.monotonicNanoseconds()

    private let transport: any Transport
    private var socketRegistration: EventLoop.Registration?
    private var socketReadiness = WebSocketSession.SocketReadiness.readable
    private var queue = FrameQueue()
    /// The 101 and control frames this client alone gets go through here, in order with the rest.
    private var pendingPong: [UInt8]?
    private var decoder: FrameDecoder
    private var machine: ConnectionStateMachine
    private var inflater: MessageInflater?
    private var deflater: MessageDeflater?
    private var minimumCompressedBytes = Int.max
    /// Encodes this client's messages for stdin; a message waits here until whole.
    private var framing: Framing
    /// `--pty` (SPEC §12): this client's resize requests and the terminal's line limit.
    private var terminalInput: TerminalInput?
    private var message = ByteBuffer()
    private var lifecycle = AttachedClientLifecycle()
    private let events = EventFeeder<AttachedClientLifecycle.Event>()
    private var timers: [AttachedClientLifecycle.Timer: TimerQueue.TimerID] = [:]
    private var pingTimer: TimerQueue.TimerID?
    private var idleReleaseTimer: TimerQueue.TimerID?
    private var lastFrameReceivedAt = Syscalls.monotonicNanoseconds()
    private var isPumpScheduled = false
    private var hasStarted = false
    private var bytesIn = 0
    private var bytesOut = 0
    private var closeCodeSent: CloseCode?
    private var wasTooSlow = false

    static let socketSource: UInt8 = 0

    init(transport: any Transport, id: UInt64, origin: ClientOrigin, head: HTTPRequestHead, isViewer: Bool,
         deflate: DeflateParameters?, session: SharedChild, context: ServerContext,
         handshakeResponse: [UInt8], bytesAfterHead: [UInt8]) {
        self.transport = transport
        self.id = id
        self.origin = origin
        self.head = head
        self.isViewer = isViewer
        self.loop = session.loop
        self.context = context
        self.session = session
        // Messages reach stdin whole, so each is held until its end: bounded by --maxframesize,
        // or without one by --clientqueue (SPEC §7, §13).
        let limit = context.configuration.maxMessageBytes ?? context.configuration.clientQueueBytes
        if let deflate, let settings = context.configuration.deflate {
            decoder = FrameDecoder(maxPayloadBytes: MessageAssembler.compressedBound(limit), allowedReservedBits: 0b100)
            inflater = settings.makeInflater(deflate, maxMessageBytes: limit, workspace: session.loop.deflateWorkspace)
            deflater = settings.makeDeflater(deflate, workspace: session.loop.deflateWorkspace)
            minimumCompressedBytes = settings.minimumCompressedBytes(deflate)
        } else {
            decoder = FrameDecoder(maxPayloadBytes: limit)
        }
        machine = ConnectionStateMachine(maxMessageBytes: limit)
        framing = Framing(mode: context.configuration.framing, maxMessageBytes: limit)
        if context.configuration.terminal != nil { terminalInput = TerminalInput(framing: context.configuration.framing) }
        var response = ByteBuffer()
        response.append(contentsOf: handshakeResponse)
        queue.append(response)
        decoder.append(contentsOf: bytesAfterHead)
        context.sessionStarted()
        context.metrics.sessionStarted()
        context.metrics.answered(.switchingProtocols)
    }

    /// Whether this client's messages go out compressed (then the shared frames are not its).
    var compresses: Bool { deflater != nil }

    /// What waits in this client's queue.
    var queuedBytes: Int { queue.byteCount }

    /// Since when this client has been behind: its queue held the session's `pauseMark` or more
    /// and it took less than a quarter of that since; nil while it keeps up. A client that reads
    /// on steadily stays within the grace however long its queue stays long; one that stalls, or
    /// reads a trickle, runs out of it (`SharedChild.waitsForClients`).
    private(set) var behindSince: UInt64?
    private var takenWhileBehind = 0

    /// Registers the socket on the session's loop and sends what is queued (the 101, a replay).
    /// `registration` is the HTTP connection's when it was on this loop already.
    func start(taking registration: EventLoop.Registration? = nil) {
        guard !hasStarted else { return }
        hasStarted = true
        if let registration {
            socketRegistration = loop.transfer(registration, to: self)
        } else {
            socketRegistration = loop.register(transport.fd, handler: self, source: Self.socketSource, interest: .readWrite)
        }
        log(.access, "CONNECT", isViewer ? [("viewer", "1")] : [])
        schedulePing()
        pump()
    }

    func handle(_ events: PollEvents, source: UInt8) {
        if events.contains(.hangup) || events.contains(.error) {
            socketReadiness = .peerEnded
        } else if events.contains(.readable) && socketReadiness == .drained {
            socketReadiness = .readable
        }
        if events.contains(.writable) || events.contains(.error) { queue.writerBecameWritable() }
        pump()
    }

    // MARK: Output from the session

    /// Queues a batch of the session's output: the shared frames, or for a compressing client
    /// its own compressed copy of `messages`.
    func enqueue(_ frames: SharedFrames, messages: [OutboundMessage], payloadBytes: Int) {
        guard lifecycle.isAttached else { return }
        if let deflater {
            var own = ByteBuffer()
            for message in messages { append(message.opcode, message.payload, compressingWith: deflater, to: &own) }
            queue.append(own)
        } else {
            queue.append(frames)
        }
        bytesOut += payloadBytes
        flushSocket()
        if queue.byteCount > configuration.clientQueueBytes {
            tooSlow()
        } else if behindSince == nil, let session, queue.byteCount >= session.pauseMark {
            behindSince = Syscalls.monotonicNanoseconds()
            takenWhileBehind = 0
        }
    }

    /// Queues the session's latest output for a client that joins it (`--linger`).
    func enqueue(replay: ArraySlice<ReplayBuffer.Message>) {
        var own = ByteBuffer()
        for message in replay {
            append(message.opcode, message.payload[...], compressingWith: deflater, to: &own)
            bytesOut += message.payload.count
        }
        queue.append(own)
    }

    private func append(_ opcode: Opcode, _ payload: ArraySlice<UInt8>, compressingWith deflater: MessageDeflater?, to buffer: inout ByteBuffer) {
        if let deflater, payload.count >= minimumCompressedBytes {
            FrameEncoder.append(opcode: opcode, reservedBits: 0b100, payload: deflater.compress(payload), to: &buffer)
        } else {
            FrameEncoder.append(opcode: opcode, payload: payload, to: &buffer)
        }
    }

    /// SPEC §13: a client whose queue is full is closed with 1013 and logged once; what it has
    /// not begun to receive is dropped, so the close frame follows at once.
    private func tooSlow() {
        guard !wasTooSlow else { return }
        wasTooSlow = true
        behindSince = nil
        log(.info, "client too slow; closing", [("queued", String(queue.byteCount))])
        context.metrics.slowClientClosed()
        queue.dropUnstarted()
        requestClose(code: .tryAgainLater, reason: "too slow")
    }

    /// The session closes this client (its child ended, the server shuts down).
    func requestClose(code: CloseCode, reason: String) {
        feed(.closeRequested(code: code, reason: reason))
        schedulePump()
    }

    /// The session is over; this client, still closing, finishes alone.
    func sessionFinished() { session = nil }

    // MARK: The lifecycle

    private func feed(_ event: AttachedClientLifecycle.Event) {
        events.feed(event, isFinished: { lifecycle.isFinished }) { event in
            for action in lifecycle.handle(event) { perform(action) }
        }
    }

    private func perform(_ action: AttachedClientLifecycle.Action) {
        switch action {
        case .detach:
            message.clear()
            session?.detach(self)
        case .sendClose(let code, let reason):
            let action = if let code { machine.close(code: code, reason: reason) } else { machine.answerPeerClose() }
            if case .send(let sent, let text) = action {
                closeCodeSent = sent
                var frame = ByteBuffer()
                FrameEncoder.appendClose(code: sent, reason: text, to: &frame)
                queue.append(frame)
            }
            flushSocket()
        case .flushSocketThenReport:
            flushSocket()
        case .shutdownSocketWrite:
            transport.shutdownWrite()
            drainLingeringSocket()
        case .closeSocket:
            loop.close(transport.fd, registeredAs: socketRegistration)
            socketRegistration = nil
            queue.dropUnstarted()
        case .startTimer(let timer):
            let milliseconds = switch timer {
            case .closeAnswer: configuration.closeAnswerTimeoutMilliseconds
            case .linger: WebSocketSession.lingerMilliseconds
            case .flushStall: configuration.flushStallMilliseconds
            }
            if let old = timers[timer] { loop.cancel(old) }
            timers[timer] = loop.schedule(afterNanoseconds: UInt64(milliseconds) * 1_000_000) { [weak self] in
                guard let self else { return }
                self.timers[timer] = nil
                self.feed(.timerFired(timer))
                self.pump()
            }
        case .cancelTimer(let timer):
            if let id = timers.removeValue(forKey: timer) { loop.cancel(id) }
        case .finish:
            finish()
        }
    }

    // MARK: Moving bytes

    func schedulePump() {
        guard !isPumpScheduled, hasStarted, !lifecycle.isFinished else { return }
        isPumpScheduled = true
        loop.executeSoon { [weak self] in
            guard let self else { return }
            self.isPumpScheduled = false
            self.pump()
        }
    }

    func pump() {
        guard hasStarted else { return }
        defer { reportBytes() }
        switch Pump.run(isFinished: { lifecycle.isFinished }, pass: { readSocket() || flushSocket() }) {
        case .finished: return
        case .idle: scheduleIdleMemoryRelease()
        case .passesSpent: schedulePump()
        }
    }

    /// After a second without traffic, gives back the storage of every empty buffer, as a
    /// one-client session does (SPEC §7): a quiet viewer keeps only what it holds.
    private func scheduleIdleMemoryRelease() {
        guard idleReleaseTimer == nil else { return }
        let mark = (bytesIn, bytesOut)
        idleReleaseTimer = loop.schedule(afterNanoseconds: 1_000_000_000) { [weak self] in
            guard let self, !self.lifecycle.isFinished else { return }
            self.idleReleaseTimer = nil
            guard (self.bytesIn, self.bytesOut) == mark else {
                self.scheduleIdleMemoryRelease()
                return
            }
            self.decoder.releaseCapacityIfEmpty(keeping: 0)
            self.inflater?.releaseIdleMemory()
            self.deflater?.releaseIdleMemory()
            self.framing.releaseIdleMemory()
            self.message.releaseCapacityIfEmpty(keeping: 0)
            self.transport.releaseIdleMemory()
        }
    }

    private var bytesInReported = 0, bytesOutReported = 0
    private func reportBytes() {
        let newIn = bytesIn - bytesInReported
        guard newIn > 0 else { return }
        context.metrics.moved(bytesIn: newIn, bytesOut: 0)
        bytesInReported = bytesIn
    }

    /// Reads and decodes while the shared stdin takes more (a viewer's input is not waited for:
    /// it only ever gets a close).
    private func readSocket() -> Bool {
        switch lifecycle.socket {
        case .closed, .flushing: return false
        case .lingering:
            drainLingeringSocket()
            return false
        case .open: break
        }
        var progressed = processInbound()
        guard lifecycle.socket == .open, socketReadiness != .drained else { return progressed }
        if lifecycle.decodesInbound, !isViewer, let session, !session.hasStdinRoom {
            session.waitForStdinRoom(self)
            // Paused for backpressure; a client that left meanwhile is noticed all the same.
            guard socketReadiness == .peerEnded else { return progressed }
            feed(.socketEnded)
            return true
        }
        let result: Syscalls.IOResult
        if lifecycle.decodesInbound {
            result = loop.readThroughScratch(transport) { decoder.append($0) }
        } else {
            result = loop.readThroughScratch(transport) { _ in }
        }
        switch result {
        case .bytes:
            progressed = processInbound() || true
        case .wouldBlock:
            if socketReadiness == .readable { socketReadiness = .drained }
        case .endOfFile, .failed:
            feed(.socketEnded)
            progressed = true
        }
        return progressed
    }

    private func processInbound() -> Bool {
        var progressed = false
        while lifecycle.decodesInbound {
            if !isViewer, let session, !session.hasStdinRoom { break }
            do throws(WebSocketError) {
                guard let (item, isFrame) = try InboundFrames.next(decoder: &decoder, machine: &machine, inflater: inflater,
                                                                     maxInflatedBytes: configuration.readChunkBytes) else { break }
                progressed = true
                if isFrame && configuration.pingMilliseconds > 0 { lastFrameReceivedAt = Syscalls.monotonicNanoseconds() }
                switch item {
                case .fragment(let fragment):
                    try deliver(fragment)
                case .ping(let payload):
                    // RFC 6455 §5.5.3: only the latest ping needs its pong; while this client's
                    // queue is long, the pong waits for it to shrink, and replaces an older one.
                    pendingPong = Array(payload)
                    queuePendingPong()
                case .nothing:
                    break
                case .peerClosed(let code):
                    feed(.peerCloseReceived(code: code))
                case .closeAnswered:
                    feed(.peerCloseReceived(code: nil))
                }
            } catch {
                log(.info, "protocol error", [("error", error.reason), ("code", String(error.closeCode.rawValue))])
                feed(.protocolViolated(code: error.closeCode, reason: error.reason))
                return true
            }
        }
        return progressed
    }

    /// A fragment of this client's message: encoded into its own buffer, and handed to the
    /// shared stdin once the message is whole (SPEC §13: never interleaved with another's).
    private func deliver(_ fragment: MessageFragment) throws(WebSocketError) {
        guard lifecycle.client == .open else { return }
        guard !isViewer else {
            log(.info, "viewer sent a message; closing")
            feed(.closeRequested(code: .policyViolation, reason: "viewers cannot send"))
            return
        }
        bytesIn += fragment.payload.count
        if terminalInput == nil {
            try framing.encodeInbound(fragment, into: &message)
        } else if let size = try terminalInput?.take(fragment, codec: &framing, into: &message) {
            // Any client may resize the shared terminal; the latest size holds for all.
            session?.resizeTerminal(size)
            return
        }
        if fragment.isLast { session?.takeInput(&message) }
    }

    private func queuePendingPong() {
        guard let payload = pendingPong, queue.byteCount < (session?.pauseMark ?? configuration.socketHighWatermark) else { return }
        pendingPong = nil
        guard closeCodeSent == nil, lifecycle.client == .open else { return }
        var frame = ByteBuffer()
        FrameEncoder.append(opcode: .pong, payload: payload, to: &frame)
        queue.append(frame)
    }

    @discardableResult
    private func flushSocket() -> Bool {
        guard lifecycle.socket == .open || lifecycle.socket == .flushing else { return false }
        let queuedBefore = queue.byteCount
        let drained = queue.flush(to: transport)
        if behindSince != nil, let session {
            takenWhileBehind += queuedBefore - queue.byteCount
            if takenWhileBehind >= session.pauseMark / 4 {
                behindSince = Syscalls.monotonicNanoseconds()
                takenWhileBehind = 0
            }
        }
        if drained.failed {
            feed(.socketEnded)
            return true
        }
        queuePendingPong()
        if drained.wroteBytes {
            if lifecycle.socket == .flushing && !queue.isFlushed(to: transport) { perform(.startTimer(.flushStall)) }
            // Under the mark again: the session may read output it held back for the clients.
            if let session, behindSince != nil, queue.byteCount < session.pauseMark {
                behindSince = nil
                session.clientDrained()
            }
        }
        if lifecycle.socket == .flushing && queue.isFlushed(to: transport) {
            feed(.socketFlushed)
            return true
        }
        return drained.wroteBytes
    }

    private func drainLingeringSocket() {
        guard lifecycle.socket == .lingering, socketReadiness != .drained else { return }
        while true {
            switch loop.readThroughScratch(transport, { _ in }) {
            case .bytes: continue
            case .wouldBlock:
                if socketReadiness == .readable { socketReadiness = .drained }
                return
            case .endOfFile, .failed:
                feed(.socketEnded)
                return
            }
        }
    }

    /// `--pingms`, as a one-client session has it.
    private func schedulePing() {
        let interval = UInt64(configuration.pingMilliseconds) * 1_000_000
        guard interval > 0 else { return }
        pingTimer = loop.schedule(afterNanoseconds: interval) { [weak self] in
            guard let self, !self.lifecycle.isFinished, self.lifecycle.client == .open, self.lifecycle.socket == .open else { return }
            if Syscalls.monotonicNanoseconds() - self.lastFrameReceivedAt >= 2 * interval {
                self.log(.access, "client silent for two ping intervals; closing")
                self.feed(.clientSilent)
                self.pump()
                return
            }
            var frame = ByteBuffer()
            FrameEncoder.append(opcode: .ping, payload: EmptyCollection<UInt8>(), to: &frame)
            self.queue.append(frame)
            self.flushSocket()
            self.schedulePing()
        }
    }

    // MARK: Done

    private func finish() {
        for id in timers.values { loop.cancel(id) }
        timers.removeAll()
        if let pingTimer { loop.cancel(pingTimer) }
        if let idleReleaseTimer { loop.cancel(idleReleaseTimer) }
        session = nil
        context.sessionSlots?.release(origin.limitKey)
        context.sessionEnded()
        if let closeCodeSent { context.metrics.sessionClosed(code: closeCodeSent) }
        reportBytes()
        let seconds = Double(Syscalls.monotonicNanoseconds() - startNanoseconds) / 1e9
        var fields: [(key: String, value: String)] = [
            ("duration", WebSocketSession.formatSeconds(seconds)), ("in", String(bytesIn)), ("out", String(bytesOut)),
        ]
        if let closeCodeSent { fields.append(("close", String(closeCodeSent.rawValue))) }
        log(.access, "DISCONNECT", fields)
    }

    private func log(_ level: LogLevel, _ message: String, _ extra: [(key: String, value: String)] = []) {
        guard context.logger.isEnabled(level) else { return }
        var fields: [(key: String, value: String)] = [("remote", origin.logDescription), ("id", String(id)), ("path", head.path)]
        if let session { fields.append(("session", session.label)) }
        context.logger.log(level, message, fields: fields + extra)
    }
}
