import Foundation
import Testing
@testable import WSPlatform
@testable import WSCLI

/// What `main` leaves to the library: the configuration from the options, its startup errors, and
/// the URL the startup line shows (SPEC §1).
@Suite("Launcher")
struct LauncherTests {
    static func options(_ arguments: [String]) throws -> Options {
        guard case .run(let options) = try Launcher.parse(arguments) else { throw UsageError.configuration("not a run") }
        return options
    }

    static let environment = ["PATH": "/usr/bin:/bin", "HOME": "/root"]

    @Test("SPEC §1: COMMAND is resolved in PATH once; its arguments and the flags reach the configuration")
    func resolvesCommand() throws {
        let options = try Self.options(["--maxforks=7", "--header-ws=X-A: b", "--pingms=300", "cat", "-u", "--x"])
        let configuration = try Launcher.configuration(for: options, environment: Self.environment, currentDirectory: "/")
        guard case .single(let executable, let arguments) = configuration.command else {
            Issue.record("not a single command")
            return
        }
        #expect(executable.hasSuffix("/cat"))
        #expect(arguments == ["-u", "--x"])
        #expect(configuration.maxChildren == 7)
        #expect(configuration.pingMilliseconds == 300)
        #expect(configuration.webSocketHeaders.first("X-A") == "b")
        #expect(configuration.parentEnvironment == Self.environment)
    }

    @Test("SPEC §1: a missing command, a missing --dir and a bad --origin are one line and exit 1", arguments: [
        (["no-such-command-here"], "no-such-command-here"),
        (["--dir=/no/such/dir"], "--dir=/no/such/dir"),
        (["--staticdir=/no/such/dir", "cat"], "--staticdir=/no/such/dir"),
        (["--cgidir=/no/such/dir", "cat"], "--cgidir=/no/such/dir"),
        (["--origin=http://a b", "cat"], "--origin"),
    ])
    func startupErrors(arguments: [String], named: String) throws {
        let options = try Self.options(arguments)
        #expect {
            _ = try Launcher.configuration(for: options, environment: Self.environment, currentDirectory: "/")
        } throws: { error in
            guard let error = error as? UsageError else { return false }
            return error.exitCode == 1 && error.message.hasPrefix("wsbridge: ") && error.message.contains(named)
                && !error.message.contains("\n")
        }
    }

    @Test("SPEC §6: --permessage-deflate turns compression on with the standard settings; off by default")
    func permessageDeflate() throws {
        let on = try Launcher.configuration(for: try Self.options(["--permessage-deflate", "cat"]), environment: Self.environment, currentDirectory: "/")
        #expect(on.deflate == .standard)
        let off = try Launcher.configuration(for: try Self.options(["cat"]), environment: Self.environment, currentDirectory: "/")
        #expect(off.deflate == nil)
    }

    @Test("SPEC §1: the startup URL: localhost for a wildcard, http:// when a page is served, ws:// otherwise", arguments: [
        (SocketAddress(host: "0.0.0.0", port: 8080), false, "ws://localhost:8080/"),
        (SocketAddress(host: "", port: 8080), true, "http://localhost:8080/"),
        (SocketAddress(host: "::", port: 80), false, "ws://localhost:80/"),
        (SocketAddress(host: "127.0.0.1", port: 9000), true, "http://127.0.0.1:9000/"),
        (SocketAddress(host: "::1", port: 9000), false, "ws://[::1]:9000/"),
        (SocketAddress(unixPath: "/run/ws.sock"), false, "unix:/run/ws.sock"),
    ])
    func startupURL(address: SocketAddress, servesPages: Bool, url: String) {
        #expect(Launcher.startupURLs(for: [address], servesPages: servesPages) == [url])
    }

    @Test("SPEC §10: with --ssl the startup URL is https:// when a page is served, wss:// otherwise; a Unix socket stays plain", arguments: [
        (SocketAddress(host: "0.0.0.0", port: 8443), false, "wss://localhost:8443/"),
        (SocketAddress(host: "127.0.0.1", port: 443), true, "https://127.0.0.1:443/"),
        (SocketAddress(unixPath: "/run/ws.sock"), true, "unix:/run/ws.sock"),
    ])
    func startupURLOverTLS(address: SocketAddress, servesPages: Bool, url: String) {
        #expect(Launcher.startupURLs(for: [address], servesPages: servesPages, isTLS: true) == [url])
    }
}
