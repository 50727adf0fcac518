import WSProtocol
import WSPlatform

/// The life of a child that many clients share (SPEC §13, `--broadcast` and `--sessions`), as a
/// pure state machine: the child half of `SessionLifecycle`, with the rules of sharing.
///
/// - The child starts with the first client; input held while it starts reaches stdin in order.
/// - It ends (the ladder of SPEC §3) when the session has no client left and `--linger` ran out,
///   when the server shuts down, or after its output ended or it exited.
/// - Once its output has ended and its exit status is known, every client gets the close code of
///   that status (1011 when none came), exactly once; from then on (and once the session is
///   unused) the session leaves the directory, so the next client starts a new child.
/// - The session is over once the child's group has ended (or the child never started).
public struct SharedChildLifecycle: Sendable, Hashable {
    /// What happened.
    public enum Event: Sendable, Hashable {
        /// The spawner started the child.
        case childStarted
        /// The child could not start.
        case childFailedToStart(reason: String)
        /// The last client left and nobody is on the way; with `lingers` the child is kept for
        /// `--linger` (a client may come back), otherwise it ends now.
        case lastClientLeft(lingers: Bool)
        /// A client came back while the session lingered.
        case clientReturned
        /// `--linger` ran out with nobody back (the session has left the directory).
        case lingerExpired
        /// The child's output ended (stdout's EOF, and stderr's with `--passstderr`), all of it
        /// sent to the clients.
        case outputEnded
        /// The child's exit status is known.
        case exitStatusKnown(ExitStatus)
        /// The ladder's first step is over and signals begin.
        case ladderSignalling
        /// The ladder is over: the group is gone, or survived SIGKILL's wait.
        case groupEnded(isGone: Bool)
        /// The grace for an ended group's status and last output ran out.
        case statusGraceExpired
        /// The server began shutting down (1001 to every client).
        case shutdownBegan
    }

    /// What the session must do, in order.
    public enum Action: Sendable, Hashable {
        /// Start the ladder on the child's group; stdin closes once what is queued is written.
        case startLadder
        /// Close stdin now, dropping what is queued for it.
        case closeStdinNow
        /// Stop reading the child's output.
        case closeOutput
        /// Send every attached client this close frame (after the output queued for it), and
        /// close every client that arrives from now on with it too.
        case closeClients(code: CloseCode, reason: String)
        /// Leave the directory: the next client of this name starts a new child.
        case leaveDirectory
        /// Start `--linger`'s timer; it fires as `lingerExpired` once the directory confirms
        /// nobody came back.
        case startLinger
        /// Cancel `--linger`'s timer.
        case cancelLinger
        /// Start the grace timer; it fires as `statusGraceExpired`.
        case startStatusGrace
        /// Cancel the grace timer.
        case cancelStatusGrace
        /// The session is over: release the child's pipes, slot and registration.
        case finish
    }

    /// The child's side (as `SessionLifecycle.Child`).
    public enum Child: Sendable, Hashable {
        case starting(endRequested: Bool)
        case running(Running)
        case failedToStart
    }

    /// A started child.
    public struct Running: Sendable, Hashable {
        public var ladder: SessionLifecycle.Ladder = .notStarted
        public var stdinClosed = false
        public var outputEnded = false
        public var outputClosed = false
        public var status: ExitStatus?
    }

    public private(set) var child: Child = .starting(endRequested: false)
    /// Whether the session is in the directory (new clients of its name join it).
    public private(set) var isListed = true
    /// Whether `--linger` is running.
    public private(set) var isLingering = false
    /// The close every client gets, once decided.
    public private(set) var endClose: (code: CloseCode, reason: String)? {
        get { endCloseStorage.map { ($0.code, $0.reason) } }
        set { endCloseStorage = newValue.map { EndClose(code: $0.code, reason: $0.reason) } }
    }
    private var endCloseStorage: EndClose?
    private struct EndClose: Sendable, Hashable {
        var code: CloseCode
        var reason: String
    }
    public private(set) var isFinished = false

    /// A session whose first client is attaching and whose child is being started.
    public init() {}

    /// Whether the child's output is read and sent to the clients.
    public var deliversOutput: Bool {
        guard case .running(let running) = child else { return false }
        return !running.outputEnded && !running.outputClosed
    }

    /// Whether clients' messages are kept for stdin (held while the child starts).
    public var keepsInput: Bool {
        switch child {
        case .starting: return endCloseStorage == nil
        case .running(let running): return !running.stdinClosed && endCloseStorage == nil
        case .failedToStart: return false
        }
    }

    /// Whether an arriving client is attached; otherwise it gets `endClose`.
    public var acceptsClients: Bool { endCloseStorage == nil && !isFinished }

    /// Feeds one event; returns what to do, in order.
    public mutating func handle(_ event: Event) -> [Action] {
        precondition(!isFinished, "no event reaches a finished session")
        var actions: [Action] = []
        switch event {
        case .childStarted:
            guard case .starting(let endRequested) = child else { preconditionFailure("the child starts once") }
            child = .running(Running())
            if endRequested { requestLadder(&actions) }
        case .childFailedToStart(let reason):
            guard case .starting = child else { preconditionFailure("the child starts once") }
            child = .failedToStart
            decideEnd(code: .internalError, reason: reason, &actions)
        case .lastClientLeft(let lingers):
            guard endCloseStorage == nil else { break }
            if lingers {
                guard !isLingering else { break }
                isLingering = true
                actions.append(.startLinger)
            } else {
                leave(&actions)
                requestLadder(&actions)
            }
        case .clientReturned:
            guard isLingering else { break }
            isLingering = false
            actions.append(.cancelLinger)
        case .lingerExpired:
            guard isLingering else { break }
            isLingering = false
            // The directory has let the session go already.
            isListed = false
            requestLadder(&actions)
        case .outputEnded:
            guard case .running(var running) = child, !running.outputEnded, !running.outputClosed else { break }
            running.outputEnded = true
            child = .running(running)
            endGraceIfSettled(&actions)
            // The ladder ends what is left of the group (SPEC §3), and tells how the child ended.
            requestLadder(&actions)
            closeClientsIfEnded(&actions)
        case .exitStatusKnown(let status):
            guard case .running(var running) = child, running.status == nil else { break }
            running.status = status
            child = .running(running)
            endGraceIfSettled(&actions)
            requestLadder(&actions)
            closeClientsIfEnded(&actions)
        case .ladderSignalling:
            guard case .running(var running) = child else { preconditionFailure("only a started child has a ladder") }
            guard running.ladder == .closingStdin else { break }
            running.ladder = .signalling
            child = .running(running)
            closeStdinNow(&actions)
        case .groupEnded(let isGone):
            guard case .running(var running) = child else { preconditionFailure("only a started child has a group") }
            // Every writer is gone, so output still in the pipe reaches its EOF at once: clients
            // still attached get it before the close, as does the status still on its way.
            let inGrace = isGone && (running.status == nil || (!running.outputEnded && !running.outputClosed && endCloseStorage == nil))
            running.ladder = .groupEnded(inGrace: inGrace)
            child = .running(running)
            closeStdinNow(&actions)
            if inGrace { actions.append(.startStatusGrace) }
            closeClientsIfEnded(&actions)
        case .statusGraceExpired:
            guard case .running(var running) = child, case .groupEnded(inGrace: true) = running.ladder else { break }
            running.ladder = .groupEnded(inGrace: false)
            child = .running(running)
            closeClientsIfEnded(&actions)
        case .shutdownBegan:
            decideEnd(code: .goingAway, reason: "server shutting down", &actions)
            requestLadder(&actions)
        }
        finishIfDone(&actions)
        return actions
    }

    // MARK: Parts

    private mutating func requestLadder(_ actions: inout [Action]) {
        switch child {
        case .starting:
            child = .starting(endRequested: true)
        case .running(var running):
            guard running.ladder == .notStarted else { return }
            running.ladder = .closingStdin
            child = .running(running)
            actions.append(.startLadder)
        case .failedToStart:
            break
        }
    }

    private mutating func leave(_ actions: inout [Action]) {
        if isLingering {
            isLingering = false
            actions.append(.cancelLinger)
        }
        guard isListed else { return }
        isListed = false
        actions.append(.leaveDirectory)
    }

    /// Decides the close every client gets (once): the session leaves the directory, its output
    /// stops unless it ended by itself, and the clients are told.
    private mutating func decideEnd(code: CloseCode, reason: String, _ actions: inout [Action]) {
        guard endCloseStorage == nil else { return }
        endClose = (code, reason)
        leave(&actions)
        if case .running(var running) = child, !running.outputEnded, !running.outputClosed {
            running.outputClosed = true
            child = .running(running)
            actions.append(.closeOutput)
        }
        actions.append(.closeClients(code: code, reason: reason))
    }

    /// SPEC §3 and §13: once the output has ended, every client gets the exit status's code; a
    /// group that ended without one (after the grace) gives 1011.
    private mutating func closeClientsIfEnded(_ actions: inout [Action]) {
        guard case .running(let running) = child else { return }
        if running.outputEnded, let status = running.status {
            decideEnd(code: status.closeCode, reason: status.closeReason, &actions)
        } else if case .groupEnded(inGrace: false) = running.ladder {
            if let status = running.status {
                decideEnd(code: status.closeCode, reason: status.closeReason, &actions)
            } else {
                decideEnd(code: .internalError, reason: "child ended without an exit status", &actions)
            }
        }
    }

    private mutating func endGraceIfSettled(_ actions: inout [Action]) {
        guard case .running(var running) = child, case .groupEnded(inGrace: true) = running.ladder,
              running.status != nil, running.outputEnded || running.outputClosed else { return }
        running.ladder = .groupEnded(inGrace: false)
        child = .running(running)
        actions.append(.cancelStatusGrace)
    }

    private mutating func closeStdinNow(_ actions: inout [Action]) {
        guard case .running(var running) = child, !running.stdinClosed else { return }
        running.stdinClosed = true
        child = .running(running)
        actions.append(.closeStdinNow)
    }

    private mutating func finishIfDone(_ actions: inout [Action]) {
        switch child {
        case .failedToStart: break
        case .running(let running): guard case .groupEnded(inGrace: false) = running.ladder else { return }
        case .starting: return
        }
        // Whatever ended the group, the clients hear of it.
        if endCloseStorage == nil { closeClientsIfEnded(&actions) }
        leave(&actions)
        isFinished = true
        actions.append(.finish)
    }
}
