#if canImport(Glibc)
import Glibc
#endif
import WSProtocol

/// `--dir=DIR`: maps a request path to the script that serves it (SPEC §5).
///
/// The decoded path is walked segment by segment from DIR; the first executable regular file ends
/// the walk, and the segments after it become `PATH_INFO` (RFC 3875 §4.1.5), as websocketd's
/// `GetURLInfo` does. Unlike websocketd, a file that is not executable, a bare directory, and every
/// path that leaves DIR (`..` above the root, encoded slashes, symlinks out) are all 404.
public struct ScriptRouter: Sendable {
    /// Where a request path leads.
    public enum Route: Sendable, Equatable {
        /// An executable script: its resolved absolute path, the URL path that named it (decoded,
        /// e.g. `/sub/app.sh`, for `SCRIPT_NAME`), and the rest of the path (e.g. `/extra/x`, or `""`).
        case script(path: String, scriptName: String, pathInfo: String)
        /// No script answers this path (404).
        case notFound
    }

    /// The directory scripts are confined to.
    public let directory: ConfinedDirectory

    /// Opens DIR: relative paths are taken from the current directory, and symlinks are resolved.
    public init(directory path: String) throws(ConfinedDirectory.OpenError) {
        directory = try ConfinedDirectory(path: path)
    }

    /// The route of a raw (still percent-encoded) request path, e.g. `HTTPRequestHead.path`.
    public func route(path: String) -> Route {
        guard let decoded = try? PercentDecoding.decodePath(path) else { return .notFound }
        return route(decoded)
    }

    /// The route of an already decoded path.
    public func route(_ decoded: DecodedPath) -> Route {
        let segments = decoded.segments
        for end in segments.indices {
            let walked = segments[...end]
            switch directory.entry(at: walked) {
            case nil, .other:
                return .notFound
            case .directory:
                continue
            case .regularFile(let file):
                guard file.isExecutable else { return .notFound }
                let rest = segments[(end + 1)...]
                let pathInfo: String
                if rest.isEmpty {
                    // websocketd keeps a lone trailing slash: `/app.sh/` gives PATH_INFO `/`.
                    pathInfo = decoded.hasTrailingSlash ? "/" : ""
                } else {
                    pathInfo = "/" + rest.joined(separator: "/") + (decoded.hasTrailingSlash ? "/" : "")
                }
                return .script(path: file.path, scriptName: "/" + walked.joined(separator: "/"), pathInfo: pathInfo)
            }
        }
        // The path ended on a directory (or named DIR itself): a bare directory is no script.
        return .notFound
    }
}

/// A directory whose files may be served, and the one place that asks the file system what a path
/// under it is, refusing anything whose resolved path lies outside it.
public struct ConfinedDirectory: Sendable, Equatable {
    /// Why a directory given on the command line cannot be served.
    public enum OpenError: Error, Equatable, Sendable {
        /// The path does not exist or cannot be resolved.
        case notFound(String)
        /// The path exists but is not a directory.
        case notADirectory(String)

        /// One line for stderr that says what to change.
        public var message: String {
            switch self {
            case .notFound(let path): "\(path): no such directory"
            case .notADirectory(let path): "\(path): not a directory"
            }
        }
    }

    /// What a confined path is, after following symlinks.
    public enum Entry: Sendable, Equatable {
        /// A regular file.
        case regularFile(FileInfo)
        /// A directory, by its resolved absolute path.
        case directory(path: String)
        /// A device, FIFO or socket: never served.
        case other
    }

    /// The facts about a regular file that routing and serving need.
    public struct FileInfo: Sendable, Equatable {
        /// The resolved absolute path (no symlinks, no dot segments).
        public var path: String
        /// The size in bytes.
        public var byteCount: Int
        /// The last modification time, whole seconds since 1970 (RFC 9110 §8.8.2 has no finer unit).
        public var modifiedSeconds: Int64
        /// Whether this process may execute it (`access(X_OK)`).
        public var isExecutable: Bool

        /// Creates file facts.
        public init(path: String, byteCount: Int, modifiedSeconds: Int64, isExecutable: Bool) {
            self.path = path
            self.byteCount = byteCount
            self.modifiedSeconds = modifiedSeconds
            self.isExecutable = isExecutable
        }
    }

    /// The resolved absolute path of the directory.
    public let root: String

    /// Resolves `path` (relative to the current directory, symlinks followed) and checks that it is a directory.
    public init(path: String) throws(OpenError) {
        guard let resolved = Self.resolve(path) else { throw .notFound(path) }
        guard case .directory = Self.describe(resolved) else { throw .notADirectory(path) }
        root = resolved
    }

    /// What the decoded `segments` name under the root, or nil when nothing is there or its
    /// resolved path leaves the root (a symlink pointing out).
    public func entry<Segments: Collection>(at segments: Segments) -> Entry? where Segments.Element == String {
        let joined = segments.isEmpty ? root : root + "/" + segments.joined(separator: "/")
        guard let resolved = Self.resolve(joined), contains(resolved) else { return nil }
        return Self.describe(resolved)
    }

    /// Whether a resolved absolute path is the root or lies below it.
    public func contains(_ resolved: String) -> Bool {
        if root == "/" { return resolved.hasPrefix("/") }
        return resolved == root || (resolved.hasPrefix(root) && resolved.utf8.dropFirst(root.utf8.count).first == UInt8(ascii: "/"))
    }

    /// `realpath(3)`: the absolute path with every symlink and dot segment resolved, or nil if any
    /// component is missing.
    private static func resolve(_ path: String) -> String? {
        guard !path.isEmpty, !path.utf8.contains(0), let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// `stat(2)` of a resolved path, as an entry.
    private static func describe(_ resolved: String) -> Entry? {
        var info = stat()
        guard stat(resolved, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            return .directory(path: resolved)
        case S_IFREG:
            return .regularFile(FileInfo(
                path: resolved,
                byteCount: Int(info.st_size),
                modifiedSeconds: Int64(info.st_mtim.tv_sec),
                isExecutable: access(resolved, X_OK) == 0
            ))
        default:
            return .other
        }
    }
}
