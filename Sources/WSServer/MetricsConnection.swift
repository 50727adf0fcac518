import WSProtocol
import WSPlatform

/// One connection to the `--metrics` listener (SPEC §14): a GET of `/metrics` or `/healthz`,
/// answered and closed. Nothing here spawns a process, reads a file or asks for credentials; the
/// head must arrive within the usual deadline, and a request that is not one of the two gets
/// 404 (405 for another method, 400 for a malformed head).
final class MetricsConnection: EventHandler {
    private let transport: any Transport
    private unowned let loop: EventLoop
    private let context: ServerContext
    private var registration: EventLoop.Registration?
    private var parser = HTTPRequestParser()
    private var output = ByteBuffer()
    private var timer: TimerQueue.TimerID?
    private var isAnswering = false
    private var isClosed = false

    init(transport: any Transport, loop: EventLoop, context: ServerContext) {
        self.transport = transport
        self.loop = loop
        self.context = context
    }

    func start() {
        registration = loop.register(transport.fd, handler: self, source: 0, interest: .readWrite)
        let timeout = UInt64(context.configuration.headTimeoutMilliseconds) * 1_000_000
        timer = loop.schedule(afterNanoseconds: timeout) { [weak self] in
            self?.timer = nil
            self?.close()
        }
    }

    func handle(_ events: PollEvents, source: UInt8) {
        if isAnswering {
            flush()
            return
        }
        while !isClosed && !isAnswering {
            switch loop.readThroughScratch(transport, { parser.append($0) }) {
            case .bytes:
                do {
                    if let head = try parser.next() { answer(head) }
                } catch {
                    send(HTTPResponse.error(error.status, message: "bad request"), includingBody: true)
                }
            case .wouldBlock:
                return
            case .endOfFile, .failed:
                close()
            }
        }
    }

    private func answer(_ head: HTTPRequestHead) {
        guard head.method == "GET" || head.method == "HEAD" else {
            var response = HTTPResponse.error(.methodNotAllowed, message: "only GET and HEAD")
            response.headers.add(name: "Allow", value: "GET, HEAD")
            return send(response, includingBody: true)
        }
        let path = head.path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.path
        let includesBody = head.method == "GET"
        switch path {
        case "/metrics":
            let text = context.metrics.render(activeSessions: context.liveSessions, sharedChildren: context.liveSharedChildren, isDraining: context.isShuttingDown)
            send(Self.text(.ok, text, type: "text/plain; version=0.0.4; charset=utf-8"), includingBody: includesBody)
        case "/healthz":
            // SPEC §14: 503 once shutdown began, so a load balancer stops sending new clients.
            let response = context.isShuttingDown ? Self.text(.serviceUnavailable, "draining\n") : Self.text(.ok, "ok\n")
            send(response, includingBody: includesBody)
        default:
            send(HTTPResponse.error(.notFound, message: "only /metrics and /healthz here"), includingBody: includesBody)
        }
    }

    private static func text(_ status: HTTPStatus, _ body: String, type: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([(name: "Content-Type", value: type), (name: "Cache-Control", value: "no-store"),
                                                           (name: "Connection", value: "close")]),
                     body: Array(body.utf8))
    }

    private func send(_ response: HTTPResponse, includingBody: Bool) {
        isAnswering = true
        if let timer { loop.cancel(timer) }
        timer = nil
        output.append(contentsOf: response.serialized(includingBody: includingBody))
        flush()
    }

    private func flush() {
        let drained = transport.drain(&output)
        if drained.failed || transport.isFlushed(output) { close() }
    }

    private func close() {
        guard !isClosed else { return }
        isClosed = true
        if let timer { loop.cancel(timer) }
        timer = nil
        loop.close(transport.fd, registeredAs: registration)
        registration = nil
    }
}
