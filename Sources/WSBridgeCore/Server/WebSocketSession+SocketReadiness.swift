/// The session's lifecycle states that used to live in separate flags (issue 10). Each names a
/// stage that the session's events move through in any order the peers choose; the faults of
/// issue 10 lived in the combinations the flags left unnamed (a close frame, a FIN or an RST while
/// the child was still starting; a client's end while reading was paused for backpressure).
extension WebSocketSession {
    /// Where the child stands (SPEC §3: spawning → running → group ended).
    enum ChildState {
        /// The spawner has not answered. Input waits in the stdin buffer, and whatever ends the
        /// session (the client's close frame, FIN or RST) takes effect in its order once the child runs.
        case starting
        /// The child runs; the ladder may be under way on its group.
        case running(ChildProcess)
        /// It could not start: the session closes with 1011 (SPEC §3).
        case failedToStart
        /// Its process group is gone, or survived SIGKILL's wait: nothing more comes of it.
        case groupEnded(ChildProcess)
    }

    /// What the loop last reported about reading the socket. Edge-triggered epoll reports each
    /// change once, so the client's end is remembered here until the session acts on it.
    enum SocketReadiness: Equatable {
        /// A read would block.
        case drained
        /// Bytes, or the end, may be waiting.
        case readable
        /// The client's end was reported (a FIN as EPOLLRDHUP, an RST as EPOLLHUP and EPOLLERR).
        /// Bytes it sent before may still be queued, and Linux hands them out before the end, so
        /// while reading is paused for backpressure (SPEC §7) only this state tells that the
        /// client has left (SPEC §3).
        case peerEnded
    }

    /// What becomes of the bytes the client sends.
    enum InboundState: Equatable {
        /// They are decoded into frames; data goes to the stdin buffer (held there while the child starts).
        case frames
        /// The client's close frame came (RFC 6455 §1.4: later data is discarded), its input broke
        /// the protocol, or the socket ended: later bytes are read and dropped, so the socket's
        /// end is still seen and nothing is buffered.
        case discarding
    }

    /// The child once it has started, whether or not its group is still there.
    var child: ChildProcess? {
        switch childState {
        case .running(let child), .groupEnded(let child): child
        case .starting, .failedToStart: nil
        }
    }

    /// Whether the spawner has not answered yet.
    var isChildStarting: Bool {
        if case .starting = childState { true } else { false }
    }

    /// Whether nothing more comes of the child: it never started, or its group has ended.
    var hasChildGroupEnded: Bool {
        switch childState {
        case .failedToStart, .groupEnded: true
        case .starting, .running: false
        }
    }

    /// Whether the client's close frame came and our answer can still go: the connection state
    /// machine has it unanswered and the socket is open (RFC 6455 §5.5.1 allows the delay, which
    /// lets the child's last output go first, SPEC §3).
    var isPeerCloseAnswerPending: Bool {
        guard socketState == .open, case .closeReceived = machine.state else { return false }
        return true
    }
}
