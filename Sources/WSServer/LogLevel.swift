/// How much wsbridge logs: a line is written when its level is at or above the configured one.
///
/// The cases are ordered as websocketd's `--loglevel` lists them (SPEC.md §1), least severe first.
public enum LogLevel: String, Sendable, CaseIterable, Comparable {
    /// Everything, including per-frame detail.
    case debug
    /// Internal progress worth following when tracing a problem.
    case trace
    /// One line per connection, session and plain HTTP request (the default).
    case access
    /// Notable events such as startup and shutdown.
    case info
    /// Failures of one session or request, and the child's stderr.
    case error
    /// Failures that stop the server.
    case fatal
    /// Nothing at all.
    case none

    /// Orders levels by severity, `debug` lowest and `none` highest.
    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool {
        lhs.severity < rhs.severity
    }

    private var severity: Int {
        switch self {
        case .debug: 0
        case .trace: 1
        case .access: 2
        case .info: 3
        case .error: 4
        case .fatal: 5
        case .none: 6
        }
    }
}

/// How log lines are written to stderr (`--log-format`, SPEC.md §8).
public enum LogFormat: String, Sendable, CaseIterable {
    /// Human-readable text lines (the default).
    case text
    /// One JSON object per line, for machines.
    case json
}
