import Foundation
import Testing
@testable import WSProtocol
@testable import WSServer
import TestSupport

/// A fresh directory under the system's temporary directory, removed when the value goes away, with
/// helpers to lay out files, directories and symlinks for confinement tests.
final class TempTree {
    /// The tree's resolved absolute path.
    let root: String

    init() throws {
        let created = NSTemporaryDirectory() + "/wsbridge-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: created, withIntermediateDirectories: true)
        root = try #require(FileManager.default.resolvingPath(created))
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Writes a file (creating its parent directories) with the given permission bits.
    @discardableResult
    func file(_ relative: String, _ contents: String = "", mode: Int = 0o644, modified: Date? = nil) throws -> String {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try #require(FileManager.default.createFile(atPath: path, contents: Data(contents.utf8)))
        var attributes: [FileAttributeKey: Any] = [.posixPermissions: mode]
        if let modified { attributes[.modificationDate] = modified }
        try FileManager.default.setAttributes(attributes, ofItemAtPath: path)
        return path
    }

    /// Creates a directory and its parents.
    @discardableResult
    func directory(_ relative: String) throws -> String {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Creates a symlink at `relative` whose content is `target` (relative or absolute).
    func symlink(_ relative: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/" + relative, withDestinationPath: target)
    }

    /// Creates a FIFO, which is neither a file nor a directory.
    func fifo(_ relative: String) throws {
        try #require(mkfifo(root + "/" + relative, 0o644) == 0)
    }
}

extension FileManager {
    /// `realpath(3)` of a path, or nil.
    func resolvingPath(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}

@Suite("ScriptRouter")
struct ScriptRouterTests {
    /// DIR holds scripts, a data file, nested directories and links; a sibling `outside` directory
    /// (and a sibling named like DIR plus a suffix) holds executables that must stay unreachable.
    static func makeTree() throws -> (tree: TempTree, dir: String) {
        let tree = try TempTree()
        try tree.file("dir/app.sh", "#!/bin/sh\n", mode: 0o755)
        try tree.file("dir/data.txt", "data\n")
        try tree.file("dir/sub/app.sh", "#!/bin/sh\n", mode: 0o755)
        try tree.directory("dir/sub/deeper")
        try tree.file("dir/with space.sh", "#!/bin/sh\n", mode: 0o755)
        try tree.file("dir/%41.sh", "#!/bin/sh\n", mode: 0o755)
        try tree.file("dir/caf\u{E9}.sh", "#!/bin/sh\n", mode: 0o755)
        try tree.file("outside/evil.sh", "#!/bin/sh\n", mode: 0o755)
        try tree.file("dir-evil/evil.sh", "#!/bin/sh\n", mode: 0o755)
        try tree.symlink("dir/link-in.sh", to: "app.sh")
        try tree.symlink("dir/sub/link-up.sh", to: "../app.sh")
        try tree.symlink("dir/link-out.sh", to: tree.root + "/outside/evil.sh")
        try tree.symlink("dir/link-relative-out.sh", to: "../outside/evil.sh")
        try tree.symlink("dir/link-sibling.sh", to: "../dir-evil/evil.sh")
        try tree.symlink("dir/linkdir-out", to: "../outside")
        try tree.symlink("dir/dangling.sh", to: "nowhere.sh")
        try tree.fifo("dir/pipe")
        return (tree, tree.root + "/dir")
    }

    @Test("SPEC §5: the walk stops at the first executable file; the rest is PATH_INFO", arguments: [
        ("/app.sh", "app.sh", "/app.sh", ""),
        ("/app.sh/extra/x", "app.sh", "/app.sh", "/extra/x"),
        ("/app.sh/", "app.sh", "/app.sh", "/"),
        ("/app.sh/extra/", "app.sh", "/app.sh", "/extra/"),
        ("/app.sh?q=1", "app.sh", "/app.sh", ""),
        ("/sub/app.sh", "sub/app.sh", "/sub/app.sh", ""),
        ("/sub/app.sh/a/b", "sub/app.sh", "/sub/app.sh", "/a/b"),
        ("//sub//app.sh", "sub/app.sh", "/sub/app.sh", ""),
        ("/sub/../app.sh", "app.sh", "/app.sh", ""),
        ("/sub/deeper/../../app.sh/x", "app.sh", "/app.sh", "/x"),
        ("/with%20space.sh", "with space.sh", "/with space.sh", ""),
        ("/caf%C3%A9.sh/%C3%A9", "caf\u{E9}.sh", "/caf\u{E9}.sh", "/\u{E9}"),
        ("/%2541.sh", "%41.sh", "/%41.sh", ""),
        ("/link-in.sh/p", "app.sh", "/link-in.sh", "/p"),
        ("/sub/link-up.sh", "app.sh", "/sub/link-up.sh", ""),
        ("/app.sh/x/../y", "app.sh", "/app.sh", "/y"),
    ])
    func routes(path: String, file: String, scriptName: String, pathInfo: String) throws {
        let (tree, dir) = try Self.makeTree()
        let router = try ScriptRouter(directory: dir)
        let target = HTTPRequestHead(method: "GET", target: path).path
        #expect(router.route(path: target) == .script(path: dir + "/" + file, scriptName: scriptName, pathInfo: pathInfo))
        withExtendedLifetime(tree) {}
    }

    @Test("404: missing, bare directories, non-executable files, FIFOs, dangling links", arguments: [
        "/", "/missing.sh", "/missing.sh/x", "/sub", "/sub/", "/sub/deeper", "/sub/deeper/", "/sub/missing/x",
        "/data.txt", "/data.txt/x", "/pipe", "/dangling.sh", "/%41.sh", "/app.sh%00", "/APP.SH",
    ])
    func notFound(path: String) throws {
        let (tree, dir) = try Self.makeTree()
        #expect(try ScriptRouter(directory: dir).route(path: path) == .notFound)
        withExtendedLifetime(tree) {}
    }

    @Test("SPEC §5: nothing outside DIR is reached (.., %2e%2e, %2f, double encoding, symlinks, absolute paths)", arguments: [
        "/../outside/evil.sh", "/%2e%2e/outside/evil.sh", "/%2E%2E/outside/evil.sh", "/.%2e/outside/evil.sh",
        "/sub/../../outside/evil.sh", "/sub/%2e%2e/%2e%2e/outside/evil.sh", "/..%2foutside%2fevil.sh",
        "/sub%2fapp.sh", "/%2e%2e%2foutside%2fevil.sh", "/%252e%252e/outside/evil.sh", "/..%5coutside%5cevil.sh",
        "/link-out.sh", "/link-relative-out.sh", "/link-sibling.sh", "/linkdir-out/evil.sh", "/linkdir-out/",
        "/../dir-evil/evil.sh", "/app.sh/../../outside/evil.sh", "/bin/sh", "//bin/sh", "http://example.com/../outside/evil.sh",
    ])
    func confinement(path: String) throws {
        let (tree, dir) = try Self.makeTree()
        let target = HTTPRequestHead(method: "GET", target: path).path
        #expect(try ScriptRouter(directory: dir).route(path: target) == .notFound)
        withExtendedLifetime(tree) {}
    }

    @Test("DIR is resolved at start: a DIR given through a symlink routes to resolved paths")
    func resolvesDirectory() throws {
        let (tree, dir) = try Self.makeTree()
        try tree.symlink("dir-link", to: "dir")
        let router = try ScriptRouter(directory: tree.root + "/dir-link/")
        #expect(router.directory.root == dir)
        #expect(router.route(path: "/app.sh") == .script(path: dir + "/app.sh", scriptName: "/app.sh", pathInfo: ""))
        withExtendedLifetime(tree) {}
    }

    @Test("A missing DIR or a file as DIR is an error that names it")
    func openErrors() throws {
        let (tree, dir) = try Self.makeTree()
        #expect(throws: ConfinedDirectory.OpenError.notFound(dir + "/nope")) { try ScriptRouter(directory: dir + "/nope") }
        #expect(throws: ConfinedDirectory.OpenError.notADirectory(dir + "/app.sh")) { try ScriptRouter(directory: dir + "/app.sh") }
        #expect(ConfinedDirectory.OpenError.notADirectory("x").message == "x: not a directory")
        withExtendedLifetime(tree) {}
    }

    @Test("contains() is by path component, so DIR-evil is not inside DIR")
    func containsByComponent() throws {
        let (tree, dir) = try Self.makeTree()
        let confined = try ConfinedDirectory(path: dir)
        #expect(confined.contains(dir))
        #expect(confined.contains(dir + "/a/b"))
        #expect(!confined.contains(dir + "-evil/evil.sh"))
        #expect(!confined.contains(tree.root))
        #expect(!confined.contains("/"))
        withExtendedLifetime(tree) {}
    }

    @Test("Seeded random paths built from hostile pieces never route outside DIR")
    func randomPathsStayInside() throws {
        let (tree, dir) = try Self.makeTree()
        let router = try ScriptRouter(directory: dir)
        var random = SplitMix64(seed: 0xD1_2EC7)
        let pieces = ["/", "..", ".", "%2e", "%2e%2e", "%2f", "%5c", "app.sh", "sub", "outside", "evil.sh",
                      "link-out.sh", "linkdir-out", "link-up.sh", "dir-evil", "%252e", "x"]
        var scripts = 0
        for _ in 0..<3000 {
            var path = "/"
            for _ in 0..<random.below(8) { path += pieces[random.below(pieces.count)] }
            switch router.route(path: path) {
            case .notFound:
                break
            case .script(let file, let scriptName, let pathInfo):
                scripts += 1
                #expect(file.hasPrefix(dir + "/") && !file.contains("evil"), "\(path) -> \(file)")
                #expect(scriptName.hasPrefix("/") && (pathInfo.isEmpty || pathInfo.hasPrefix("/")), "\(path)")
            }
        }
        #expect(scripts > 0)
        withExtendedLifetime(tree) {}
    }
}
