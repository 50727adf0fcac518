/// The end of a session (SPEC §3): close handshakes, the teardown ladder, and releasing every fd.
extension WebSocketSession {
    // MARK: What ends a session

    /// The client sent its close frame: close stdin (after what is queued for it), keep delivering
    /// the child's output until stdout ends or the ladder's first step is over, then answer.
    func peerClosed(code: CloseCode?) {
        inbound = .discarding
        switch childState {
        case .starting:
            // Issue 10: answering now would drop the messages that came before the close. The
            // ladder starts once the child runs (`childSpawned`), so they reach stdin first and
            // their echoes come back before the answer (SPEC §3).
            break
        case .running:
            startTeardown()
        case .failedToStart, .groupEnded:
            answerPeerClose()
        }
    }

    /// Sends the answer to the client's close frame, then stops reading the child's output.
    func answerPeerClose() {
        guard isPeerCloseAnswerPending else { return }
        if stdoutFD >= 0 { drainOutbound() }
        queueClose(machine.answerPeerClose())
        closeStdout()
        closeSocketAfterFlush()
    }

    /// The child's stdout ended: deliver what is left, then (unless the client is closing) send a
    /// close frame with the exit status once it is known.
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
        if isPeerCloseAnswerPending {
            answerPeerClose()
            return
        }
        // The ladder ends what is left of the group (SPEC §3), and tells us how the child ended.
        startTeardown()
        checkChild()
        sendExitCloseIfReady()
    }

    /// The child itself exited (its pidfd became readable). Its status usually comes from /proc
    /// at once; otherwise the spawner is asked. Grandchildren may still hold its stdout, so the
    /// session does not end here: the ladder ends the rest of the group, whose last member
    /// closes stdout, and the close frame follows the last byte.
    func childExited() {
        startTeardown()
        checkChild()
        if exitStatus == nil, let child { child.spawner.queryExit(of: child.pid) }
    }

    /// Sends the close frame with the exit status once both stdout has ended and the status is known.
    func sendExitCloseIfReady() {
        // With --passstderr, stderr's last lines belong before the close too.
        guard hasStdoutEnded, !configuration.passesStderr || stderrFD < 0,
              machine.state == .open, socketState == .open else { return }
        if let exitStatus {
            sendClose(code: exitStatus.closeCode, reason: exitStatus.closeReason)
        } else if hasChildGroupEnded {
            sendClose(code: .internalError, reason: "child ended without an exit status")
        }
    }

    /// The child broke its framing (a line over the limit, a bad length record): close with the
    /// codec's code (1009 or 1011) and end the child.
    func childOutputFailed(_ error: WebSocketError) {
        log(.error, "child output refused", [("error", error.reason), ("code", String(error.closeCode.rawValue))])
        closeStdout()
        if isPeerCloseAnswerPending {
            answerPeerClose()
        } else {
            sendClose(code: error.closeCode, reason: error.reason)
        }
        startTeardown()
    }

    /// The client broke the protocol: fail the connection with the error's close code (RFC 6455 §7.1.7).
    func fail(_ error: WebSocketError) {
        log(.info, "protocol error", [("error", error.reason), ("code", String(error.closeCode.rawValue))])
        inbound = .discarding
        queueClose(machine.fail(error))
        closeStdout()
        closeSocketAfterFlush()
        startTeardown()
    }

    /// Server shutdown (SPEC §3): 1001 to the client, and the ladder for the child.
    func shutdown() {
        guard !isFinished else { return }
        if socketState == .open && machine.state == .open {
            sendClose(code: .goingAway, reason: "server shutting down")
        }
        closeStdout()
        startTeardown()
        pump()
    }

    /// Queues the close frame the state machine asks for, if any; true when one was queued.
    @discardableResult
    private func queueClose(_ action: ConnectionStateMachine.CloseAction) -> Bool {
        switch action {
        case .send(let code, let reason):
            closeCodeSent = code
            FrameEncoder.appendClose(code: code, reason: reason, to: &socketOut)
            return true
        case .none:
            return false
        }
    }

    /// Sends our close frame (if none was sent) and waits a bounded time for the client's answer;
    /// when the client's close came first, ours is the answer and the connection ends after it.
    func sendClose(code: CloseCode, reason: String) {
        let isAnswer = isPeerCloseAnswerPending
        if queueClose(machine.close(code: code, reason: reason)) {
            if isAnswer {
                closeSocketAfterFlush()
                return
            }
            let timeout = UInt64(configuration.closeAnswerTimeoutMilliseconds) * 1_000_000
            closeTimer = loop.schedule(afterNanoseconds: timeout) { [weak self] in self?.closeSocketAfterFlush() }
        }
        flushSocket()
    }

    /// The socket failed or the client vanished without a close: nothing more can be sent.
    ///
    /// What the client sent before its end still takes effect, in order (SPEC §3, issue 10): the
    /// frames received and those still queued in the kernel go to the stdin buffer as far as it
    /// takes them, and the ladder's first step writes them before closing stdin. The child's
    /// output is read and dropped from here on (`readStdout`), so a child that echoes does not
    /// die of SIGPIPE before it has read its input.
    func socketFailed() {
        guard socketState != .closed else { return }
        salvageInput()
        inbound = .discarding
        closeSocketNow()
        startTeardown()
    }

    /// Decodes what the client sent before the socket ended: the frames buffered and the bytes
    /// the kernel still holds (Linux hands out queued bytes before reporting a FIN or an RST),
    /// while the stdin buffer has room. A full buffer means the child is not reading; what it
    /// did not take is dropped with the socket, as the ladder would drop it.
    private func salvageInput() {
        while inbound == .frames && socketState != .closed {
            _ = processInbound()
            guard inbound == .frames, socketState != .closed,
                  stdinBuffer.readableCount < configuration.stdinHighWatermark else { return }
            guard case .bytes = loop.readThroughScratch(socketFD, { decoder.append($0) }) else { return }
        }
    }

    // MARK: Socket shutdown

    func closeSocketAfterFlush() {
        guard socketState == .open else { return }
        socketState = .flushingThenShutdown
        flushSocket()
    }

    func shutdownSocketWrite() {
        Syscalls.shutdownWrite(socketFD)
        socketState = .lingering
        if let closeTimer { loop.cancel(closeTimer) }
        closeTimer = loop.schedule(afterNanoseconds: 1_000_000_000) { [weak self] in self?.closeSocketNow() }
        drainLingeringSocket()
    }

    /// After our last frame, reads (and drops) until the client closes its side.
    func drainLingeringSocket() {
        guard socketState == .lingering, socketReadiness != .drained else { return }
        while true {
            switch loop.readThroughScratch(socketFD, { _ in }) {
            case .bytes: continue
            case .wouldBlock:
                if socketReadiness == .readable { socketReadiness = .drained }
                return
            case .endOfFile, .failed:
                closeSocketNow()
                return
            }
        }
    }

    func closeSocketNow() {
        guard socketState != .closed else { return }
        socketState = .closed
        if let closeTimer { loop.cancel(closeTimer) }
        loop.close(socketFD, registeredAs: socketRegistration)
        socketRegistration = nil
        socketOut.clear()
        finishIfDone()
    }

    // MARK: Child pipes

    func closeStdin() {
        closeStdinWhenFlushed = false
        guard stdinFD >= 0 else { return }
        loop.close(&stdinFD, &stdinRegistration)
        stdinBuffer.clear()
    }

    func closeStdout() { loop.close(&stdoutFD, &stdoutRegistration) }

    func closeStderr() { loop.close(&stderrFD, &stderrRegistration) }

    // MARK: The teardown ladder

    /// Starts the ladder of SPEC §3 on the child's process group (once).
    func startTeardown() {
        guard teardown == nil, let child else { return }
        let runner = TeardownRunner(
            loop: loop, child: child, closeMilliseconds: configuration.closeMilliseconds,
            closeStdin: { [weak self] in
                guard let self else { return }
                self.closeStdinWhenFlushed = true
                _ = self.flushStdin()
                self.pump()
            },
            signalling: { [weak self] in
                // The first step is over: whatever was not written to stdin is dropped, and the
                // client's close is answered now at the latest (SPEC §3).
                guard let self else { return }
                self.closeStdin()
                self.answerPeerClose()
                self.pump()
            },
            finished: { [weak self] isGone in self?.groupEnded(isGone: isGone) })
        teardown = runner
        runner.start()
    }

    /// Records the child's exit status once reported (and sends the close frame that waits for
    /// it); a child that exited starts the ladder for the rest of its group.
    func checkChild() {
        guard let child, exitStatus == nil, let status = child.exitStatus(pidFD: exitFD) else { return }
        exitStatus = status
        sendExitCloseIfReady()
        startTeardown()
        teardown?.checkNow()
        if isGroupEnded { finishTeardown() }
    }

    /// The ladder is over: the group is gone (or survived SIGKILL's wait). The close frame may
    /// still wait for the exit status, which the spawner reports a moment after the group went.
    private func groupEnded(isGone: Bool) {
        isGroupEnded = true
        if !isGone { log(.error, "child process group survived SIGKILL; giving up on it") }
        guard exitStatus == nil, isGone else {
            finishTeardown()
            return
        }
        statusGraceTimer = loop.schedule(afterNanoseconds: 2_000_000_000) { [weak self] in self?.finishTeardown() }
    }

    private func finishTeardown() {
        guard case .running(let child) = childState else { return }
        childState = .groupEnded(child)
        if let statusGraceTimer { loop.cancel(statusGraceTimer) }
        sendExitCloseIfReady()
        closeStdin()
        answerPeerClose()
        pump()
        finishIfDone()
    }

    // MARK: Done

    /// Ends the session once the socket is closed and the child's group is gone.
    func finishIfDone() {
        guard !isFinished, socketState == .closed, hasChildGroupEnded else { return }
        // A child group that is gone may still have unread stderr; log what is there.
        readStderr()
        isFinished = true
        loop.close(&exitFD, &exitRegistration)
        closeStdin()
        closeStdout()
        closeStderr()
        teardown?.cancel()
        if let statusGraceTimer { loop.cancel(statusGraceTimer) }
        if let closeTimer { loop.cancel(closeTimer) }
        if let pingTimer { loop.cancel(pingTimer) }
        if let idleReleaseTimer { loop.cancel(idleReleaseTimer) }
        registry.remove(self)
        if let child {
            context.childEnded(child.pid)
            child.spawner.forget(child.pid)
        }
        context.releaseChildSlot()
        context.sessionEnded()
        let seconds = Double(Syscalls.monotonicNanoseconds() - startNanoseconds) / 1e9
        var fields: [(key: String, value: String)] = [
            ("duration", String(format3(seconds)) + "s"), ("in", String(bytesIn)), ("out", String(bytesOut)),
        ]
        if let exitStatus { fields.append(("exit", exitStatus.logValue)) }
        if let closeCodeSent { fields.append(("close", String(closeCodeSent.rawValue))) }
        log(.access, "DISCONNECT", fields)
    }

    private func format3(_ value: Double) -> String {
        let thousandths = Int((value * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
