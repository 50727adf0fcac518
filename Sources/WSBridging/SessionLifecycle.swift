import WSProtocol
import WSPlatform

/// The life of one WebSocket session and its child (SPEC §3), as a pure state machine: events
/// named for what happened go in, the imperatives the session must carry out come back, and no
/// I/O happens here. The session moves the bytes; this decides when stdin closes, when the
/// child's output stops being delivered, which close frame goes out and when, when the socket
/// shuts, when the teardown ladder starts, and when everything is over.
///
/// Two machines side by side (STYLE.md "State machines"): the child's (starting → running →
/// group ended) and the client's connection (open → closing → closed, and the socket under it),
/// glued by the rules of SPEC §3:
/// - Whatever the client does while the child starts (messages, its close frame, a FIN, an RST)
///   takes effect in its order once the child runs: queued input still reaches stdin.
/// - The client's close frame closes stdin (after what is queued for it); the child's output is
///   delivered until it ends or the ladder's first step is over, then the close is answered.
/// - The child's output ending sends a close frame with its exit status once that is known.
/// - Exactly one close frame goes out, and none after the client vanished.
/// - The child's group always gets the ladder; the session ends once its socket is closed and
///   its group has ended.
public struct SessionLifecycle: Sendable, Hashable {
    /// What happened.
    public enum Event: Sendable, Hashable {
        /// The spawner started the child; its pipes are the session's.
        case childStarted
        /// The child could not start.
        case childFailedToStart(reason: String)
        /// The client's close frame arrived, after every message before it was queued for stdin
        /// (the answer to our close, if ours went first).
        case peerCloseReceived(code: CloseCode?)
        /// The client broke RFC 6455: fail the connection with this code (§7.1.7).
        case protocolViolated(code: CloseCode, reason: String)
        /// The socket reached its end: a FIN, an RST, or a failed read or write.
        case socketEnded
        /// Everything queued for the socket is written (reported while flushing before a shutdown).
        case socketFlushed
        /// Stdin is closed: drained after `closeStdinWhenDrained`, or the child closed it (EPIPE).
        case stdinClosed
        /// The child's output ended (stdout's EOF, and stderr's with `--passstderr`), and every
        /// message it held is queued for the socket.
        case outputEnded
        /// The child broke its framing (a line over the limit, a bad length record).
        case outputViolated(code: CloseCode, reason: String)
        /// The child's exit status is known.
        case exitStatusKnown(ExitStatus)
        /// The ladder's first step (close stdin and wait) is over and signals begin.
        case ladderSignalling
        /// The ladder is over: the group is gone, or survived SIGKILL's wait (`isGone` false).
        case groupEnded(isGone: Bool)
        /// A timer the machine started has fired.
        case timerFired(Timer)
        /// The server began shutting down (SPEC §3: 1001 to every client).
        case shutdownBegan
        /// `--pingms`: the client sent no frame for two intervals (SPEC §1: 1001).
        case clientSilent
    }

    /// The timers the machine starts; each is cancelled when what it waits for happens.
    public enum Timer: Sendable, Hashable, CaseIterable {
        /// How long our close frame waits for the client's answer.
        case closeAnswer
        /// How long a socket whose write side is shut waits for the client's FIN.
        case linger
        /// How long an ended group's exit status may still take to arrive.
        case statusGrace
        /// How long the last frames may wait for a client that takes none of them: the session
        /// restarts it whenever the socket takes bytes, so only a client that stopped reading
        /// (and holds its connection open) runs it out.
        case flushStall
    }

    /// What the session must do, in order.
    public enum Action: Sendable, Hashable {
        /// Start the teardown ladder on the child's group; its first step is
        /// `closeStdinWhenDrained`, which comes with this action.
        case startLadder
        /// Close stdin once everything queued for it is written; report `stdinClosed`.
        case closeStdinWhenDrained
        /// Close stdin now, dropping what is queued for it.
        case closeStdinNow
        /// Stop reading the child's output and close its pipes (stdout, and stderr with
        /// `--passstderr`): nothing more of it goes to the client.
        case closeOutput
        /// Queue a close frame with this code (nil: an empty close, echoing an empty one) and reason.
        case sendClose(code: CloseCode?, reason: String)
        /// Write what is queued, then report `socketFlushed`.
        case flushSocketThenReport
        /// Shut the socket's write side and read until the client's FIN (or the linger timer).
        case shutdownSocketWrite
        /// Close the socket now.
        case closeSocket
        /// Start a timer; it fires as `timerFired`.
        case startTimer(Timer)
        /// Cancel a timer.
        case cancelTimer(Timer)
        /// The session is over: release everything (every timer still running included) and log its end.
        case finish
    }

    /// The child's side.
    public enum Child: Sendable, Hashable {
        /// The spawner has not answered. `endRequested`: something already asked for the ladder,
        /// which starts the moment the child runs.
        case starting(endRequested: Bool)
        /// The child was started: its ladder, pipes and exit status, its group's end included.
        case running(Running)
        /// It could not start.
        case failedToStart
    }

    /// A started child: its ladder, its pipes and its exit status.
    public struct Running: Sendable, Hashable {
        /// How far the ladder is.
        public var ladder: Ladder = .notStarted
        /// Stdin's state.
        public var stdin: Stdin = .open
        /// The output's state. It may outlive the group: bytes still in the pipe are read to its EOF.
        public var output: Output = .open
        /// The exit status, once known.
        public var status: ExitStatus?
    }

    /// The teardown ladder (SPEC §3).
    public enum Ladder: Sendable, Hashable {
        /// Not started.
        case notStarted
        /// Its first step: stdin closes, and the group has 100 ms + closems to leave.
        case closingStdin
        /// Its signals are under way.
        case signalling
        /// The group is gone, or survived SIGKILL's wait. `inGrace`: what the group left behind may
        /// still come a moment later, and the close frame waits for it until the grace timer
        /// fires: the exit status (from the spawner when /proc cannot vouch for it), and the last
        /// output still in the pipe when the client's close waits for it (its EOF is due, every
        /// writer being gone).
        case groupEnded(inGrace: Bool)
    }

    /// The child's stdin.
    public enum Stdin: Sendable, Hashable {
        /// Input is written as it comes.
        case open
        /// It closes once what is queued is written.
        case closingWhenDrained
        /// Closed.
        case closed
    }

    /// The child's output (stdout, with stderr under `--passstderr`).
    public enum Output: Sendable, Hashable {
        /// Read and delivered.
        case open
        /// It reached its end; all of it is queued for the socket.
        case ended
        /// The session stopped reading it (the client is closing or gone, or the output broke its framing).
        case abandoned
    }

    /// The client's connection (RFC 6455 §7's closing handshake).
    public enum Client: Sendable, Hashable {
        /// Messages flow both ways.
        case open
        /// The client's close frame came; our answer is owed (RFC 6455 §5.5.1 lets it wait for
        /// the child's last output, SPEC §3).
        case peerClosing(code: CloseCode?)
        /// Our close frame went first; the client's answer is awaited.
        case closeSent
        /// Both close frames went, or nothing more can be said.
        case closed
    }

    /// The socket under the connection.
    public enum Socket: Sendable, Hashable {
        /// Bytes flow both ways.
        case open
        /// The last frame is queued: writing it, then the write side shuts.
        case flushing
        /// The write side is shut; reading until the client's FIN.
        case lingering
        /// Closed.
        case closed
    }

    /// The child's side now.
    public private(set) var child: Child = .starting(endRequested: false)
    /// The client's connection now.
    public private(set) var client: Client = .open
    /// The socket now.
    public private(set) var socket: Socket = .open
    /// Whether the session is over.
    public private(set) var isFinished = false

    /// Whether the client answers our close: a WebSocket client does (RFC 6455 §5.5.1); an
    /// event stream's (SPEC §12) has no close of its own, so our close (`event: exit`) is the
    /// end of the conversation, and the connection ends once it is written.
    public let clientAnswersClose: Bool

    /// Creates the lifecycle of a session whose 101 (or event-stream head) is queued and whose
    /// child is being started.
    public init(clientAnswersClose: Bool = true) {
        self.clientAnswersClose = clientAnswersClose
    }

    // MARK: Gates the session asks while moving bytes

    /// Whether bytes from the socket are decoded into frames (after our close, only to find the
    /// client's answer); otherwise they are read and dropped, so the socket's end is still seen
    /// (RFC 6455 §1.4: data after the client's close is discarded).
    public var decodesInbound: Bool {
        guard socket == .open else { return false }
        switch client {
        case .open, .closeSent: return true
        case .peerClosing, .closed: return false
        }
    }

    /// Whether a decoded message is kept for stdin (held while the child starts); otherwise it is
    /// dropped. Only messages of an open connection are delivered at all (RFC 6455 §5.5.1).
    public var keepsInput: Bool {
        guard client == .open else { return false }
        switch child {
        case .starting: return true
        case .running(let running): return running.stdin != .closed
        case .failedToStart: return false
        }
    }

    /// Whether the child's output is read and delivered now.
    public var deliversOutput: Bool {
        guard case .running(let running) = child, running.output == .open, socket == .open else { return false }
        switch client {
        case .open, .peerClosing: return true
        case .closeSent, .closed: return false
        }
    }

    // MARK: Events

    /// Feeds one event; returns what to do, in order.
    public mutating func handle(_ event: Event) -> [Action] {
        precondition(!isFinished, "no event reaches a finished session")
        var actions: [Action] = []
        switch event {
        case .childStarted:
            guard case .starting(let endRequested) = child else { preconditionFailure("the child starts once") }
            child = .running(Running())
            // Output has a reader only while the client can still be sent messages; a client
            // that sent its close frame still gets what the child prints first (SPEC §3).
            switch client {
            case .open, .peerClosing: if socket != .open { closeOutput(&actions) }
            case .closeSent, .closed: closeOutput(&actions)
            }
            if endRequested { requestLadder(&actions) }
        case .childFailedToStart(let reason):
            guard case .starting = child else { preconditionFailure("the child starts once") }
            child = .failedToStart
            sendClose(code: .internalError, reason: reason, &actions)
            answerPeerClose(&actions)
        case .peerCloseReceived(let code):
            peerCloseReceived(code: code, &actions)
        case .protocolViolated(let code, let reason):
            precondition(decodesInbound, "only decoded frames break the protocol")
            // RFC 6455 §7.1.7: fail the connection: our close, then the TCP connection ends
            // without waiting for an answer.
            closeWithoutWaiting(code: code, reason: reason, &actions)
            closeOutput(&actions)
            requestLadder(&actions)
        case .socketEnded:
            socketEnded(&actions)
        case .socketFlushed:
            // A flush the socket's end overtook is old news.
            guard socket == .flushing else { break }
            socket = .lingering
            cancel(.flushStall, &actions)
            actions += [.shutdownSocketWrite, .startTimer(.linger)]
        case .stdinClosed:
            updateRunning { $0.stdin = .closed }
        case .outputEnded:
            outputEnded(&actions)
        case .outputViolated(let code, let reason):
            closeOutput(&actions)
            if case .peerClosing = client {
                answerPeerClose(&actions)
            } else {
                sendClose(code: code, reason: reason, &actions)
            }
            requestLadder(&actions)
        case .exitStatusKnown(let status):
            guard case .running(var running) = child, running.status == nil else { break }
            running.status = status
            child = .running(running)
            endGraceIfSettled(&actions)
            // The child is gone; the ladder ends whatever is left of its group.
            requestLadder(&actions)
            sendEndCloseIfReady(&actions)
        case .ladderSignalling:
            guard case .running(var running) = child else { preconditionFailure("only a started child has a ladder") }
            switch running.ladder {
            case .closingStdin: break
            case .signalling: return actions  // each signal step reports; the first one counts
            case .notStarted, .groupEnded: preconditionFailure("signals follow the ladder's first step")
            }
            running.ladder = .signalling
            child = .running(running)
            // SPEC §3: the first step is over: unwritten input is dropped, and the client's close
            // is answered now at the latest.
            closeStdinNow(&actions)
            answerPeerClose(&actions)
        case .groupEnded(let isGone):
            groupEnded(isGone: isGone, &actions)
        case .timerFired(let timer):
            timerFired(timer, &actions)
        case .shutdownBegan:
            if case .peerClosing = client {
                answerPeerClose(&actions)
            } else {
                sendClose(code: .goingAway, reason: "server shutting down", &actions)
            }
            closeOutput(&actions)
            requestLadder(&actions)
        case .clientSilent:
            guard client == .open else { break }
            closeWithoutWaiting(code: .goingAway, reason: "ping timeout", &actions)
            closeOutput(&actions)
            requestLadder(&actions)
        }
        finishIfDone(&actions)
        return actions
    }

    // MARK: Transitions

    private mutating func peerCloseReceived(code: CloseCode?, _ actions: inout [Action]) {
        switch client {
        case .open:
            client = .peerClosing(code: code)
            requestLadder(&actions)
            switch child {
            case .starting:
                // Answered once the child ran and its output ended, or the first step is over.
                break
            case .running(let running):
                // Output still open is delivered to its end (or the first step's) before the answer.
                if running.output != .open { answerPeerClose(&actions) }
            case .failedToStart:
                answerPeerClose(&actions)
            }
        case .closeSent:
            // The answer to ours: the handshake is complete (RFC 6455 §7.1.1: the server closes TCP first).
            client = .closed
            cancel(.closeAnswer, &actions)
            flushThenShutdown(&actions)
        case .peerClosing, .closed:
            preconditionFailure("no frame is decoded after the client's close")
        }
    }

    private mutating func socketEnded(_ actions: inout [Action]) {
        guard socket != .closed else { return }
        socket = .closed
        client = .closed
        actions.append(.closeSocket)
        cancel(.closeAnswer, &actions)
        cancel(.linger, &actions)
        cancel(.flushStall, &actions)
        // Nobody is left to read the output; what the client sent before its end still reaches
        // stdin, which then closes (SPEC §3: the ladder's first step).
        closeOutput(&actions)
        requestLadder(&actions)
    }

    private mutating func outputEnded(_ actions: inout [Action]) {
        // Output the session stopped reading has no end to report.
        guard case .running(var running) = child, running.output == .open else { return }
        running.output = .ended
        child = .running(running)
        endGraceIfSettled(&actions)
        if case .peerClosing = client {
            answerPeerClose(&actions)
            return
        }
        // The ladder ends what is left of the group (SPEC §3), and tells how the child ended.
        requestLadder(&actions)
        sendEndCloseIfReady(&actions)
    }

    private mutating func groupEnded(isGone: Bool, _ actions: inout [Action]) {
        guard case .running(var running) = child else { preconditionFailure("only a started child has a group") }
        switch running.ladder {
        case .closingStdin, .signalling: break
        case .notStarted, .groupEnded: preconditionFailure("a group ends once, through its ladder")
        }
        // Every writer is gone, so output still in the pipe reaches its EOF at once: the client's
        // close waits for it rather than dropping it (SPEC §3).
        let awaitsOutput = isGone && running.output == .open && isPeerClosing
        let inGrace = isGone && running.status == nil || awaitsOutput
        running.ladder = .groupEnded(inGrace: inGrace)
        child = .running(running)
        closeStdinNow(&actions)
        if !awaitsOutput { answerPeerClose(&actions) }
        if inGrace { actions.append(.startTimer(.statusGrace)) }
        sendEndCloseIfReady(&actions)
    }

    private mutating func timerFired(_ timer: Timer, _ actions: inout [Action]) {
        switch timer {
        case .closeAnswer:
            guard client == .closeSent else { break }
            client = .closed
            flushThenShutdown(&actions)
        case .linger:
            guard socket == .lingering else { break }
            socket = .closed
            actions.append(.closeSocket)
        case .flushStall:
            // The client stopped reading: for the session it is gone, as if it had reset.
            guard socket == .flushing else { break }
            socketEnded(&actions)
        case .statusGrace:
            guard case .running(var running) = child, case .groupEnded(inGrace: true) = running.ladder else { break }
            running.ladder = .groupEnded(inGrace: false)
            child = .running(running)
            answerPeerClose(&actions)
            sendEndCloseIfReady(&actions)
        }
    }

    // MARK: Parts

    /// Starts the ladder (once), or asks for it as soon as the child runs.
    private mutating func requestLadder(_ actions: inout [Action]) {
        switch child {
        case .starting:
            child = .starting(endRequested: true)
        case .running(var running):
            guard running.ladder == .notStarted else { return }
            running.ladder = .closingStdin
            let closesStdin = running.stdin == .open
            if closesStdin { running.stdin = .closingWhenDrained }
            child = .running(running)
            actions.append(.startLadder)
            if closesStdin { actions.append(.closeStdinWhenDrained) }
        case .failedToStart:
            break
        }
    }

    /// Whether the client's close frame came and waits for our answer.
    private var isPeerClosing: Bool {
        if case .peerClosing = client { true } else { false }
    }

    /// Ends the ended group's grace once nothing it waits for is missing: the status is known and
    /// no output the client's close waits for is left.
    private mutating func endGraceIfSettled(_ actions: inout [Action]) {
        guard case .running(var running) = child, case .groupEnded(inGrace: true) = running.ladder,
              running.status != nil, running.output != .open || !isPeerClosing else { return }
        running.ladder = .groupEnded(inGrace: false)
        child = .running(running)
        cancel(.statusGrace, &actions)
    }

    private mutating func closeStdinNow(_ actions: inout [Action]) {
        guard case .running(var running) = child, running.stdin != .closed else { return }
        running.stdin = .closed
        child = .running(running)
        actions.append(.closeStdinNow)
    }

    private mutating func closeOutput(_ actions: inout [Action]) {
        guard case .running(var running) = child, running.output == .open else { return }
        running.output = .abandoned
        child = .running(running)
        actions.append(.closeOutput)
    }

    /// Our close frame, if none went yet and the socket can still carry it.
    private mutating func sendClose(code: CloseCode, reason: String, _ actions: inout [Action]) {
        guard socket == .open else { return }
        switch client {
        case .open where !clientAnswersClose:
            client = .closed
            actions.append(.sendClose(code: code, reason: reason))
            flushThenShutdown(&actions)
        case .open:
            client = .closeSent
            actions += [.sendClose(code: code, reason: reason), .startTimer(.closeAnswer)]
        case .peerClosing:
            // Our close answers theirs (RFC 6455 §5.5.1 allows any code in the answer).
            client = .closed
            actions.append(.sendClose(code: code, reason: reason))
            flushThenShutdown(&actions)
        case .closeSent, .closed:
            break
        }
    }

    /// Our close frame (unless one went already), after which the connection ends without waiting
    /// for the client's answer (RFC 6455 §7.1.7 "Fail the WebSocket Connection"; a silent client
    /// will not answer either).
    private mutating func closeWithoutWaiting(code: CloseCode, reason: String, _ actions: inout [Action]) {
        guard socket == .open else { return }
        switch client {
        case .open:
            actions.append(.sendClose(code: code, reason: reason))
        case .closeSent:
            cancel(.closeAnswer, &actions)
        case .peerClosing, .closed:
            return
        }
        client = .closed
        flushThenShutdown(&actions)
    }

    /// Answers the client's close frame, echoing its code (RFC 6455 §5.5.1), after whatever output
    /// is queued; the output stops here.
    private mutating func answerPeerClose(_ actions: inout [Action]) {
        guard case .peerClosing(let code) = client, socket == .open else { return }
        closeOutput(&actions)
        client = .closed
        actions.append(.sendClose(code: code, reason: ""))
        flushThenShutdown(&actions)
    }

    /// SPEC §3: once the output has ended, the close frame carries the exit status; a group that
    /// ended without one (after the grace) gets 1011.
    private mutating func sendEndCloseIfReady(_ actions: inout [Action]) {
        guard case .running(let running) = child, running.output == .ended else { return }
        if let status = running.status {
            sendClose(code: status.closeCode, reason: status.closeReason, &actions)
        } else if case .groupEnded(inGrace: false) = running.ladder {
            sendClose(code: .internalError, reason: "child ended without an exit status", &actions)
        }
    }

    private mutating func flushThenShutdown(_ actions: inout [Action]) {
        guard socket == .open else { return }
        socket = .flushing
        actions += [.flushSocketThenReport, .startTimer(.flushStall)]
    }

    private func cancel(_ timer: Timer, _ actions: inout [Action]) {
        actions.append(.cancelTimer(timer))
    }

    private mutating func updateRunning(_ change: (inout Running) -> Void) {
        guard case .running(var running) = child else { return }
        change(&running)
        child = .running(running)
    }

    private mutating func finishIfDone(_ actions: inout [Action]) {
        guard socket == .closed else { return }
        switch child {
        case .failedToStart: break
        // An exit status still on its way (within the grace) is waited for: the log's end line
        // carries it even when no close frame can (SPEC §8).
        case .running(let running): guard case .groupEnded(inGrace: false) = running.ladder else { return }
        case .starting: return
        }
        isFinished = true
        actions.append(.finish)
    }
}
