import WSProtocol
import WSPlatform
import WSBridging
import WSDeflate

/// Moving bytes: socket → frames → stdin, and stdout → messages → frames → socket.
extension WebSocketSession {
    /// Moves as much as readiness and the buffers allow, in both directions. Bounded per call so
    /// that one busy session cannot starve the loop; it continues after the loop's next poll.
    func pump() {
        defer { reportMessageBytes() }
        switch Pump.run(isFinished: { isFinished }, pass: { pumpPass() }) {
        case .finished:
            return
        case .idle:
            scheduleIdleMemoryRelease()
        case .passesSpent:
            guard !isPumpScheduled else { return }
            isPumpScheduled = true
            loop.executeSoon { [weak self] in
                guard let self else { return }
                self.isPumpScheduled = false
                self.pump()
            }
        }
    }

    private func pumpPass() -> Bool {
        var progressed = readSocket()
        progressed = processInbound() || progressed
        progressed = flushStdin() || progressed
        progressed = resumeParkedPosts() || progressed
        progressed = readStdout() || progressed
        // Before the flush, and counted as progress: a stderr line passed to the client
        // (--passstderr) once waited for unrelated traffic to flush it (issue 10).
        progressed = readStderr() || progressed
        progressed = flushSocket() || progressed
        if progressed { activityCount &+= 1 }
        return progressed
    }

    /// Adds the message bytes moved since the last report to `--metrics`' counters: once per
    /// pump, not per message.
    func reportMessageBytes() {
        let newIn = bytesIn - bytesInReported, newOut = bytesOut - bytesOutReported
        guard newIn > 0 || newOut > 0 else { return }
        context.metrics.moved(bytesIn: newIn, bytesOut: newOut)
        bytesInReported = bytesIn
        bytesOutReported = bytesOut
    }

    /// After a second without traffic, gives back the storage of every empty buffer, so that memory
    /// per idle session stays small (SPEC §7). Not at once: freeing and refaulting 64 KiB buffers
    /// between every burst cost a fifth of the CPU of a busy binary stream (page faults).
    func scheduleIdleMemoryRelease() {
        guard idleReleaseTimer == nil else { return }
        let mark = activityCount
        idleReleaseTimer = loop.schedule(afterNanoseconds: 1_000_000_000) { [weak self] in
            guard let self, !self.isFinished else { return }
            self.idleReleaseTimer = nil
            if self.activityCount == mark {
                self.releaseIdleMemory()
            } else {
                self.scheduleIdleMemoryRelease()
            }
        }
    }

    /// Gives back the storage of every empty buffer; they grow again, without zero-filling, on
    /// the next read.
    func releaseIdleMemory() {
        decoder.releaseCapacityIfEmpty(keeping: 0)
        inflater?.releaseIdleMemory()
        deflater?.releaseIdleMemory()
        framing.releaseIdleMemory()
        socketOut.bytes.releaseCapacityIfEmpty(keeping: 0)
        pipes.releaseIdleMemory()
        stderrFraming.releaseIdleMemory()
        transport.releaseIdleMemory()
    }

    // MARK: Socket → stdin

    /// Reads the socket into the frame decoder while the stdin buffer has room.
    func readSocket() -> Bool {
        switch lifecycle.socket {
        case .closed, .flushing:
            return false
        case .lingering:
            drainLingeringSocket()
            return false
        case .open:
            break
        }
        guard socketReadiness != .drained else { return false }
        let result: Syscalls.IOResult
        if !lifecycle.decodesInbound || eventStream != nil {
            // After the client's close frame or a protocol error nothing it sends is used (RFC
            // 6455 §1.4), and an event stream's client sends nothing the session uses; reading
            // on keeps memory bounded and still sees the socket's end.
            result = loop.readThroughScratch(transport) { _ in }
        } else if pipes.stdin.bytes.readableCount >= configuration.stdinHighWatermark {
            // Paused for backpressure (SPEC §7). A client that left meanwhile is noticed all the
            // same (SPEC §3, issue 10): its FIN or RST sits behind the unread bytes, where no read
            // reaches it, so only the loop's report of it tells.
            guard socketReadiness == .peerEnded else { return false }
            log(.debug, "client left while its input waited for the child")
            socketFailed()
            return true
        } else if isSocketReadBulk {
            var read = TransportRead(transport)
            decoder.appendWithUnsafeMutableBytes(minimumWritable: configuration.readChunkBytes) { read.into($0) }
            result = read.result
        } else {
            result = loop.readThroughScratch(transport) { decoder.append($0) }
        }
        if case .bytes(let count) = result { isSocketReadBulk = count >= Self.bulkReadBytes }
        switch result {
        case .bytes:
            return true
        case .wouldBlock:
            if socketReadiness == .readable { socketReadiness = .drained }
            return false
        case .endOfFile, .failed:
            socketFailed()
            return true
        }
    }

    /// Decodes frames and hands their data to the framing codec, until the stdin buffer is full.
    /// A large frame's payload comes in pieces as it arrives, so it too stops here at the watermark.
    func processInbound() -> Bool {
        var progressed = false
        while lifecycle.decodesInbound && pipes.stdin.bytes.readableCount < configuration.stdinHighWatermark {
            do throws(WebSocketError) {
                guard let (item, isFrame) = try InboundFrames.next(decoder: &decoder, machine: &machine, inflater: inflater,
                                                                     maxInflatedBytes: configuration.readChunkBytes) else { break }
                progressed = true
                if isFrame && configuration.pingMilliseconds > 0 { lastFrameReceivedAt = Syscalls.monotonicNanoseconds() }
                switch item {
                case .fragment(let fragment):
                    try deliver(fragment)
                case .ping(let payload):
                    // RFC 6455 §5.5.3: a pong may answer only the most recent ping. While the
                    // client leaves our frames unread, only that one is kept: a ping flood once
                    // queued a pong per ping, and server memory grew with it (SPEC §7).
                    if socketOut.bytes.readableCount < configuration.socketHighWatermark {
                        FrameEncoder.append(opcode: .pong, payload: payload, to: &socketOut.bytes)
                    } else {
                        deferredPong = Array(payload)
                    }
                case .nothing:
                    break
                case .peerClosed(let code):
                    feed(.peerCloseReceived(code: code))
                case .closeAnswered:
                    feed(.peerCloseReceived(code: nil))
                }
            } catch {
                fail(error)
                return true
            }
        }
        return progressed
    }

    /// Passes a fragment of a message (as the client sent it, or inflated) to the framing.
    func deliver(_ fragment: MessageFragment) throws(WebSocketError) {
        // Logged as message bytes, as `out` is (SPEC §8), not wire bytes.
        bytesIn += fragment.payload.count
        // Held while the child starts; after stdin closed (the child stopped reading, or it never
        // started), input has nowhere to go.
        if lifecycle.keepsInput {
            if terminalInput == nil {
                try framing.encodeInbound(fragment, into: &pipes.stdin.bytes)
            } else if let size = try terminalInput?.take(fragment, codec: &framing, into: &pipes.stdin.bytes) {
                resizeTerminal(size)
            }
        }
    }

    /// Writes the stdin buffer to the child; closes stdin once drained if the ladder asked for it.
    func flushStdin() -> Bool {
        guard pipes.stdinFD >= 0 else {
            // Before the spawn, input waits for the child; after stdin closed, it has nowhere to go.
            if child != nil && !pipes.stdin.bytes.isEmpty { pipes.stdin.bytes.clear() }
            return false
        }
        let drained = pipes.flushStdin()
        if drained.failed {
            // The child closed its stdin (EPIPE): what it did not read is dropped.
            closeStdin()
            return true
        }
        if pipes.stdin.bytes.isEmpty && closeStdinWhenDrained { closeStdin() }
        return drained.wroteBytes
    }

    // MARK: Stdout → socket

    /// Reads stdout into the framing codec while the socket buffer has room, and frames what it yields.
    func readStdout() -> Bool {
        guard pipes.stdoutFD >= 0, pipes.stdoutReadable else { return false }
        guard lifecycle.deliversOutput else { return discardStdout() }
        guard socketOut.bytes.readableCount < configuration.socketHighWatermark else { return false }
        switch pipes.readStdout(into: &framing, chunkBytes: configuration.readChunkBytes, on: loop) {
        case .bytes:
            drainOutbound()
            return true
        case .wouldBlock:
            return false
        case .endOfFile, .failed:
            stdoutEnded()
            return true
        }
    }

    /// Nobody takes the child's output any more (the client is gone or closing): it is read and
    /// dropped until the ladder ends the group, so that a child echoing its input reads all of
    /// it and sees its end (SPEC §3, issue 10) instead of dying of SIGPIPE on the first write.
    private func discardStdout() -> Bool { pipes.discardStdout(on: loop) }

    /// Frames every complete message the codec holds.
    func drainOutbound() {
        do {
            while let message = try framing.nextOutbound() {
                send(message)
            }
        } catch {
            childOutputFailed(error)
        }
        noteReplacements()
    }

    func send(_ message: OutboundMessage) {
        if configuration.passesStderr {
            sendTagged(stream: "stdout", message.payload)
            return
        }
        appendMessage(opcode: message.opcode, payload: message.payload)
        bytesOut += message.payload.count
    }

    /// Frames one whole outbound message into the socket buffer, compressed (RSV1) when
    /// permessage-deflate was agreed and the message is long enough to gain from it.
    private func appendMessage(opcode: Opcode, payload: ArraySlice<UInt8>) {
        if eventStream != nil {
            appendEvent(isBinary: opcode == .binary, payload: payload)
        } else if let deflater, payload.count >= minimumCompressedBytes {
            FrameEncoder.append(opcode: opcode, reservedBits: 0b100, payload: deflater.compress(payload), to: &socketOut.bytes)
        } else {
            FrameEncoder.append(opcode: opcode, payload: payload, to: &socketOut.bytes)
        }
    }

    /// `--passstderr` (websocketd 0.5): `{"stream":"stdout"|"stderr","data":"line"}` as a text message.
    func sendTagged(stream: String, _ line: ArraySlice<UInt8>) {
        appendMessage(opcode: .text, payload: OutboundMessage.tagged(stream: stream, line).payload)
        bytesOut += line.count
    }

    /// SPEC §2: the first replacement of invalid UTF-8 in a session is logged.
    func noteReplacements() {
        if !hasLoggedReplacement && framing.replacedInvalidUTF8Count > 0 {
            hasLoggedReplacement = true
            log(.info, "child wrote invalid UTF-8; replaced with U+FFFD")
        }
    }

    /// Writes queued frames to the socket.
    @discardableResult
    func flushSocket() -> Bool {
        guard lifecycle.socket == .open || lifecycle.socket == .flushing else { return false }
        var drained = socketOut.flush(to: transport)
        if !drained.failed && queueDeferredPong() {
            let more = socketOut.flush(to: transport)
            drained.wroteBytes = drained.wroteBytes || more.wroteBytes
            drained.wouldBlock = more.wouldBlock
            drained.failed = more.failed
        }
        if drained.failed {
            socketFailed()
            return true
        }
        // The client takes our last frames: its stall timer starts over.
        if drained.wroteBytes && lifecycle.socket == .flushing && !socketOut.isFlushed(to: transport) { start(.flushStall) }
        if socketOut.isFlushed(to: transport) && lifecycle.socket == .flushing {
            feed(.socketFlushed)
            return true
        }
        return drained.wroteBytes
    }

    /// Queues the pong that waited for room (see `processInbound`), unless our close frame went
    /// first (RFC 6455 §5.5.1: nothing follows it); true when it was queued.
    private func queueDeferredPong() -> Bool {
        guard let payload = deferredPong, socketOut.bytes.readableCount < configuration.socketHighWatermark else { return false }
        deferredPong = nil
        guard closeCodeSent == nil, lifecycle.client == .open else { return false }
        FrameEncoder.append(opcode: .pong, payload: payload, to: &socketOut.bytes)
        return true
    }

    // MARK: Keepalive

    /// `--pingms` (SPEC §1): a ping every interval; a client that has sent no frame of any kind for
    /// two intervals gets close 1001 and the session ends.
    func schedulePing() {
        let interval = UInt64(configuration.pingMilliseconds) * 1_000_000
        guard interval > 0 else { return }
        pingTimer = loop.schedule(afterNanoseconds: interval) { [weak self] in
            guard let self, !self.isFinished, self.lifecycle.client == .open, self.lifecycle.socket == .open else { return }
            if Syscalls.monotonicNanoseconds() - self.lastFrameReceivedAt >= 2 * interval {
                self.log(.access, "client silent for two ping intervals; closing")
                self.feed(.clientSilent)
                self.pump()
                return
            }
            FrameEncoder.append(opcode: .ping, payload: EmptyCollection<UInt8>(), to: &self.socketOut.bytes)
            self.flushSocket()
            self.schedulePing()
        }
    }

    // MARK: Stderr

    /// Logs each line the child writes on stderr at level error (SPEC §3), or with `--passstderr`
    /// sends it to the client, under the same backpressure as stdout. True when it read something
    /// (a passed line is then waiting in the socket buffer for the flush).
    @discardableResult
    func readStderr() -> Bool {
        guard pipes.stderrFD >= 0, pipes.stderrReadable else { return false }
        // Passed to the client while it takes output; logged once nobody does.
        if configuration.passesStderr && lifecycle.deliversOutput {
            return passStderr()
        }
        return pipes.readStderrLines(maxReads: 4, on: loop) { line in log(.error, "stderr", [("line", line)]) }
    }

    private func passStderr() -> Bool {
        guard socketOut.bytes.readableCount < configuration.socketHighWatermark else { return false }
        var read = Syscalls.ReadInto(pipes.stderrFD)
        _ = stderrFraming.readStdout(minimumWritable: 4096) { read.into($0) }
        do {
            switch read.result {
            case .bytes:
                while let line = try stderrFraming.nextOutbound() { sendTagged(stream: "stderr", line.payload) }
                return true
            case .wouldBlock:
                pipes.stderrReadable = false
                return false
            case .endOfFile, .failed:
                while let line = try stderrFraming.finishOutbound() { sendTagged(stream: "stderr", line.payload) }
                closeStderr()
                // With --passstderr the output ends with both streams (SPEC §1).
                if hasStdoutEnded { feed(.outputEnded) }
                return true
            }
        } catch {
            closeStderr()
            childOutputFailed(error)
            return true
        }
    }
}
