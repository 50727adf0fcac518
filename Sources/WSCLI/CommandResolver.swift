import Foundation

/// Finds the program COMMAND names, once at startup (SPEC.md §1).
public enum CommandResolver {
    /// Returns the absolute path of `command`, or throws exit 1 naming it.
    ///
    /// With a `/` the command is a path, taken from `currentDirectory` when relative. Without one
    /// it is looked up in each directory of `path` (the `PATH` value) in turn, as `execvp` does;
    /// empty and relative entries are skipped, as Go 1.19's `exec.LookPath` refuses them, so a
    /// file in the current directory never runs by accident. The result must be an executable
    /// file, not a directory.
    public static func resolve(_ command: String, path: String?, currentDirectory: String) throws(UsageError) -> String {
        guard !command.isEmpty else {
            throw .configuration("COMMAND is empty; name the program to run")
        }
        if command.contains("/") {
            let absolute = command.hasPrefix("/") ? command : currentDirectory + "/" + command
            let candidate = tidy(absolute)
            switch check(candidate) {
            case .executable: return candidate
            case .missing: throw .configuration("COMMAND \(command) not found; check the path")
            case .directory: throw .configuration("COMMAND \(command) is a directory, not a program")
            case .notExecutable: throw .configuration("COMMAND \(command) is not executable; chmod +x it")
            }
        }
        var firstRefused: String?
        for directory in (path ?? "").split(separator: ":") where directory.hasPrefix("/") {
            let candidate = tidy(directory + "/" + command)
            switch check(candidate) {
            case .executable: return candidate
            case .missing, .directory: continue
            case .notExecutable: if firstRefused == nil { firstRefused = candidate }
            }
        }
        if let firstRefused {
            throw .configuration("COMMAND \(command) found as \(firstRefused), which is not executable; chmod +x it")
        }
        throw .configuration("COMMAND \(command) not found in PATH; give its path, as ./\(command)")
    }

    private enum Check {
        case executable, missing, directory, notExecutable
    }

    private static func check(_ candidate: String) -> Check {
        var isDirectory: ObjCBool = false
        // Both calls follow symbolic links, as exec does.
        guard FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory) else { return .missing }
        if isDirectory.boolValue { return .directory }
        return FileManager.default.isExecutableFile(atPath: candidate) ? .executable : .notExecutable
    }

    /// Drops `.` segments and doubled slashes; `..` stays, since resolving it lexically would
    /// be wrong across a symbolic link.
    private static func tidy(_ path: String) -> String {
        let segments = path.split(separator: "/").filter { $0 != "." }
        return "/" + segments.joined(separator: "/")
    }
}
