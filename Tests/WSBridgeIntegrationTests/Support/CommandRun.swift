import Foundation
import Glibc

/// The outcome of running wsbridge to completion (for the startup and CLI tests).
struct CommandResult {
    /// How it ended.
    var exit: ProcessExit
    /// Everything it wrote on stdout.
    var stdout: String
    /// Everything it wrote on stderr.
    var stderr: String

    /// The non-empty lines of stderr.
    var stderrLines: [String] {
        stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}

/// Runs `wsbridge ARGUMENTS` and waits for it to exit, at most `timeout`; a server that keeps
/// running is killed and reported as a timeout.
func runWSBridge(_ arguments: [String], timeout: Duration = .seconds(10)) throws -> CommandResult {
    let stdout = try OutputCollector()
    let stderr = try OutputCollector()
    let process = try ServerProcess.launch(arguments: arguments, stdout: stdout, stderr: stderr)
    defer {
        stdout.stop()
        stderr.stop()
    }
    guard let exit = ServerProcess.waitForExit(process, timeout: timeout) else {
        kill(process.processIdentifier, SIGKILL)
        _ = ServerProcess.waitForExit(process, timeout: .seconds(5))
        throw TestClientError.timedOut("wsbridge \(arguments.joined(separator: " ")) to exit; its stderr:\n\(stderr.text)")
    }
    stdout.waitUntilFinished(timeout: .seconds(1))
    stderr.waitUntilFinished(timeout: .seconds(1))
    return CommandResult(exit: exit, stdout: stdout.text, stderr: stderr.text)
}
