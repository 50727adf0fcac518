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

    /// Whether the server process is still running.
    var isRunning: Bool { process.isRunning }

    /// The server's process id.
    var pid: pid_t { process.processIdentifier }

    /// Starts `wsbridge --port=0 --address=127.0.0.1 FLAGS COMMAND...` and waits for the log line
    /// with its URL. `environment` replaces the test process's environment when given.
    static func start(
        flags: [String] = [], command: [String], environment: [String: String]? = nil, timeout: Duration = startupTimeout
    ) throws -> ServerProcess {
        let arguments = ["--port=0", "--address=127.0.0.1"] + flags + command
        let stderr = try OutputCollector()
        let stdout = try OutputCollector()
        let process = try launch(arguments: arguments, environment: environment, stdout: stdout, stderr: stderr)
        let regex = #/(?:wss?|https?)://127\.0\.0\.1:([0-9]+)/#
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

    /// Runs `wsbridge ARGUMENTS` and wires its stdout and stderr to the collectors; `environment`
    /// replaces the inherited environment when given.
    static func launch(
        arguments: [String], environment: [String: String]? = nil, stdout: OutputCollector, stderr: OutputCollector
    ) throws -> Process {
        let binary = TestPaths.binary
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ServerError.binaryMissing(binary)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if let environment { process.environment = environment }
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
