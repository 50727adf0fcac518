/// What to run for one session.
public struct SpawnRequest: Sendable, Equatable {
    /// Absolute path of the executable.
    public var executable: String
    /// Its arguments (without argv[0]).
    public var arguments: [String]
    /// The complete environment (SPEC §4).
    public var environment: [String: String]
    /// Working directory: the script's own directory, as websocketd does.
    public var workingDirectory: String
    /// `--pty` (SPEC §12): the child's stdin, stdout and stderr are one pseudo-terminal set up
    /// so; nil: three pipes.
    public var terminal: TerminalSetup?

    /// Creates a request.
    public init(executable: String, arguments: [String], environment: [String: String], workingDirectory: String,
                terminal: TerminalSetup? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.terminal = terminal
    }
}

/// The child could not be started; answered with close 1011 after the upgrade (SPEC §3).
public struct SpawnError: Error, Equatable, Sendable {
    /// What went wrong, for the log and the close reason.
    public var message: String

    /// Creates an error.
    public init(message: String) { self.message = message }
}
