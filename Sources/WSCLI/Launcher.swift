import Foundation
import WSPlatform
import WSBridging
import WSServer
import WSTLS

/// Everything `main` does between parsing the command line and exiting, where tests reach it:
/// the server's configuration from the options (SPEC §1's startup errors), the spawner pool, the
/// listeners, the startup line with the URL to open, and the drain after SIGTERM (SPEC §3).
public enum Launcher {
    /// What the command line asks for.
    public enum Request: Sendable, Equatable {
        /// Print this text (`--help`, `--version`) on stdout and exit 0.
        case print(String)
        /// Run the server with these options.
        case run(Options)
    }

    /// Parses the arguments after the program name.
    public static func parse(_ arguments: [String]) throws(UsageError) -> Request {
        switch try OptionParser.parse(arguments) {
        case .help(let text), .version(let text):
            return .print(text)
        case .run(let options):
            return .run(options)
        }
    }

    /// The server's configuration: COMMAND resolved in PATH (SPEC §1), `--dir`, `--staticdir` and
    /// `--cgidir` opened, `--origin` checked. Each failure is one line and its exit status.
    public static func configuration(for options: Options, environment: [String: String],
                                     currentDirectory: String) throws(UsageError) -> ServerConfiguration {
        let command: ServerConfiguration.Command
        if let dir = options.dir {
            command = .directory(try open(dir, flag: "dir") { path throws(ConfinedDirectory.OpenError) in try ScriptRouter(directory: path) })
        } else {
            let executable = try CommandResolver.resolve(options.command[0], path: environment["PATH"], currentDirectory: currentDirectory)
            command = .single(executable: executable, arguments: Array(options.command.dropFirst()))
        }
        var passwords: PasswordFile?
        if let path = options.basicAuth {
            do {
                passwords = try PasswordFile(path: path)
            } catch {
                throw configurationError("wsbridge: " + error.message)
            }
        }
        let access = AccessPolicy(token: try accessToken(for: options), passwords: passwords)
        // SPEC §11: with any check on, a page on another site must not drive the tool with the
        // user's cookie or cached credentials (cross-site WebSocket hijacking, CWE-1385).
        var authCommand: ServerConfiguration.AuthCommand?
        if let program = options.authCommand {
            do {
                let executable = try CommandResolver.resolve(program, path: environment["PATH"], currentDirectory: currentDirectory)
                authCommand = ServerConfiguration.AuthCommand(executable: executable, arguments: [])
            } catch {
                let reason = error.message.hasPrefix("wsbridge: ") ? String(error.message.dropFirst(10)) : error.message
                throw configurationError("wsbridge: --authcmd=\(program): \(reason)")
            }
        }
        let checksAccess = access.isEnabled || authCommand != nil
        let originPolicy = OriginPolicy(sameOrigin: options.sameOrigin || (checksAccess && options.origins.isEmpty),
                                        allowedOrigins: options.origins)
        if let invalid = originPolicy.invalidEntries.first {
            throw configurationError("wsbridge: --origin entry \"\(invalid)\" is not host[:port] or scheme://host[:port]")
        }
        var configuration = ServerConfiguration(
            command: command, framing: options.framing,
            maxMessageBytes: options.maxFrameBytes, closeMilliseconds: options.closeMilliseconds,
            passEnv: options.passEnv, parentEnvironment: environment)
        if let staticDir = options.staticDir {
            configuration.staticFiles = try open(staticDir, flag: "staticdir") { path throws(ConfinedDirectory.OpenError) in
                try StaticFiles(directory: path)
            }
        }
        if let cgiDir = options.cgiDir {
            configuration.cgiScripts = try open(cgiDir, flag: "cgidir") { path throws(ConfinedDirectory.OpenError) in
                try ScriptRouter(directory: path)
            }
        }
        configuration.maxChildren = options.maxForks
        configuration.access = access
        configuration.authCommand = authCommand
        configuration.trustedProxies = options.trustedProxies
        configuration.basePath = options.basePath
        configuration.maxSessionsPerAddress = options.maxSessionsPerAddress
        configuration.sharing = options.broadcast ? .broadcast : options.sessions ? .named : nil
        configuration.lingerMilliseconds = options.lingerSeconds * 1000
        configuration.clientQueueBytes = options.clientQueueBytes
        configuration.passesStderr = options.passStderr
        configuration.terminal = options.pty
        configuration.subprotocols = options.subprotocols
        configuration.deflate = options.permessageDeflate ? .standard : nil
        configuration.devConsole = options.devConsole
        configuration.originPolicy = originPolicy
        configuration.reverseLookup = options.reverseLookup
        configuration.pingMilliseconds = options.pingMilliseconds
        // Test-only, like WSBRIDGE_INTERNAL_STATUS_FROM_SPAWNER: the suite cannot wait a minute for the CGI deadline.
        if let milliseconds = environment["WSBRIDGE_INTERNAL_CGI_TIMEOUT_MS"].flatMap({ Int($0) }), milliseconds > 0 {
            configuration.cgiTimeoutMilliseconds = milliseconds
        }
        if let milliseconds = environment["WSBRIDGE_INTERNAL_FLUSH_STALL_MS"].flatMap({ Int($0) }), milliseconds > 0 {
            configuration.flushStallMilliseconds = milliseconds
        }
        // Test-only as well: the TLS tests drop clients that stall mid-handshake (SPEC §10) without
        // waiting the whole 10 s request-head deadline (SPEC §5).
        if let milliseconds = environment["WSBRIDGE_INTERNAL_HEAD_TIMEOUT_MS"].flatMap({ Int($0) }), milliseconds > 0 {
            configuration.headTimeoutMilliseconds = milliseconds
        }
        if options.ssl, let certificate = options.sslCert, let key = options.sslKey {
            do {
                configuration.tls = TLSContextStore(try TLSContext.load(TLSFiles(certificate: certificate, key: key, clientCA: options.sslCA)))
            } catch {
                throw configurationError(error.message)
            }
        }
        for header in options.headers + options.headersWS {
            configuration.webSocketHeaders.add(name: header.name, value: header.value)
        }
        for header in options.headers + options.headersHTTP {
            configuration.plainHTTPHeaders.add(name: header.name, value: header.value)
        }
        return configuration
    }

    /// `--token` (SPEC §11): 128 random bits as 32 hex digits, or `--tokenfile`'s content
    /// (URL-safe characters, at least 16 of them, surrounding whitespace ignored).
    static func accessToken(for options: Options) throws(UsageError) -> [UInt8]? {
        if let path = options.tokenFile {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw configurationError("wsbridge: --tokenfile=\(path): cannot read it")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let urlSafe = token.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._~".unicodeScalars.contains($0)) }
            guard token.count >= 16, urlSafe else {
                throw configurationError("wsbridge: --tokenfile=\(path): the token must be at least 16 characters of A-Z a-z 0-9 - . _ ~")
            }
            return Array(token.utf8)
        }
        guard options.token else { return nil }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Array(bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined().utf8)
    }

    /// What the startup line tells the user to open: a page when one is served (`--devconsole`,
    /// `--staticdir`), the WebSocket URL otherwise; `localhost` for a wildcard address.
    public static func startupURLs(for addresses: [SocketAddress], servesPages: Bool, isTLS: Bool = false,
                                   token: [UInt8]? = nil) -> [String] {
        addresses.map { address in
            if let path = address.unixPath { return "unix:\(path)" }
            let isWildcard = address.host.isEmpty || address.host == "::" || address.host == "0.0.0.0"
            let shown = isWildcard ? "localhost:\(address.port)" : address.description
            let scheme = servesPages ? (isTLS ? "https://" : "http://") : (isTLS ? "wss://" : "ws://")
            return scheme + shown + "/" + (token.map { "?token=" + String(decoding: $0, as: UTF8.self) } ?? "")
        }
    }

    /// Runs the server until a signal ends it and its sessions drained; returns the exit status
    /// (SPEC §1: 0 after a clean shutdown, 1 a bad configuration, 3 a listener that cannot open).
    public static func run(_ options: Options) -> Int32 {
        let environment = ProcessInfo.processInfo.environment
        let configuration: ServerConfiguration
        do {
            configuration = try Self.configuration(for: options, environment: environment,
                                                    currentDirectory: FileManager.default.currentDirectoryPath)
        } catch {
            return report(error)
        }
        let logger = Logger(level: options.logLevel, format: options.logFormat)
        // SPEC §15: sockets a service manager passed replace --port and --address. The variables
        // describe this process's fds: no spawner or child inherits them.
        let activation: SocketActivation?
        do {
            activation = try SocketActivation.parse(environment: environment, pid: getpid())
        } catch {
            FileHandle.standardError.write(Data(("wsbridge: socket activation: " + error.message + "\n").utf8))
            return UsageError.badConfigurationStatus
        }
        for name in SocketActivation.variableNames { unsetenv(name) }
        ShutdownSignals.install()
        Syscalls.raiseOpenFileLimit()
        Syscalls.closeFileDescriptorsAboveLimit()
        // The first spawner process, started now while this process has few fds open; the pool
        // adds more while spawns queue (see SpawnerPool).
        let spawners: SpawnerPool
        do {
            spawners = try SpawnerPool(executable: ownExecutable(environment: environment),
                                       closeMilliseconds: options.closeMilliseconds, logger: logger)
        } catch {
            FileHandle.standardError.write(Data(("wsbridge: " + error.message + "\n").utf8))
            return UsageError.badConfigurationStatus
        }
        let server = Server(context: ServerContext(configuration: configuration, logger: logger))
        do {
            try server.listen(hosts: options.addresses, port: options.listensOnTCP ? options.effectivePort : nil,
                              unixSocket: options.unixSocket, redirectPort: options.redirPort,
                              metrics: options.metrics.map { ($0.host, $0.port) }, inherited: activation?.fds ?? [],
                              reusePort: options.reusePort)
        } catch {
            FileHandle.standardError.write(Data((error.message + "\n").utf8))
            return 3
        }
        if options.reusePort && activation == nil && Syscalls.migratesQueuedConnections() == false {
            // Without it, connections already queued at this listener when it closes are reset.
            logger.log(.info, "--reuseport: net.ipv4.tcp_migrate_req is 0, so a restart can reset the few connections queued at the old instance when it closes; set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1)")
        }
        server.start(spawners: spawners)
        // Before the startup line: a supervisor that reloads as soon as the line appears must not
        // find SIGHUP's default action (ending the server) still in place.
        if configuration.tls != nil || configuration.access.passwords != nil { ShutdownSignals.installReload() }
        announce(server, options: options, token: configuration.access.token, logger: logger)
        while ShutdownSignals.waitForRequest() == .reload {
            reloadTLS(configuration.tls, logger: logger)
            reloadPasswords(configuration.access.passwords, logger: logger)
        }
        drain(server, closeMilliseconds: options.closeMilliseconds, isTerminal: options.pty != nil, logger: logger)
        spawners.releaseFinishedGroups()
        return 0
    }

    /// Prints a usage error (and the usage text when it asks for it); returns its exit status.
    public static func report(_ error: UsageError) -> Int32 {
        FileHandle.standardError.write(Data((error.message + "\n").utf8))
        if error.showsUsage { FileHandle.standardError.write(Data((HelpText.usage + "\n").utf8)) }
        return error.exitCode
    }

    // MARK: Parts

    private static func configurationError(_ message: String) -> UsageError {
        UsageError(message: message, exitCode: UsageError.badConfigurationStatus)
    }

    /// Opens a directory flag's value, turning a failure into its startup error.
    private static func open<T>(_ path: String, flag: String,
                                _ opener: (String) throws(ConfinedDirectory.OpenError) -> T) throws(UsageError) -> T {
        do {
            return try opener(path)
        } catch {
            throw configurationError("wsbridge: --\(flag)=\(path): \(error.message)")
        }
    }

    /// This program's own file, which the spawners run: argv[0] as the shell found it (under
    /// valgrind /proc/self/exe names valgrind), else the kernel's link.
    private static func ownExecutable(environment: [String: String]) -> String {
        (try? CommandResolver.resolve(CommandLine.arguments[0], path: environment["PATH"],
                                      currentDirectory: FileManager.default.currentDirectoryPath))
            ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// SPEC §1: one log line says every address listened on, with the URL to open.
    private static func announce(_ server: Server, options: Options, token: [UInt8]?, logger: Logger) {
        let urls = startupURLs(for: server.boundAddresses, servesPages: options.devConsole || options.staticDir != nil,
                               isTLS: server.servesTLS, token: token)
        logger.log(.info, "listening on \(server.boundAddresses.map(\.description).joined(separator: ", ")); open \(urls.joined(separator: " "))",
                   ["command": options.dir.map { "--dir=\($0)" } ?? options.command.joined(separator: " "),
                    "framing": options.framing.rawValue])
        if !server.redirectAddresses.isEmpty {
            logger.log(.info, "redirecting plain HTTP on \(server.redirectAddresses.map(\.description).joined(separator: ", ")) to https")
        }
        // After the startup line, whose URL is the one to open (tools read the first URL logged).
        if let metrics = server.metricsAddress {
            logger.log(.info, "metrics on http://\(metrics.description)/metrics and /healthz")
        }
        // The startup line is the one thing a user must see, whatever --loglevel says.
        if !logger.isEnabled(.info) {
            FileHandle.standardError.write(Data("wsbridge listening; open \(urls.joined(separator: " "))\n".utf8))
        }
    }

    /// SPEC §11: SIGHUP reads the htpasswd file again; a file that fails to load keeps the users
    /// loaded before.
    private static func reloadPasswords(_ passwords: PasswordFile?, logger: Logger) {
        guard let passwords else { return }
        do {
            try passwords.reload()
            logger.log(.info, "reloaded the --basicauth file")
        } catch {
            logger.log(.error, "--basicauth reload failed; keeping the users loaded before", ["error": error.message])
        }
    }

    /// SPEC §10: SIGHUP reads the TLS files again; new handshakes use them, open sessions keep
    /// theirs, and files that fail to load leave the old ones in use.
    private static func reloadTLS(_ store: TLSContextStore?, logger: Logger) {
        guard let store else { return }
        do {
            try store.reload()
            logger.log(.info, "reloaded the TLS certificate, key and CA files")
        } catch {
            let reason = error.message.hasPrefix("wsbridge: ") ? String(error.message.dropFirst(10)) : error.message
            logger.log(.error, "TLS reload failed; keeping the files loaded before", ["error": reason])
        }
    }

    /// SPEC §3: after the first signal, every session gets 1001 and its ladder; the server waits
    /// for them at most the ladder's length plus a second; a second signal ends it at once.
    private static func drain(_ server: Server, closeMilliseconds: Int, isTerminal: Bool, logger: Logger) {
        logger.log(.info, "shutting down", ["sessions": String(server.liveSessions)])
        server.beginShutdown()
        let ladderMilliseconds = Teardown.ladder(closeMilliseconds: closeMilliseconds, isTerminal: isTerminal)
            .dropLast().reduce(0) { $0 + $1.waitMilliseconds }
        let deadline = Syscalls.monotonicNanoseconds() + UInt64(ladderMilliseconds + 1_000) * 1_000_000
        while server.liveSessions > 0 && Syscalls.monotonicNanoseconds() < deadline {
            if ShutdownSignals.wait(milliseconds: 10) {
                logger.log(.info, "second signal: exiting now")
                server.killRemainingChildGroups()
                server.removeUnixSocketFiles()
                return
            }
        }
        if server.liveSessions > 0 {
            logger.log(.error, "sessions still open after the shutdown deadline; ending their children",
                       ["sessions": String(server.liveSessions)])
            server.killRemainingChildGroups()
        }
        server.removeUnixSocketFiles()
    }
}
