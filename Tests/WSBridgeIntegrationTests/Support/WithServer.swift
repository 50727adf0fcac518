import Glibc
import Testing

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

/// Starts a server running `command` with `flags` (and, if given, `environment` as its whole
/// environment), runs `body` against it, and always stops it. A failure in `body` is rethrown
/// with the server's log attached.
func withServer<Result>(
    flags: [String] = [],
    environment: [String: String]? = nil,
    command: [String],
    _ body: (ServerProcess) async throws -> Result
) async throws -> Result {
    let server = try ServerProcess.start(flags: flags, command: command, environment: environment)
    let result: Result
    do {
        result = try await body(server)
    } catch {
        server.stop()
        throw ServerError.sessionFailed(underlying: error, log: server.stderrText)
    }
    server.stopExpectingCleanExit()
    return result
}

extension ServerProcess {
    /// Stops the server and records an issue if it had died during the test or crashed on the
    /// way out: a trap or a fatal signal would otherwise go unnoticed once the test's own checks passed.
    func stopExpectingCleanExit(sourceLocation: SourceLocation = #_sourceLocation) {
        let wasRunning = isRunning
        let exit = stop()
        if !wasRunning {
            Issue.record("wsbridge ended during the test (\(exit.map(String.init(describing:)) ?? "unknown")); its log:\n\(stderrText)", sourceLocation: sourceLocation)
            return
        }
        switch exit {
        case .exited, .signalled(SIGTERM), .signalled(SIGKILL):
            // Exit statuses on SIGTERM are the startup tests' business (SPEC §3: 0).
            break
        case .signalled(let signal):
            Issue.record("wsbridge died of signal \(signal) when stopped; its log:\n\(stderrText)", sourceLocation: sourceLocation)
        case nil:
            Issue.record("wsbridge did not exit even after SIGKILL; its log:\n\(stderrText)", sourceLocation: sourceLocation)
        }
    }
}
