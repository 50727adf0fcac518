import Foundation
import WSBridgeCore

// The spawner process is this same program started with an internal argument and --closems
// (see Spawner).
if CommandLine.arguments.count == 3 && CommandLine.arguments[1] == SpawnerProcess.argument {
    ShutdownSignals.clearInheritedMask()
    SpawnerProcess.run(socketFD: 0, closeMilliseconds: Int(CommandLine.arguments[2]) ?? 0)
}

/// Flags whose features exist; any other flag the user sets is refused with "not supported yet".
let supportedFlags: Set<String> = [
    "help", "version", "port", "address", "binary", "framing", "passenv", "maxframesize", "closems",
    "loglevel", "log-format", "maxforks", "passstderr", "header", "header-ws", "header-http", "subprotocol",
    "pingms", "unixsocket", "dir", "staticdir", "devconsole", "sameorigin", "origin", "cgidir", "reverselookup",
]

func exitWithUsageError(_ error: UsageError) -> Never {
    FileHandle.standardError.write(Data((error.message + "\n").utf8))
    if error.showsUsage { FileHandle.standardError.write(Data((HelpText.usage + "\n").utf8)) }
    exit(error.exitCode)
}

let options: Options
do {
    switch try OptionParser.parse(Array(CommandLine.arguments.dropFirst())) {
    case .help(let text):
        print(text)
        exit(0)
    case .version(let text):
        print(text)
        exit(0)
    case .run(let parsed):
        try parsed.refuseUnsupported(supported: supportedFlags)
        options = parsed
    }
} catch {
    exitWithUsageError(error)
}

let environment = ProcessInfo.processInfo.environment

/// Prints a startup error (one line that says what to change) and exits with the usage status.
func exitWithConfigurationError(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(1)
}

let command: ServerConfiguration.Command
if let dir = options.dir {
    do {
        command = .directory(try ScriptRouter(directory: dir))
    } catch {
        exitWithConfigurationError("wsbridge: --dir=\(dir): \(error.message)")
    }
} else {
    do {
        let executable = try CommandResolver.resolve(
            options.command[0], path: environment["PATH"], currentDirectory: FileManager.default.currentDirectoryPath)
        command = .single(executable: executable, arguments: Array(options.command.dropFirst()))
    } catch {
        exitWithUsageError(error)
    }
}
var staticFiles: StaticFiles?
if let staticDir = options.staticDir {
    do {
        staticFiles = try StaticFiles(directory: staticDir)
    } catch {
        exitWithConfigurationError("wsbridge: --staticdir=\(staticDir): \(error.message)")
    }
}
var cgiScripts: ScriptRouter?
if let cgiDir = options.cgiDir {
    do {
        cgiScripts = try ScriptRouter(directory: cgiDir)
    } catch {
        exitWithConfigurationError("wsbridge: --cgidir=\(cgiDir): \(error.message)")
    }
}
let originPolicy = OriginPolicy(sameOrigin: options.sameOrigin, allowedOrigins: options.origins)
if let invalid = originPolicy.invalidEntries.first {
    exitWithConfigurationError("wsbridge: --origin entry \"\(invalid)\" is not host[:port] or scheme://host[:port]")
}

let logger = Logger(level: options.logLevel, format: options.logFormat)
ShutdownSignals.install()
Syscalls.raiseOpenFileLimit()
Syscalls.closeFileDescriptorsAboveLimit()

var configuration = ServerConfiguration(
    command: command, framing: options.framing,
    maxMessageBytes: options.maxFrameBytes, closeMilliseconds: options.closeMilliseconds,
    passEnv: options.passEnv, parentEnvironment: environment)
configuration.maxChildren = options.maxForks
configuration.passesStderr = options.passStderr
configuration.subprotocols = options.subprotocols
configuration.staticFiles = staticFiles
configuration.cgiScripts = cgiScripts
configuration.devConsole = options.devConsole
configuration.originPolicy = originPolicy
configuration.reverseLookup = options.reverseLookup
configuration.pingMilliseconds = options.pingMilliseconds
// Test-only, like WSBRIDGE_INTERNAL_NO_PROC_STATUS: the suite cannot wait a minute for the CGI deadline.
if let milliseconds = environment["WSBRIDGE_INTERNAL_CGI_TIMEOUT_MS"].flatMap({ Int($0) }), milliseconds > 0 {
    configuration.cgiTimeoutMilliseconds = milliseconds
}
for header in options.headers + options.headersWS {
    configuration.webSocketHeaders.add(name: header.name, value: header.value)
}
for header in options.headers + options.headersHTTP {
    configuration.plainHTTPHeaders.add(name: header.name, value: header.value)
}
// The first spawner process, started now while this process has few fds open; the pool adds
// more while spawns queue (see SpawnerPool).
let spawners: SpawnerPool
do {
    // This program's own file: argv[0] as the shell found it (under valgrind /proc/self/exe
    // names valgrind), else the kernel's link.
    let executablePath = (try? CommandResolver.resolve(
        CommandLine.arguments[0], path: environment["PATH"], currentDirectory: FileManager.default.currentDirectoryPath))
        ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    spawners = try SpawnerPool(executable: executablePath, closeMilliseconds: options.closeMilliseconds, logger: logger)
} catch {
    FileHandle.standardError.write(Data(("wsbridge: " + error.message + "\n").utf8))
    exit(1)
}
let context = ServerContext(configuration: configuration, logger: logger)
let server = Server(context: context)
do {
    try server.listen(hosts: options.addresses, port: options.listensOnTCP ? options.effectivePort : nil,
                      unixSocket: options.unixSocket)
} catch {
    FileHandle.standardError.write(Data((error.message + "\n").utf8))
    exit(3)
}
server.start(spawners: spawners)

let urls = server.boundAddresses.map { address -> String in
    if let path = address.unixPath { return "unix:\(path)" }
    let host = address.host.isEmpty || address.host == "::" || address.host == "0.0.0.0" ? "localhost" : address.description
    let shown = host == "localhost" ? "localhost:\(address.port)" : host
    // A page to open in a browser when one is served, the WebSocket URL otherwise.
    return (options.devConsole || options.staticDir != nil ? "http://" : "ws://") + shown + "/"
}
logger.log(.info, "listening on \(server.boundAddresses.map(\.description).joined(separator: ", ")); open \(urls.joined(separator: " "))",
           ["command": options.dir.map { "--dir=\($0)" } ?? options.command.joined(separator: " "),
            "framing": options.framing.rawValue])
// The startup line is the one thing a user must see, whatever --loglevel says.
if !logger.isEnabled(.info) {
    FileHandle.standardError.write(Data("wsbridge listening; open \(urls.joined(separator: " "))\n".utf8))
}

ShutdownSignals.wait()
logger.log(.info, "shutting down", ["sessions": String(server.liveSessions)])
server.beginShutdown()
let ladderMilliseconds = Teardown.ladder(closeMilliseconds: options.closeMilliseconds)
    .dropLast().reduce(0) { $0 + $1.waitMilliseconds }
let deadline = Syscalls.monotonicNanoseconds() + UInt64(ladderMilliseconds + 1_000) * 1_000_000
while server.liveSessions > 0 && Syscalls.monotonicNanoseconds() < deadline {
    if ShutdownSignals.wait(milliseconds: 10) {
        logger.log(.info, "second signal: exiting now")
        server.killRemainingChildGroups()
        server.removeUnixSocketFiles()
        exit(0)
    }
}
if server.liveSessions > 0 {
    logger.log(.error, "sessions still open after the shutdown deadline; ending their children", ["sessions": String(server.liveSessions)])
    server.killRemainingChildGroups()
}
server.removeUnixSocketFiles()
exit(0)
