import Foundation
import Glibc

/// How a process ended.
enum ProcessExit: Equatable, CustomStringConvertible {
    /// It called exit with this status.
    case exited(Int32)
    /// A signal with this number ended it.
    case signalled(Int32)

    /// Human-readable form for failure messages.
    var description: String {
        switch self {
        case .exited(let status): "exit \(status)"
        case .signalled(let signal): "signal \(signal)"
        }
    }
}

/// Paths of the package, the wsbridge binary and the test fixtures.
enum TestPaths {
    /// The package root, found from this file's path (Tests/WSBridgeIntegrationTests/Support/…).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The server binary `swift test` builds; `WSBRIDGE_BINARY` overrides it (e.g. a release build).
    static var binary: String {
        if let override = ProcessInfo.processInfo.environment["WSBRIDGE_BINARY"], !override.isEmpty { return override }
        return packageRoot.appendingPathComponent(".build/debug/wsbridge").path
    }

    /// The absolute path of fixture script `name`.
    static func fixture(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/WSBridgeIntegrationTests/Fixtures/\(name)").path
    }
}

/// One running `wsbridge` under test: started on 127.0.0.1 with `--port=0`, its stderr drained
/// all the time, stopped with SIGTERM then SIGKILL.
final class ServerProcess: @unchecked Sendable {
    /// How long startup may take before `start` gives up.
    static let startupTimeout: Duration = .seconds(15)
    /// How long `stop` waits after SIGTERM: the longest teardown ladder plus one second (SPEC §3), plus slack.
    static let stopTimeout: Duration = .seconds(5)

    /// The port the server said it listens on.
    let port: UInt16
    /// The arguments it was started with.
    let arguments: [String]
    private let process: Process
    private let stderr: OutputCollector
    private let stdout: OutputCollector

    private init(port: UInt16, arguments: [String], process: Process, stderr: OutputCollector, stdout: OutputCollector) {
        self.port = port
        self.arguments = arguments
        self.process = process
        self.stderr = stderr
        self.stdout = stdout
    }

    /// Everything the server logged so far.
    var stderrText: String { stderr.text }

    /// The server's process id.
    var pid: pid_t { process.processIdentifier }

    /// Starts `wsbridge --port=0 --address=127.0.0.1 FLAGS COMMAND...` and waits for the log line
    /// with its URL.
    static func start(flags: [String] = [], command: [String], timeout: Duration = startupTimeout) throws -> ServerProcess {
        let arguments = ["--port=0", "--address=127.0.0.1"] + flags + command
        let stderr = try OutputCollector()
        let stdout = try OutputCollector()
        let process = try launch(arguments: arguments, stdout: stdout, stderr: stderr)
        let regex = #/ws://127\.0\.0\.1:([0-9]+)/#
        var port: UInt16?
        let announced = Deadline.poll(for: timeout) {
            if let match = stderr.text.firstMatch(of: regex), let value = UInt16(match.1), value != 0 {
                port = value
                return true
            }
            return !process.isRunning
        }
        guard announced, let port else {
            let log = stderr.text
            if process.isRunning { process.terminate() }
            _ = waitForExit(process, timeout: .seconds(2))
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            stderr.stop()
            stdout.stop()
            throw ServerError.didNotStart(arguments: arguments, log: log)
        }
        return ServerProcess(port: port, arguments: arguments, process: process, stderr: stderr, stdout: stdout)
    }

    /// Runs `wsbridge ARGUMENTS` and wires its stdout and stderr to the collectors.
    static func launch(arguments: [String], stdout: OutputCollector, stderr: OutputCollector) throws -> Process {
        let binary = TestPaths.binary
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ServerError.binaryMissing(binary)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout.writeHandle
        process.standardError = stderr.writeHandle
        defer {
            stdout.closeWriteEnd()
            stderr.closeWriteEnd()
        }
        try process.run()
        return process
    }

    /// Polls until `process` has exited; returns how it ended, or nil on timeout.
    static func waitForExit(_ process: Process, timeout: Duration) -> ProcessExit? {
        guard Deadline.poll(for: timeout, until: { !process.isRunning }) else { return nil }
        switch process.terminationReason {
        case .exit: return .exited(process.terminationStatus)
        case .uncaughtSignal: return .signalled(process.terminationStatus)
        @unknown default: return .exited(process.terminationStatus)
        }
    }

    /// Sends `signal` to the server process only.
    func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for the server to exit on its own; nil on timeout.
    func waitForExit(timeout: Duration) -> ProcessExit? {
        Self.waitForExit(process, timeout: timeout)
    }

    /// Stops the server: SIGTERM, then SIGKILL after `timeout`. Returns how it ended
    /// (`signalled(9)` means it ignored SIGTERM for the whole `timeout`).
    @discardableResult
    func stop(timeout: Duration = ServerProcess.stopTimeout) -> ProcessExit? {
        defer {
            // Give the log a moment to reach us, then let the drain threads go.
            stderr.waitUntilFinished(timeout: .milliseconds(200))
            stderr.stop()
            stdout.stop()
        }
        if process.isRunning { signal(SIGTERM) }
        if let exit = waitForExit(timeout: timeout) { return exit }
        signal(SIGKILL)
        return waitForExit(timeout: .seconds(5))
    }
}

/// Why the server under test could not be used.
enum ServerError: Error, CustomStringConvertible {
    /// The binary is not there: build it first (`swift build`), or set WSBRIDGE_BINARY.
    case binaryMissing(String)
    /// The server exited or stayed silent instead of announcing its URL.
    case didNotStart(arguments: [String], log: String)
    /// The test body failed; the server log is attached for diagnosis.
    case sessionFailed(underlying: any Error, log: String)

    /// Human-readable form for test failure output.
    var description: String {
        switch self {
        case .binaryMissing(let path): "wsbridge binary not found at \(path); run `swift build` first"
        case .didNotStart(let arguments, let log): "wsbridge \(arguments.joined(separator: " ")) did not announce a port; its stderr:\n\(log)"
        case .sessionFailed(let error, let log): "\(error)\n--- wsbridge stderr ---\n\(log)"
        }
    }
}

/// Starts a server running `command` with `flags`, runs `body` against it, and always stops it.
/// A failure in `body` is rethrown with the server's log attached.
func withServer<Result>(
    flags: [String] = [],
    command: [String],
    _ body: (ServerProcess) async throws -> Result
) async throws -> Result {
    let server = try ServerProcess.start(flags: flags, command: command)
    let result: Result
    do {
        result = try await body(server)
    } catch {
        server.stop()
        throw ServerError.sessionFailed(underlying: error, log: server.stderrText)
    }
    server.stop()
    return result
}
