import Foundation

/// Real tools from Debian that some tests drive (htpasswd, openssl), installed with apt-get on
/// first use when missing, as scripts/browser-test installs Chromium: the suite passes in a
/// plain clone on a fresh machine of the project's kind.
enum SystemTools {
    /// The absolute path of `tool`, installing `package` first if it is not in PATH.
    static func require(_ tool: String, package: String) throws -> String {
        if let found = find(tool) { return found }
        let install = Process()
        install.executableURL = URL(fileURLWithPath: "/bin/sh")
        install.arguments = ["-c", "(apt-get install -y -q \(package) || (apt-get update -q && apt-get install -y -q \(package))) >/dev/null 2>&1"]
        install.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"]
        try install.run()
        install.waitUntilExit()
        guard let found = find(tool) else {
            throw ToolError(message: "\(tool) is missing and `apt-get install \(package)` did not provide it")
        }
        return found
    }

    /// Runs `path` with `arguments`; its stdout, or an error with its stderr.
    @discardableResult
    static func run(_ path: String, _ arguments: [String], stdin: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe(), errors = Pipe(), input = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ToolError(message: "\(path) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: err, as: UTF8.self))")
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// An nginx binary: the system's, else Debian's `nginx` package unpacked (not installed) into
    /// `.build/tools`, so that no service starts and nothing outside the build folder changes.
    static func nginx() throws -> String {
        if let found = find("nginx") { return found }
        let folder = TestPaths.packageRoot.appendingPathComponent(".build/tools/nginx").path
        let binary = folder + "/root/usr/sbin/nginx"
        if FileManager.default.isExecutableFile(atPath: binary) { return binary }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try run("/bin/sh", ["-c", """
            cd '\(folder)' && rm -f nginx_*.deb && \
            (apt-get download nginx >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get download nginx >/dev/null 2>&1)) && \
            dpkg-deb -x nginx_*.deb root
            """])
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ToolError(message: "could not unpack Debian's nginx package into \(folder)")
        }
        return binary
    }

    /// A redis-server binary: the system's, else the one in Debian's `redis-tools` (installed
    /// when missing) under the name that makes it a server. Debian's `redis-server` package is
    /// that very link plus a service, which the tests do not want started on the machine.
    static func redisServer() throws -> String {
        if let found = find("redis-server") { return found }
        let binary = try require("redis-check-rdb", package: "redis-tools")
        let folder = TestPaths.packageRoot.appendingPathComponent(".build/tools/redis").path
        let link = folder + "/redis-server"
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == binary { return link }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: binary)
        return link
    }

    private static func find(_ tool: String) -> String? {
        for directory in ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"] {
            let path = directory + "/" + tool
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    struct ToolError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
