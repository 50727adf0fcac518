import WSProtocol
import WSDeflate

/// What a client sent, frame by frame (RFC 6455 §5): decoded, checked by the connection's state
/// machine, and with permessage-deflate (RFC 7692) inflated a chunk at a time. The one reading of
/// the wire for a one-client session and for a shared child's client; what each does with a
/// message is its own.
enum InboundFrames {
    /// The next thing the client said.
    enum Item {
        /// A fragment of a message, as sent or inflated.
        case fragment(MessageFragment)
        /// A ping, to answer with a pong carrying its payload.
        case ping(ArraySlice<UInt8>)
        /// The client's close frame (its code, nil when empty).
        case peerClosed(code: CloseCode?)
        /// The client's answer to our close frame.
        case closeAnswered
        /// A frame that asks for nothing (a pong, a compressed fragment handed to the inflater).
        case nothing
    }

    /// The next item, or nil when nothing complete is buffered. `isFrame`: it came from a frame
    /// just decoded (rather than from the inflater's output), which `--pingms` counts as a sign
    /// of life. A compressed message is inflated `maxInflatedBytes` at a time, the next frame
    /// decoded only once its output is used up: a small frame that inflates to gigabytes waits
    /// for stdin like any other input (SPEC §6, §7).
    static func next(decoder: inout FrameDecoder, machine: inout ConnectionStateMachine, inflater: MessageInflater?,
                     maxInflatedBytes: Int) throws(WebSocketError) -> (item: Item, isFrame: Bool)? {
        if let inflater, inflater.hasPendingOutput {
            if let fragment = try inflater.next(maxBytes: maxInflatedBytes) { return (.fragment(fragment), false) }
            // Nothing more without more input: the next frame feeds it.
            guard !inflater.hasPendingOutput else { throw WebSocketError.internalError("the inflater stalled") }
        }
        guard let event = try decoder.next() else { return nil }
        switch try machine.received(event) {
        case .deliver(let fragment):
            if fragment.isCompressed, let inflater {
                inflater.feed(fragment.payload, kind: fragment.kind, isFirst: fragment.isFirst, isMessageEnd: fragment.isLast)
                return (.nothing, true)
            }
            return (.fragment(fragment), true)
        case .sendPong(let payload):
            return (.ping(payload), true)
        case .none:
            return (.nothing, true)
        case .peerClosed(let code, _):
            return (.peerClosed(code: code), true)
        case .closeCompleted:
            return (.closeAnswered, true)
        }
    }
}
