import WSProtocol
import WSBridging
import WSServer

/// One extra response header from `--header`, `--header-ws` or `--header-http`.
public struct HeaderField: Sendable, Equatable {
    /// The field name as given, a token (RFC 9110 §5.1).
    public var name: String
    /// The field value with surrounding spaces and tabs removed (RFC 9110 §5.5).
    public var value: String

    /// Creates a field from a name and value that are already valid.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One `--address` value: a host name or an IP literal, IPv6 without its brackets.
public struct ListenAddress: Sendable, Equatable {
    /// `"127.0.0.1"`, `"::1"` (no brackets) or a host name such as `"localhost"`.
    public var host: String

    /// Creates an address from a host that is already valid.
    public init(host: String) {
        self.host = host
    }
}

/// Everything the command line configures (SPEC.md §1), with websocketd's defaults.
public struct Options: Sendable, Equatable {
    /// The TCP port; nil means the default (80, or 443 with `--ssl`), and 0 any free port.
    public var port: Int?
    /// Hosts to listen on, IPv6 without brackets; empty means every interface.
    public var addresses: [String]
    /// A Unix socket path to listen on as well as (or, alone, instead of) TCP.
    public var unixSocket: String?
    /// `--reuseport`: TCP listeners set `SO_REUSEPORT`, so that a new wsbridge can listen on the
    /// same port while this one drains (SPEC §15).
    public var reusePort: Bool
    /// How messages map to the child's stdin and stdout; `--binary` selects `.raw`.
    public var framing: FramingMode
    /// Names of the parent's environment variables the child keeps.
    public var passEnv: [String]
    /// `--dir`: a directory of scripts routed by URL path.
    public var dir: String?
    /// `--staticdir`: files served to plain GET and HEAD requests.
    public var staticDir: String?
    /// `--cgidir`: CGI scripts run for plain HTTP requests.
    public var cgiDir: String?
    /// `--devconsole`: a built-in test page answers plain GET requests.
    public var devConsole: Bool
    /// `--sameorigin`: refuse an upgrade whose Origin host differs from Host.
    public var sameOrigin: Bool
    /// `--origin`: the origins an upgrade may come from; empty allows any.
    public var origins: [String]
    /// `--ssl`: listen with TLS.
    public var ssl: Bool
    /// `--sslcert`: the PEM certificate chain for TLS.
    public var sslCert: String?
    /// `--sslkey`: the PEM private key for TLS.
    public var sslKey: String?
    /// `--sslca`: PEM CA certificates that client certificates must chain to.
    public var sslCA: String?
    /// `--redirport`: a plain-HTTP port answering 301 to https; nil when off.
    public var redirPort: Int?
    /// `--metrics=[HOST:]PORT`: where `/metrics` and `/healthz` are served (SPEC §14); nil when off.
    public var metrics: MetricsAddress?
    /// `--basicauth`: the htpasswd file whose users may come in (SPEC §11).
    public var basicAuth: String?
    /// `--authcmd`: the program run for every request to decide it (SPEC §11).
    public var authCommand: String?
    /// `--token`: a random token made at startup lets requests in (SPEC §11).
    public var token = false
    /// `--tokenfile`: the token, read from this file.
    public var tokenFile: String?
    /// `--trustedproxy`: the peers whose forwarding headers are believed (SPEC §11).
    public var trustedProxies = TrustedProxies()
    /// `--basepath`: the path prefix the server lives under, without a trailing slash; nil for none.
    public var basePath: String?
    /// `--maxconnsperip`: live sessions per client address at most; 0 means unlimited.
    public var maxSessionsPerAddress = 0
    /// `--broadcast` (SPEC §13): every client of a script shares one child.
    public var broadcast = false
    /// `--sessions` (SPEC §13): clients naming the same `?session=` share one child.
    public var sessions = false
    /// `--linger`: seconds a shared child outlives its last client.
    public var lingerSeconds = 0
    /// `--clientqueue`: bytes of output waiting for one client of a shared child at most.
    public var clientQueueBytes = 1 << 20
    public static let minimumClientQueueBytes = 128 * 1024
    /// Live children at most; 0 means unlimited.
    public var maxForks: Int
    /// Largest inbound message in bytes after reassembly and inflation; nil means no limit.
    public var maxFrameBytes: Int?
    /// Milliseconds added to every step of the teardown ladder (SPEC.md §3).
    public var closeMilliseconds: Int
    /// Interval of server pings in milliseconds; 0 means off.
    public var pingMilliseconds: Int
    /// Extra headers on every response.
    public var headers: [HeaderField]
    /// Extra headers on 101 responses only.
    public var headersWS: [HeaderField]
    /// Extra headers on responses other than 101 only.
    public var headersHTTP: [HeaderField]
    /// `--passstderr`: stdout and stderr lines go to the client as JSON messages.
    public var passStderr: Bool
    /// `--pty` or `--pty=tty` (SPEC §12): the child's stdin, stdout and stderr are one
    /// pseudo-terminal set up so; nil: pipes.
    public var pty: TerminalMode?
    /// `--reverselookup`: REMOTE_HOST comes from reverse DNS.
    public var reverseLookup: Bool
    /// The least severe level that is logged.
    public var logLevel: LogLevel
    /// Text or JSON log lines.
    public var logFormat: LogFormat
    /// Subprotocols the server accepts, in no particular preference (the client's order wins).
    public var subprotocols: [String]
    /// `--permessage-deflate`: negotiate RFC 7692 compression when the client offers it.
    public var permessageDeflate: Bool
    /// COMMAND and its arguments, verbatim; empty with `--dir`.
    public var command: [String]
    /// Names (without dashes) of the flags given on the command line, for example `"port"`.
    ///
    /// A boolean given as false is not in the set, since it leaves the default in place, so
    /// `--ssl=false` never counts as asking for TLS. `--help` and `--version` never appear.
    public var explicitFlags: Set<String>

    /// Default `--passenv`: websocketd on Linux keeps only LD_LIBRARY_PATH; PATH is kept too so
    /// that a child can find the programs it runs.
    public static let defaultPassEnv = ["PATH", "LD_LIBRARY_PATH"]
    /// Default `--maxforks`.
    public static let defaultMaxForks = 1024
    /// Default `--maxframesize`: 1 MiB, as websocketd 0.5.
    public static let defaultMaxFrameBytes = 1_048_576

    /// Creates the options of a command line that gives no flags and no command.
    public init() {
        port = nil
        addresses = []
        unixSocket = nil
        reusePort = false
        framing = .line
        passEnv = Options.defaultPassEnv
        dir = nil
        staticDir = nil
        cgiDir = nil
        devConsole = false
        sameOrigin = false
        origins = []
        ssl = false
        sslCert = nil
        sslKey = nil
        sslCA = nil
        redirPort = nil
        metrics = nil
        maxForks = Options.defaultMaxForks
        maxFrameBytes = Options.defaultMaxFrameBytes
        closeMilliseconds = 0
        pingMilliseconds = 0
        headers = []
        headersWS = []
        headersHTTP = []
        passStderr = false
        pty = nil
        reverseLookup = false
        logLevel = .access
        logFormat = .text
        subprotocols = []
        permessageDeflate = false
        command = []
        explicitFlags = []
    }

    /// The TCP port to bind: the one given, else 443 with `--ssl`, else 80.
    public var effectivePort: Int {
        port ?? (ssl ? 443 : 80)
    }

    /// Whether to open TCP listeners: not when `--unixsocket` is the only listening flag, as
    /// websocketd 0.5 does (no `--port`, `--address` or `--redirport`).
    public var listensOnTCP: Bool {
        unixSocket == nil || port != nil || !addresses.isEmpty || redirPort != nil
    }
}

extension Options {
    /// Refuses a flag that parses but whose feature is not built yet.
    ///
    /// Every flag name the parser knows, without dashes, in `--help` order (`help` and
    /// `version` included), so a caller can build the `supported` set.
    public static var allFlagNames: [String] {
        OptionFlag.allCases.map(\.rawValue)
    }
}

extension HeaderField {
    /// Response headers wsbridge writes itself; a second copy would break the message framing
    /// (RFC 9112 §6.3) or the handshake (RFC 6455 §4.2.2).
    static let reservedNames: Set<String> = [
        "content-length", "transfer-encoding", "connection", "upgrade", "sec-websocket-accept",
        "sec-websocket-protocol", "sec-websocket-extensions", "sec-websocket-version",
    ]

    /// Parses `Name: value` as given to `--header`, `--header-ws` or `--header-http`.
    ///
    /// The name must be a token and the value may hold no control character but tab
    /// (RFC 9110 §5.5), so no flag can inject a CR LF into a response. Exit 1 otherwise.
    public init(parsing text: String, flag: String) throws(UsageError) {
        let shown = "--\(flag)=\"\(text)\""
        guard let colon = text.firstIndex(of: ":") else {
            throw .configuration("\(shown) is not \"Name: value\"")
        }
        let name = text[..<colon]
        guard CLISyntax.isToken(name) else {
            throw .configuration("\(shown): the name before \":\" must be a token, as X-Powered-By")
        }
        guard !Self.reservedNames.contains(name.lowercased()) else {
            throw .configuration("\(shown): wsbridge sets \(name) itself; drop this header")
        }
        let value = CLISyntax.trimmed(text[text.index(after: colon)...])
        guard value.unicodeScalars.allSatisfy({ $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7F) }) else {
            throw .configuration("\(shown): the value holds a control character; remove it")
        }
        self.init(name: String(name), value: String(value))
    }
}

extension ListenAddress {
    /// Parses an `--address` value: a host name, an IPv4 literal, or an IPv6 literal in
    /// brackets (`[::1]`, RFC 3986 §3.2.2) or bare (`::1`, accepted since it is unambiguous).
    ///
    /// A single colon means a port was glued on (`127.0.0.1:8080`), which websocketd would
    /// have turned into a bad listen address; exit 1 with the fix.
    public init(parsing text: String) throws(UsageError) {
        let shown = "--address=\(text)"
        if text.hasPrefix("[") {
            guard text.hasSuffix("]"), text.utf8.count > 2 else {
                throw .configuration("\(shown) needs a closing bracket, as --address=[::1]")
            }
            let inner = text.dropFirst().dropLast()
            guard CLISyntax.isIPv6Literal(inner) else {
                throw .configuration("\(shown) is not an IPv6 address inside brackets")
            }
            self.init(host: String(inner))
            return
        }
        let colons = text.utf8.count(where: { $0 == UInt8(ascii: ":") })
        if colons == 1 {
            throw .configuration("\(shown) holds a port; give it as --port, and put IPv6 in brackets")
        }
        if colons > 1 {
            guard CLISyntax.isIPv6Literal(text[...]) else {
                throw .configuration("\(shown) is not an IPv6 address")
            }
            self.init(host: text)
            return
        }
        guard !text.isEmpty, text.utf8.allSatisfy(CLISyntax.isHostNameByte) else {
            throw .configuration("\(shown) is not a host name or IP address")
        }
        self.init(host: text)
    }
}

/// Character classes the command line checks values against.
enum CLISyntax {
    /// RFC 9110 §5.6.2: token = 1*tchar.
    static func isToken(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "A")...UInt8(ascii: "Z"):
                true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"),
                 UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
                 UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                true
            default:
                false
            }
        }
    }

    /// Letters, digits, `-`, `.` and `_`: enough for host names and IPv4 literals.
    static func isHostNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    /// A lexical check only (hex digits, colons, dots for an embedded IPv4, and a `%zone`);
    /// the listener's `inet_pton` has the final word.
    static func isIPv6Literal(_ text: Substring) -> Bool {
        let parts = text.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = parts.first, address.contains(":") else { return false }
        if parts.count == 2, !parts[1].utf8.allSatisfy(isHostNameByte) || parts[1].isEmpty { return false }
        return address.utf8.allSatisfy { byte in
            byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".") || byte.isASCIIHexDigit
        }
    }

    /// Removes spaces and tabs at both ends (RFC 9110 §5.6.3: OWS).
    static func trimmed(_ text: Substring) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = text.firstIndex(where: { !isSpace($0) }),
              let end = text.lastIndex(where: { !isSpace($0) }) else { return text[text.endIndex...] }
        return text[start...end]
    }
}

extension UInt8 {
    fileprivate var isASCIIHexDigit: Bool {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
             UInt8(ascii: "A")...UInt8(ascii: "F"):
            true
        default:
            false
        }
    }
}
