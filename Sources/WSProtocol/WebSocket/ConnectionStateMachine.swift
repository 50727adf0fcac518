/// The protocol side of one connection after the handshake (state enum, events return actions, no I/O).
///
/// It sorts the decoder's frames into data for the child, pongs to send and the steps of the close
/// handshake (RFC 6455 §5.5, §7.1.2-§7.1.4):
///
/// ```
/// open ──peer's close──▶ closeReceived ──answerPeerClose() / close() / fail()──▶ closed
///   └────close() / fail()──▶ closeSent ──peer's close──▶ closed
/// ```
///
/// The caller sends what the actions say. After `.closeCompleted`, or after sending the answer to the
/// peer's close, it closes the TCP connection (RFC 6455 §7.1.1: the server closes first). After a
/// close of its own it waits a while for the peer's answer; a decoder that failed yields no more
/// frames, so that wait ends on EOF or a timeout.
public struct ConnectionStateMachine: Sendable {
    /// Where the close handshake stands.
    public enum State: Sendable, Equatable {
        /// Messages flow both ways.
        case open
        /// The peer sent its close (carrying `code`, nil when it had no payload); ours is not sent yet.
        case closeReceived(code: CloseCode?)
        /// Our close is sent; waiting for the peer's.
        case closeSent
        /// Both closes are sent, or ours answered the peer's: only the TCP close is left.
        case closed
    }

    /// What to do with a received frame.
    public enum FrameAction: Sendable, Equatable {
        /// Data for the child: a fragment of the current message.
        case deliver(MessageFragment)
        /// Answer a ping with a pong carrying the same payload (RFC 6455 §5.5.2).
        case sendPong(ArraySlice<UInt8>)
        /// Nothing: a pong, or a frame that arrives after a close (discarded).
        case none
        /// The peer started the close; answer later with `answerPeerClose()` (RFC 6455 §5.5.1 allows
        /// the delay, which the bridge uses to drain the child's output first).
        case peerClosed(code: CloseCode?, reason: String)
        /// The peer answered our close: close the TCP connection.
        case closeCompleted
    }

    /// Whether to send a close frame.
    public enum CloseAction: Sendable, Equatable {
        /// Send a close frame with this code (nil: an empty payload) and reason.
        case send(code: CloseCode?, reason: String)
        /// Send nothing: a close frame already went out.
        case none
    }

    /// Where the close handshake stands.
    public private(set) var state: State = .open
    private var assembler: MessageAssembler

    /// Creates the machine of a freshly upgraded connection; `maxMessageBytes` (nil: no limit) is the
    /// largest inbound message, whose excess is answered with 1009.
    public init(maxMessageBytes: Int?) {
        assembler = MessageAssembler(maxMessageBytes: maxMessageBytes)
    }

    /// Whether a fragmented inbound message has started and not finished.
    public var isInsideMessage: Bool { assembler.isInsideMessage }

    /// Whatever the decoder produced: a whole frame, or the head or a payload piece of a frame
    /// still arriving.
    public mutating func received(_ event: FrameEvent) throws(WebSocketError) -> FrameAction {
        switch event {
        case .frame(let frame): try receivedFrame(frame)
        case .head(let head): try receivedFrameHead(head)
        case .payload(let piece, let isFrameEnd): try receivedPayload(piece, isFrameEnd: isFrameEnd)
        }
    }

    /// The head of a data frame whose payload arrives in pieces (`FrameEvent.head`): the frame's
    /// place in its message and the message's size limit are checked now, before its payload
    /// (1002, 1009). Nothing is delivered yet; once the close handshake has begun the frame is
    /// discarded, as a whole data frame would be.
    public mutating func receivedFrameHead(_ head: FrameHead) throws(WebSocketError) -> FrameAction {
        switch state {
        case .open:
            try assembler.receiveHead(head)
            return .none
        case .closeReceived, .closeSent, .closed:
            // RFC 6455 §1.4, §5.5.1: data after a close is discarded (see `receivedFrame(_:)`).
            return .none
        }
    }

    /// The next piece of the streamed frame's payload (`FrameEvent.payload`): delivered as a
    /// fragment once text is checked to stay valid UTF-8 (1007 as soon as it cannot, RFC 6455
    /// §8.1). Discarded once the close handshake has begun, including the rest of a frame that was
    /// arriving when it began.
    public mutating func receivedPayload(_ piece: ArraySlice<UInt8>, isFrameEnd: Bool) throws(WebSocketError) -> FrameAction {
        switch state {
        case .open:
            return .deliver(try assembler.receivePiece(piece, isFrameEnd: isFrameEnd))
        case .closeReceived, .closeSent, .closed:
            return .none
        }
    }

    /// Every whole frame from the decoder goes here (`FrameEvent.frame`); protocol errors throw (the caller then calls fail(_:)).
    public mutating func receivedFrame(_ frame: Frame) throws(WebSocketError) -> FrameAction {
        switch state {
        case .open:
            return try receivedFrameWhileOpen(frame)
        case .closeReceived:
            // RFC 6455 §1.4: "after receiving a control frame indicating the connection should be
            // closed, a peer discards any further data received". A peer must not send anything after
            // its close (§5.5.1), but the handshake it started still ends with its code echoed:
            // Autobahn 7.1.2-7.1.4 (a second close, a ping, a text frame after the close) expect a
            // clean close with 1000 and no pong.
            return .none
        case .closeSent:
            // RFC 6455 §5.5.1: the peer may still send data until it sees our close; it is discarded
            // (no pong either: our close was our last frame). Its close ends the handshake whatever
            // its payload holds, since nothing more will be said on this connection.
            return frame.opcode == .close ? completeClose() : .none
        case .closed:
            return .none
        }
    }

    /// We close (child exited, server shutdown): send our close unless one was already sent.
    ///
    /// When the peer's close has arrived and is not answered yet, this close is the answer (with our
    /// code instead of the echo `answerPeerClose()` would send) and the state becomes closed.
    public mutating func close(code: CloseCode, reason: String) -> CloseAction {
        switch state {
        case .open:
            state = .closeSent
            assembler.reset()
            return .send(code: code, reason: reason)
        case .closeReceived:
            state = .closed
            return .send(code: code, reason: reason)
        case .closeSent, .closed:
            return .none
        }
    }

    /// Answer the peer's close: echo its code (RFC 6455 §5.5.1), an empty close for an empty one; after this the state is closed.
    public mutating func answerPeerClose() -> CloseAction {
        switch state {
        case .closeReceived(let code):
            // RFC 6455 §5.5.1: "the endpoint typically echos the status code it received"; an empty
            // close carries no code to echo and is answered with an empty one.
            state = .closed
            return .send(code: code, reason: "")
        case .open:
            preconditionFailure("answerPeerClose() before the peer sent a close")
        case .closeSent, .closed:
            // Our close (from close(code:reason:) or fail(_:)) already answered it.
            return .none
        }
    }

    /// A protocol error: send its close code (error.closeCode, error.reason) unless a close was already sent.
    public mutating func fail(_ error: WebSocketError) -> CloseAction {
        // RFC 6455 §7.1.7: "_Fail the WebSocket Connection_" sends a close frame with a fitting status
        // code (§7.4.1) if the connection was open, then closes the connection.
        switch state {
        case .open:
            state = .closeSent
            assembler.reset()
            return .send(code: error.closeCode, reason: error.reason)
        case .closeReceived:
            state = .closed
            return .send(code: error.closeCode, reason: error.reason)
        case .closeSent, .closed:
            return .none
        }
    }

    /// Handles a frame while messages flow.
    private mutating func receivedFrameWhileOpen(_ frame: Frame) throws(WebSocketError) -> FrameAction {
        if frame.opcode.isControl {
            // RFC 6455 §5.5: the decoder enforces these; checked again so no caller can slip a
            // fragmented or oversized control frame into a pong or a close reason.
            guard frame.isFinal, frame.payload.count <= FrameDecoder.maxControlPayloadBytes else {
                throw .protocolError("fragmented or oversized control frame")
            }
        }
        switch frame.opcode {
        case .text, .binary, .continuation:
            return .deliver(try assembler.receive(frame))
        case .ping:
            // RFC 6455 §5.5.2-§5.5.3: control frames may arrive between the fragments of a message
            // (Autobahn 5.*); a ping is answered with its own payload.
            return .sendPong(frame.payload)
        case .pong:
            // RFC 6455 §5.5.3: an unsolicited pong is allowed and needs no answer.
            return .none
        case .close:
            // RFC 6455 §5.5.1: a close may arrive in the middle of a fragmented message (Autobahn
            // 7.1.5 expects a clean 1000); the unfinished message is dropped.
            let (code, reason) = try ClosePayload.parse(frame.payload)
            state = .closeReceived(code: code)
            assembler.reset()
            return .peerClosed(code: code, reason: reason)
        }
    }

    /// The peer's close answered ours: the handshake is complete.
    private mutating func completeClose() -> FrameAction {
        state = .closed
        return .closeCompleted
    }
}
