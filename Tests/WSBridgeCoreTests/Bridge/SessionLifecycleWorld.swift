@testable import WSProtocol
@testable import WSPlatform
@testable import WSBridging

/// A small simulated world around `SessionLifecycle`: a client that sends messages and then its
/// close frame, a FIN or an RST; a child that reads stdin or not, prints lines, exits by itself or
/// on a signal; pipes and a socket that carry the bytes the lifecycle lets through; the ladder and
/// the timers. Every step is one thing that can happen next; a schedule is a sequence of steps.
/// After each step, `violations` lists every invariant of SPEC §3 that no longer holds.
struct LifecycleWorld: Hashable {
    /// How the world is set up: what the client and the child will do.
    struct Setup: Hashable, CustomStringConvertible {
        /// Messages the client sends before it ends.
        var messages = 2
        /// Lines the child prints before it exits by itself (if it does).
        var lines = 2
        /// Whether the child reads its stdin.
        var readsStdin = true
        /// Whether the child exits on its own after its lines (`echo`), or only on stdin's EOF or a signal (`cat`).
        var exitsByItself = false
        /// Whether the child ignores SIGINT and SIGTERM (only SIGKILL ends it).
        var ignoresSignals = false
        /// Whether a grandchild keeps the group (and stdout) alive after the child exits, until SIGKILL... or the ladder's signals.
        var hasGrandchild = false
        /// Whether the server may begin shutting down, the ping timer may fire, the client may
        /// break the protocol, the child may break its framing.
        var allowsShutdown = false
        var allowsPingTimeout = false
        var allowsProtocolError = false
        var allowsOutputError = false
        /// Whether the stdin buffer holds one message at most (backpressure).
        var smallStdinBuffer = false
        /// An event stream's client (SPEC §12): it sends no close frame and no frames to break,
        /// and answers no close (`SessionLifecycle(clientAnswersClose: false)`).
        var isEventStream = false

        var description: String {
            "messages \(messages) lines \(lines) readsStdin \(readsStdin) exitsByItself \(exitsByItself) "
                + "ignoresSignals \(ignoresSignals) grandchild \(hasGrandchild) shutdown \(allowsShutdown) "
                + "ping \(allowsPingTimeout) protocolError \(allowsProtocolError) outputError \(allowsOutputError) "
                + "smallStdin \(smallStdinBuffer) eventStream \(isEventStream)"
        }
    }

    /// What the client has put on the wire, in order, not yet read by the server.
    enum Inbound: Hashable {
        case message(Int)
        case close(UInt16)
        case badFrame
        case fin
    }

    /// What the server has queued for the socket, in order.
    enum Outbound: Hashable {
        case line(Int)
        case close(UInt16?)
    }

    /// One thing that can happen next.
    enum Step: Hashable {
        case spawnSucceeds, spawnFails
        case clientSendsMessage, clientSendsClose, clientSendsFIN, clientResets, clientSendsBadFrame
        case serverReadsSocket, serverNoticesPeerEnd
        case serverWritesStdin
        case childPrintsLine, childExits, grandchildExits, childBreaksFraming
        case serverReadsOutput, serverSeesOutputEnd
        case statusArrives
        case ladderFirstStepEnds, ladderSignalsEndGroup, ladderGivesUp
        case socketDrains, clientClosesAfterShutdown
        case timerFires(SessionLifecycle.Timer)
        case serverShutsDown, pingTimesOut
    }

    let setup: Setup
    var machine = SessionLifecycle()

    // The client.
    var messagesSent = 0
    var clientHasEnded = false
    var clientCloseCode: UInt16?
    var inbound: [Inbound] = []
    var messagesBeforeClientClose: [Int] = []

    // Stdin.
    var stdinBuffer: [Int] = []
    var stdinWritten: [Int] = []
    var stdinDropped: [Int] = []
    var stdinIsOpen = true
    var stdinClosesWhenDrained = false
    /// Why queued input was dropped, if it was: the ladder's first step ran out, or the group ended.
    var dropWasAllowed = true

    // The child and its group.
    var childIsAlive = false
    var grandchildIsAlive = false
    var linesPrinted = 0
    var exitStatus: ExitStatus?
    var statusReported = false
    var outputPipe: [Int] = []
    var outputIsReadable = true
    var ladderStarted = false
    var ladderSignalling = false
    var groupHasEnded = false
    var outputHasEnded = false
    /// Lines in the pipe, still to be read, when the event being fed happened.
    var unreadOutputAtEvent = 0

    // The socket.
    var outbound: [Outbound] = []
    var flushRequested = false
    var writeShut = false
    var socketClosed = false
    var clientVanished = false
    var timers: Set<SessionLifecycle.Timer> = []
    var didShutDown = false
    var didPingTimeout = false

    // Bookkeeping for the invariants.
    var closesSent = 0
    var ladderStarts = 0
    var finishes = 0
    var childStarted = false
    var violations: [String] = []

    init(setup: Setup) {
        self.setup = setup
        machine = SessionLifecycle(clientAnswersClose: !setup.isEventStream)
    }

    // MARK: What can happen next

    var stdinCapacity: Int { setup.smallStdinBuffer ? 1 : 64 }

    var hasGroup: Bool { childIsAlive || grandchildIsAlive }

    var possibleSteps: [Step] {
        guard !machine.isFinished else { return [] }
        var steps: [Step] = []
        if case .starting = machine.child { steps += [.spawnSucceeds, .spawnFails] }
        if !clientHasEnded && !clientVanished {
            if messagesSent < setup.messages { steps.append(.clientSendsMessage) }
            steps += setup.isEventStream ? [.clientSendsFIN, .clientResets] : [.clientSendsClose, .clientSendsFIN, .clientResets]
            if setup.allowsProtocolError { steps.append(.clientSendsBadFrame) }
        } else if clientHasEnded && !clientVanished && !socketClosed && stdinBuffer.count >= stdinCapacity {
            // A client whose close frame waits behind input the child does not read gives up
            // and drops the connection (browsers do, after their close timeout).
            steps.append(.clientResets)
        }
        if !socketClosed, let first = inbound.first {
            let blocked = machine.decodesInbound && stdinBuffer.count >= stdinCapacity && first != .fin
            if !blocked { steps.append(.serverReadsSocket) }
            // SPEC §3: backpressure never blinds the session to the client's end.
            if blocked && inbound.contains(.fin) { steps.append(.serverNoticesPeerEnd) }
        }
        if stdinIsOpen, childStarted, childIsAlive, setup.readsStdin, !stdinBuffer.isEmpty { steps.append(.serverWritesStdin) }
        if childIsAlive && linesPrinted < setup.lines && outputIsReadable { steps.append(.childPrintsLine) }
        if childIsAlive && (setup.exitsByItself && linesPrinted == setup.lines || setup.readsStdin && !stdinIsOpen && stdinBuffer.isEmpty) {
            steps.append(.childExits)
        }
        if grandchildIsAlive && !childIsAlive && setup.exitsByItself { steps.append(.grandchildExits) }
        if childIsAlive && setup.allowsOutputError && machine.deliversOutput { steps.append(.childBreaksFraming) }
        if machine.deliversOutput && !outputPipe.isEmpty { steps.append(.serverReadsOutput) }
        if machine.deliversOutput && outputPipe.isEmpty && childStarted && !hasGroup && outputIsReadable { steps.append(.serverSeesOutputEnd) }
        if let exitStatus, !statusReported, !childIsAlive { _ = exitStatus; steps.append(.statusArrives) }
        if ladderStarted && !groupHasEnded {
            if !ladderSignalling { steps.append(.ladderFirstStepEnds) }
            if !hasGroup { steps.append(.ladderSignalsEndGroup) }
            if ladderSignalling && hasGroup { steps += [.ladderSignalsEndGroup, .ladderGivesUp] }
        }
        if flushRequested && !socketClosed { steps.append(.socketDrains) }
        if writeShut && !socketClosed { steps.append(.clientClosesAfterShutdown) }
        steps += timers.sorted { "\($0)" < "\($1)" }.map { .timerFires($0) }
        if setup.allowsShutdown && !didShutDown { steps.append(.serverShutsDown) }
        if setup.allowsPingTimeout && !didPingTimeout && !socketClosed { steps.append(.pingTimesOut) }
        return steps
    }

    // MARK: Taking a step

    mutating func take(_ step: Step) {
        switch step {
        case .spawnSucceeds:
            childStarted = true
            childIsAlive = true
            grandchildIsAlive = setup.hasGrandchild
            feed(.childStarted)
        case .spawnFails:
            feed(.childFailedToStart(reason: "no such file"))
        case .clientSendsMessage:
            messagesSent += 1
            inbound.append(.message(messagesSent))
        case .clientSendsClose:
            clientHasEnded = true
            clientCloseCode = 1000
            messagesBeforeClientClose = Array(stride(from: 1, through: messagesSent, by: 1))
            inbound.append(.close(1000))
        case .clientSendsFIN:
            clientHasEnded = true
            inbound.append(.fin)
        case .clientResets:
            clientHasEnded = true
            clientVanished = true
            inbound.removeAll()
            if !socketClosed { feed(.socketEnded) }
        case .clientSendsBadFrame:
            clientHasEnded = true
            inbound.append(.badFrame)
        case .serverReadsSocket:
            let item = inbound.removeFirst()
            if !machine.decodesInbound {
                if item == .fin { feed(.socketEnded) }
                return
            }
            switch item {
            case .message(let id):
                if machine.keepsInput { stdinBuffer.append(id) }
            case .close(let code):
                feed(.peerCloseReceived(code: CloseCode(code)))
            case .badFrame:
                feed(.protocolViolated(code: .protocolError, reason: "bad frame"))
            case .fin:
                clientVanished = true
                feed(.socketEnded)
            }
        case .serverNoticesPeerEnd:
            clientVanished = true
            feed(.socketEnded)
        case .serverWritesStdin:
            stdinWritten.append(stdinBuffer.removeFirst())
            closeStdinIfDrained()
        case .childPrintsLine:
            linesPrinted += 1
            outputPipe.append(linesPrinted)
        case .childExits:
            childIsAlive = false
            exitStatus = .exited(0)
        case .grandchildExits:
            grandchildIsAlive = false
        case .childBreaksFraming:
            feed(.outputViolated(code: .internalError, reason: "bad length record"))
        case .serverReadsOutput:
            outbound.append(.line(outputPipe.removeFirst()))
        case .serverSeesOutputEnd:
            outputIsReadable = false
            outputHasEnded = true
            feed(.outputEnded)
        case .statusArrives:
            statusReported = true
            feed(.exitStatusKnown(exitStatus!))
        case .ladderFirstStepEnds:
            ladderSignalling = true
            if !setup.ignoresSignals && childIsAlive {
                childIsAlive = false
                exitStatus = .signalled(2)
            }
            if !setup.ignoresSignals { grandchildIsAlive = false }
            feed(.ladderSignalling)
        case .ladderSignalsEndGroup:
            if childIsAlive { exitStatus = .signalled(9) }
            childIsAlive = false
            grandchildIsAlive = false
            outputIsReadable = outputIsReadable && machine.deliversOutput
            groupHasEnded = true
            feed(.groupEnded(isGone: true))
        case .ladderGivesUp:
            groupHasEnded = true
            feed(.groupEnded(isGone: false))
        case .socketDrains:
            flushRequested = false
            feed(.socketFlushed)
        case .clientClosesAfterShutdown:
            feed(.socketEnded)
        case .timerFires(let timer):
            timers.remove(timer)
            feed(.timerFired(timer))
        case .serverShutsDown:
            didShutDown = true
            feed(.shutdownBegan)
        case .pingTimesOut:
            didPingTimeout = true
            feed(.clientSilent)
        }
    }

    private mutating func closeStdinIfDrained() {
        guard stdinIsOpen, stdinClosesWhenDrained, stdinBuffer.isEmpty else { return }
        stdinIsOpen = false
        feed(.stdinClosed)
    }

    // MARK: Feeding the machine and carrying out its actions

    mutating func feed(_ event: SessionLifecycle.Event) {
        guard !machine.isFinished else { return }
        let closesBefore = closesSent
        unreadOutputAtEvent = outputIsReadable ? outputPipe.count : 0
        let actions = machine.handle(event)
        for action in actions { carryOut(action, cause: event, closesBefore: closesBefore) }
        check(after: event)
    }

    private mutating func carryOut(_ action: SessionLifecycle.Action, cause: SessionLifecycle.Event, closesBefore: Int) {
        switch action {
        case .startLadder:
            ladderStarts += 1
            ladderStarted = true
        case .closeStdinWhenDrained:
            stdinClosesWhenDrained = true
            closeStdinIfDrained()
        case .closeStdinNow:
            if !stdinBuffer.isEmpty {
                stdinDropped += stdinBuffer
                // SPEC §3: queued input may be dropped only once the first step's wait is over
                // (the child did not read it in time) or nothing is left to read it.
                dropWasAllowed = dropWasAllowed && (ladderSignalling || groupHasEnded)
            }
            stdinBuffer.removeAll()
            stdinIsOpen = false
        case .closeOutput:
            outputIsReadable = false
            outputPipe.removeAll()
        case .sendClose(let code, _):
            closesSent += 1
            if closesSent > 1 { violations.append("a second close frame (\(String(describing: code))) after \(cause)") }
            if socketClosed { violations.append("a close frame on a closed socket") }
            outbound.append(.close(code?.rawValue))
            checkCloseCode(code, cause: cause)
        case .flushSocketThenReport:
            flushRequested = true
        case .shutdownSocketWrite:
            writeShut = true
        case .closeSocket:
            socketClosed = true
            flushRequested = false
        case .startTimer(let timer):
            timers.insert(timer)
        case .cancelTimer(let timer):
            timers.remove(timer)
        case .finish:
            finishes += 1
            timers.removeAll()
            checkFinish()
        }
    }

    /// SPEC §3's table: the close code says how the session ended.
    private mutating func checkCloseCode(_ code: CloseCode?, cause: SessionLifecycle.Event) {
        var allowed: [UInt16?] = []
        if let clientCloseCode { allowed.append(clientCloseCode) }
        switch cause {
        case .childFailedToStart: allowed.append(1011)
        case .protocolViolated(let code, _), .outputViolated(let code, _): allowed.append(code.rawValue)
        case .shutdownBegan, .clientSilent: allowed.append(1001)
        case .exitStatusKnown(let status): allowed.append(status.closeCode.rawValue)
        case .outputEnded, .groupEnded, .timerFired(.statusGrace):
            if let exitStatus, statusReported { allowed.append(exitStatus.closeCode.rawValue) }
            allowed.append(1011)
        case .peerCloseReceived, .ladderSignalling, .childStarted, .timerFired, .socketEnded, .socketFlushed, .stdinClosed:
            break
        }
        if !allowed.contains(code?.rawValue) {
            violations.append("close \(String(describing: code?.rawValue)) after \(cause), allowed \(allowed)")
        }
        // SPEC §3: the client's close is answered once the child's output ended, or once the
        // first step is over (or nothing is left to wait for), never while output may still come.
        if case .peerCloseReceived = cause, childStarted, !outputHasEnded, !ladderSignalling, !groupHasEnded {
            violations.append("answered the client's close while the child's output was still open")
        }
        // A group that is gone has left its last lines in the pipe, whose EOF is due: they go out
        // before the close, not with the pipe (the md5sum of a large upload once vanished so).
        if case .groupEnded(isGone: true) = cause, unreadOutputAtEvent > 0 {
            violations.append("close sent with \(unreadOutputAtEvent) lines of a gone group unread")
        }
        // Every line the child printed before its output ended goes out before the close that
        // its end sends (SPEC §3), whether that close carries the status or answers the client's.
        let delivered = outbound.filter { if case .line = $0 { true } else { false } }.count
        switch cause {
        case .outputEnded, .exitStatusKnown:
            if delivered != linesPrinted { violations.append("close after \(cause) with \(delivered) of \(linesPrinted) lines out") }
        default:
            break
        }
    }

    private mutating func checkFinish() {
        if finishes > 1 { violations.append("finished twice") }
        if !socketClosed { violations.append("finished with the socket open") }
        if childStarted && ladderStarts != 1 { violations.append("the child's group got \(ladderStarts) ladders") }
        if childStarted && !groupHasEnded { violations.append("finished before the group ended") }
        // SPEC §3: every message the client sent before its close frame reaches stdin, whatever
        // happened while the child was starting (issue 10 fault 1), unless the child left it
        // unread past the first step (then it is dropped, which `dropWasAllowed` checks). Only
        // for a child that ends on stdin's EOF alone: any other end may close stdin first.
        let nothingElseEnds = !setup.exitsByItself && !setup.allowsOutputError && !setup.allowsShutdown
            && !setup.allowsPingTimeout
        if childStarted, nothingElseEnds, clientCloseCode != nil, !clientVanished,
           stdinWritten + stdinDropped != messagesBeforeClientClose {
            violations.append("stdin got \(stdinWritten) and dropped \(stdinDropped) of \(messagesBeforeClientClose) sent before the close frame")
        }
    }

    /// Invariants that hold after every step.
    private mutating func check(after event: SessionLifecycle.Event) {
        if ladderStarts > 1 { violations.append("ladder started \(ladderStarts) times") }
        // Nothing after the close frame.
        if let close = outbound.firstIndex(where: { if case .close = $0 { true } else { false } }),
           outbound[(close + 1)...].contains(where: { if case .line = $0 { true } else { false } }) {
            violations.append("a message after the close frame")
        }
        // Lines go out in the order printed, none twice.
        let lines = outbound.compactMap { if case .line(let id) = $0 { id } else { nil } }
        if lines != lines.sorted() || Set(lines).count != lines.count { violations.append("lines out of order: \(lines)") }
        // Stdin gets messages in order, none twice.
        if stdinWritten != stdinWritten.sorted() || Set(stdinWritten).count != stdinWritten.count {
            violations.append("stdin out of order: \(stdinWritten)")
        }
        if !dropWasAllowed { violations.append("queued input \(stdinDropped) dropped before the first step was over") }
        // A status close follows every line the child printed.
        if machine.isFinished, case .close(let code?) = outbound.last, let exitStatus, statusReported,
           code == exitStatus.closeCode.rawValue, code != clientCloseCode, lines.count != linesPrinted {
            violations.append("status close after \(lines.count) of \(linesPrinted) lines")
        }
        // A session that did not vanish ends with exactly one close frame.
        if machine.isFinished && !clientVanished && closesSent != 1 {
            violations.append("finished with \(closesSent) close frames")
        }
        _ = event
    }
}
