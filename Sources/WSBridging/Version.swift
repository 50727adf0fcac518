/// The release wsbridge reports in `--version`, `SERVER_SOFTWARE` and the help text.
public enum WSBridgeVersion {
    /// The release number (semantic versioning).
    public static let current = "0.1.0"

    /// The line `--version` prints on stdout (SPEC.md §1).
    public static let versionLine = "wsbridge \(current)"

    /// The value of the child's `SERVER_SOFTWARE` variable (SPEC.md §4, RFC 3875 §4.1.17).
    public static let serverSoftware = "wsbridge/\(current)"
}
