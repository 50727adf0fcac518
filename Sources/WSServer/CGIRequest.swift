import Dispatch
import WSProtocol
import WSPlatform
import WSBridging

/// `--cgidir=DIR`: one plain HTTP request answered by a CGI/1.1 script (RFC 3875): the request
/// body goes to its stdin, its header lines become the response head, the rest of its stdout is
/// streamed as the body, and the connection closes after it. Bounded in time (`timeout`) and
/// size (`maxBodyBytes` in, backpressure out); the script's process group is ended with the
/// teardown ladder like a WebSocket child's.
final class CGIRequest: EventHandler {
    /// The largest request body passed to a script.
    static let maxBodyBytes = 16 * 1024 * 1024

    private let transport: any Transport
    private var fd: Int32 { transport.fd }
    private let id: UInt64
    private let client: ClientOrigin
    /// `--token` (SPEC §11): the cookie the script's answer carries, when the request brought the token.
    private let setCookie: String?
    private let local: SocketAddress
    private let head: HTTPRequestHead
    private let body: RequestBodyFraming
    private let script: ScriptTarget
    private unowned let loop: EventLoop
    private let context: ServerContext
    private let registry: ConnectionRegistry
    private var configuration: ServerConfiguration { context.configuration }

    /// Where the client's socket stands.
    private enum SocketPhase {
        /// Bytes flow both ways.
        case open
        /// The answer is out and the write side shut; reading (and dropping) until the client's FIN.
        case lingering
        /// Closed: its fd number may already belong to another connection, so nothing reads it
        /// again (a lingering read after the close once took a new connection's request).
        case closed
    }

    /// Whose answer the client gets.
    private enum Answer {
        /// The script's CGI head has not been read yet.
        case awaitingScriptHead
        /// The script's head went out; the rest of its stdout is the body.
        case script
        /// An answer of ours (an error); nothing of the script's stdout may follow it on the wire.
        case own
    }

    private var registration: EventLoop.Registration?
    private var socketReadable = true
    private var socket = SocketPhase.open
    private var output = PendingWrites()
    private var closesAfterOutput = false

    private var child: ChildProcess?
    private var holdsChildSlot = false
    private var pipes = ChildPipes()
    private var bodyRemaining = 0
    private var responseParser = CGIResponseParser()
    private var answer = Answer.awaitingScriptHead
    private var teardown: TeardownRunner?
    private var isGroupGone = false
    private var timer: TimerQueue.TimerID?
    private var lingerTimer: TimerQueue.TimerID?
    private var isFinished = false
    private var status = HTTPStatus.ok

    init(transport: any Transport, id: UInt64, client: ClientOrigin, local: SocketAddress, head: HTTPRequestHead, body: RequestBodyFraming,
         script: ScriptTarget, setCookie: String? = nil, bodyBytes: [UInt8], loop: EventLoop, context: ServerContext,
         registry: ConnectionRegistry) {
        self.transport = transport
        self.setCookie = setCookie
        self.id = id
        self.client = client
        self.local = local
        self.head = head
        self.body = body
        self.script = script
        self.loop = loop
        self.context = context
        self.registry = registry
        pipes.stdin.bytes.append(contentsOf: bodyBytes)
    }

    /// Starts serving; `socketRegistration` is the connection's registration, handed over.
    func start(taking socketRegistration: EventLoop.Registration?) {
        registry.add(self)
        if let socketRegistration {
            registration = self.loop.transfer(socketRegistration, to: self)
        } else {
            registration = self.loop.register(fd, handler: self, source: 0, interest: .readWrite)
        }
        // RFC 3875 §4.1.2: the script learns the body's length; without one there is nothing to tell.
        let length: Int
        switch body {
        case .none: length = 0
        case .contentLength(let count): length = count
        case .chunked: return answerError(.lengthRequired, "send the request body with a Content-Length")
        }
        guard length <= Self.maxBodyBytes else {
            return answerError(.payloadTooLarge, "request body over \(Self.maxBodyBytes) bytes")
        }
        guard context.reserveChildSlot() else {
            return answerError(.tooManyRequests, "all \(configuration.maxChildren) processes (--maxforks) are busy")
        }
        holdsChildSlot = true
        if pipes.stdin.bytes.readableCount > length { pipes.stdin.bytes = ByteBuffer(pipes.stdin.bytes.readableBytes.prefix(length)) }
        bodyRemaining = length - pipes.stdin.bytes.readableCount
        let contentLength = head.headers.contains("Content-Length") ? String(length) : ""
        let timeout = UInt64(configuration.cgiTimeoutMilliseconds) * 1_000_000
        timer = loop.schedule(afterNanoseconds: timeout) { [weak self] in self?.timedOut() }
        loop.withRemoteHost(of: client.lookupAddress, isEnabled: configuration.reverseLookup) { [self] name in
            spawnScript(contentLength: contentLength, remoteHost: name)
        }
    }

    private func spawnScript(contentLength: String, remoteHost: String?) {
        var inputs = ChildEnvironment.Inputs(
            head: head, parentEnvironment: configuration.parentEnvironment, passEnv: configuration.passEnv,
            remote: client.peer, local: local, uniqueID: String(id), scriptName: script.scriptName, pathInfo: script.pathInfo,
            pathTranslated: script.executable, tls: transport.tlsSession)
        inputs.contentLength = contentLength
        inputs.remoteHost = remoteHost
        inputs.forwarded = client.forwarded
        inputs.authentication = client.identity.map { ($0.authType, $0.user) }
        inputs.hookVariables = client.hookVariables
        let request = SpawnRequest(executable: script.executable, arguments: [],
                                   environment: ChildEnvironment.build(inputs),
                                   workingDirectory: WebSocketSession.directory(of: script.executable))
        registry.spawners.spawn(request, on: loop) { [self] result in spawned(result) }
    }

    func shutdown() {
        abort()
    }

    func handle(_ events: PollEvents, source: UInt8) {
        switch source {
        case 0:
            if events.contains(.readable) || events.contains(.hangup) || events.contains(.error) { socketReadable = true }
            if events.contains(.writable) || events.contains(.error) { output.writerBecameWritable() }
        default: pipes.becameReady(source: source)
        }
        pump()
    }

    private func spawned(_ result: Result<ChildProcess, SpawnError>) {
        switch result {
        case .failure(let error):
            context.logger.log(.error, "CGI SPAWN FAILED", fields: logFields + [("error", error.message)])
            isGroupGone = true
            answerError(.internalServerError, "the script could not start")
        case .success(let child):
            self.child = child
            context.childStarted(child.pid)
            if child.exitFD >= 0 { Syscalls.close(child.exitFD) }  // the ladder polls the group instead
            pipes.adopt(child, on: loop, for: self)
            teardown = TeardownRunner(loop: loop, child: child, closeMilliseconds: configuration.closeMilliseconds,
                                      closeStdin: { [weak self] in self?.closeStdin() },
                                      finished: { [weak self] _ in self?.groupEnded() })
            if socket == .closed { teardown?.start() }
            pump()
        }
    }

    private var logFields: [(key: String, value: String)] {
        var fields: [(key: String, value: String)] = [("remote", client.logDescription), ("id", String(id)),
                                                      ("method", head.method), ("path", head.path)]
        if let child { fields.append(("pid", String(child.pid))) }
        return fields
    }

    // MARK: Moving bytes

    private func pump() {
        switch Pump.run(isFinished: { isFinished }, pass: { pumpPass() }) {
        case .finished, .idle: return
        case .passesSpent: loop.executeSoon { [weak self] in self?.pump() }
        }
    }

    private func pumpPass() -> Bool {
        var progressed = readBody()
        progressed = flushStdin() || progressed
        progressed = readStdout() || progressed
        progressed = flushOutput() || progressed
        readStderr()
        return progressed
    }

    private func readBody() -> Bool {
        if socket == .lingering { drainLingering() }
        if bodyRemaining == 0 { watchForDeparture() }
        guard socket == .open, bodyRemaining > 0, socketReadable,
              pipes.stdin.bytes.readableCount < configuration.stdinHighWatermark else { return false }
        var read = TransportRead(transport)
        let want = min(bodyRemaining, configuration.readChunkBytes)
        pipes.stdin.bytes.writeWithUnsafeMutableBytes(minimumWritable: want) { read.into(UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
        switch read.result {
        case .bytes(let count):
            bodyRemaining -= count
            return true
        case .wouldBlock:
            socketReadable = false
            return false
        case .endOfFile, .failed:
            abort()
            return true
        }
    }

    /// After the body, the client has nothing more to send; EOF or a reset means it left, and the
    /// script is ended rather than left running for nobody (as Go's CloseNotify lets websocketd do).
    private func watchForDeparture() {
        guard socket == .open, socketReadable else { return }
        while true {
            switch loop.readThroughScratch(transport, { _ in }) {
            case .bytes: continue  // bytes past the body are not for the script
            case .wouldBlock:
                socketReadable = false
                return
            case .endOfFile, .failed:
                abort()
                return
            }
        }
    }

    private func flushStdin() -> Bool {
        guard pipes.stdinFD >= 0 else { return false }
        let drained = pipes.flushStdin()
        if drained.failed {
            closeStdin()
            return true
        }
        // The whole body is written: EOF tells the script there is no more (RFC 3875 §4.2).
        if pipes.stdin.bytes.isEmpty && bodyRemaining == 0 { closeStdin() }
        return drained.wroteBytes
    }

    private func readStdout() -> Bool {
        guard pipes.stdoutFD >= 0, pipes.stdoutReadable, socket != .closed, answer != .own,
              output.bytes.readableCount < configuration.socketHighWatermark else {
            return false
        }
        var chunk = [UInt8](repeating: 0, count: 0)
        var read = Syscalls.ReadInto(pipes.stdoutFD)
        if answer == .script {
            output.bytes.writeWithUnsafeMutableBytes(minimumWritable: configuration.readChunkBytes) { read.into($0) }
        } else {
            chunk = [UInt8](repeating: 0, count: 4096)
            _ = chunk.withUnsafeMutableBytes { read.into($0) }
        }
        switch read.result {
        case .bytes(let count):
            if answer == .awaitingScriptHead { parseHead(chunk[0..<count]) }
            return true
        case .wouldBlock:
            pipes.stdoutReadable = false
            return false
        case .endOfFile, .failed:
            if answer == .awaitingScriptHead {
                answerError(.badGateway, "the script ended without a complete CGI response head")
            } else {
                closesAfterOutput = true
            }
            closeStdout()
            teardown?.start()
            return true
        }
    }

    private func parseHead(_ bytes: ArraySlice<UInt8>) {
        do {
            guard let (cgiHead, body) = try responseParser.append(bytes) else { return }
            var response = HTTPResponse(status: cgiHead.status, headers: cgiHead.headers)
            response.headers.add(contentsOf: configuration.plainHTTPHeaders)
            if let setCookie { response.headers.add(name: "Set-Cookie", value: setCookie) }
            // The body's end is the end of the connection (RFC 9112 §6.3 item 8).
            response.headers.replaceOrAdd(name: "Connection", value: "close")
            status = cgiHead.status
            output.bytes.append(contentsOf: response.serialized(includingBody: false, addsContentLength: false))
            answer = .script
            if head.method == "HEAD" {
                // RFC 9110 §9.3.2: a HEAD answer is the head alone; the rest of stdout is not read.
                closesAfterOutput = true
                closeStdout()
                teardown?.start()
            } else {
                output.bytes.append(contentsOf: body)
            }
        } catch {
            context.logger.log(.error, "CGI response refused", fields: logFields + [("error", error.message)])
            answerError(.badGateway, "the script's answer is not a CGI response")
            closeStdout()
            teardown?.start()
        }
    }

    private func flushOutput() -> Bool {
        guard socket == .open else { return false }
        let drained = output.flush(to: transport)
        if drained.failed {
            abort()
            return true
        }
        if output.isFlushed(to: transport) && closesAfterOutput {
            transport.shutdownWrite()
            socket = .lingering
            lingerTimer = loop.schedule(afterNanoseconds: 1_000_000_000) { [weak self] in self?.closeSocket() }
            drainLingering()
            return true
        }
        return drained.wroteBytes
    }

    private func readStderr() {
        _ = pipes.readStderrLines(maxReads: 1, on: loop) { line in
            context.logger.log(.error, "stderr", fields: logFields + [("line", line)])
        }
    }

    // MARK: Ending

    /// An answer of our own instead of the script's (before its head was sent). The script's stdout
    /// is closed at once: read on, its bytes would follow our answer onto the wire.
    private func answerError(_ status: HTTPStatus, _ message: String) {
        guard answer == .awaitingScriptHead else { return }
        answer = .own
        closeStdout()
        self.status = status
        output.bytes.clear()
        output.bytes.append(contentsOf: HTTPResponse.error(status, message: message,
                                                     extraHeaders: configuration.plainHTTPHeaders).serialized())
        closesAfterOutput = true
        bodyRemaining = 0
        pump()
    }

    private func timedOut() {
        timer = nil
        context.logger.log(.error, "CGI script timed out", fields: logFields)
        switch answer {
        case .script:
            // The status is out: all that is left is to cut the body short by closing.
            closesAfterOutput = true
            closeStdout()
        case .awaitingScriptHead:
            answerError(.gatewayTimeout, "the script did not answer in time")
        case .own:
            break
        }
        teardown?.start()
        pump()
    }

    /// The client went away, or the server is shutting down: end everything now.
    private func abort() {
        closeSocket()
        closeStdout()
        teardown?.start()
    }

    private func drainLingering() {
        guard socket == .lingering, socketReadable else { return }
        while true {
            switch loop.readThroughScratch(transport, { _ in }) {
            case .bytes: continue
            case .wouldBlock:
                socketReadable = false
                return
            case .endOfFile, .failed:
                closeSocket()
                return
            }
        }
    }

    private func closeSocket() {
        guard socket != .closed else { return }
        socket = .closed
        if let lingerTimer { loop.cancel(lingerTimer) }
        loop.close(fd, registeredAs: registration)
        registration = nil
        output.bytes.clear()
        finishIfDone()
    }

    private func closeStdin() { pipes.closeStdin(on: loop) }

    private func closeStdout() { pipes.closeStdout(on: loop) }

    private func groupEnded() {
        isGroupGone = true
        finishIfDone()
    }

    private func finishIfDone() {
        // Done once the socket is closed and, if a child was (or is being) started, its group is gone.
        guard !isFinished, socket == .closed, !holdsChildSlot || isGroupGone else { return }
        isFinished = true
        readStderr()
        pipes.closeAll(on: loop)
        teardown?.cancel()
        if let timer { loop.cancel(timer) }
        if let child {
            context.childEnded(child.pid)
            child.spawner.forget(child.pid)
        }
        if holdsChildSlot { context.releaseChildSlot() }
        registry.remove(self)
        context.metrics.answered(status)
        context.logger.log(.access, "CGI", fields: logFields + [("status", String(status.code))])
    }
}
