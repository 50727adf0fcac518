import WSProtocol
import WSPlatform
import WSTLS
import WSBridging

/// A connection before the upgrade: reads request heads, answers plain requests (the dev console,
/// `--staticdir` files, errors; keep-alive between them), and hands an accepted WebSocket upgrade
/// to a `WebSocketSession` (SPEC §5).
final class HTTPConnection: EventHandler {
    private let transport: any Transport
    private var fd: Int32 { transport.fd }
    private let peer: SocketAddress
    /// The client of the request being routed: the peer, or who a trusted proxy says it is.
    private var client: ClientOrigin
    private let local: SocketAddress
    private unowned let loop: EventLoop
    private let context: ServerContext
    private let registry: ConnectionRegistry
    private let id: UInt64
    private var registration: EventLoop.Registration?
    private var parser = HTTPRequestParser()
    private var state = State.readingHead
    private var output = ByteBuffer()
    private var timer: TimerQueue.TimerID?
    private var isWritable = true
    private var isReadable = true
    /// A file being sent after its response head (`--staticdir`).
    private var fileBody: FileBody?
    /// Whether the connection stays open for another request once the answer is out.
    private var keepsAlive = false
    /// Whether the current request's body may or may not follow, so the connection must close after the answer.
    private var bodyForbidsReuse = false
    /// When a closing connection stops waiting for the client, however busy it is.
    private var lingerEndsAt: UInt64 = 0
    /// `--redirport` (SPEC §10): every request is answered with a 301 to https on this port.
    private let redirectsToHTTPSPort: Int?
    /// `--token` (SPEC §11): the cookie the answer to the current request sets, when the token
    /// came in the query or as a bearer token.
    private var setCookie: String?
    /// The `--authcmd` run deciding the current request, if one is under way.
    private var authHook: AuthHook?
    /// Whether a request head has been read on this connection.
    private var hasAsked = false
    /// Whether a server shutdown waits for this connection's 503 (counted in the context).
    private var owesShutdownAnswer = false

    /// A POST's body on its way to an event-stream session's stdin (SPEC §12).
    private var postBody: PostBody?

    private struct PostBody {
        let head: HTTPRequestHead
        let sessionID: String
        var bytes: [UInt8]
        var remaining: Int
    }

    private struct FileBody {
        var fd: Int32
        var remaining: Int
    }

    private enum State {
        /// Waiting for the complete request head.
        case readingHead
        /// A password check for the request runs off the loop; nothing is read meanwhile.
        case authorizing
        /// Reading a POST's body for an event-stream session.
        case readingBody
        /// The body went to its session's loop; nothing is read until it answers.
        case posting
        /// Writing an answer (and a file after it).
        case answering
        /// The last answer is out and the write side shut; reading until the client closes.
        case lingering
        /// The fd was closed or handed over.
        case done
    }

    private var configuration: ServerConfiguration { context.configuration }

    init(transport: any Transport, peer: SocketAddress, local: SocketAddress, loop: EventLoop, context: ServerContext,
         registry: ConnectionRegistry, redirectsToHTTPSPort: Int? = nil) {
        self.transport = transport
        self.redirectsToHTTPSPort = redirectsToHTTPSPort
        self.peer = peer
        self.client = ClientOrigin(peer: peer)
        self.local = local
        self.loop = loop
        self.context = context
        self.registry = registry
        self.id = context.makeConnectionID()
    }

    func start() {
        registry.add(self)
        registration = loop.register(fd, handler: self, source: 0, interest: .readWrite)
        startHeadTimer()
    }

    func handle(_ events: PollEvents, source: UInt8) {
        if events.contains(.writable) || events.contains(.error) { isWritable = true }
        if events.contains(.readable) || events.contains(.hangup) || events.contains(.error) { isReadable = true }
        // A TLS handshake flight or alert that the socket did not take at once.
        if transport.hasBufferedOutput && isWritable && state != .answering {
            switch transport.flushBufferedOutput() {
            case .bytes: break
            case .wouldBlock: isWritable = false
            case .endOfFile, .failed:
                close()
                return
            }
        }
        switch state {
        case .readingHead: readHead()
        case .readingBody: readPostBody()
        case .answering: flush()
        case .lingering: drainUntilClosed()
        case .authorizing, .posting, .done: break
        }
    }

    /// Server shutdown. A connection that has asked nothing yet was accepted just before the
    /// listeners closed, and its client is sending its request now: it gets a second for the
    /// head, answered 503, so that no client of a draining server (a `--reuseport` restart) is
    /// dropped without a word. Every other connection that has not upgraded is closed.
    func shutdown() {
        guard state == .readingHead, !hasAsked else { return close() }
        owesShutdownAnswer = true
        context.shutdownAnswerOwed()
        if let timer { loop.cancel(timer) }
        timer = loop.schedule(afterNanoseconds: Self.shutdownHeadGraceNanoseconds) { [weak self] in self?.close() }
        readHead()
    }

    private static let shutdownHeadGraceNanoseconds: UInt64 = 1_000_000_000

    // MARK: Reading requests

    /// SPEC §5: a request head must arrive within 10 s of the connection opening (or, between
    /// keep-alive requests, of the previous answer).
    private func startHeadTimer() {
        if let timer { loop.cancel(timer) }
        let timeout = UInt64(configuration.headTimeoutMilliseconds) * 1_000_000
        timer = loop.schedule(afterNanoseconds: timeout) { [weak self] in self?.headTimedOut() }
    }

    private func readHead() {
        // A head may already be buffered behind the previous keep-alive request.
        if parseBufferedHead() { return }
        while state == .readingHead && isReadable {
            switch loop.readThroughScratch(transport, { parser.append($0) }) {
            case .bytes:
                if parseBufferedHead() { return }
            case .wouldBlock:
                isReadable = false
            case .endOfFile:
                close()
            case .failed:
                logTLSFailure()
                close()
            }
        }
    }

    /// SPEC §8: a TLS connection that fails (a bad handshake, a plain HTTP request on the TLS
    /// port, a broken record) is one line, with OpenSSL's reason.
    private func logTLSFailure() {
        guard let tls = transport as? TLSTransport, let reason = tls.failureReason else { return }
        context.logger.log(.access, tls.isEstablished ? "TLS FAILED" : "TLS HANDSHAKE FAILED",
                           ["remote": peer.description, "id": String(id), "reason": reason])
    }

    /// Parses one head from what is buffered; true when it was routed (or refused).
    private func parseBufferedHead() -> Bool {
        do {
            guard let head = try parser.next() else { return false }
            route(head)
        } catch {
            // SPEC §8: a refusal is logged with its method and path whenever its request line was read.
            let line = parser.rejectedRequestLine
            refuse(error.response(extraHeaders: configuration.plainHTTPHeaders), status: error.status,
                   method: line?.method ?? "-", path: line?.path ?? "-")
        }
        return true
    }

    private func route(_ head: HTTPRequestHead) {
        setCookie = nil
        if let timer { loop.cancel(timer) }
        timer = nil
        // SPEC §11: who is asking, before anything is decided or logged.
        client = ClientOrigin(peer: peer, forwarded: configuration.trustedProxies.resolve(
            peer: peer.unixPath == nil ? peer.host : nil, headers: head.headers))
        hasAsked = true
        guard !context.isShuttingDown else {
            let response = HTTPResponse.error(.serviceUnavailable, message: "the server is shutting down",
                                              extraHeaders: configuration.plainHTTPHeaders)
            return refuse(response, status: .serviceUnavailable, method: head.method, path: head.path)
        }
        if let tls = transport.tlsSession, isMisdirected(head, tls: tls) {
            let response = HTTPResponse.error(.misdirectedRequest, message: "Host differs from the TLS server name",
                                              extraHeaders: configuration.plainHTTPHeaders)
            return refuse(response, status: .misdirectedRequest, method: head.method, path: head.path)
        }
        let body: RequestBodyFraming
        do {
            body = try RequestBodyFraming(of: head)
        } catch {
            return refuse(error.response(extraHeaders: configuration.plainHTTPHeaders), status: error.status,
                          method: head.method, path: head.path)
        }
        if let port = redirectsToHTTPSPort { return redirectToHTTPS(head, body: body, port: port) }
        // SPEC §11: credentials before anything else is decided; the script sees the request
        // without the secret it carried.
        switch configuration.access.decide(head, isTLS: transport.tlsSession != nil, cookiePath: configuration.basePath ?? "/",
                                           extraHeaders: configuration.plainHTTPHeaders) {
        case .refused(let response):
            refuse(response, status: .unauthorized, method: head.method, path: head.path)
        case .allowed(let cleaned, let cookie):
            setCookie = cookie
            runAuthHook(cleaned, body: body)
        case .checkPassword(let cleaned, let cookie, let user, let password, let hash, let userExists):
            // Nothing more is read or decided until the check answers (it runs off the loop).
            state = .authorizing
            let method = head.method, path = head.path
            context.passwordChecker.check(password, user: user, against: hash, clientKey: client.limitKey, on: loop) { [weak self] outcome in
                guard let self, self.state == .authorizing else { return }
                self.state = .readingHead
                let extraHeaders = self.configuration.plainHTTPHeaders
                switch outcome {
                case .busy:
                    let response = HTTPResponse.error(.serviceUnavailable, message: "too many password checks are waiting",
                                                      extraHeaders: extraHeaders)
                    return self.refuse(response, status: .serviceUnavailable, method: method, path: path)
                case .clientBusy:
                    let response = HTTPResponse.error(.tooManyRequests, message: "too many password checks from this address are waiting",
                                                      extraHeaders: extraHeaders)
                    return self.refuse(response, status: .tooManyRequests, method: method, path: path)
                case .matches, .differs: break
                }
                guard outcome == .matches && userExists else {
                    return self.refuse(AccessPolicy.basicChallenge(extraHeaders: self.configuration.plainHTTPHeaders),
                                       status: .unauthorized, method: method, path: path)
                }
                self.client.identity = ClientIdentity(authType: "Basic", user: user)
                self.setCookie = cookie
                self.runAuthHook(cleaned, body: body)
            }
        }
    }

    /// `--authcmd` (SPEC §11): the hook decides last, before routing, a `--maxforks` slot or a
    /// file; nothing is read meanwhile.
    private func runAuthHook(_ head: HTTPRequestHead, body: RequestBodyFraming) {
        guard let command = configuration.authCommand else { return routeAllowed(head, body: body) }
        var inputs = ChildEnvironment.Inputs(
            head: head, parentEnvironment: configuration.parentEnvironment, passEnv: configuration.passEnv,
            remote: client.peer, local: local, uniqueID: String(id), scriptName: "/", pathInfo: head.path,
            pathTranslated: command.executable, tls: transport.tlsSession)
        inputs.forwarded = client.forwarded
        inputs.authentication = client.identity.map { ($0.authType, $0.user) }
        let method = head.method, path = head.path
        let clientKey = client.limitKey
        switch context.hookSlots.reserve(clientKey) {
        case .admitted: break
        case .busy:
            let response = HTTPResponse.error(.serviceUnavailable, message: "too many --authcmd hooks are running",
                                              extraHeaders: configuration.plainHTTPHeaders)
            return refuse(response, status: .serviceUnavailable, method: method, path: path)
        case .clientBusy:
            let response = HTTPResponse.error(.tooManyRequests, message: "too many --authcmd hooks run for this address",
                                              extraHeaders: configuration.plainHTTPHeaders)
            return refuse(response, status: .tooManyRequests, method: method, path: path)
        }
        state = .authorizing
        let fields: [(key: String, value: String)] = [("remote", client.logDescription), ("id", String(id)), ("method", method), ("path", path)]
        let context = self.context
        let hook = AuthHook(command: command, environment: ChildEnvironment.build(inputs), logFields: fields, loop: loop,
                            context: context, registry: registry, ended: { context.hookSlots.release(clientKey) }) { [weak self] verdict in
            guard let self, self.state == .authorizing else { return }
            self.authHook = nil
            self.state = .readingHead
            switch verdict {
            case .allowed(let variables):
                self.client.hookVariables = variables
                self.routeAllowed(head, body: body)
            case .refused(let status):
                var headers = self.configuration.plainHTTPHeaders
                if status == .unauthorized {
                    headers = HTTPHeaders([(name: "WWW-Authenticate", value: #"Bearer realm="wsbridge""#)] + headers.map { $0 })
                }
                let message = status == .serviceUnavailable ? "the --authcmd hook could not start" : "refused by the --authcmd hook"
                self.refuse(HTTPResponse.error(status, message: message, extraHeaders: headers), status: status, method: method, path: path)
            }
        }
        authHook = hook
        hook.start()
    }

    /// Routing once the request may come in.
    private func routeAllowed(_ head: HTTPRequestHead, body: RequestBodyFraming) {
        // SPEC §11 --basepath: routing sees the path inside the prefix; REQUEST_URI and the log
        // keep the request's own.
        var routed = head
        if let basePath = configuration.basePath {
            guard let inside = Self.path(head.path, under: basePath) else {
                let response = HTTPResponse.error(.notFound, message: "not under \(basePath)", extraHeaders: configuration.plainHTTPHeaders)
                return refuse(response, status: .notFound, method: head.method, path: head.path)
            }
            routed.target = inside + (head.target.firstIndex(of: "?").map { String(head.target[$0...]) } ?? "")
        }
        if head.method == "GET" && Handshake.isUpgradeRequest(head) {
            // Bytes after an upgrade request are WebSocket frames: a body would be read as frames
            // by us and as a body by a proxy in front (RFC 6455 §4.1: the handshake has none).
            guard !body.hasBody else {
                let error = HTTPError.malformed("an upgrade request carries no body")
                return refuse(error.response(extraHeaders: configuration.plainHTTPHeaders), status: error.status,
                              method: head.method, path: head.path)
            }
            routeUpgrade(head, routed: routed)
        } else if EventStreamRequest.isRequested(head) {
            guard !body.hasBody else {
                let error = HTTPError.malformed("an event-stream request carries no body")
                return refuse(error.response(extraHeaders: configuration.plainHTTPHeaders), status: error.status,
                              method: head.method, path: head.path)
            }
            routeEventStream(head, routed: routed)
        } else if head.method == "POST", let sessionID = head.headers.first(EventStreamRequest.sessionHeader) {
            routePost(head, sessionID: sessionID, body: body)
        } else {
            routePlainRequest(head, routed: routed, body: body)
        }
    }

    /// SPEC §10: under `--sslca` a client certificate proves who talks to the server name it
    /// asked for (SNI); a request for another Host on that connection gets 421, as a proxy that
    /// reuses connections across names would otherwise carry one site's identity to another.
    private func isMisdirected(_ head: HTTPRequestHead, tls: TLSSessionInfo) -> Bool {
        guard tls.clientCertificate != nil, let serverName = tls.serverName else { return false }
        guard let host = head.headers.first("Host"),
              let authority = OriginPolicy.parseAuthority(Substring(host), defaultPort: 443) else { return true }
        return authority.host.lowercased() != serverName.lowercased()
    }

    /// `--redirport` (SPEC §10): 301 to the same path and query over https. websocketd drops the
    /// path; a request without a usable Host cannot be redirected and gets 400.
    private func redirectToHTTPS(_ head: HTTPRequestHead, body: RequestBodyFraming, port: Int) {
        let extraHeaders = configuration.plainHTTPHeaders
        guard let host = head.headers.first("Host"), let authority = OriginPolicy.parseAuthority(Substring(host), defaultPort: nil),
              !authority.host.isEmpty else {
            let error = HTTPError.malformed("a redirect to https needs a Host")
            return refuse(error.response(extraHeaders: extraHeaders), status: error.status, method: head.method, path: head.path)
        }
        guard skipBody(body, of: head) else { return }
        let hostPart = authority.host.contains(":") ? "[\(authority.host)]" : authority.host
        let location = "https://" + hostPart + (port == 443 ? "" : ":\(port)") + (head.target.hasPrefix("/") ? head.target : "/")
        var response = HTTPResponse(status: .movedPermanently, headers: HTTPHeaders([
            (name: "Location", value: location), (name: "Content-Type", value: "text/plain; charset=utf-8"),
        ]), body: Array("301 Moved Permanently: \(location)\n".utf8))
        response.headers.add(contentsOf: extraHeaders)
        answer(response, to: head, includeBody: head.method != "HEAD")
    }

    // MARK: Plain requests

    /// The largest body a plain request that is not CGI may carry: it is read and dropped so that the
    /// connection can serve the next request (as Go's net/http drops up to 256 KiB); a larger one
    /// gets 413 and the connection closes.
    static let maxDiscardedBodyBytes = 64 * 1024

    /// `path` with `prefix` removed ("/" for the prefix itself); nil when it is not under it.
    static func path(_ path: String, under prefix: String) -> String? {
        if path == prefix { return "/" }
        guard path.hasPrefix(prefix), path.dropFirst(prefix.count).hasPrefix("/") else { return nil }
        return String(path.dropFirst(prefix.count))
    }

    /// A script's target, its SCRIPT_NAME under `--basepath` (SPEC §11: SCRIPT_NAME keeps the prefix).
    private func target(_ executable: String, _ arguments: [String], scriptName: String, pathInfo: String) -> ScriptTarget {
        var name = scriptName
        if let basePath = configuration.basePath { name = scriptName == "/" ? basePath : basePath + scriptName }
        return ScriptTarget(executable: executable, arguments: arguments, scriptName: name, pathInfo: pathInfo)
    }

    private func routePlainRequest(_ head: HTTPRequestHead, routed: HTTPRequestHead, body: RequestBodyFraming) {
        let extraHeaders = configuration.plainHTTPHeaders
        let isGetOrHead = head.method == "GET" || head.method == "HEAD"
        let servesConsole = configuration.devConsole && isGetOrHead
        if !servesConsole, let cgiScripts = configuration.cgiScripts,
           case .script(let path, let scriptName, let pathInfo) = cgiScripts.route(path: routed.path) {
            handOverToCGI(head, body: body, target(path, [], scriptName: scriptName, pathInfo: pathInfo))
            return
        }
        guard skipBody(body, of: head) else { return }
        if servesConsole {
            var response = DevConsolePage.response(forHEAD: head.method == "HEAD")
            response.headers.add(contentsOf: extraHeaders)
            answer(response, to: head, includeBody: head.method != "HEAD")
            return
        }
        if let staticFiles = configuration.staticFiles {
            switch staticFiles.answer(routed, locationPrefix: configuration.basePath ?? "") {
            case .response(var response):
                response.headers.add(contentsOf: extraHeaders)
                answer(response, to: head, includeBody: head.method != "HEAD")
            case .file(let path, let byteCount, var response):
                response.headers.add(contentsOf: extraHeaders)
                sendFile(path: path, byteCount: byteCount, response: response, to: head)
            }
            return
        }
        if configuration.cgiScripts != nil {
            let response = HTTPResponse.error(.notFound, message: "no such script", extraHeaders: extraHeaders)
            refuse(response, status: .notFound, method: head.method, path: head.path)
            return
        }
        // Nothing serves plain requests: say this is a WebSocket endpoint (SPEC §5).
        let error: HandshakeError = head.method == "GET" ? .notWebSocket : .methodNotAllowed
        refuse(error.response(extraHeaders: extraHeaders), status: error.status, method: head.method, path: head.path)
    }

    /// Arranges for the body of a request that no script reads to be dropped before the next
    /// request is parsed; false when the body is refused instead (the answer is then under way).
    private func skipBody(_ body: RequestBodyFraming, of head: HTTPRequestHead) -> Bool {
        let extraHeaders = configuration.plainHTTPHeaders
        switch body {
        case .none:
            return true
        case .chunked:
            // Nothing here reads a chunked body, and its end cannot be found without decoding it:
            // refuse and close rather than guess (RFC 9112 §6.3 item 4).
            let error = HTTPError.malformed("Transfer-Encoding is accepted by CGI scripts only")
            refuse(error.response(extraHeaders: extraHeaders), status: error.status, method: head.method, path: head.path)
            return false
        case .contentLength(let length):
            guard length <= Self.maxDiscardedBodyBytes else {
                let response = HTTPResponse.error(.payloadTooLarge, message: "request body over \(Self.maxDiscardedBodyBytes) bytes",
                                                  extraHeaders: extraHeaders)
                refuse(response, status: .payloadTooLarge, method: head.method, path: head.path)
                return false
            }
            parser.discardBody(byteCount: length)
            // RFC 9110 §10.1.1: after a final answer, a client that sent `Expect: 100-continue` may
            // send its body or not; only closing keeps the next request from being misread.
            bodyForbidsReuse = head.headers.contains("Expect")
            return true
        }
    }

    /// Sends an answer to a plain request, keeping the connection for another one unless the
    /// answer or the request says `Connection: close` (RFC 9112 §9.3).
    private func answer(_ response: HTTPResponse, to head: HTTPRequestHead, includeBody: Bool) {
        logPlain(head, status: response.status)
        var response = response
        if let setCookie { response.headers.add(name: "Set-Cookie", value: setCookie) }
        keepsAlive = !response.headers.containsToken("close", in: "Connection")
            && !head.headers.containsToken("close", in: "Connection") && !bodyForbidsReuse
        bodyForbidsReuse = false
        output.append(contentsOf: response.serialized(includingBody: includeBody))
        state = .answering
        flush()
    }

    private func sendFile(path: String, byteCount: Int, response: HTTPResponse, to head: HTTPRequestHead) {
        guard let file = Syscalls.openForReading(path) else {
            let error = HTTPResponse.error(.notFound, message: "no such file", extraHeaders: configuration.plainHTTPHeaders)
            answer(error, to: head, includeBody: true)
            return
        }
        if byteCount > 0 {
            fileBody = FileBody(fd: file, remaining: byteCount)
        } else {
            Syscalls.close(file)
        }
        answer(response, to: head, includeBody: false)
    }

    private func logPlain(_ head: HTTPRequestHead, status: HTTPStatus) {
        context.metrics.answered(status)
        context.logger.log(.access, "HTTP", [
            "remote": client.logDescription, "id": String(id), "method": head.method, "path": head.path,
            "status": String(status.code),
        ])
    }

    // MARK: Upgrades

    private func routeUpgrade(_ head: HTTPRequestHead, routed: HTTPRequestHead) {
        let extraHeaders = configuration.plainHTTPHeaders
        let acceptance: HandshakeAcceptance
        do {
            acceptance = try Handshake.validate(head)
            // Behind a trusted proxy the client's own scheme and host decide what "same origin" is.
            try configuration.originPolicy.check(head, isTLS: transport.tlsSession != nil || client.forwarded?.isHTTPS == true,
                                                  host: client.forwarded?.host)
        } catch {
            refuse(error.response(extraHeaders: extraHeaders), status: error.status, method: head.method, path: head.path)
            return
        }
        guard let script = admitSession(head, routed: routed) else { return }
        if let sharing = configuration.sharing {
            let request: SharedSessionRequest
            do {
                request = try SharedSessionRequest.parse(query: head.query)
            } catch {
                context.sessionSlots?.release(client.limitKey)
                let response = HTTPResponse.error(.badRequest, message: error.message, extraHeaders: extraHeaders)
                refuse(response, status: .badRequest, method: head.method, path: head.path)
                return
            }
            // `--sessions` without a name: a child of the client's own, as without the flag.
            if sharing == .broadcast || request.name != nil {
                joinShared(head, acceptance, script, name: sharing == .broadcast ? nil : request.name, isViewer: request.isViewer)
                return
            }
        }
        guard context.reserveChildSlot() else {
            refuseNoChildSlot(head)
            return
        }
        upgrade(head, acceptance, script)
    }

    /// What a session for `head` runs, once the server admits one more for this client (not
    /// shutting down, under `--maxconnsperip`, whose slot it then holds); nil after refusing it.
    private func admitSession(_ head: HTTPRequestHead, routed: HTTPRequestHead) -> ScriptTarget? {
        let extraHeaders = configuration.plainHTTPHeaders
        let script: ScriptTarget
        switch configuration.command {
        case .single(let executable, let arguments):
            script = target(executable, arguments, scriptName: "/", pathInfo: routed.path)
        case .directory(let router):
            switch router.route(path: routed.path) {
            case .script(let path, let scriptName, let pathInfo):
                script = target(path, [], scriptName: scriptName, pathInfo: pathInfo)
            case .notFound:
                let response = HTTPResponse.error(.notFound, message: "no such script", extraHeaders: extraHeaders)
                refuse(response, status: .notFound, method: head.method, path: head.path)
                return nil
            }
        }
        guard !context.isShuttingDown else {
            let response = HTTPResponse.error(.serviceUnavailable, message: "the server is shutting down",
                                              extraHeaders: extraHeaders)
            refuse(response, status: .serviceUnavailable, method: head.method, path: head.path)
            return nil
        }
        guard context.sessionSlots?.reserve(client.limitKey) ?? .admitted == .admitted else {
            let response = HTTPResponse.error(.tooManyRequests, message: "this address has \(configuration.maxSessionsPerAddress) sessions (--maxconnsperip)",
                                              extraHeaders: extraHeaders)
            refuse(response, status: .tooManyRequests, method: head.method, path: head.path)
            return nil
        }
        return script
    }

    private func refuseNoChildSlot(_ head: HTTPRequestHead) {
        context.sessionSlots?.release(client.limitKey)
        let response = HTTPResponse.error(.tooManyRequests, message: "all \(configuration.maxChildren) processes (--maxforks) are busy",
                                          extraHeaders: configuration.plainHTTPHeaders)
        refuse(response, status: .tooManyRequests, method: head.method, path: head.path)
    }

    /// The 101 (with the agreed extension and subprotocol) for an accepted upgrade.
    private func handshakeResponse(_ head: HTTPRequestHead, _ acceptance: HandshakeAcceptance)
        -> (response: [UInt8], subprotocol: String?, deflate: DeflateParameters?) {
        let subprotocol = Handshake.selectSubprotocol(offered: acceptance.offeredSubprotocols,
                                                      supported: configuration.subprotocols)
        var extraHeaders = configuration.webSocketHeaders
        // RFC 6455 §9.1, RFC 7692 §5: the extension is named in the 101 only when agreed, and
        // then with the agreed parameters (never an empty field).
        let deflate = configuration.deflate?.negotiate(head.headers.values("Sec-WebSocket-Extensions"))
        if let deflate { extraHeaders.add(name: "Sec-WebSocket-Extensions", value: deflate.responseHeaderValue) }
        if let setCookie { extraHeaders.add(name: "Set-Cookie", value: setCookie) }
        return (acceptance.response(subprotocol: subprotocol, extraHeaders: extraHeaders).serialized(), subprotocol, deflate)
    }

    /// SPEC §13: joins the shared child of this script (and session name), starting it when
    /// there is none. A session lives on one loop: a client accepted on another moves there.
    private func joinShared(_ head: HTTPRequestHead, _ acceptance: HandshakeAcceptance, _ script: ScriptTarget, name: String?, isViewer: Bool) {
        let key = ([script.executable] + script.arguments + [name ?? ""]).joined(separator: "\u{0}")
        // The name is the clients' secret: the log shows its first characters only.
        let label = script.scriptName + (name.map { "?session=" + $0.prefix(6) + "…" } ?? "")
        let loop = self.loop, context = self.context, registry = self.registry
        let admission = context.sharedSessions.admit(key: key) {
            guard context.reserveChildSlot() else { return nil }
            return SharedChild(id: context.makeConnectionID(), key: key, label: label, script: script, loop: loop,
                               context: context, registry: registry)
        }
        let session: SharedChild
        switch admission {
        case .noChildSlot:
            refuseNoChildSlot(head)
            return
        case .created(let created):
            session = created
        case .join(let joined):
            session = joined
        }
        var socketRegistration = registration
        registration = nil
        state = .done
        registry.remove(self)
        let (response, subprotocol, deflate) = handshakeResponse(head, acceptance)
        if case .created = admission {
            session.start(environment: environmentInputs(head, script, subprotocol: subprotocol))
        }
        let parts = UncheckedSendable((transport, id, client, head, isViewer, deflate, session, response, parser.takeRemainingBytes()))
        guard session.loop !== loop else {
            let parts = parts.value
            let client = SharedClient(transport: parts.0, id: parts.1, origin: parts.2, head: parts.3, isViewer: parts.4, deflate: parts.5,
                                      session: parts.6, context: context, handshakeResponse: parts.7, bytesAfterHead: parts.8)
            session.attach(client, registration: socketRegistration)
            return
        }
        // Out of this loop's epoll before the session's loop registers the socket in its own.
        if let registration = socketRegistration { loop.deregister(registration) }
        socketRegistration = nil
        session.loop.execute {
            let parts = parts.value
            let client = SharedClient(transport: parts.0, id: parts.1, origin: parts.2, head: parts.3, isViewer: parts.4, deflate: parts.5,
                                      session: parts.6, context: context, handshakeResponse: parts.7, bytesAfterHead: parts.8)
            parts.6.attach(client, registration: nil)
        }
    }

    /// What the child's environment is built from (SPEC §4), for this connection's request.
    private func environmentInputs(_ head: HTTPRequestHead, _ script: ScriptTarget, subprotocol: String?) -> ChildEnvironment.Inputs {
        var inputs = ChildEnvironment.Inputs(
            head: head, parentEnvironment: configuration.parentEnvironment, passEnv: configuration.passEnv,
            remote: client.peer, local: local, uniqueID: String(id), scriptName: script.scriptName,
            pathInfo: script.pathInfo, pathTranslated: script.executable, tls: transport.tlsSession, subprotocol: subprotocol)
        inputs.forwarded = client.forwarded
        inputs.authentication = client.identity.map { ($0.authType, $0.user) }
        inputs.hookVariables = client.hookVariables
        return inputs
    }

    private func upgrade(_ head: HTTPRequestHead, _ acceptance: HandshakeAcceptance, _ script: ScriptTarget) {
        let socketRegistration = registration
        registration = nil
        state = .done
        registry.remove(self)
        let (response, subprotocol, deflate) = handshakeResponse(head, acceptance)
        let session = WebSocketSession(
            transport: transport, id: id, client: client, local: local, head: head, script: script, subprotocol: subprotocol,
            deflate: deflate, loop: loop,
            context: context, registry: registry, handshakeResponse: response,
            bytesAfterHead: parser.takeRemainingBytes())
        session.start(taking: socketRegistration)
    }

    // MARK: Event streams (SPEC §12)

    /// A GET asking for `text/event-stream`: the script the same URL would upgrade to, under the
    /// same origin check and limits, as a session whose client is an `EventSource`.
    private func routeEventStream(_ head: HTTPRequestHead, routed: HTTPRequestHead) {
        let extraHeaders = configuration.plainHTTPHeaders
        guard checkEventStreamOrigin(head) else { return }
        guard let script = admitSession(head, routed: routed) else { return }
        if let sharing = configuration.sharing, sharing == .broadcast || (try? SharedSessionRequest.parse(query: head.query))?.name != nil {
            context.sessionSlots?.release(client.limitKey)
            let response = HTTPResponse.error(.notAcceptable, message: "shared sessions (--broadcast, ?session=) take WebSocket clients only",
                                              extraHeaders: extraHeaders)
            return refuse(response, status: .notAcceptable, method: head.method, path: head.path)
        }
        guard context.reserveChildSlot() else { return refuseNoChildSlot(head) }
        let socketRegistration = registration
        registration = nil
        state = .done
        registry.remove(self)
        var headers = extraHeaders
        if let setCookie { headers.add(name: "Set-Cookie", value: setCookie) }
        var generator = SystemRandomNumberGenerator()
        _ = parser.takeRemainingBytes()
        let session = WebSocketSession(
            transport: transport, id: id, client: client, local: local, head: head, script: script, subprotocol: nil,
            deflate: nil, loop: loop, context: context, registry: registry,
            handshakeResponse: EventStreamEncoder.responseHead(extraHeaders: headers), bytesAfterHead: [],
            eventStreamID: EventStreamRequest.makeSessionID(using: &generator))
        session.start(taking: socketRegistration)
    }

    /// `--origin` and `--sameorigin` for event streams and their POSTs. A browser sends Origin
    /// with every cross-origin request (and with every POST), so a request without one comes
    /// from the page's own origin or from a non-browser client, as for plain requests; unlike a
    /// WebSocket handshake, a same-origin `EventSource` GET carries none (Fetch §3.1). One that
    /// is there is checked as an upgrade's is. False after refusing.
    private func checkEventStreamOrigin(_ head: HTTPRequestHead) -> Bool {
        guard head.headers.contains("Origin") else { return true }
        do {
            try configuration.originPolicy.check(head, isTLS: transport.tlsSession != nil || client.forwarded?.isHTTPS == true,
                                                  host: client.forwarded?.host)
            return true
        } catch {
            refuse(error.response(extraHeaders: configuration.plainHTTPHeaders), status: error.status, method: head.method, path: head.path)
            return false
        }
    }

    /// The largest POST body for a session when `--maxframesize=0` lifts the message limit: the
    /// body is held whole until its lines go to stdin.
    static let maxPostedBodyBytes = 1 << 20

    /// A POST with `X-WSBridge-Session`: its body's lines go to that session's stdin.
    private func routePost(_ head: HTTPRequestHead, sessionID: String, body: RequestBodyFraming) {
        let extraHeaders = configuration.plainHTTPHeaders
        guard checkEventStreamOrigin(head) else { return }
        guard EventStreamRequest.isWellFormedSessionID(sessionID) else {
            let error = HTTPError.malformed("\(EventStreamRequest.sessionHeader) is not a session id")
            return refuse(error.response(extraHeaders: extraHeaders), status: error.status, method: head.method, path: head.path)
        }
        let limit = configuration.maxMessageBytes ?? Self.maxPostedBodyBytes
        let length: Int
        switch body {
        case .none:
            length = 0
        case .chunked:
            let response = HTTPResponse.error(.lengthRequired, message: "a POST to a session needs a Content-Length",
                                              extraHeaders: extraHeaders)
            return refuse(response, status: .lengthRequired, method: head.method, path: head.path)
        case .contentLength(let count):
            length = count
        }
        guard length <= limit else {
            let response = HTTPResponse.error(.payloadTooLarge, message: "request body over \(limit) bytes (--maxframesize)",
                                              extraHeaders: extraHeaders)
            return refuse(response, status: .payloadTooLarge, method: head.method, path: head.path)
        }
        // The bytes behind the head: the body's start, and maybe the next request's.
        var buffered = parser.takeRemainingBytes()
        let taken = min(length, buffered.count)
        parser.append(contentsOf: buffered[taken...])
        buffered.removeSubrange(taken...)
        postBody = PostBody(head: head, sessionID: sessionID, bytes: buffered, remaining: length - taken)
        state = .readingBody
        // The body must come within the head's deadline too (SPEC §5), however slowly it trickles.
        startHeadTimer()
        readPostBody()
    }

    private func readPostBody() {
        while state == .readingBody, var body = postBody {
            guard body.remaining > 0 else { return postComplete(body) }
            guard isReadable else { return }
            postBody = nil
            let result = loop.readThroughScratch(transport) { chunk in
                let taken = min(body.remaining, chunk.count)
                body.bytes.append(contentsOf: chunk[0..<taken])
                body.remaining -= taken
                if taken < chunk.count { parser.append(UnsafeRawBufferPointer(rebasing: chunk[taken...])) }
            }
            postBody = body
            switch result {
            case .bytes: continue
            case .wouldBlock: isReadable = false
            case .endOfFile, .failed: close()
            }
        }
    }

    /// The whole body is here: its lines go to the session's loop, and the answer comes back here.
    private func postComplete(_ body: PostBody) {
        postBody = nil
        if let timer { loop.cancel(timer) }
        timer = nil
        let head = body.head
        guard let lines = EventStreamRequest.lines(ofBody: body.bytes) else {
            let error = HTTPError.malformed("a posted body is UTF-8 text")
            return refuse(error.response(extraHeaders: configuration.plainHTTPHeaders), status: error.status,
                          method: head.method, path: head.path)
        }
        guard let entry = context.eventStreams.find(id: body.sessionID), entry.path == head.path else {
            return postAnswered(.ended, head: head)
        }
        state = .posting
        let connection = WeakSendable(self), loop = UncheckedSendable(self.loop), request = UncheckedSendable(head)
        entry.loop.value.execute {
            let reply: @Sendable (PostOutcome) -> Void = { outcome in
                loop.value.execute { connection.value?.postAnswered(outcome, head: request.value) }
            }
            guard let session = entry.session.value else { return reply(.ended) }
            session.post(lines: lines, reply: reply)
        }
    }

    private func postAnswered(_ outcome: PostOutcome, head: HTTPRequestHead) {
        guard state == .posting || state == .readingBody else { return }
        state = .readingHead
        let extraHeaders = configuration.plainHTTPHeaders
        switch outcome {
        case .accepted:
            var response = HTTPResponse(status: .noContent)
            response.headers.add(contentsOf: extraHeaders)
            answer(response, to: head, includeBody: false)
        case .ended:
            let response = HTTPResponse.error(.notFound, message: "no such session, or it ended", extraHeaders: extraHeaders)
            refuse(response, status: .notFound, method: head.method, path: head.path)
        case .busy:
            let response = HTTPResponse.error(.serviceUnavailable, message: "the session's script is not reading its input",
                                              extraHeaders: extraHeaders)
            refuse(response, status: .serviceUnavailable, method: head.method, path: head.path)
        case .refused(let reason):
            let response = HTTPResponse.error(.payloadTooLarge, message: reason, extraHeaders: extraHeaders)
            refuse(response, status: .payloadTooLarge, method: head.method, path: head.path)
        }
    }

    private func handOverToCGI(_ head: HTTPRequestHead, body: RequestBodyFraming, _ script: ScriptTarget) {
        let socketRegistration = registration
        registration = nil
        state = .done
        registry.remove(self)
        let request = CGIRequest(transport: transport, id: id, client: client, local: local, head: head, body: body, script: script,
                                 setCookie: setCookie,
                                 bodyBytes: parser.takeRemainingBytes(), loop: loop, context: context, registry: registry)
        request.start(taking: socketRegistration)
    }

    // MARK: Writing answers

    /// Answers with an error and closes the connection after it.
    private func refuse(_ response: HTTPResponse, status: HTTPStatus, method: String, path: String) {
        context.metrics.answered(status)
        context.logger.log(.access, "REFUSED", [
            "remote": client.logDescription, "id": String(id), "method": method, "path": path, "status": String(status.code),
        ])
        keepsAlive = false
        // RFC 9110 §9.3.2: an answer to HEAD has no content, refusals included.
        output.append(contentsOf: response.serialized(includingBody: method != "HEAD"))
        state = .answering
        flush()
    }

    private func flush() {
        while state == .answering {
            if output.readableCount < 64 * 1024, fileBody != nil { readFileChunk() }
            guard !transport.isFlushed(output) else { break }
            guard isWritable else { return }
            let drained = transport.drain(&output)
            if drained.failed {
                close()
                return
            }
            if drained.wouldBlock { isWritable = false }
        }
        guard state == .answering, transport.isFlushed(output), fileBody == nil else { return }
        output.releaseCapacityIfEmpty(keeping: 0)
        if keepsAlive {
            // A keep-alive connection may wait long for its next request: its TLS buffers go.
            transport.releaseIdleMemory()
            state = .readingHead
            startHeadTimer()
            // Not called directly: a client pipelining many requests would otherwise nest one
            // answer inside the other on the loop thread's stack.
            loop.executeSoon { [weak self] in
                guard let self, self.state == .readingHead else { return }
                self.readHead()
            }
            return
        }
        // Shutting the write side and reading until the client closes lets it read the whole
        // answer; closing with unread input would send a reset that can destroy the answer.
        transport.shutdownWrite()
        state = .lingering
        lingerEndsAt = Syscalls.monotonicNanoseconds() + Self.maxLingerNanoseconds
        restartLingerTimer()
        drainUntilClosed()
    }

    /// How long a closing connection waits for the client after its last byte: the rest of a
    /// request body it is still sending (the answer may come before the body, e.g. a 413 or a
    /// `Connection: close` request) is read and dropped, so that the close does not reset the
    /// connection under an answer the client has not read yet (RFC 9112 §9.6).
    static let lingerIdleNanoseconds: UInt64 = 1_000_000_000
    /// The longest a closing connection lingers however slowly bytes trickle in.
    static let maxLingerNanoseconds: UInt64 = 10_000_000_000

    private func restartLingerTimer() {
        if let timer { loop.cancel(timer) }
        let now = Syscalls.monotonicNanoseconds()
        let delay = min(Self.lingerIdleNanoseconds, lingerEndsAt > now ? lingerEndsAt - now : 0)
        timer = loop.schedule(afterNanoseconds: delay) { [weak self] in self?.close() }
    }

    /// Moves the next piece of a file being served into the output buffer.
    private func readFileChunk() {
        guard var body = fileBody else { return }
        let chunk = min(body.remaining, 64 * 1024)
        var read = Syscalls.ReadInto(body.fd)
        output.writeWithUnsafeMutableBytes(minimumWritable: chunk) { read.into(UnsafeMutableRawBufferPointer(rebasing: $0[0..<chunk])) }
        switch read.result {
        case .bytes(let count):
            body.remaining -= count
            fileBody = body.remaining > 0 ? body : nil
            if body.remaining == 0 { Syscalls.close(body.fd) }
        case .wouldBlock, .endOfFile, .failed:
            // The file shrank under us: the promised Content-Length cannot be kept, so the
            // connection must end (RFC 9112 §6.3).
            Syscalls.close(body.fd)
            fileBody = nil
            keepsAlive = false
            transport.abortOnClose()
            close()
        }
    }

    private func drainUntilClosed() {
        var hasRead = false
        while state == .lingering {
            switch loop.readThroughScratch(transport, { _ in }) {
            case .bytes: hasRead = true
            case .wouldBlock:
                if hasRead { restartLingerTimer() }
                return
            case .endOfFile, .failed: close()
            }
        }
    }

    private func headTimedOut() {
        timer = nil
        guard state == .readingHead || state == .readingBody else { return }
        context.logger.log(.access, "TIMEOUT", ["remote": peer.description, "id": String(id)])
        close()
    }

    private func close() {
        guard state != .done else { return }
        state = .done
        // A hook still deciding for a client that left: no verdict, but its group still ends.
        authHook?.shutdown()
        authHook = nil
        if let timer { loop.cancel(timer) }
        loop.close(fd, registeredAs: registration)
        registration = nil
        if let fileBody { Syscalls.close(fileBody.fd) }
        fileBody = nil
        registry.remove(self)
        if owesShutdownAnswer {
            owesShutdownAnswer = false
            context.shutdownAnswerSettled()
        }
    }
}

/// What one WebSocket session runs: the command (or the `--dir` script the URL chose) and the CGI
/// path variables that describe the choice (RFC 3875 §4.1.5, §4.1.13).
struct ScriptTarget: Sendable {
    var executable: String
    var arguments: [String]
    var scriptName: String
    var pathInfo: String
}
