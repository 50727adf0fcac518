import Testing
@testable import WSServer
@testable import WSCLI

/// One argument vector and the options it must produce.
struct ParseCase: Sendable, CustomTestStringConvertible {
    var arguments: [String]
    var expected: Options
    var testDescription: String { arguments.debugDescription }

    /// Defaults changed by `change`, with `flags` as the explicitly given flag names.
    init(_ arguments: [String], command: [String], flags: Set<String> = [], _ change: (inout Options) -> Void = { _ in }) {
        self.arguments = arguments
        var options = Options()
        options.command = command
        options.explicitFlags = flags
        change(&options)
        expected = options
    }
}

/// One argument vector and the exact error it must produce.
struct FailCase: Sendable, CustomTestStringConvertible {
    var arguments: [String]
    var error: UsageError
    var testDescription: String { arguments.debugDescription }

    init(_ arguments: [String], exit: Int32, _ message: String, usage: Bool = false) {
        self.arguments = arguments
        error = UsageError(message: message, exitCode: exit, showsUsage: usage)
    }
}

@Suite("OptionParser")
struct OptionParserTests {
    static let valid: [ParseCase] = [
        ParseCase(["cat"], command: ["cat"]),
        ParseCase(["--port=8080", "cat"], command: ["cat"], flags: ["port"]) { $0.port = 8080 },
        ParseCase(["-port", "8080", "cat"], command: ["cat"], flags: ["port"]) { $0.port = 8080 },
        ParseCase(["--port", "0", "cat"], command: ["cat"], flags: ["port"]) { $0.port = 0 },
        ParseCase(["-port=0080", "cat"], command: ["cat"], flags: ["port"]) { $0.port = 80 },
        ParseCase(["--address=127.0.0.1", "--address=[::1]", "-address", "localhost", "--address=::1", "cat"],
                  command: ["cat"], flags: ["address"]) { $0.addresses = ["127.0.0.1", "::1", "localhost", "::1"] },
        ParseCase(["--address=[fe80::1%eth0]", "cat"], command: ["cat"], flags: ["address"]) { $0.addresses = ["fe80::1%eth0"] },
        ParseCase(["--binary", "cat"], command: ["cat"], flags: ["binary"]) { $0.framing = .raw },
        ParseCase(["--binary", "--framing=raw", "cat"], command: ["cat"], flags: ["binary", "framing"]) { $0.framing = .raw },
        ParseCase(["--binary=false", "--framing=length", "cat"], command: ["cat"], flags: ["framing"]) { $0.framing = .length },
        ParseCase(["--framing", "LENGTH", "cat"], command: ["cat"], flags: ["framing"]) { $0.framing = .length },
        ParseCase(["--devconsole", "cat", "--port=1", "-x"], command: ["cat", "--port=1", "-x"], flags: ["devconsole"]) {
            $0.devConsole = true
        },
        ParseCase(["--sameorigin=false", "cat"], command: ["cat"]),
        ParseCase(["--sameorigin", "--sameorigin=0", "cat"], command: ["cat"]),
        ParseCase(["--sameorigin=t", "-reverselookup=1", "--permessage-deflate=TRUE", "--passstderr=True", "cat"],
                  command: ["cat"], flags: ["sameorigin", "reverselookup", "permessage-deflate", "passstderr"]) {
            $0.sameOrigin = true; $0.reverseLookup = true; $0.permessageDeflate = true; $0.passStderr = true
        },
        ParseCase(["--", "--weird", "-x"], command: ["--weird", "-x"]),
        ParseCase(["-", "a"], command: ["-", "a"]),
        ParseCase(["cat", "--help", "--version"], command: ["cat", "--help", "--version"]),
        ParseCase(["--passenv=HOME, USER,,TERM,HOME", "cat"], command: ["cat"], flags: ["passenv"]) {
            $0.passEnv = ["HOME", "USER", "TERM"]
        },
        ParseCase(["--passenv=", "cat"], command: ["cat"], flags: ["passenv"]) { $0.passEnv = [] },
        ParseCase(["--passenv=A", "--passenv=B", "cat"], command: ["cat"], flags: ["passenv"]) { $0.passEnv = ["B"] },
        ParseCase(["--origin=https://a.example, b.example:8080", "--sameorigin", "cat"], command: ["cat"],
                  flags: ["origin", "sameorigin"]) {
            $0.origins = ["https://a.example", "b.example:8080"]; $0.sameOrigin = true
        },
        ParseCase(["--subprotocol=chat,superchat", "cat"], command: ["cat"], flags: ["subprotocol"]) {
            $0.subprotocols = ["chat", "superchat"]
        },
        ParseCase(["--header=X-A: 1", "--header", "X-B:two  ", "--header-ws=X-C:\t3", "--header-http=X-D:", "cat"],
                  command: ["cat"], flags: ["header", "header-ws", "header-http"]) {
            $0.headers = [HeaderField(name: "X-A", value: "1"), HeaderField(name: "X-B", value: "two")]
            $0.headersWS = [HeaderField(name: "X-C", value: "3")]
            $0.headersHTTP = [HeaderField(name: "X-D", value: "")]
        },
        ParseCase(["--maxforks=0", "--maxframesize=0", "--closems=250", "--pingms", "30000", "cat"], command: ["cat"],
                  flags: ["maxforks", "maxframesize", "closems", "pingms"]) {
            $0.maxForks = 0; $0.maxFrameBytes = nil; $0.closeMilliseconds = 250; $0.pingMilliseconds = 30000
        },
        ParseCase(["--maxframesize=65536", "cat"], command: ["cat"], flags: ["maxframesize"]) { $0.maxFrameBytes = 65536 },
        ParseCase(["--loglevel=debug", "--log-format=JSON", "cat"], command: ["cat"], flags: ["loglevel", "log-format"]) {
            $0.logLevel = .debug; $0.logFormat = .json
        },
        ParseCase(["--dir=/srv/ws"], command: [], flags: ["dir"]) { $0.dir = "/srv/ws" },
        // Go flag: a flag that takes a value takes the next word, whatever it looks like.
        ParseCase(["--dir", "--port=1"], command: [], flags: ["dir"]) { $0.dir = "--port=1" },
        ParseCase(["--ssl", "--sslcert=c.pem", "--sslkey", "k.pem", "--sslca=ca.pem", "--redirport=80", "cat"],
                  command: ["cat"], flags: ["ssl", "sslcert", "sslkey", "sslca", "redirport"]) {
            $0.ssl = true; $0.sslCert = "c.pem"; $0.sslKey = "k.pem"; $0.sslCA = "ca.pem"; $0.redirPort = 80
        },
        ParseCase(["--redirport=0", "cat"], command: ["cat"], flags: ["redirport"]),
        ParseCase(["--unixsocket=/tmp/ws.sock", "cat"], command: ["cat"], flags: ["unixsocket"]) { $0.unixSocket = "/tmp/ws.sock" },
        ParseCase(["--reuseport", "cat"], command: ["cat"], flags: ["reuseport"]) { $0.reusePort = true },
        ParseCase(["--reuseport", "--reuseport=false", "cat"], command: ["cat"]),
        ParseCase(["--staticdir=www", "--cgidir=cgi", "cat"], command: ["cat"], flags: ["staticdir", "cgidir"]) {
            $0.staticDir = "www"; $0.cgiDir = "cgi"
        },
        ParseCase(["--passstderr", "--framing=line", "cat"], command: ["cat"], flags: ["passstderr", "framing"]) {
            $0.passStderr = true
        },
        // SPEC §12: --pty is a switch with one more value, tty; it never takes the next word.
        ParseCase(["--pty", "cat"], command: ["cat"], flags: ["pty"]) { $0.pty = .program },
        ParseCase(["-pty", "tty"], command: ["tty"], flags: ["pty"]) { $0.pty = .program },
        ParseCase(["--pty=tty", "--binary", "cat"], command: ["cat"], flags: ["pty", "binary"]) { $0.pty = .tty; $0.framing = .raw },
        ParseCase(["--pty=true", "cat"], command: ["cat"], flags: ["pty"]) { $0.pty = .program },
        ParseCase(["--pty=tty", "--pty=false", "cat"], command: ["cat"]),
        ParseCase(["--pty", "--broadcast", "cat"], command: ["cat"], flags: ["pty", "broadcast"]) { $0.pty = .program; $0.broadcast = true },
    ]

    @Test("Go flag syntax gives the expected options (SPEC.md §1)", arguments: valid)
    func parsesValid(_ testCase: ParseCase) throws {
        #expect(try OptionParser.parse(testCase.arguments) == .run(testCase.expected))
    }

    static let invalid: [FailCase] = [
        FailCase(["--bogus", "cat"], exit: 2, "wsbridge: unknown flag --bogus; see wsbridge --help"),
        FailCase(["-bogus=1", "cat"], exit: 2, "wsbridge: unknown flag --bogus; see wsbridge --help"),
        FailCase(["--bogus", "--help"], exit: 2, "wsbridge: unknown flag --bogus; see wsbridge --help"),
        FailCase(["--version", "--bogus"], exit: 2, "wsbridge: unknown flag --bogus; see wsbridge --help"),
        FailCase(["---port=1", "cat"], exit: 2, "wsbridge: bad flag syntax: ---port=1"),
        FailCase(["-=1", "cat"], exit: 2, "wsbridge: bad flag syntax: -=1"),
        FailCase(["--port"], exit: 2, "wsbridge: --port needs a value, as --port=N"),
        FailCase(["--port=abc", "cat"], exit: 2, "wsbridge: --port=abc is not a decimal integer"),
        FailCase(["--port=0x50", "cat"], exit: 2, "wsbridge: --port=0x50 is not a decimal integer"),
        FailCase(["--port=", "cat"], exit: 2, "wsbridge: --port= is not a decimal integer"),
        FailCase(["--maxframesize=99999999999999999999", "cat"], exit: 2,
                 "wsbridge: --maxframesize=99999999999999999999 is not a decimal integer"),
        FailCase(["--port=70000", "cat"], exit: 1, "wsbridge: --port=70000 is out of range; use 0 to 65535"),
        FailCase(["--port=-1", "cat"], exit: 1, "wsbridge: --port=-1 is out of range; use 0 to 65535"),
        FailCase(["--maxforks=-1", "cat"], exit: 1, "wsbridge: --maxforks=-1 is out of range; use 0 or more"),
        FailCase(["--maxframesize=-5", "cat"], exit: 1, "wsbridge: --maxframesize=-5 is out of range; use 0 or more"),
        FailCase(["--closems=86400001", "cat"], exit: 1, "wsbridge: --closems=86400001 is out of range; use 0 to 86400000"),
        FailCase(["--pingms=-1", "cat"], exit: 1, "wsbridge: --pingms=-1 is out of range; use 0 to 86400000"),
        FailCase(["--ssl=maybe", "cat"], exit: 2, "wsbridge: --ssl=maybe is not a boolean; use --ssl or --ssl=false"),
        FailCase(["--binary=", "cat"], exit: 2, "wsbridge: --binary= is not a boolean; use --binary or --binary=false"),
        FailCase(["--framing=foo", "cat"], exit: 1, "wsbridge: --framing=foo is not one of line, raw, length"),
        FailCase(["--loglevel=loud", "cat"], exit: 1,
                 "wsbridge: --loglevel=loud is not one of debug, trace, access, info, error, fatal, none"),
        FailCase(["--log-format=xml", "cat"], exit: 1, "wsbridge: --log-format=xml is not one of text, json"),
        FailCase(["--binary", "--framing=line", "cat"], exit: 1,
                 "wsbridge: --binary means --framing=raw and conflicts with --framing=line; drop one of them"),
        FailCase(["--framing=length", "--binary", "cat"], exit: 1,
                 "wsbridge: --binary means --framing=raw and conflicts with --framing=length; drop one of them"),
        FailCase(["--passstderr", "--binary", "cat"], exit: 1,
                 "wsbridge: --passstderr cannot be combined with --binary; drop one of them"),
        FailCase(["--passstderr", "--framing=length", "cat"], exit: 1,
                 "wsbridge: --passstderr needs --framing=line, not --framing=length; drop one of them"),
        FailCase(["--framing=raw", "--passstderr", "cat"], exit: 1,
                 "wsbridge: --passstderr needs --framing=line, not --framing=raw; drop one of them"),
        FailCase(["--pty", "--passstderr", "cat"], exit: 1,
                 "wsbridge: --pty gives the child one stream for stdout and stderr, so --passstderr cannot tag them; drop one of them"),
        FailCase(["--passstderr", "--pty=tty", "cat"], exit: 1,
                 "wsbridge: --pty=tty gives the child one stream for stdout and stderr, so --passstderr cannot tag them; drop one of them"),
        FailCase(["--pty", "--framing=length", "cat"], exit: 1,
                 "wsbridge: --pty cannot carry --framing=length (the terminal edits binary input); use --framing=line or raw"),
        FailCase(["--pty=xterm", "cat"], exit: 2,
                 "wsbridge: --pty=xterm is neither tty nor a boolean; use --pty, --pty=tty or --pty=false"),
        FailCase([], exit: 1, "wsbridge: no COMMAND given; name the program to run, or use --dir=DIR", usage: true),
        FailCase(["--port=8080"], exit: 1, "wsbridge: no COMMAND given; name the program to run, or use --dir=DIR", usage: true),
        FailCase(["--"], exit: 1, "wsbridge: no COMMAND given; name the program to run, or use --dir=DIR", usage: true),
        FailCase(["--dir=scripts", "cat"], exit: 1, "wsbridge: give either COMMAND (cat) or --dir, not both"),
        FailCase(["--ssl", "cat"], exit: 1, "wsbridge: --ssl needs both --sslcert=FILE and --sslkey=FILE"),
        FailCase(["--ssl", "--sslcert=c.pem", "cat"], exit: 1, "wsbridge: --ssl needs both --sslcert=FILE and --sslkey=FILE"),
        FailCase(["--sslcert=c.pem", "cat"], exit: 1, "wsbridge: --sslcert only makes sense with --ssl; add --ssl or drop it"),
        FailCase(["--ssl=false", "--sslca=ca.pem", "cat"], exit: 1,
                 "wsbridge: --sslca only makes sense with --ssl; add --ssl or drop it"),
        FailCase(["--redirport=8080", "cat"], exit: 1, "wsbridge: --redirport redirects to https and needs --ssl; add --ssl or drop it"),
        FailCase(["--ssl", "--sslcert=c", "--sslkey=k", "--redirport=443", "cat"], exit: 1,
                 "wsbridge: --redirport=443 is also the TLS port; pick another port for one of them"),
        FailCase(["--devconsole", "--staticdir=www", "cat"], exit: 1,
                 "wsbridge: --devconsole answers plain requests itself and cannot be combined with --staticdir or --cgidir"),
        FailCase(["--header=NoColon", "cat"], exit: 1, "wsbridge: --header=\"NoColon\" is not \"Name: value\""),
        FailCase(["--header=Bad Name: x", "cat"], exit: 1,
                 "wsbridge: --header=\"Bad Name: x\": the name before \":\" must be a token, as X-Powered-By"),
        FailCase(["--header=: x", "cat"], exit: 1,
                 "wsbridge: --header=\": x\": the name before \":\" must be a token, as X-Powered-By"),
        FailCase(["--header-ws=X-A: a\r\nSet-Cookie: b", "cat"], exit: 1,
                 "wsbridge: --header-ws=\"X-A: a\\r\\nSet-Cookie: b\": the value holds a control character; remove it"),
        FailCase(["--header-http=content-length: 5", "cat"], exit: 1,
                 "wsbridge: --header-http=\"content-length: 5\": wsbridge sets content-length itself; drop this header"),
        FailCase(["--address=[::1", "cat"], exit: 1, "wsbridge: --address=[::1 needs a closing bracket, as --address=[::1]"),
        FailCase(["--address=[1.2.3.4]", "cat"], exit: 1, "wsbridge: --address=[1.2.3.4] is not an IPv6 address inside brackets"),
        FailCase(["--address=127.0.0.1:8080", "cat"], exit: 1,
                 "wsbridge: --address=127.0.0.1:8080 holds a port; give it as --port, and put IPv6 in brackets"),
        FailCase(["--address=::g", "cat"], exit: 1, "wsbridge: --address=::g is not an IPv6 address"),
        FailCase(["--address=", "cat"], exit: 1, "wsbridge: --address= is not a host name or IP address"),
        FailCase(["--address=a b", "cat"], exit: 1, "wsbridge: --address=a b is not a host name or IP address"),
        FailCase(["--subprotocol=chat room", "cat"], exit: 1,
                 "wsbridge: --subprotocol: \"chat room\" is not a token (letters, digits and !#$%&'*+-.^_`|~)"),
        FailCase(["--passenv=A=B", "cat"], exit: 1, "wsbridge: --passenv names variables, and \"A=B\" is not a variable name"),
        FailCase(["--unixsocket=", "cat"], exit: 1, "wsbridge: --unixsocket needs a path, as --unixsocket=PATH"),
        FailCase(["--dir="], exit: 1, "wsbridge: --dir needs a path, as --dir=DIR"),
    ]

    @Test("bad flags exit 2, bad configurations exit 1, each with one line (SPEC.md §1)", arguments: invalid)
    func rejectsInvalid(_ testCase: FailCase) {
        #expect(throws: testCase.error) { try OptionParser.parse(testCase.arguments) }
    }

    @Test("a flag after COMMAND belongs to COMMAND, even one that would lack its value (Go flag)")
    func flagAfterCommand() throws {
        let parsed = try OptionParser.parse(["cat", "--port"])
        guard case .run(let options) = parsed else {
            Issue.record("expected .run, got \(parsed)")
            return
        }
        #expect(options.command == ["cat", "--port"])
        #expect(options.port == nil)
    }

    @Test("--help, -h and -help print the full help whatever else is given (Go flag ErrHelp)",
          arguments: [["--help"], ["-h"], ["-help"], ["--help=false"], ["--port=8080", "-h", "--bogus"], ["--h", "cat"]])
    func help(_ arguments: [String]) throws {
        #expect(try OptionParser.parse(arguments) == .help(HelpText.full()))
    }

    @Test("--version prints \"wsbridge VERSION\" and needs no COMMAND (SPEC.md §1)",
          arguments: [["--version"], ["-version", "cat"], ["--version=true"], ["--port=1", "--version"]])
    func version(_ arguments: [String]) throws {
        #expect(try OptionParser.parse(arguments) == .version("wsbridge 0.1.0"))
    }

    @Test("--version=false changes nothing")
    func versionFalse() throws {
        var expected = Options()
        expected.command = ["cat"]
        #expect(try OptionParser.parse(["--version=false", "cat"]) == .run(expected))
    }

    @Test("a boolean flag never takes the next word as its value (Go flag)")
    func booleansDoNotConsume() throws {
        for flag in OptionFlag.allCases where flag.isBoolean && ![.help, .version, .ssl].contains(flag) {
            let parsed = try OptionParser.parse(["--\(flag.rawValue)", "true"])
            guard case .run(let options) = parsed else {
                Issue.record("--\(flag.rawValue): expected .run, got \(parsed)")
                continue
            }
            #expect(options.command == ["true"], "--\(flag.rawValue)")
            #expect(options.explicitFlags == [flag.rawValue])
        }
    }

    @Test("every flag that takes a value exits 2 without one")
    func valueFlagsNeedValues() {
        for flag in OptionFlag.allCases where !flag.isBoolean {
            #expect(throws: UsageError(message: "wsbridge: --\(flag.rawValue) needs a value, as --\(flag.rawValue)=\(HelpText.placeholder(flag))",
                                       exitCode: 2)) {
                try OptionParser.parse(["-\(flag.rawValue)"])
            }
        }
    }
}
