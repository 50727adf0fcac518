/// The child's environment, rebuilt from nothing as CGI/1.1 (RFC 3875 §4.1) the way websocketd
/// does it (SPEC §4): the passed-through parent variables, the server and request variables, and
/// one HTTP_ variable per request header, HTTP_HOST included.
public enum ChildEnvironment {
    /// What the environment is built from.
    public struct Inputs: Sendable {
        /// The request head of the upgrade.
        public var head: HTTPRequestHead
        /// The parent's environment.
        public var parentEnvironment: [String: String]
        /// The names of the parent variables to keep (`--passenv`).
        public var passEnv: [String]
        /// The client's address.
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
        /// Whether the connection is TLS.
        public var isTLS: Bool
        /// The negotiated subprotocol, if any.
        public var subprotocol: String?
        /// REMOTE_HOST: the client's name from reverse DNS (`--reverselookup`), else its address.
        public var remoteHost: String?
        /// The request body's length for a CGI request (RFC 3875 §4.1.2); "" when there is none.
        public var contentLength = ""

        /// Creates the inputs.
        public init(head: HTTPRequestHead, parentEnvironment: [String: String], passEnv: [String], remote: SocketAddress,
                    local: SocketAddress, uniqueID: String, scriptName: String, pathInfo: String, pathTranslated: String,
                    isTLS: Bool = false, subprotocol: String? = nil) {
            self.head = head
            self.parentEnvironment = parentEnvironment
            self.passEnv = passEnv
            self.remote = remote
            self.local = local
            self.uniqueID = uniqueID
            self.scriptName = scriptName
            self.pathInfo = pathInfo
            self.pathTranslated = pathTranslated
            self.isTLS = isTLS
            self.subprotocol = subprotocol
        }
    }

    /// The complete environment.
    public static func build(_ inputs: Inputs) -> [String: String] {
        var environment: [String: String] = [:]
        for name in inputs.passEnv {
            if let value = inputs.parentEnvironment[name] { environment[name] = value }
        }
        let head = inputs.head
        let hostHeader = head.headers.first("Host") ?? ""
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
        environment["REMOTE_ADDR"] = inputs.remote.host
        environment["REMOTE_HOST"] = inputs.remoteHost ?? inputs.remote.host
        environment["REMOTE_PORT"] = String(inputs.remote.port)
        environment["UNIQUE_ID"] = inputs.uniqueID
        environment["AUTH_TYPE"] = ""
        environment["CONTENT_LENGTH"] = inputs.contentLength
        environment["CONTENT_TYPE"] = inputs.contentLength.isEmpty ? "" : head.headers.first("Content-Type") ?? ""
        environment["REMOTE_IDENT"] = ""
        environment["REMOTE_USER"] = ""
        if inputs.isTLS { environment["HTTPS"] = "on" }
        if let subprotocol = inputs.subprotocol { environment["WEBSOCKET_PROTOCOL"] = subprotocol }
        var headerValues: [String: [String]] = [:]
        var order: [String] = []
        for (name, value) in head.headers {
            let key = "HTTP_" + variableName(name)
            if headerValues[key] == nil { order.append(key) }
            headerValues[key, default: []].append(value)
        }
        for key in order {
            // RFC 3875 §4.1.18: repeated fields are joined with ", "; CR and LF cannot stay in a variable.
            let joined = headerValues[key, default: []].joined(separator: ", ")
            // Scalar by scalar: "\r\n" is one Character but two line-break bytes, each a space.
            var scalars = String.UnicodeScalarView()
            for scalar in joined.unicodeScalars { scalars.append(scalar == "\r" || scalar == "\n" ? " " : scalar) }
            environment[key] = String(scalars)
        }
        return environment
    }

    /// "Sec-WebSocket-Key" → "SEC_WEBSOCKET_KEY".
    static func variableName(_ header: String) -> String {
        String(header.uppercased().map { $0 == "-" ? "_" : $0 })
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
