import WSProtocol
import WSPlatform
import WSBridging

/// The end of a session (SPEC §3), decided by `SessionLifecycle` and carried out here: events from
/// the socket, the pipes, the ladder and the timers go in; close frames, shutdowns, stdin's and
/// the output's end, the ladder and the final release come out.
extension WebSocketSession {
    /// Whether the session is over and everything is released.
    var isFinished: Bool { lifecycle.isFinished }

    /// Feeds an event to the lifecycle and carries out its actions. An event that an action
    /// causes (stdin drained at once, a flush that completes, a group found gone) waits until the
    /// actions of the event before it are all done, so they run in the order the machine gave.
    func feed(_ event: SessionLifecycle.Event) {
        events.feed(event, isFinished: { lifecycle.isFinished }) { event in
            for action in lifecycle.handle(event) { perform(action) }
        }
    }

    private func perform(_ action: SessionLifecycle.Action) {
        switch action {
        case .startLadder:
            startLadder()
        case .closeStdinWhenDrained:
            closeStdinWhenDrained = true
            queueEndOfTerminalInput()
            _ = flushStdin()
        case .closeStdinNow:
            closeStdin()
        case .closeOutput:
            // Complete messages the codec holds still go out before the close frame that follows;
            // the rest of the output is read and dropped (`discardStdout`).
            if pipes.stdoutFD >= 0 { drainOutbound() }
        case .sendClose(let code, let reason):
            queueClose(code: code, reason: reason)
        case .flushSocketThenReport:
            flushSocket()
        case .shutdownSocketWrite:
            transport.shutdownWrite()
            drainLingeringSocket()
        case .closeSocket:
            loop.close(transport.fd, registeredAs: socketRegistration)
            socketRegistration = nil
            socketOut.bytes.clear()
        case .startTimer(let timer):
            start(timer)
        case .cancelTimer(let timer):
            if let id = timers.removeValue(forKey: timer) { loop.cancel(id) }
        case .finish:
            finish()
        }
    }

    // MARK: Events

    /// The child's stdout ended: every message it held goes out, then the lifecycle decides (with
    /// `--passstderr`, the output ends with stderr too).
    func stdoutEnded() {
        do {
            while let message = try framing.nextOutbound() { send(message) }
            if let last = try framing.finishOutbound() { send(last) }
        } catch {
            noteReplacements()
            childOutputFailed(error)
            return
        }
        noteReplacements()
        closeStdout()
        hasStdoutEnded = true
        if !configuration.passesStderr || pipes.stderrFD < 0 { feed(.outputEnded) }
    }

    /// The child itself exited (its pidfd became readable). Its status usually comes from /proc
    /// at once; otherwise the spawner is asked. Grandchildren may still hold its stdout, so the
    /// session does not end here: the ladder ends the rest of the group, whose last member
    /// closes stdout, and the close frame follows the last byte.
    func childExited() {
        checkChild()
        if exitStatus == nil, let child { child.spawner.queryExit(of: child.pid) }
    }

    /// Reports the child's exit status once it is known.
    func checkChild() {
        guard !isFinished, let child, exitStatus == nil, let status = child.exitStatus(pidFD: exitFD) else { return }
        exitStatus = status
        feed(.exitStatusKnown(status))
        teardown?.checkNow()
        pump()
    }

    /// The child broke its framing (a line over the limit, a bad length record): close with the
    /// codec's code (1009 or 1011) and end the child.
    func childOutputFailed(_ error: WebSocketError) {
        log(.error, "child output refused", [("error", error.reason), ("code", String(error.closeCode.rawValue))])
        feed(.outputViolated(code: error.closeCode, reason: error.reason))
    }

    /// The client broke the protocol: fail the connection with the error's close code (RFC 6455 §7.1.7).
    func fail(_ error: WebSocketError) {
        log(.info, "protocol error", [("error", error.reason), ("code", String(error.closeCode.rawValue))])
        feed(.protocolViolated(code: error.closeCode, reason: error.reason))
    }

    /// Server shutdown (SPEC §3): 1001 to the client, and the ladder for the child.
    func shutdown() {
        guard !isFinished else { return }
        feed(.shutdownBegan)
        pump()
    }

    /// The socket failed or the client vanished without a close: nothing more can be sent.
    ///
    /// What the client sent before its end still takes effect, in order (SPEC §3, issue 10): the
    /// frames received and those still queued in the kernel go to the stdin buffer as far as it
    /// takes them, and the ladder's first step writes them before closing stdin. The child's
    /// output is read and dropped from here on (`readStdout`), so a child that echoes does not
    /// die of SIGPIPE before it has read its input.
    func socketFailed() {
        guard lifecycle.socket != .closed else { return }
        if eventStream == nil { salvageInput() }
        feed(.socketEnded)
    }

    /// Decodes what the client sent before the socket ended: the frames buffered and the bytes
    /// the kernel still holds (Linux hands out queued bytes before reporting a FIN or an RST),
    /// while the stdin buffer has room. A full buffer means the child is not reading; what it
    /// did not take is dropped with the socket, as the ladder would drop it.
    private func salvageInput() {
        while lifecycle.decodesInbound {
            _ = processInbound()
            guard lifecycle.decodesInbound, pipes.stdin.bytes.readableCount < configuration.stdinHighWatermark else { return }
            guard case .bytes = loop.readThroughScratch(transport, { decoder.append($0) }) else { return }
        }
    }

    // MARK: Carrying out actions

    /// Queues our close frame, keeping the connection's frame-level machine in step: an empty
    /// close (code nil) is the echo of an empty one (RFC 6455 §5.5.1).
    private func queueClose(code: CloseCode?, reason: String) {
        guard eventStream == nil else { return queueExitEvent(code: code, reason: reason) }
        let action = if let code { machine.close(code: code, reason: reason) } else { machine.answerPeerClose() }
        if case .send(let sent, let text) = action {
            closeCodeSent = sent
            FrameEncoder.appendClose(code: sent, reason: text, to: &socketOut.bytes)
        }
        flushSocket()
    }

    /// After our last frame, reads (and drops) until the client closes its side.
    func drainLingeringSocket() {
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

    func start(_ timer: SessionLifecycle.Timer) {
        let milliseconds = switch timer {
        case .closeAnswer: configuration.closeAnswerTimeoutMilliseconds
        case .linger: Self.lingerMilliseconds
        case .statusGrace: Self.statusGraceMilliseconds
        case .flushStall: configuration.flushStallMilliseconds
        }
        if let old = timers[timer] { loop.cancel(old) }
        timers[timer] = loop.schedule(afterNanoseconds: UInt64(milliseconds) * 1_000_000) { [weak self] in
            guard let self else { return }
            self.timers[timer] = nil
            self.feed(.timerFired(timer))
            self.pump()
        }
    }

    /// How long a socket whose write side is shut waits for the client's FIN.
    static let lingerMilliseconds = 1_000
    /// How long an ended group's close frame waits for the exit status the spawner reports.
    static let statusGraceMilliseconds = 2_000

    // MARK: Child pipes

    /// Closes stdin, dropping what is queued for it, and tells the lifecycle (which may have asked).
    func closeStdin() {
        closeStdinWhenDrained = false
        guard pipes.closeStdin(on: loop) else { return }
        feed(.stdinClosed)
    }

    func closeStdout() { pipes.closeStdout(on: loop) }

    func closeStderr() { pipes.closeStderr(on: loop) }

    // MARK: The teardown ladder

    /// Starts the ladder of SPEC §3 on the child's process group; its first step, closing stdin
    /// once drained, is the lifecycle's own action.
    private func startLadder() {
        guard teardown == nil, let child else { return }
        let runner = TeardownRunner(
            loop: loop, child: child, closeMilliseconds: configuration.closeMilliseconds,
            isTerminal: terminalInput != nil, closeStdin: {},
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

    // MARK: Done

    /// Releases everything once the socket is closed and the child's group has ended.
    private func finish() {
        // A child group that is gone may still have unread stderr; log what is there.
        readStderr()
        loop.close(&exitFD, &exitRegistration)
        closeStdinWhenDrained = false
        pipes.closeAll(on: loop)
        teardown?.cancel()
        for id in timers.values { loop.cancel(id) }
        timers.removeAll()
        if let pingTimer { loop.cancel(pingTimer) }
        if let idleReleaseTimer { loop.cancel(idleReleaseTimer) }
        registry.remove(self)
        finishEventStream()
        if let child {
            context.childEnded(child.pid)
            child.spawner.forget(child.pid)
        }
        context.releaseChildSlot()
        context.sessionSlots?.release(client.limitKey)
        context.sessionEnded()
        if let closeCodeSent { context.metrics.sessionClosed(code: closeCodeSent) }
        reportMessageBytes()
        let seconds = Double(Syscalls.monotonicNanoseconds() - startNanoseconds) / 1e9
        var fields: [(key: String, value: String)] = [
            ("duration", Self.formatSeconds(seconds)), ("in", String(bytesIn)), ("out", String(bytesOut)),
        ]
        if let exitStatus { fields.append(("exit", exitStatus.logValue)) }
        if let closeCodeSent { fields.append(("close", String(closeCodeSent.rawValue))) }
        log(.access, "DISCONNECT", fields)
    }

    /// A duration for the log: seconds with three decimals and an "s".
    static func formatSeconds(_ value: Double) -> String {
        let thousandths = Int((value * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction + "s"
    }
}
