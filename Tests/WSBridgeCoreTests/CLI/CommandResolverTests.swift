import Foundation
import Testing
@testable import WSCLI

@Suite("CommandResolver")
struct CommandResolverTests {
    /// A scratch tree: bin/tool (0755), bin/data (0644), bin/sub/ (a directory),
    /// first/both (0644) and second/both (0755).
    final class Tree {
        let root: String

        init() throws {
            root = FileManager.default.temporaryDirectory.path + "/wsbridge-cli-\(UUID().uuidString)"
            let manager = FileManager.default
            for directory in ["bin/sub", "first", "second"] {
                try manager.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true)
            }
            let script = Data("#!/bin/sh\nexit 0\n".utf8)
            for (file, mode) in [("bin/tool", 0o755), ("bin/data", 0o644), ("first/both", 0o644), ("second/both", 0o755)] {
                #expect(manager.createFile(atPath: root + "/" + file, contents: script, attributes: [.posixPermissions: mode]))
            }
        }

        deinit {
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    @Test("an absolute path to an executable resolves to itself")
    func absolutePath() throws {
        let tree = try Tree()
        #expect(try CommandResolver.resolve(tree.root + "/bin/tool", path: nil, currentDirectory: "/") == tree.root + "/bin/tool")
    }

    @Test("a relative path with a slash is taken from the current directory, without ./ segments")
    func relativePath() throws {
        let tree = try Tree()
        #expect(try CommandResolver.resolve("./bin/tool", path: "/usr/bin", currentDirectory: tree.root) == tree.root + "/bin/tool")
        #expect(try CommandResolver.resolve("bin//tool", path: nil, currentDirectory: tree.root + "/") == tree.root + "/bin/tool")
        #expect(try CommandResolver.resolve("../bin/tool", path: nil, currentDirectory: tree.root + "/first")
            == tree.root + "/first/../bin/tool")
    }

    @Test("a name without a slash is looked up in PATH, in order, skipping what cannot run")
    func pathLookup() throws {
        let tree = try Tree()
        let path = "relative:\(tree.root)/missing::\(tree.root)/first:\(tree.root)/second:\(tree.root)/bin"
        #expect(try CommandResolver.resolve("both", path: path, currentDirectory: tree.root) == tree.root + "/second/both")
        #expect(try CommandResolver.resolve("tool", path: path, currentDirectory: "/") == tree.root + "/bin/tool")
    }

    @Test("a file in the current directory is not found through an empty or relative PATH entry")
    func noImplicitCurrentDirectory() throws {
        let tree = try Tree()
        #expect(throws: UsageError(message: "wsbridge: COMMAND tool not found in PATH; give its path, as ./tool", exitCode: 1)) {
            try CommandResolver.resolve("tool", path: ":.:bin", currentDirectory: tree.root)
        }
    }

    @Test("missing, non-executable and directory commands exit 1 naming them (SPEC.md §1)")
    func failures() throws {
        let tree = try Tree()
        let cases: [(String, String?, UsageError)] = [
            ("nosuch", tree.root + "/bin",
             UsageError(message: "wsbridge: COMMAND nosuch not found in PATH; give its path, as ./nosuch", exitCode: 1)),
            ("tool", nil, UsageError(message: "wsbridge: COMMAND tool not found in PATH; give its path, as ./tool", exitCode: 1)),
            ("./bin/nosuch", nil, UsageError(message: "wsbridge: COMMAND ./bin/nosuch not found; check the path", exitCode: 1)),
            ("./bin/data", nil, UsageError(message: "wsbridge: COMMAND ./bin/data is not executable; chmod +x it", exitCode: 1)),
            ("bin/sub", nil, UsageError(message: "wsbridge: COMMAND bin/sub is a directory, not a program", exitCode: 1)),
            ("data", tree.root + "/bin", UsageError(
                message: "wsbridge: COMMAND data found as \(tree.root)/bin/data, which is not executable; chmod +x it", exitCode: 1)),
            ("sub", tree.root + "/bin",
             UsageError(message: "wsbridge: COMMAND sub not found in PATH; give its path, as ./sub", exitCode: 1)),
            ("", "/bin", UsageError(message: "wsbridge: COMMAND is empty; name the program to run", exitCode: 1)),
        ]
        for (command, path, expected) in cases {
            #expect(throws: expected, "\(command)") {
                try CommandResolver.resolve(command, path: path, currentDirectory: tree.root)
            }
        }
    }
}
