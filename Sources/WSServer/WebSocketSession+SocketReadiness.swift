/// What the event loop reports about the session's socket, kept between edges.
extension WebSocketSession {
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
}
