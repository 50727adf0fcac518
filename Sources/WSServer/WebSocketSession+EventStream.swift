import WSProtocol
import WSPlatform
import WSBridging

/// A session whose client is an `EventSource` (SPEC §12): the same child, framing, lifecycle,
/// limits and backpressure as a WebSocket session, with the output written as text/event-stream
/// events and the input arriving in POSTs that name the session.
///
/// The lifecycle is the same machine, told that the client answers no close: our close becomes
/// `event: exit`, after which the response ends (write side shut, then the client's FIN
/// awaited) as soon as the event is out. The socket carries nothing inbound; its
/// end is the client leaving, which runs the ladder as a WebSocket client's vanishing does.
struct EventStreamState {
    /// The id the stream announced, which POSTs give in `X-WSBridge-Session`.
    let sessionID: String
    /// The next event's `id:`.
    var nextEventID: UInt64 = 1
    var heartbeatTimer: TimerQueue.TimerID?
    /// POSTs waiting for room in the stdin buffer, oldest first.
    var parkedPosts: [ParkedPost] = []

    struct ParkedPost {
        var lines: [ArraySlice<UInt8>]
        var reply: @Sendable (PostOutcome) -> Void
    }

    /// How many POSTs may wait for a child that does not read: each holds at most one body
    /// (bounded by `--maxframesize`), so a session's memory stays bounded (SPEC §7).
    static let maxParkedPosts = 4
}

/// What became of a POST's lines, and its answer.
enum PostOutcome: Sendable {
    /// Queued for stdin: 204.
    case accepted
    /// The session is over, or takes no more input (its stdin closed): 404.
    case ended
    /// Its stdin is full and `maxParkedPosts` POSTs already wait: 503.
    case busy
    /// A line the session's framing refuses (over a `--pty` terminal's line limit): 413, and the
    /// session ends with the framing's close code, as a WebSocket client's message would end it.
    case refused(reason: String)
}

extension WebSocketSession {
    /// A comment line every 15 s keeps proxies from timing a quiet stream out; `--pingms`, the
    /// keepalive interval of WebSocket sessions, sets it when given.
    var heartbeatMilliseconds: Int { configuration.pingMilliseconds > 0 ? configuration.pingMilliseconds : 15_000 }

    func startEventStream() {
        guard let eventStream else { return }
        context.eventStreams.add(self, id: eventStream.sessionID)
        scheduleHeartbeat()
    }

    private func scheduleHeartbeat() {
        let interval = UInt64(heartbeatMilliseconds) * 1_000_000
        eventStream?.heartbeatTimer = loop.schedule(afterNanoseconds: interval) { [weak self] in
            guard let self, !self.isFinished, self.eventStream != nil else { return }
            self.eventStream?.heartbeatTimer = nil
            guard self.lifecycle.client == .open, self.lifecycle.socket == .open else { return }
            // A client that reads nothing is not sent more: its buffer stays bounded, and a
            // stalled stream is not a quiet one.
            if self.socketOut.bytes.readableCount < self.configuration.socketHighWatermark {
                EventStreamEncoder.appendHeartbeat(to: &self.socketOut.bytes)
                self.flushSocket()
            }
            self.scheduleHeartbeat()
        }
    }

    /// One outbound message as one event.
    func appendEvent(isBinary: Bool, payload: ArraySlice<UInt8>) {
        guard var stream = eventStream else { return }
        EventStreamEncoder.appendMessage(id: stream.nextEventID, isBinary: isBinary, payload: payload, to: &socketOut.bytes)
        stream.nextEventID += 1
        eventStream = stream
    }

    /// Our close as `event: exit`; the lifecycle (which knows the client answers no close) then
    /// flushes it and ends the response.
    func queueExitEvent(code: CloseCode?, reason: String) {
        if case .send(let sent, let text) = machine.close(code: code ?? .normalClosure, reason: reason) {
            closeCodeSent = sent
            EventStreamEncoder.appendExit(code: (sent ?? .normalClosure).rawValue, reason: text, to: &socketOut.bytes)
        }
        flushSocket()
    }

    // MARK: Input from POSTs

    /// Queues a POST's lines for stdin, each as one text message, in the order POSTs arrive here;
    /// `reply` is called (on this loop) once they are queued or cannot be. A POST that finds the
    /// stdin buffer full waits for the child to read, as a WebSocket client's frames do.
    func post(lines: [ArraySlice<UInt8>], reply: @escaping @Sendable (PostOutcome) -> Void) {
        guard !isFinished, lifecycle.keepsInput, let waiting = eventStream?.parkedPosts.count else { return reply(.ended) }
        if waiting == 0 && hasRoomForPostedInput {
            reply(deliverPosted(lines))
            pump()
        } else if waiting < EventStreamState.maxParkedPosts {
            eventStream?.parkedPosts.append(.init(lines: lines, reply: reply))
        } else {
            reply(.busy)
        }
    }

    private var hasRoomForPostedInput: Bool { pipes.stdin.bytes.readableCount < configuration.stdinHighWatermark }

    private func deliverPosted(_ lines: [ArraySlice<UInt8>]) -> PostOutcome {
        guard lifecycle.keepsInput else { return .ended }
        for line in lines {
            do {
                // As a WebSocket client's text message: the framing, and a terminal's input rules.
                try deliver(MessageFragment(kind: .text, payload: line, isFirst: true, isLast: true))
            } catch {
                fail(error)
                return .refused(reason: error.reason)
            }
        }
        return .accepted
    }

    /// Lets waiting POSTs in as the child reads; true when one was answered.
    func resumeParkedPosts() -> Bool {
        var answered = false
        // Once stdin takes no more input, every waiting POST is answered (404) at once.
        while let first = eventStream?.parkedPosts.first, !lifecycle.keepsInput || hasRoomForPostedInput {
            eventStream?.parkedPosts.removeFirst()
            first.reply(deliverPosted(first.lines))
            answered = true
        }
        return answered
    }

    /// The session is over: it leaves the directory, and waiting POSTs learn it.
    func finishEventStream() {
        guard let stream = eventStream else { return }
        context.eventStreams.remove(id: stream.sessionID)
        if let timer = stream.heartbeatTimer { loop.cancel(timer) }
        eventStream!.parkedPosts.removeAll()
        for post in stream.parkedPosts { post.reply(.ended) }
    }
}
