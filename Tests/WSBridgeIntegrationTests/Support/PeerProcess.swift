import Foundation
import Glibc

/// Another program the TLS tests run as an independent peer or tool (`python3`, `openssl`,
/// `curl`): its stdout and stderr drained all the time, its stdin one end of a Unix socketpair
/// whose other end stays here, so that a test can write to it (without SIGPIPE), end it, or use
/// it as a connection (`tls_probe.py relay` speaks plaintext over it).
final class PeerProcess: @unchecked Sendable {
    /// The program's process.
    let process: Process
    /// The command line, for failure messages.
    let commandLine: String
    private let stdout: OutputCollector
    private let stderr: OutputCollector
    /// This side of the socketpair that is the program's stdin; -1 once closed or taken.
    private var input: Int32

    /// Starts `executable` (a path, or a name looked up in PATH) with `arguments`.
    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        guard let path = Self.path(of: executable) else { throw PeerError.notInstalled(executable) }
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw TestClientError.system("socketpair", errno)
        }
        stdout = try OutputCollector()
        stderr = try OutputCollector()
        input = pair[0]
        commandLine = ([executable] + arguments).joined(separator: " ")
        process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let theirs = FileHandle(fileDescriptor: pair[1], closeOnDealloc: true)
        process.standardInput = theirs
        process.standardOutput = stdout.writeHandle
        process.standardError = stderr.writeHandle
        defer {
            try? theirs.close()
            stdout.closeWriteEnd()
            stderr.closeWriteEnd()
        }
        do {
            try process.run()
        } catch {
            Glibc.close(pair[0])
            input = -1
            stdout.stop()
            stderr.stop()
            throw error
        }
    }

    deinit {
        closeInput()
        stop()
    }

    /// Everything the program wrote on stdout so far.
    var stdoutText: String { stdout.text }
    /// Everything the program wrote on stderr so far.
    var stderrText: String { stderr.text }
    /// Its process id.
    var pid: pid_t { process.processIdentifier }

    /// Writes `text` to the program's stdin.
    func send(_ text: String) throws {
        try send(bytes: Array(text.utf8))
    }

    /// Writes `bytes` to the program's stdin.
    func send(bytes: [UInt8]) throws {
        guard input >= 0 else { throw TestClientError.connectionClosed("the stdin of \(commandLine)") }
        var written = 0
        let deadline = Deadline(after: .seconds(5))
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(input, $0.baseAddress! + written, bytes.count - written, Int32(MSG_NOSIGNAL)) }
            if count > 0 {
                written += count
            } else if errno != EINTR {
                throw TestClientError.system("send to \(commandLine)", errno)
            }
            if deadline.hasPassed { throw TestClientError.timedOut("\(commandLine) to take its input") }
        }
    }

    /// Ends the program's stdin.
    func closeInput() {
        guard input >= 0 else { return }
        Glibc.close(input)
        input = -1
    }

    /// Hands this side of the stdin socketpair to the caller, who closes it.
    func takeInput() -> Int32 {
        defer { input = -1 }
        return input
    }

    /// Waits until the program's stdout (or, with `includingStderr`, its stdout followed by its
    /// stderr) satisfies `condition`, at most `timeout`; returns whether it did.
    func waitForOutput(timeout: Duration = .seconds(10), includingStderr: Bool = false, until condition: (String) -> Bool) -> Bool {
        let output = { includingStderr ? self.stdout.text + self.stderr.text : self.stdout.text }
        return Deadline.poll(for: timeout, every: .milliseconds(20)) { condition(output()) || (!process.isRunning && stdout.isFinished) }
            && condition(output())
    }

    /// Waits for the program to exit; nil on timeout. Its output is complete once this returns.
    func waitForExit(timeout: Duration = .seconds(20)) -> ProcessExit? {
        let exit = ServerProcess.waitForExit(process, timeout: timeout)
        if exit != nil {
            stdout.waitUntilFinished(timeout: .seconds(1))
            stderr.waitUntilFinished(timeout: .seconds(1))
        }
        return exit
    }

    /// Kills the program (by its pid) if it still runs, and lets the drain threads go.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            _ = ServerProcess.waitForExit(process, timeout: .seconds(5))
        }
        stdout.waitUntilFinished(timeout: .milliseconds(200))
        stdout.stop()
        stderr.stop()
    }

    /// Runs `executable` to its end, with `input` on stdin (then its end), at most `timeout`.
    static func run(_ executable: String, _ arguments: [String], input: String? = nil,
                    timeout: Duration = .seconds(20)) throws -> CommandResult {
        let peer = try PeerProcess(executable, arguments)
        if let input { try peer.send(input) }
        peer.closeInput()
        guard let exit = peer.waitForExit(timeout: timeout) else {
            let output = peer.stderrText
            peer.stop()
            throw TestClientError.timedOut("\(peer.commandLine) to exit; its stderr:\n\(output)")
        }
        let result = CommandResult(exit: exit, stdout: peer.stdoutText, stderr: peer.stderrText)
        peer.stop()
        return result
    }

    /// The path of `name`: itself when it holds a `/`, else the first executable in PATH.
    static func path(of name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Why a peer program could not be used.
enum PeerError: Error, CustomStringConvertible {
    /// The program is not installed (not in PATH).
    case notInstalled(String)
    /// It ran but did not do what the test needs, with its output.
    case failed(String)

    var description: String {
        switch self {
        case .notInstalled(let name): "\(name) is not installed (not in PATH); the TLS tests need python3, openssl and curl"
        case .failed(let text): text
        }
    }
}
