import Foundation

/// Paths of the package, the wsbridge binary and the test fixtures.
enum TestPaths {
    /// The package root, found from this file's path (Tests/WSBridgeIntegrationTests/Support/…).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The server binary `swift test` builds; `WSBRIDGE_BINARY` overrides it (e.g. a release build).
    static var binary: String {
        if let override = ProcessInfo.processInfo.environment["WSBRIDGE_BINARY"], !override.isEmpty { return override }
        return packageRoot.appendingPathComponent(".build/debug/wsbridge").path
    }

    /// The absolute path of fixture script `name`.
    static func fixture(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/WSBridgeIntegrationTests/Fixtures/\(name)").path
    }
}
