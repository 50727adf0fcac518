/// A new connection before the upgrade: reads the request head, answers errors with an HTTP status
/// (SPEC §5), and hands an accepted WebSocket upgrade to a `WebSocketSession`.
final class HTTPConnection: EventHandler {
    private let fd: Int32
    private let peer: SocketAddress
    private let local: SocketAddress
    private unowned let loop: EventLoop
    private let context: ServerContext
    private let registry: ConnectionRegistry
    private let id: UInt64
    private var registration: EventLoop.Registration?
    private var parser = HTTPRequestParser()
    private var state = State.readingHead
    private var output = ByteBuffer()
    private var headTimer: TimerQueue.TimerID?
    private var isWritable = true

    private enum State {
        /// Waiting for the complete request head.
        case readingHead
        /// Writing an error answer; then the write side is shut and the rest of the input drained.
        case answering
        /// The answer is out; reading until the client closes or the linger timer fires.
        case lingering
        /// The fd was closed or handed over.
        case done
    }

    init(fd: Int32, peer: SocketAddress, local: SocketAddress, loop: EventLoop, context: ServerContext, registry: ConnectionRegistry) {
        self.fd = fd
        self.peer = peer
        self.local = local
        self.loop = loop
        self.context = context
        self.registry = registry
        self.id = context.makeConnectionID()
    }

    func start() {
        registry.add(self)
        registration = loop.register(fd, handler: self, source: 0, interest: .readWrite)
        let timeout = UInt64(context.configuration.headTimeoutMilliseconds) * 1_000_000
        headTimer = loop.schedule(afterNanoseconds: timeout) { [weak self] in self?.headTimedOut() }
    }

    func handle(_ events: PollEvents, source: UInt8) {
        if events.contains(.writable) { isWritable = true }
        switch state {
        case .readingHead: readHead()
        case .answering: flush()
        case .lingering: drainUntilClosed()
        case .done: break
        }
    }

    /// Server shutdown: a connection that has not upgraded yet is simply closed.
    func shutdown() {
        close()
    }

    private func readHead() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while state == .readingHead {
            let result = buffer.withUnsafeMutableBytes { Syscalls.read(fd, into: $0) }
            switch result {
            case .bytes(let count):
                buffer.withUnsafeBytes { parser.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                do {
                    if let head = try parser.next() { route(head) }
                } catch {
                    answer(error.response(extraHeaders: context.configuration.plainHTTPHeaders),
                           status: error.status, method: "-", path: "-")
                }
            case .wouldBlock:
                return
            case .endOfFile, .failed:
                close()
                return
            }
        }
    }

    private func route(_ head: HTTPRequestHead) {
        let extraHeaders = context.configuration.plainHTTPHeaders
        guard head.method == "GET" else {
            let error = HandshakeError.methodNotAllowed
            answer(error.response(extraHeaders: extraHeaders), status: error.status, method: head.method, path: head.path)
            return
        }
        let acceptance: HandshakeAcceptance
        do {
            acceptance = try Handshake.validate(head)
        } catch {
            answer(error.response(extraHeaders: extraHeaders), status: error.status, method: head.method, path: head.path)
            return
        }
        guard !context.isShuttingDown else {
            let response = HTTPResponse.error(.serviceUnavailable, message: "the server is shutting down",
                                              extraHeaders: extraHeaders)
            answer(response, status: .serviceUnavailable, method: head.method, path: head.path)
            return
        }
        guard context.reserveChildSlot() else {
            let limit = context.configuration.maxChildren
            let response = HTTPResponse.error(.tooManyRequests, message: "all \(limit) processes (--maxforks) are busy",
                                              extraHeaders: extraHeaders)
            answer(response, status: .tooManyRequests, method: head.method, path: head.path)
            return
        }
        upgrade(head, acceptance)
    }

    private func upgrade(_ head: HTTPRequestHead, _ acceptance: HandshakeAcceptance) {
        if let headTimer { loop.cancel(headTimer) }
        if let registration { loop.deregister(registration) }
        registration = nil
        state = .done
        registry.remove(self)
        let configuration = context.configuration
        let subprotocol = Handshake.selectSubprotocol(offered: acceptance.offeredSubprotocols,
                                                      supported: configuration.subprotocols)
        let response = acceptance.response(subprotocol: subprotocol, extraHeaders: configuration.webSocketHeaders)
        let session = WebSocketSession(
            fd: fd, id: id, peer: peer, local: local, head: head, subprotocol: subprotocol, loop: loop, context: context,
            registry: registry, handshakeResponse: response.serialized(), bytesAfterHead: parser.takeRemainingBytes())
        session.start()
    }

    private func answer(_ response: HTTPResponse, status: HTTPStatus, method: String, path: String) {
        if let headTimer { loop.cancel(headTimer) }
        context.logger.log(.access, "REFUSED", [
            "remote": peer.description, "id": String(id), "method": method, "path": path, "status": String(status.code),
        ])
        output.append(contentsOf: response.serialized())
        state = .answering
        flush()
    }

    private func flush() {
        while !output.isEmpty && isWritable {
            let result = output.withUnsafeReadableBytes { Syscalls.write(fd, from: $0, isSocket: true) }
            switch result {
            case .bytes(let count): output.moveReaderIndex(forwardBy: count)
            case .wouldBlock: isWritable = false
            case .endOfFile, .failed:
                close()
                return
            }
        }
        guard output.isEmpty else { return }
        // Shutting the write side and reading until the client closes lets it read the whole
        // answer; closing with unread input would send a reset that can destroy the answer.
        Syscalls.shutdownWrite(fd)
        state = .lingering
        headTimer = loop.schedule(afterNanoseconds: 1_000_000_000) { [weak self] in self?.close() }
        drainUntilClosed()
    }

    private func drainUntilClosed() {
        var scratch = [UInt8](repeating: 0, count: 4096)
        while state == .lingering {
            switch scratch.withUnsafeMutableBytes({ Syscalls.read(fd, into: $0) }) {
            case .bytes: continue
            case .wouldBlock: return
            case .endOfFile, .failed: close()
            }
        }
    }

    private func headTimedOut() {
        guard state == .readingHead else { return }
        context.logger.log(.access, "TIMEOUT", ["remote": peer.description, "id": String(id)])
        close()
    }

    private func close() {
        guard state != .done else { return }
        state = .done
        if let headTimer { loop.cancel(headTimer) }
        if let registration { loop.deregister(registration) }
        registration = nil
        Syscalls.close(fd)
        registry.remove(self)
    }
}
