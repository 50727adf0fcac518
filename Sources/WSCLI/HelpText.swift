import WSBridging
import WSServer

/// The texts `--help` and a missing COMMAND print (SPEC.md §1).
public enum HelpText {
    /// The short usage lines printed after "no COMMAND given".
    public static let usage = """
        usage: wsbridge [OPTIONS] COMMAND [ARGS...]   run COMMAND for every WebSocket connection
               wsbridge [OPTIONS] --dir=DIR           run the script in DIR named by the URL path
        Run wsbridge --help to see every option.
        """

    /// Every flag as `--name`, with its default and meaning, one group of lines per flag.
    public static func full() -> String {
        var text = """
            wsbridge \(WSBridgeVersion.current): turn a program that reads stdin and writes stdout into a WebSocket server.

            usage: wsbridge [OPTIONS] COMMAND [ARGS...]
                   wsbridge [OPTIONS] --dir=DIR

            A GET with Accept: text/event-stream runs the same COMMAND as Server-Sent Events, with
            its input in POSTs that name the session (X-WSBridge-Session).

            Every word after COMMAND goes to it as an argument, flags included; -- ends the options.
            Flags take -x or --x, and --x=VALUE or --x VALUE; switches are set by --x and cleared
            by --x=false.

            Options:

            """
        for flag in OptionFlag.allCases {
            let entry = entry(for: flag)
            var syntax = "--\(flag.rawValue)"
            if !flag.isBoolean {
                syntax += "=\(entry.placeholder)"
            } else if flag == .pty {
                // A switch with one more value: `--pty[=tty]`.
                syntax += entry.placeholder
            }
            var lines = entry.meaning
            if let defaultValue = entry.defaultValue { lines.append("Default: \(defaultValue)") }
            if syntax.count < column - 1 {
                let first = lines.removeFirst()
                text += "  " + syntax + String(repeating: " ", count: column - syntax.count) + first + "\n"
            } else {
                // Too long to share a line with its meaning.
                text += "  " + syntax + "\n"
            }
            for line in lines {
                text += "  " + String(repeating: " ", count: column) + line + "\n"
            }
        }
        text += """

            Exit status: 0 after a clean shutdown, 1 bad configuration, 2 unknown or unparsable flag,
            3 a listener cannot be opened.

            """
        return text
    }

    /// The column the meanings start at, after two spaces of indent.
    private static let column = 28

    /// What stands for the value in `--name=VALUE`, in help and in error messages.
    static func placeholder(_ flag: OptionFlag) -> String {
        entry(for: flag).placeholder
    }

    private struct Entry {
        var placeholder: String
        /// nil for --help and --version, which only act.
        var defaultValue: String?
        var meaning: [String]
    }

    private static func entry(for flag: OptionFlag) -> Entry {
        switch flag {
        case .port:
            Entry(placeholder: "N", defaultValue: "80 (443 with --ssl)",
                  meaning: ["TCP port to listen on; 0 takes a free port (logged at startup)."])
        case .address:
            Entry(placeholder: "ADDR", defaultValue: "all interfaces",
                  meaning: ["Interface to listen on; repeat for more. IPv6 in brackets: [::1]."])
        case .unixSocket:
            Entry(placeholder: "PATH", defaultValue: "off",
                  meaning: ["Also listen on this Unix socket; alone, instead of TCP. A stale",
                            "socket file is replaced; one still in use is an error."])
        case .reusePort:
            Entry(placeholder: "", defaultValue: "off",
                  meaning: ["Listen with SO_REUSEPORT: a new wsbridge starts on the same port,",
                            "then SIGTERM drains this one; a restart refuses no connection",
                            "(with sysctl net.ipv4.tcp_migrate_req=1, see README)."])
        case .framing:
            Entry(placeholder: "line|raw|length", defaultValue: "line",
                  meaning: ["line: stdout lines are text messages, messages are stdin lines.",
                            "raw: bytes both ways, stdout chunks as binary messages.",
                            "length: an opcode byte and a 32-bit length before every message."])
        case .binary:
            Entry(placeholder: "", defaultValue: "off", meaning: ["Same as --framing=raw."])
        case .passEnv:
            Entry(placeholder: "V1,V2", defaultValue: Options.defaultPassEnv.joined(separator: ","),
                  meaning: ["Parent variables the child keeps; all others are dropped."])
        case .dir:
            Entry(placeholder: "DIR", defaultValue: "off",
                  meaning: ["Run the program in DIR that the URL path names, not COMMAND."])
        case .staticDir:
            Entry(placeholder: "DIR", defaultValue: "off",
                  meaning: ["Serve the files in DIR to plain HTTP GET and HEAD requests."])
        case .cgiDir:
            Entry(placeholder: "DIR", defaultValue: "off",
                  meaning: ["Run the CGI/1.1 scripts in DIR for plain HTTP requests."])
        case .devConsole:
            Entry(placeholder: "", defaultValue: "off",
                  meaning: ["Answer plain GET with a page for trying the endpoint in a browser."])
        case .sameOrigin:
            Entry(placeholder: "", defaultValue: "off",
                  meaning: ["Refuse (403) an upgrade whose Origin differs from its Host."])
        case .origin:
            Entry(placeholder: "[scheme://]host[:port],...", defaultValue: "off",
                  meaning: ["Refuse (403) an upgrade from an Origin not listed; off allows any."])
        case .ssl:
            Entry(placeholder: "", defaultValue: "off",
                  meaning: ["Listen with TLS 1.2 or later; needs --sslcert and --sslkey."])
        case .sslCert:
            Entry(placeholder: "FILE", defaultValue: "off", meaning: ["PEM certificate chain for --ssl."])
        case .sslKey:
            Entry(placeholder: "FILE", defaultValue: "off", meaning: ["PEM private key for --ssl."])
        case .sslCA:
            Entry(placeholder: "FILE", defaultValue: "off",
                  meaning: ["Require client certificates signed by the CAs in this PEM file."])
        case .redirPort:
            Entry(placeholder: "N", defaultValue: "off",
                  meaning: ["Also listen for plain HTTP on port N and answer 301 to https."])
        case .metrics:
            Entry(placeholder: "[HOST:]PORT", defaultValue: "off",
                  meaning: ["Serve /metrics (Prometheus) and /healthz on their own listener;",
                            "HOST defaults to 127.0.0.1."])
        case .basicAuth:
            Entry(placeholder: "FILE", defaultValue: "off",
                  meaning: ["Require a user and password from this htpasswd file (bcrypt or",
                            "SHA-crypt); the child gets AUTH_TYPE=Basic and REMOTE_USER."])
        case .authCmd:
            Entry(placeholder: "PROGRAM", defaultValue: "off",
                  meaning: ["Run PROGRAM first for every request (CGI variables, 5 s);",
                            "exit 0 lets it in (NAME=value lines join the child's", "environment), exit 1 is 401, else 403."])
        case .token:
            Entry(placeholder: "", defaultValue: "off",
                  meaning: ["Let in only requests with the random token of the startup URL",
                            "(?token=, Authorization: Bearer, then a cookie)."])
        case .tokenFile:
            Entry(placeholder: "FILE", defaultValue: "off", meaning: ["--token, with the token read from FILE."])
        case .trustedProxy:
            Entry(placeholder: "CIDR,...", defaultValue: "none",
                  meaning: ["Proxies (127.0.0.1/32, unix) whose X-Forwarded-For/-Proto/-Host",
                            "(or Forwarded) name the client; from others they change nothing."])
        case .basePath:
            Entry(placeholder: "/PREFIX", defaultValue: "none",
                  meaning: ["Serve under PREFIX behind a proxy: it is removed before routing,",
                            "SCRIPT_NAME keeps it, and any other path gets 404."])
        case .maxConnsPerIP:
            Entry(placeholder: "N", defaultValue: "0 (off)",
                  meaning: ["Live sessions per client address at most; one more gets 429."])
        case .broadcast:
            Entry(placeholder: "", defaultValue: "off",
                  meaning: ["Every client of a script shares one child: each stdout message",
                            "goes to all of them, each client message to its stdin whole."])
        case .sessions:
            Entry(placeholder: "", defaultValue: "off",
                  meaning: ["Clients naming the same ?session=NAME (16-128 of A-Za-z0-9_-)",
                            "share one child; &view=1 joins output only; no name: its own."])
        case .linger:
            Entry(placeholder: "SECONDS", defaultValue: "0",
                  meaning: ["Keep a shared child this long after its last client left, with its",
                            "latest 256 KiB of output for the next one."])
        case .clientQueue:
            Entry(placeholder: "BYTES", defaultValue: "1048576",
                  meaning: ["Output waiting for one client of a shared child at most; a client",
                            "further behind gets close 1013 (min \(Options.minimumClientQueueBytes))."])
        case .maxForks:
            Entry(placeholder: "N", defaultValue: "\(Options.defaultMaxForks)",
                  meaning: ["Live children at most; one more upgrade gets 429. 0 is unlimited."])
        case .maxFrameSize:
            Entry(placeholder: "BYTES", defaultValue: "\(Options.defaultMaxFrameBytes)",
                  meaning: ["Largest inbound message; more gets close 1009. 0 is no limit.",
                            "Also bounds each stdout line and each length-framed message."])
        case .closeMs:
            Entry(placeholder: "MS", defaultValue: "0",
                  meaning: ["Added to each wait of the end-of-session ladder: 100 ms, SIGINT,",
                            "250 ms, SIGTERM, 500 ms, SIGKILL."])
        case .pingMs:
            Entry(placeholder: "MS", defaultValue: "0 (off)",
                  meaning: ["Ping every MS; a client silent for 2 x MS gets close 1001."])
        case .header:
            Entry(placeholder: "\"Name: value\"", defaultValue: "none",
                  meaning: ["Extra header on every response; repeat for more."])
        case .headerWS:
            Entry(placeholder: "\"Name: value\"", defaultValue: "none",
                  meaning: ["Extra header on 101 responses only; repeatable."])
        case .headerHTTP:
            Entry(placeholder: "\"Name: value\"", defaultValue: "none",
                  meaning: ["Extra header on plain HTTP responses only; repeatable."])
        case .passStderr:
            Entry(placeholder: "", defaultValue: "off",
                  meaning: ["Send stdout and stderr lines to the client as JSON text messages",
                            "{\"stream\":\"stdout\"|\"stderr\",\"data\":\"...\"}; needs --framing=line."])
        case .pty:
            Entry(placeholder: "[=tty]", defaultValue: "off",
                  meaning: ["Run the child on a pseudo-terminal (stdin, stdout and stderr), so",
                            "it line-buffers; echo off, \\n kept. =tty keeps the terminal's",
                            "defaults (echo, \\r\\n) for xterm.js. Size: ?cols=&rows=."])
        case .reverseLookup:
            Entry(placeholder: "", defaultValue: "off",
                  meaning: ["Set REMOTE_HOST from a reverse DNS lookup of the client."])
        case .subprotocol:
            Entry(placeholder: "P1,P2", defaultValue: "none",
                  meaning: ["Subprotocols to accept; the client's first offer in the list wins",
                            "and reaches the child as WEBSOCKET_PROTOCOL."])
        case .permessageDeflate:
            Entry(placeholder: "", defaultValue: "off",
                  meaning: ["Compress messages (RFC 7692) when the client offers it."])
        case .logLevel:
            Entry(placeholder: "LEVEL", defaultValue: "access",
                  meaning: ["Least severe level logged, one of",
                            LogLevel.allCases.map(\.rawValue).joined(separator: ", ") + "."])
        case .logFormat:
            Entry(placeholder: "text|json", defaultValue: "text",
                  meaning: ["Log lines on stderr as text, or as one JSON object per line."])
        case .help:
            Entry(placeholder: "", defaultValue: nil, meaning: ["Print this help and exit."])
        case .version:
            Entry(placeholder: "", defaultValue: nil,
                  meaning: ["Print \"wsbridge \(WSBridgeVersion.current)\" and exit."])
        }
    }
}
