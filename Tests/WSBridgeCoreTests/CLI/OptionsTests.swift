import Testing
@testable import WSServer
@testable import WSCLI

@Suite("Options")
struct OptionsTests {
    private func run(_ arguments: [String]) throws -> Options {
        guard case .run(let options) = try OptionParser.parse(arguments) else {
            Issue.record("expected .run for \(arguments)")
            return Options()
        }
        return options
    }

    @Test("defaults are websocketd's (SPEC.md §1)")
    func defaults() {
        let options = Options()
        #expect(options.effectivePort == 80)
        #expect(options.passEnv == ["PATH", "LD_LIBRARY_PATH"])
        #expect(options.maxForks == 1024)
        #expect(options.maxFrameBytes == 1_048_576)
        #expect(options.framing == .line)
        #expect(options.logLevel == .access)
        #expect(options.logFormat == .text)
        #expect(options.listensOnTCP)
    }

    @Test("the default port is 443 with --ssl, and --port wins")
    func effectivePort() throws {
        #expect(try run(["--ssl", "--sslcert=c", "--sslkey=k", "cat"]).effectivePort == 443)
        #expect(try run(["--ssl", "--sslcert=c", "--sslkey=k", "--port=8443", "cat"]).effectivePort == 8443)
        #expect(try run(["--port=0", "cat"]).effectivePort == 0)
    }

    @Test("--unixsocket alone means no TCP listener, as websocketd 0.5")
    func unixSocketOnly() throws {
        #expect(try !run(["--unixsocket=/tmp/s", "cat"]).listensOnTCP)
        #expect(try run(["--unixsocket=/tmp/s", "--port=8080", "cat"]).listensOnTCP)
        #expect(try run(["--unixsocket=/tmp/s", "--address=127.0.0.1", "cat"]).listensOnTCP)
    }

    @Test("log levels order as SPEC.md §1 lists them")
    func logLevelOrder() {
        #expect(LogLevel.allCases == [.debug, .trace, .access, .info, .error, .fatal, .none])
        #expect(LogLevel.allCases.sorted() == LogLevel.allCases)
        #expect(LogLevel.debug < .access && LogLevel.access < .error && LogLevel.fatal < .none)
        #expect(!(LogLevel.info < .info))
    }

    @Test("header values are trimmed of spaces and tabs and keep inner ones (RFC 9110 §5.5)")
    func headerValues() throws {
        let field = try HeaderField(parsing: "Server: \t wsbridge  0.1 \t", flag: "header")
        #expect(field == HeaderField(name: "Server", value: "wsbridge  0.1"))
        #expect(try HeaderField(parsing: "X-Colon: a:b", flag: "header").value == "a:b")
        #expect(try HeaderField(parsing: "X-Utf8: grüße", flag: "header").value == "grüße")
        #expect(throws: UsageError.self) { try HeaderField(parsing: "X-Nul: a\u{0}b", flag: "header") }
        #expect(throws: UsageError.self) { try HeaderField(parsing: "X-Del: a\u{7F}", flag: "header") }
        #expect(throws: UsageError.self) { try HeaderField(parsing: "Upgrade: h2c", flag: "header") }
    }

    @Test("addresses: IPv6 loses its brackets, host names and IPv4 stay as given")
    func addresses() throws {
        #expect(try ListenAddress(parsing: "[::1]").host == "::1")
        #expect(try ListenAddress(parsing: "[::ffff:192.0.2.1]").host == "::ffff:192.0.2.1")
        #expect(try ListenAddress(parsing: "0.0.0.0").host == "0.0.0.0")
        #expect(try ListenAddress(parsing: "my-host.example").host == "my-host.example")
        #expect(throws: UsageError.self) { try ListenAddress(parsing: "[]") }
        #expect(throws: UsageError.self) { try ListenAddress(parsing: "[::1]:80") }
        #expect(throws: UsageError.self) { try ListenAddress(parsing: "[fe80::1%]") }
        #expect(throws: UsageError.self) { try ListenAddress(parsing: "host/path") }
    }
}
