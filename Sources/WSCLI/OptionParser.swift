import WSProtocol
import WSBridging
import WSServer

/// What the command line asks for: run a server, or print help or the version and exit 0.
public enum ParsedCommandLine: Sendable, Equatable {
    /// Run with these options.
    case run(Options)
    /// Print this text (every flag) on stdout and exit 0.
    case help(String)
    /// Print this line (`wsbridge VERSION`) on stdout and exit 0.
    case version(String)
}

/// Every flag wsbridge accepts, named as on the command line without its dashes.
///
/// The declaration order is the order of `--help` and of `Options.refuseUnsupported`.
enum OptionFlag: String, CaseIterable, Sendable {
    case port, address
    case unixSocket = "unixsocket"
    case reusePort = "reuseport"
    case framing, binary
    case passEnv = "passenv"
    case dir
    case staticDir = "staticdir"
    case cgiDir = "cgidir"
    case devConsole = "devconsole"
    case sameOrigin = "sameorigin"
    case origin, ssl
    case sslCert = "sslcert"
    case sslKey = "sslkey"
    case sslCA = "sslca"
    case redirPort = "redirport"
    case basicAuth = "basicauth"
    case authCmd = "authcmd"
    case token
    case tokenFile = "tokenfile"
    case trustedProxy = "trustedproxy"
    case basePath = "basepath"
    case maxForks = "maxforks"
    case maxConnsPerIP = "maxconnsperip"
    case broadcast
    case sessions
    case linger
    case clientQueue = "clientqueue"
    case maxFrameSize = "maxframesize"
    case closeMs = "closems"
    case pingMs = "pingms"
    case header
    case headerWS = "header-ws"
    case headerHTTP = "header-http"
    case passStderr = "passstderr"
    case pty
    case reverseLookup = "reverselookup"
    case subprotocol
    case permessageDeflate = "permessage-deflate"
    case metrics
    case logLevel = "loglevel"
    case logFormat = "log-format"
    case help, version

    /// Looks a name up as Go's `flag` does, with `h` as the short name of `help`.
    init?(name: Substring) {
        if name == "h" {
            self = .help
        } else if let flag = OptionFlag(rawValue: String(name)) {
            self = flag
        } else {
            return nil
        }
    }

    /// Whether the flag is a switch: set by its name alone, never taking the next word.
    var isBoolean: Bool {
        switch self {
        // `--pty` too: set by its name alone; `--pty=tty` is its one other value.
        case .reusePort, .binary, .devConsole, .sameOrigin, .ssl, .passStderr, .pty, .reverseLookup, .token,
             .permessageDeflate, .broadcast, .sessions, .help, .version:
            true
        case .port, .address, .unixSocket, .framing, .passEnv, .dir, .staticDir, .cgiDir, .origin,
             .sslCert, .sslKey, .sslCA, .redirPort, .basicAuth, .authCmd, .tokenFile, .trustedProxy, .basePath, .maxForks, .maxConnsPerIP, .maxFrameSize,
             .closeMs, .pingMs, .linger, .clientQueue,
             .header, .headerWS, .headerHTTP, .subprotocol, .metrics, .logLevel, .logFormat:
            false
        }
    }
}

/// Turns `argv` into `Options` with Go `flag` syntax, as websocketd parses it (SPEC.md §1).
public enum OptionParser {
    /// Parses argv without the program name.
    ///
    /// Syntax follows Go's `flag` package: `-x` or `--x`; `--x=v` or `--x v`; a boolean is set
    /// by `--x` and takes a value only after `=` (Go's `strconv.ParseBool` spellings); the
    /// first word that is not a flag (`-` alone included) starts COMMAND and every later word
    /// is its argument; `--` ends the flags. `--help`, `-h` or `-help` returns the help at
    /// once; `--version` returns the version line once every flag has parsed.
    ///
    /// Numbers are decimal only (an optional sign, then digits): Go's base-0 parsing would read
    /// `--closems=0100` as octal 64, a surprise no one wants from a milliseconds flag.
    ///
    /// Exit 2 for an unknown flag, a missing value or a value that is not of the flag's type;
    /// exit 1 for a value outside its range, conflicting flags, no COMMAND and no `--dir`
    /// (with the usage), or both.
    public static func parse(_ arguments: [String]) throws(UsageError) -> ParsedCommandLine {
        var builder = OptionsBuilder()
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let word = arguments[index]
            // Go flag: a word shorter than 2 or not starting with "-" is the first argument.
            guard word.utf8.count >= 2, word.hasPrefix("-") else { break }
            index += 1
            if word == "--" { break }
            let body = word.hasPrefix("--") ? word.dropFirst(2) : word.dropFirst()
            guard let first = body.first, first != "-", first != "=" else {
                throw .syntax("bad flag syntax: \(word)")
            }
            let name: Substring
            let inlineValue: Substring?
            if let equals = body.firstIndex(of: "=") {
                name = body[..<equals]
                inlineValue = body[body.index(after: equals)...]
            } else {
                name = body
                inlineValue = nil
            }
            guard let flag = OptionFlag(name: name) else {
                throw .syntax("unknown flag --\(name); see wsbridge --help")
            }
            // Go flag answers help before looking at any value.
            if flag == .help { return .help(HelpText.full()) }
            if flag == .pty {
                // A switch with one more value: `--pty`, `--pty=tty`, or a boolean after `=`.
                builder.setTerminal(try inlineValue.map { text throws(UsageError) -> TerminalMode? in
                    if text == "tty" { return .tty }
                    guard let isOn = try? parseBool(text, flag: flag) else {
                        throw .syntax("--pty=\(text) is neither tty nor a boolean; use --pty, --pty=tty or --pty=false")
                    }
                    return isOn ? .program : nil
                } ?? .program)
            } else if flag.isBoolean {
                let isOn = try inlineValue.map { text throws(UsageError) in
                    try parseBool(text, flag: flag)
                } ?? true
                builder.set(flag, to: isOn)
            } else if let inlineValue {
                try builder.apply(flag, String(inlineValue))
            } else if index < arguments.endIndex {
                // Go flag: a non-boolean takes the next word whatever it looks like.
                try builder.apply(flag, arguments[index])
                index += 1
            } else {
                throw .syntax("--\(flag.rawValue) needs a value, as --\(flag.rawValue)=\(HelpText.placeholder(flag))")
            }
        }
        if builder.wantsVersion { return .version(WSBridgeVersion.versionLine) }
        return .run(try builder.finish(command: Array(arguments[index...])))
    }

    /// Go's `strconv.ParseBool` spellings; anything else is exit 2, as Go's `flag` does.
    static func parseBool(_ text: Substring, flag: OptionFlag) throws(UsageError) -> Bool {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default:
            throw .syntax("--\(flag.rawValue)=\(text) is not a boolean; use --\(flag.rawValue) or --\(flag.rawValue)=false")
        }
    }
}

/// Collects flag values one at a time, then checks the combination.
struct OptionsBuilder {
    private(set) var options = Options()
    private(set) var wantsVersion = false
    private var isBinary = false
    private var framingGiven: FramingMode?

    /// One day: longer timers are surely a typo, and smaller numbers stay far from overflow
    /// when the lead adds them up into `Duration`s.
    static let maxMilliseconds = 86_400_000

    mutating func set(_ flag: OptionFlag, to isOn: Bool) {
        switch flag {
        case .binary: isBinary = isOn
        case .reusePort: options.reusePort = isOn
        case .devConsole: options.devConsole = isOn
        case .sameOrigin: options.sameOrigin = isOn
        case .ssl: options.ssl = isOn
        case .passStderr: options.passStderr = isOn
        case .reverseLookup: options.reverseLookup = isOn
        case .token: options.token = isOn
        case .permessageDeflate: options.permessageDeflate = isOn
        case .broadcast: options.broadcast = isOn
        case .sessions: options.sessions = isOn
        case .version: wantsVersion = isOn; return
        case .help: preconditionFailure("--help returns before any flag is stored")
        case .pty: setTerminal(isOn ? .program : nil); return
        case .port, .address, .unixSocket, .framing, .passEnv, .dir, .staticDir, .cgiDir, .origin,
             .sslCert, .sslKey, .sslCA, .redirPort, .basicAuth, .authCmd, .tokenFile, .trustedProxy, .basePath, .maxForks, .maxConnsPerIP, .maxFrameSize,
             .closeMs, .pingMs, .linger, .clientQueue,
             .header, .headerWS, .headerHTTP, .subprotocol, .metrics, .logLevel, .logFormat:
            preconditionFailure("--\(flag.rawValue) is not a boolean")
        }
        if isOn {
            options.explicitFlags.insert(flag.rawValue)
        } else {
            options.explicitFlags.remove(flag.rawValue)
        }
    }

    /// `--pty` (`.program`), `--pty=tty` (`.tty`) or `--pty=false` (nil).
    mutating func setTerminal(_ mode: TerminalMode?) {
        options.pty = mode
        if mode != nil {
            options.explicitFlags.insert(OptionFlag.pty.rawValue)
        } else {
            options.explicitFlags.remove(OptionFlag.pty.rawValue)
        }
    }

    mutating func apply(_ flag: OptionFlag, _ value: String) throws(UsageError) {
        options.explicitFlags.insert(flag.rawValue)
        switch flag {
        case .port:
            options.port = try Self.integer(value, flag: flag, in: 0...65535)
        case .redirPort:
            let port = try Self.integer(value, flag: flag, in: 0...65535)
            options.redirPort = port == 0 ? nil : port
        case .metrics:
            // [HOST:]PORT; the host defaults to 127.0.0.1 (SPEC §14), an IPv6 host in brackets.
            var host = "127.0.0.1", portText = Substring(value)
            if let colon = value.lastIndex(of: ":") {
                host = String(value[..<colon])
                portText = value[value.index(after: colon)...]
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                guard !host.isEmpty else { throw .syntax("--metrics=\(value): a host before the colon, as --metrics=127.0.0.1:9090") }
            }
            options.metrics = MetricsAddress(host, try Self.integer(String(portText), flag: flag, in: 0...65535))
        case .maxForks:
            options.maxForks = try Self.integer(value, flag: flag, in: 0...Int.max)
        case .maxConnsPerIP:
            options.maxSessionsPerAddress = try Self.integer(value, flag: flag, in: 0...Int.max)
        case .linger:
            options.lingerSeconds = try Self.integer(value, flag: flag, in: 0...Self.maxMilliseconds / 1000)
        case .clientQueue:
            // At least one read of the child's output (64 KiB) framed, so that one read alone
            // never closes a client that keeps up.
            options.clientQueueBytes = try Self.integer(value, flag: flag, in: Options.minimumClientQueueBytes...Int(Int32.max))
        case .trustedProxy:
            do {
                options.trustedProxies = try TrustedProxies.parse(value)
            } catch {
                throw .configuration("--trustedproxy: \"\(error.entry)\" is not an address, a CIDR range (10.0.0.0/8) or unix")
            }
        case .basePath:
            options.basePath = try Self.basePath(value)
        case .maxFrameSize:
            let bytes = try Self.integer(value, flag: flag, in: 0...Int.max)
            options.maxFrameBytes = bytes == 0 ? nil : bytes
        case .closeMs:
            options.closeMilliseconds = try Self.integer(value, flag: flag, in: 0...Self.maxMilliseconds)
        case .pingMs:
            options.pingMilliseconds = try Self.integer(value, flag: flag, in: 0...Self.maxMilliseconds)
        case .address:
            options.addresses.append(try ListenAddress(parsing: value).host)
        case .unixSocket: options.unixSocket = try Self.path(value, flag: flag)
        case .dir: options.dir = try Self.path(value, flag: flag)
        case .staticDir: options.staticDir = try Self.path(value, flag: flag)
        case .cgiDir: options.cgiDir = try Self.path(value, flag: flag)
        case .sslCert: options.sslCert = try Self.path(value, flag: flag)
        case .sslKey: options.sslKey = try Self.path(value, flag: flag)
        case .sslCA: options.sslCA = try Self.path(value, flag: flag)
        case .tokenFile: options.tokenFile = try Self.path(value, flag: flag)
        case .basicAuth: options.basicAuth = try Self.path(value, flag: flag)
        case .authCmd: options.authCommand = try Self.path(value, flag: flag)
        case .framing:
            let mode = try Self.choice(value, flag: flag, as: FramingMode.self)
            framingGiven = mode
            options.framing = mode
        case .logLevel: options.logLevel = try Self.choice(value, flag: flag, as: LogLevel.self)
        case .logFormat: options.logFormat = try Self.choice(value, flag: flag, as: LogFormat.self)
        case .passEnv: options.passEnv = try Self.environmentNames(value)
        case .origin: options.origins = Self.list(value)
        case .subprotocol: options.subprotocols = try Self.tokens(value, flag: flag)
        case .header: options.headers.append(try HeaderField(parsing: value, flag: flag.rawValue))
        case .headerWS: options.headersWS.append(try HeaderField(parsing: value, flag: flag.rawValue))
        case .headerHTTP: options.headersHTTP.append(try HeaderField(parsing: value, flag: flag.rawValue))
        case .reusePort, .binary, .devConsole, .sameOrigin, .ssl, .passStderr, .pty, .reverseLookup, .token,
             .permessageDeflate, .broadcast, .sessions, .help, .version:
            preconditionFailure("--\(flag.rawValue) is a boolean")
        }
    }

    /// Checks combinations once every flag is known and attaches COMMAND.
    consuming func finish(command: [String]) throws(UsageError) -> Options {
        if isBinary {
            if let framingGiven, framingGiven != .raw {
                throw .configuration("--binary means --framing=raw and conflicts with --framing=\(framingGiven.rawValue); drop one of them")
            }
            options.framing = .raw
        }
        if options.passStderr {
            // websocketd 0.5 tags lines as JSON text, which has no meaning for raw or length framing.
            if isBinary {
                throw .configuration("--passstderr cannot be combined with --binary; drop one of them")
            }
            if options.framing != .line {
                throw .configuration("--passstderr needs --framing=line, not --framing=\(options.framing.rawValue); drop one of them")
            }
        }
        if let pty = options.pty {
            let flag = pty == .tty ? "--pty=tty" : "--pty"
            // SPEC §12: a terminal is one stream; stderr cannot be told from stdout.
            if options.passStderr {
                throw .configuration("\(flag) gives the child one stream for stdout and stderr, so --passstderr cannot tag them; drop one of them")
            }
            // The terminal's line discipline edits its input (^D, ^U, CR to LF): length records'
            // binary headers would not reach the child intact.
            if options.framing == .length {
                throw .configuration("\(flag) cannot carry --framing=length (the terminal edits binary input); use --framing=line or raw")
            }
        }
        try checkTLS()
        if options.broadcast && options.sessions {
            throw .configuration("--broadcast shares one child among all clients and --sessions one per ?session= name; drop one of them")
        }
        if !options.broadcast && !options.sessions {
            for flag in ["linger", "clientqueue"] where options.explicitFlags.contains(flag) {
                throw .configuration("--\(flag) applies to shared children; add --broadcast or --sessions")
            }
        }
        if options.devConsole, options.staticDir != nil || options.cgiDir != nil {
            // websocketd silently ignores --staticdir and --cgidir next to --devconsole.
            throw .configuration("--devconsole answers plain requests itself and cannot be combined with --staticdir or --cgidir")
        }
        switch (command.first, options.dir) {
        case (nil, nil):
            throw .configuration("no COMMAND given; name the program to run, or use --dir=DIR", showsUsage: true)
        case (let program?, _?):
            throw .configuration("give either COMMAND (\(program)) or --dir, not both")
        case (_?, nil), (nil, _?):
            break
        }
        options.command = command
        return options
    }

    private func checkTLS() throws(UsageError) {
        if options.ssl {
            if options.sslCert == nil || options.sslKey == nil {
                throw .configuration("--ssl needs both --sslcert=FILE and --sslkey=FILE")
            }
            if let redirPort = options.redirPort, redirPort == options.effectivePort {
                throw .configuration("--redirport=\(redirPort) is also the TLS port; pick another port for one of them")
            }
        } else {
            for (flag, value) in [(OptionFlag.sslCert, options.sslCert), (.sslKey, options.sslKey), (.sslCA, options.sslCA)]
            where value != nil {
                throw .configuration("--\(flag.rawValue) only makes sense with --ssl; add --ssl or drop it")
            }
            if options.redirPort != nil {
                throw .configuration("--redirport redirects to https and needs --ssl; add --ssl or drop it")
            }
        }
    }

    /// A decimal integer (optional sign, digits): not a number is exit 2, out of range exit 1.
    static func integer(_ text: String, flag: OptionFlag, in range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let number = Int(text) else {
            throw .syntax("--\(flag.rawValue)=\(text) is not a decimal integer")
        }
        guard range.contains(number) else {
            let bound = range.upperBound == Int.max ? "0 or more" : "\(range.lowerBound) to \(range.upperBound)"
            throw .configuration("--\(flag.rawValue)=\(text) is out of range; use \(bound)")
        }
        return number
    }

    static func path(_ text: String, flag: OptionFlag) throws(UsageError) -> String {
        guard !text.isEmpty else {
            throw .configuration("--\(flag.rawValue) needs a path, as --\(flag.rawValue)=\(HelpText.placeholder(flag))")
        }
        return text
    }

    /// One of an enum's raw values, any letter case.
    static func choice<Choice: RawRepresentable & CaseIterable>(
        _ text: String, flag: OptionFlag, as: Choice.Type
    ) throws(UsageError) -> Choice where Choice.RawValue == String {
        if let choice = Choice(rawValue: text.lowercased()) { return choice }
        let names = Choice.allCases.map(\.rawValue).joined(separator: ", ")
        throw .configuration("--\(flag.rawValue)=\(text) is not one of \(names)")
    }

    /// A comma-separated list with spaces around items and empty items dropped.
    static func list(_ text: String) -> [String] {
        text.split(separator: ",").compactMap { item in
            let trimmed = CLISyntax.trimmed(item)
            return trimmed.isEmpty ? nil : String(trimmed)
        }
    }

    static func environmentNames(_ text: String) throws(UsageError) -> [String] {
        var names: [String] = []
        for name in list(text) where !names.contains(name) {
            // POSIX environment names cannot hold "=", and exec cannot pass a NUL.
            guard !name.contains("="), !name.contains("\0"), !name.contains(" ") else {
                throw .configuration("--passenv names variables, and \"\(name)\" is not a variable name")
            }
            names.append(name)
        }
        return names
    }

    /// `--basepath=/PREFIX` (SPEC §11): an absolute path of plain segments, kept without a trailing
    /// slash; "/" alone means no prefix.
    static func basePath(_ text: String) throws(UsageError) -> String? {
        guard text.hasPrefix("/") else {
            throw .configuration("--basepath=\(text) must start with /, as /tools")
        }
        let segments = text.split(separator: "/")
        for segment in segments where segment == "." || segment == ".." || segment.contains("%") || segment.contains("?")
            || segment.contains("#") || !segment.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) {
            throw .configuration("--basepath=\(text): \"\(segment)\" is not a plain path segment")
        }
        return segments.isEmpty ? nil : "/" + segments.joined(separator: "/")
    }

    /// RFC 6455 §4.1: each element of Sec-WebSocket-Protocol is a token (RFC 9110 §5.6.2).
    static func tokens(_ text: String, flag: OptionFlag) throws(UsageError) -> [String] {
        let items = list(text)
        for item in items where !CLISyntax.isToken(item[...]) {
            throw .configuration("--\(flag.rawValue): \"\(item)\" is not a token (letters, digits and !#$%&'*+-.^_`|~)")
        }
        return items
    }
}
