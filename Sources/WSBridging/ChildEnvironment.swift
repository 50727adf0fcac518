import WSProtocol
import WSPlatform

/// The child's environment, rebuilt from nothing as CGI/1.1 (RFC 3875 §4.1) the way websocketd
/// does it (SPEC §4): the passed-through parent variables, the server and request variables, and
/// one HTTP_ variable per request header, HTTP_HOST included, with the header hygiene websocketd
/// lacks (httpoxy, name collisions, identity spoofing, control characters).
public enum ChildEnvironment {
    /// What the environment is built from.
    public struct Inputs: Sendable {
        /// The request head of the upgrade.
        public var head: HTTPRequestHead
        /// The parent's environment.
        public var parentEnvironment: [String: String]
        /// The names of the parent variables to keep (`--passenv`).
        public var passEnv: [String]
        /// The client's address; a Unix-socket peer becomes REMOTE_ADDR `unix-socket`.
        public var remote: SocketAddress
        /// The address the connection arrived on.
        public var local: SocketAddress
        /// A unique id of the connection.
        public var uniqueID: String
        /// The script path part of the URL ("/" for a single command).
        public var scriptName: String
        /// The rest of the path after the script (RFC 3875 §4.1.5).
        public var pathInfo: String
        /// The file the script path maps to (RFC 3875 §4.1.6); the command's path.
        public var pathTranslated: String
        /// The TLS session the connection runs over (SPEC §10); nil for plain HTTP.
        public var tls: TLSSessionInfo?
        /// What a trusted proxy (`--trustedproxy`, SPEC §11) said about the client: its address
        /// becomes REMOTE_ADDR (with no REMOTE_PORT, which proxies do not pass) and
        /// `X-Forwarded-Proto: https` sets HTTPS=on.
        public var forwarded: ForwardedClient?
        /// Who the client proved to be with credentials wsbridge checked (`--basicauth`, SPEC
        /// §11): AUTH_TYPE ("Basic") and REMOTE_USER.
        public var authentication: (type: String, user: String)?
        /// What the `--authcmd` hook printed (`NAME=value`, SPEC §11): set over wsbridge's own
        /// variables (a hook may say REMOTE_USER=ann), never by a header.
        public var hookVariables: [String: String] = [:]
        /// The negotiated subprotocol, if any.
        public var subprotocol: String?
        /// `sse` when the client is an `EventSource` (SPEC §12); nil for a WebSocket client.
        public var transport: String?
        /// REMOTE_HOST: the client's name from reverse DNS (`--reverselookup`), else its address.
        public var remoteHost: String?
        /// The request body's length for a CGI request (RFC 3875 §4.1.2); "" when there is none.
        public var contentLength = ""
        /// `--pty` (SPEC §12): the child runs on a pseudo-terminal and gets `TERM`.
        public var isTerminal = false

        /// Creates the inputs.
        public init(head: HTTPRequestHead, parentEnvironment: [String: String], passEnv: [String], remote: SocketAddress,
                    local: SocketAddress, uniqueID: String, scriptName: String, pathInfo: String, pathTranslated: String,
                    tls: TLSSessionInfo? = nil, subprotocol: String? = nil) {
            self.head = head
            self.parentEnvironment = parentEnvironment
            self.passEnv = passEnv
            self.remote = remote
            self.local = local
            self.uniqueID = uniqueID
            self.scriptName = scriptName
            self.pathInfo = pathInfo
            self.pathTranslated = pathTranslated
            self.tls = tls
            self.subprotocol = subprotocol
        }
    }

    /// SPEC §12: what a `--pty` child's terminal is, as xterm.js and most emulators present
    /// themselves (256 colours, xterm's keys and escapes).
    public static let terminalType = "xterm-256color"

    /// The environment of a child many clients share (SPEC §13): section 4's, built from the
    /// first client's request, without what belongs to that client alone. Its address, user,
    /// credentials and certificate, its headers (cookies among them) and its query (which holds
    /// the session's secret name) would otherwise reach a child that every later client drives.
    /// What is left describes the server and the script.
    public static func buildShared(_ inputs: Inputs) -> [String: String] {
        var inputs = inputs
        inputs.authentication = nil
        inputs.hookVariables = [:]
        inputs.remoteHost = nil
        if var tls = inputs.tls {
            tls.clientCertificate = nil
            inputs.tls = tls
        }
        var environment = build(inputs)
        let passed = Set(inputs.passEnv)
        for name in environment.keys where name.hasPrefix("HTTP_") && name != "HTTP_HOST" && !passed.contains(name) {
            environment[name] = nil
        }
        for name in ["REMOTE_ADDR", "REMOTE_HOST", "REMOTE_PORT", "REMOTE_USER", "AUTH_TYPE", "QUERY_STRING"] {
            environment[name] = ""
        }
        environment["REQUEST_URI"] = inputs.head.path
        return environment
    }

    /// The complete environment.
    ///
    /// Three layers, each unable to touch the one before it (SPEC §4 "Header hygiene"):
    /// 1. what wsbridge sets itself, from the connection and the request, with every control
    ///    character made a space;
    /// 2. the `--passenv` variables, except names wsbridge sets or withholds (`serverOnlyNames`,
    ///    `SSL_CLIENT_*`, `socketActivationNames`);
    /// 3. one `HTTP_` variable per request header whose name is allowed (`headerVariableName`)
    ///    and not already set by layer 1 or 2.
    public static func build(_ inputs: Inputs) -> [String: String] {
        let head = inputs.head
        // Sized once: about 25 variables of its own, the passed ones and one per header (grown
        // step by step, it was rehashed several times per request).
        var environment = [String: String](minimumCapacity: 32 + inputs.passEnv.count + head.headers.count)
        let hostHeader = head.headers.first("Host") ?? ""
        // websocketd 0.5 (libwebsocketd/handler.go GetRemoteInfo) names a Unix-socket peer
        // "unix-socket", with an empty port: the peer has no IP address, and an empty REMOTE_ADDR
        // reads as "not set" to many scripts.
        let isUnixPeer = inputs.remote.unixPath != nil
        let forwardedAddress = inputs.forwarded?.address?.description
        let remoteAddress = forwardedAddress ?? (isUnixPeer ? Self.unixSocketPeer : inputs.remote.host)
        environment["SERVER_SOFTWARE"] = "wsbridge/\(WSBridgeVersion.current)"
        environment["GATEWAY_INTERFACE"] = "CGI/1.1"
        environment["SERVER_PROTOCOL"] = "HTTP/\(head.version.major).\(head.version.minor)"
        environment["SERVER_NAME"] = serverName(fromHost: hostHeader) ?? inputs.local.host
        environment["SERVER_PORT"] = String(inputs.local.port)
        environment["REQUEST_METHOD"] = head.method
        environment["REQUEST_URI"] = head.target
        environment["SCRIPT_NAME"] = inputs.scriptName
        environment["PATH_INFO"] = inputs.pathInfo
        environment["PATH_TRANSLATED"] = inputs.pathTranslated
        environment["QUERY_STRING"] = head.query
        environment["REMOTE_ADDR"] = remoteAddress
        environment["REMOTE_HOST"] = isUnixPeer && forwardedAddress == nil ? Self.unixSocketPeer : inputs.remoteHost ?? remoteAddress
        environment["REMOTE_PORT"] = isUnixPeer || forwardedAddress != nil ? "" : String(inputs.remote.port)
        environment["UNIQUE_ID"] = inputs.uniqueID
        environment["AUTH_TYPE"] = ""
        environment["CONTENT_LENGTH"] = inputs.contentLength
        environment["CONTENT_TYPE"] = inputs.contentLength.isEmpty ? "" : head.headers.first("Content-Type") ?? ""
        environment["REMOTE_IDENT"] = ""
        environment["REMOTE_USER"] = ""
        if let authentication = inputs.authentication {
            environment["AUTH_TYPE"] = authentication.type
            environment["REMOTE_USER"] = authentication.user
        }
        if let tls = inputs.tls {
            addTLSVariables(tls, to: &environment)
        } else if inputs.forwarded?.isHTTPS == true {
            environment["HTTPS"] = "on"
        }
        if let subprotocol = inputs.subprotocol { environment["WEBSOCKET_PROTOCOL"] = subprotocol }
        if let transport = inputs.transport { environment["WEBSOCKET_TRANSPORT"] = transport }
        // Over a --passenv TERM, which describes the server's own terminal, not the child's.
        if inputs.isTerminal { environment["TERM"] = terminalType }
        environment.merge(inputs.hookVariables) { _, hook in hook }
        // RFC 3875 §4.1.5, §4.1.13: PATH_INFO and SCRIPT_NAME are decoded, so "/x%0aPATH=/evil"
        // holds a real LF; a reverse-DNS name or a Host header could hold controls too. A script
        // that writes a variable into a log line, a header or an `env` dump must not see a line
        // break, and a NUL cannot be in an environment value at all (routing refuses %00 first).
        // In place, and only where there is something to replace: almost never.
        for (name, value) in environment where value.utf8.contains(where: isControlByte) {
            environment[name] = withoutControlCharacters(value)
        }
        for name in inputs.passEnv where environment[name] == nil && !isWithheldFromPassEnv(name) {
            if let value = inputs.parentEnvironment[name] { environment[name] = value }
        }
        // The variables headers set so far, so that a repeated header joins its own variable and
        // no other (a set: a request may carry thousands of headers).
        var fromHeaders: Set<String> = []
        for (name, value) in head.headers {
            guard let key = headerVariableName(name) else { continue }
            if fromHeaders.contains(key) {
                // RFC 3875 §4.1.18: repeated fields are joined with ", ".
                environment[key, default: ""] += ", " + withoutControlCharacters(value)
            } else if environment[key] == nil {
                // httpoxy (CVE-2016-5385) and its family: a header must never set a variable that
                // wsbridge or the operator set, e.g. HTTP_PROXY passed with --passenv for the
                // child's own outgoing requests.
                environment[key] = withoutControlCharacters(value)
                fromHeaders.insert(key)
            }
        }
        return environment
    }

    /// SPEC §10, with mod_ssl's names: every TLS session's protocol and cipher; with `--sslca`, the
    /// verified client certificate, whose subject's common name is REMOTE_USER.
    static func addTLSVariables(_ tls: TLSSessionInfo, to environment: inout [String: String]) {
        environment["HTTPS"] = "on"
        environment["SSL_PROTOCOL"] = tls.protocolVersion
        environment["SSL_CIPHER"] = tls.cipher
        guard let client = tls.clientCertificate else { return }
        environment["SSL_CLIENT_VERIFY"] = "SUCCESS"
        environment["SSL_CLIENT_S_DN"] = client.subject
        environment["SSL_CLIENT_I_DN"] = client.issuer
        environment["SSL_CLIENT_M_SERIAL"] = client.serial
        if let commonName = client.commonName {
            environment["SSL_CLIENT_S_DN_CN"] = commonName
            // A user who also logged in (`--basicauth`) is that user.
            if environment["REMOTE_USER", default: ""].isEmpty { environment["REMOTE_USER"] = commonName }
        }
    }

    /// REMOTE_ADDR and REMOTE_HOST of a `--unixsocket` client, as websocketd 0.5.
    static let unixSocketPeer = "unix-socket"

    /// Variables only wsbridge sets, even when it leaves them out, so a `--passenv` of the same
    /// name cannot fill the gap: identity (SPEC §4, §10, §11: a parent's `REMOTE_USER` or `HTTPS=on`
    /// would tell every script that every client authenticated, or came over TLS), TLS facts, and
    /// the chosen subprotocol and transport. `SSL_CLIENT_*` is withheld by prefix (`isWithheldFromPassEnv`).
    static let serverOnlyNames: Set<String> = [
        "AUTH_TYPE", "REMOTE_USER", "REMOTE_IDENT", "HTTPS", "SSL_PROTOCOL", "SSL_CIPHER", "WEBSOCKET_PROTOCOL",
        "WEBSOCKET_TRANSPORT",
    ]

    /// systemd's socket-activation variables (sd_listen_fds(3), SPEC §15): they describe fds
    /// passed to wsbridge, so a child that trusted them would take its own pipes for listeners.
    static let socketActivationNames = Set(SocketActivation.variableNames)

    /// Whether a parent variable stays out of the child's environment even when `--passenv` names it.
    static func isWithheldFromPassEnv(_ name: String) -> Bool {
        serverOnlyNames.contains(name) || name.hasPrefix("SSL_CLIENT_") || socketActivationNames.contains(name)
    }

    /// The variable a request header becomes (RFC 3875 §4.1.18: "HTTP_" + the name upper-cased,
    /// `-` as `_`), or nil when the header is dropped:
    /// - `Proxy`: HTTP_PROXY is where HTTP clients look for their proxy (httpoxy, CVE-2016-5385;
    ///   dropped as Go's net/http/cgi, Apache and nginx do).
    /// - a name with anything but ASCII letters, digits and `-` (as nginx `ignore_invalid_headers`
    ///   and Apache 2.4's CGI environment): `X_Foo` would become the same variable as `X-Foo`, so a
    ///   client could pose as a header a proxy in front set (nginx's `underscores_in_headers off`),
    ///   and other token characters (`.`, `!`, `~`, ...) give names a shell cannot read.
    static func headerVariableName(_ header: String) -> String? {
        guard !header.isEmpty, header.utf8.allSatisfy(isVariableNameByte) else { return nil }
        // Byte by byte, as the name is ASCII letters, digits and `-` only.
        let prefix = "HTTP_".utf8
        let name = String(unsafeUninitializedCapacity: prefix.count + header.utf8.count) { buffer in
            var count = 0
            for byte in prefix { buffer[count] = byte; count += 1 }
            for byte in header.utf8 {
                switch byte {
                case UInt8(ascii: "-"): buffer[count] = UInt8(ascii: "_")
                case UInt8(ascii: "a")...UInt8(ascii: "z"): buffer[count] = byte - 0x20
                default: buffer[count] = byte
                }
                count += 1
            }
            return count
        }
        return name == "HTTP_PROXY" ? nil : name
    }

    /// ASCII letters, digits and `-`.
    private static func isVariableNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// `value` with each C0 control and DEL as one space: CR, LF, HTAB and NUL included, so
    /// "\r\n" gives two spaces (websocketd's headerNewlineToSpace does the same for CR and LF).
    /// Byte by byte: in UTF-8 these bytes never occur inside a multi-byte sequence.
    static func withoutControlCharacters(_ value: String) -> String {
        guard value.utf8.contains(where: isControlByte) else { return value }
        return String(decoding: value.utf8.map { isControlByte($0) ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }

    /// C0 (0x00–0x1F) and DEL (0x7F).
    private static func isControlByte(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x7F
    }

    /// The host part of a Host header: "example.com:8080" → "example.com", "[::1]:80" → "::1".
    static func serverName(fromHost host: String) -> String? {
        guard !host.isEmpty else { return nil }
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
            return String(host[host.index(after: host.startIndex)..<end])
        }
        if let colon = host.lastIndex(of: ":") { return String(host[..<colon]) }
        return host
    }
}
