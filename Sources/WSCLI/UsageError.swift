/// A command line that wsbridge cannot run: one line for stderr and the exit status (SPEC.md §1).
///
/// `main` prints `message` (then `HelpText.usage` when `showsUsage` is set) and exits with
/// `exitCode`. Code never matches on `message`; it is for people.
public struct UsageError: Error, Equatable, Sendable {
    /// One line, starting `wsbridge: `, that says what to change.
    public var message: String
    /// 1 for a bad configuration, 2 for an unknown or unparsable flag.
    public var exitCode: Int32
    /// Whether the short usage text follows the message (only when COMMAND is missing).
    public var showsUsage: Bool

    /// Creates an error from its parts.
    public init(message: String, exitCode: Int32, showsUsage: Bool = false) {
        self.message = message
        self.exitCode = exitCode
        self.showsUsage = showsUsage
    }

    /// Exit status for a configuration that parses but cannot run: a missing command, a bad
    /// value or conflicting flags.
    public static let badConfigurationStatus: Int32 = 1
    /// Exit status for an unknown flag, a flag without its value or a value of the wrong type,
    /// as Go's `flag` package (and so websocketd) uses.
    public static let badFlagStatus: Int32 = 2

    /// A configuration error (exit 1) with the `wsbridge: ` prefix added.
    static func configuration(_ text: String, showsUsage: Bool = false) -> UsageError {
        UsageError(message: "wsbridge: " + oneLine(text), exitCode: badConfigurationStatus, showsUsage: showsUsage)
    }

    /// A flag syntax error (exit 2) with the `wsbridge: ` prefix added.
    static func syntax(_ text: String) -> UsageError {
        UsageError(message: "wsbridge: " + oneLine(text), exitCode: badFlagStatus)
    }

    /// Escapes control characters, so a value echoed back (`--header="a\r\nb"`) cannot split
    /// the message over lines or move the terminal's cursor.
    static func oneLine(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\r": result += "\\r"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\u{00}"..."\u{1F}", "\u{7F}"..."\u{9F}": result += "\\u{\(String(scalar.value, radix: 16))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
