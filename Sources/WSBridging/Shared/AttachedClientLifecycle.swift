import WSProtocol

/// The life of one client's connection to a shared child (SPEC §13), as a pure state machine:
/// the client half of `SessionLifecycle` without a child of its own. The child belongs to the
/// session the client is attached to; closing this connection never closes the child's stdin.
///
/// - The client is attached (its messages go to the shared stdin, the child's output comes to it)
///   until its connection stops being open for messages; it is detached exactly once, first.
/// - Exactly one close frame goes out, and none after the socket ended.
/// - The connection is over once its socket is closed.
public struct AttachedClientLifecycle: Sendable, Hashable {
    /// What happened.
    public enum Event: Sendable, Hashable {
        /// The client's close frame arrived (the answer to ours, if ours went first).
        case peerCloseReceived(code: CloseCode?)
        /// The client broke RFC 6455: fail the connection with this code (§7.1.7).
        case protocolViolated(code: CloseCode, reason: String)
        /// The server closes the connection: the child ended, the server shuts down, the client
        /// fell too far behind (1013), a viewer sent a message (1008).
        case closeRequested(code: CloseCode, reason: String)
        /// `--pingms`: the client sent no frame for two intervals (1001).
        case clientSilent
        /// The socket reached its end: a FIN, an RST, or a failed read or write.
        case socketEnded
        /// Everything queued for the socket is written (reported while flushing before a shutdown).
        case socketFlushed
        /// A timer the machine started has fired.
        case timerFired(Timer)
    }

    /// The timers the machine starts (as `SessionLifecycle`'s of the same names).
    public enum Timer: Sendable, Hashable, CaseIterable {
        /// How long our close frame waits for the client's answer.
        case closeAnswer
        /// How long a socket whose write side is shut waits for the client's FIN.
        case linger
        /// How long the last frames may wait for a client that takes none of them.
        case flushStall
    }

    /// What the connection must do, in order.
    public enum Action: Sendable, Hashable {
        /// Leave the shared session: no more input from this client, no more output to it.
        case detach
        /// Queue a close frame with this code (nil: an empty close, echoing an empty one).
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
        /// The connection is over: release everything and log its end.
        case finish
    }

    /// The closing handshake (RFC 6455 §7).
    public enum Client: Sendable, Hashable {
        /// Messages flow both ways.
        case open
        /// Our close frame went first; the client's answer is awaited.
        case closeSent
        /// Both close frames went, or nothing more can be said.
        case closed
    }

    /// The socket under the connection (as `SessionLifecycle.Socket`).
    public enum Socket: Sendable, Hashable {
        case open, flushing, lingering, closed
    }

    public private(set) var client: Client = .open
    public private(set) var socket: Socket = .open
    /// Whether the client still takes part in the shared session.
    public private(set) var isAttached = true
    public private(set) var isFinished = false

    /// A connection whose 101 is queued and that is attached to its session.
    public init() {}

    /// Whether bytes from the socket are decoded into frames (after our close, only to find the
    /// client's answer); otherwise they are read and dropped.
    public var decodesInbound: Bool { socket == .open && client != .closed }

    /// Feeds one event; returns what to do, in order.
    public mutating func handle(_ event: Event) -> [Action] {
        precondition(!isFinished, "no event reaches a finished connection")
        var actions: [Action] = []
        switch event {
        case .peerCloseReceived(let code):
            switch client {
            case .open:
                // RFC 6455 §5.5.1: answered at once, after what is queued; the shared child's
                // output goes on to the others.
                detach(&actions)
                client = .closed
                if socket == .open { actions.append(.sendClose(code: code, reason: "")) }
                flushThenShutdown(&actions)
            case .closeSent:
                client = .closed
                actions.append(.cancelTimer(.closeAnswer))
                flushThenShutdown(&actions)
            case .closed:
                preconditionFailure("no frame is decoded after the client's close")
            }
        case .protocolViolated(let code, let reason):
            precondition(decodesInbound, "only decoded frames break the protocol")
            closeWithoutWaiting(code: code, reason: reason, &actions)
        case .clientSilent:
            guard client == .open else { break }
            closeWithoutWaiting(code: .goingAway, reason: "ping timeout", &actions)
        case .closeRequested(let code, let reason):
            guard client == .open else { break }
            detach(&actions)
            guard socket == .open else { break }
            client = .closeSent
            actions += [.sendClose(code: code, reason: reason), .startTimer(.closeAnswer)]
        case .socketEnded:
            guard socket != .closed else { break }
            detach(&actions)
            socket = .closed
            client = .closed
            actions += [.closeSocket, .cancelTimer(.closeAnswer), .cancelTimer(.linger), .cancelTimer(.flushStall)]
        case .socketFlushed:
            guard socket == .flushing else { break }
            socket = .lingering
            actions += [.cancelTimer(.flushStall), .shutdownSocketWrite, .startTimer(.linger)]
        case .timerFired(.closeAnswer):
            guard client == .closeSent else { break }
            client = .closed
            flushThenShutdown(&actions)
        case .timerFired(.linger):
            guard socket == .lingering else { break }
            socket = .closed
            actions.append(.closeSocket)
        case .timerFired(.flushStall):
            // The client stopped reading: for the connection it is gone, as if it had reset.
            guard socket == .flushing else { break }
            return actions + handle(.socketEnded)
        }
        if socket == .closed && !isFinished {
            isFinished = true
            actions.append(.finish)
        }
        return actions
    }

    private mutating func detach(_ actions: inout [Action]) {
        guard isAttached else { return }
        isAttached = false
        actions.append(.detach)
    }

    /// Our close frame (unless one went), then the connection ends without waiting for an answer
    /// (RFC 6455 §7.1.7).
    private mutating func closeWithoutWaiting(code: CloseCode, reason: String, _ actions: inout [Action]) {
        detach(&actions)
        switch client {
        case .open:
            if socket == .open { actions.append(.sendClose(code: code, reason: reason)) }
        case .closeSent:
            actions.append(.cancelTimer(.closeAnswer))
        case .closed:
            return
        }
        client = .closed
        flushThenShutdown(&actions)
    }

    private mutating func flushThenShutdown(_ actions: inout [Action]) {
        guard socket == .open else { return }
        socket = .flushing
        actions += [.flushSocketThenReport, .startTimer(.flushStall)]
    }
}
