import Testing
@testable import WSBridgeCore

/// SPEC §4: the child's CGI/1.1 environment (RFC 3875 §4.1), built from a request head alone.
@Suite("ChildEnvironment.build")
struct ChildEnvironmentTests {
    /// Inputs for a request with `headers` on `target`, from 127.0.0.1:50000 to 127.0.0.1:8080.
    static func inputs(
        target: String = "/a/b?x=1&y=2",
        headers: [(name: String, value: String)],
        parent: [String: String] = ["PATH": "/bin", "HOME": "/root", "WSB_KEEP": "yes"],
        passEnv: [String] = ["PATH", "WSB_KEEP", "NOT_SET"],
        isTLS: Bool = false,
        subprotocol: String? = nil
    ) -> ChildEnvironment.Inputs {
        ChildEnvironment.Inputs(
            head: HTTPRequestHead(method: "GET", target: target, headers: HTTPHeaders(headers)),
            parentEnvironment: parent, passEnv: passEnv,
            remote: SocketAddress(host: "127.0.0.1", port: 50000), local: SocketAddress(host: "127.0.0.1", port: 8080),
            uniqueID: "42", scriptName: "/", pathInfo: "/a/b", pathTranslated: "/usr/local/bin/app",
            isTLS: isTLS, subprotocol: subprotocol)
    }

    @Test("SPEC §4: the whole environment for one request, exactly; HTTP_HOST included, repeats joined with \", \"")
    func wholeEnvironment() {
        let environment = ChildEnvironment.build(Self.inputs(headers: [
            ("Host", "example.com:8080"), ("Upgrade", "websocket"), ("X-Test", "one"), ("Sec-WebSocket-Version", "13"),
            ("x-test", "two"),
        ]))
        #expect(environment == [
            "PATH": "/bin",
            "WSB_KEEP": "yes",
            "SERVER_SOFTWARE": "wsbridge/\(WSBridgeVersion.current)",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_NAME": "example.com",
            "SERVER_PORT": "8080",
            "REQUEST_METHOD": "GET",
            "REQUEST_URI": "/a/b?x=1&y=2",
            "SCRIPT_NAME": "/",
            "PATH_INFO": "/a/b",
            "PATH_TRANSLATED": "/usr/local/bin/app",
            "QUERY_STRING": "x=1&y=2",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_HOST": "127.0.0.1",
            "REMOTE_PORT": "50000",
            "UNIQUE_ID": "42",
            "AUTH_TYPE": "",
            "CONTENT_LENGTH": "",
            "CONTENT_TYPE": "",
            "REMOTE_IDENT": "",
            "REMOTE_USER": "",
            "HTTP_HOST": "example.com:8080",
            "HTTP_UPGRADE": "websocket",
            // RFC 9110 §5.1: names are case-insensitive, so X-Test and x-test are one field.
            "HTTP_X_TEST": "one, two",
            "HTTP_SEC_WEBSOCKET_VERSION": "13",
        ])
        #expect(WSBridgeVersion.current == "0.1.0")
    }

    @Test("SPEC §4: CR and LF in a header value become spaces, one space each")
    func lineBreaksReplaced() {
        let environment = ChildEnvironment.build(Self.inputs(headers: [
            ("Host", "h"), ("X-Cr", "a\rb"), ("X-Lf", "a\nb"), ("X-Crlf", "a\r\nb"),
        ]))
        #expect(environment["HTTP_X_CR"] == "a b")
        #expect(environment["HTTP_X_LF"] == "a b")
        // websocketd replaces "\n" and "\r" one by one (libwebsocketd/env.go headerNewlineToSpace).
        #expect(environment["HTTP_X_CRLF"] == "a  b")
        for (name, value) in environment {
            #expect(!value.unicodeScalars.contains { $0 == "\r" || $0 == "\n" }, "\(name) keeps a line break")
        }
    }

    @Test("SPEC §4: only --passenv variables of the parent reach the child, and only those that are set")
    func passEnvFilters() {
        let environment = ChildEnvironment.build(Self.inputs(headers: [("Host", "h")]))
        #expect(environment["HOME"] == nil)
        #expect(environment["NOT_SET"] == nil)
        #expect(environment["PATH"] == "/bin")
        let none = ChildEnvironment.build(Self.inputs(headers: [("Host", "h")], passEnv: []))
        #expect(none["PATH"] == nil && none["WSB_KEEP"] == nil)
    }

    @Test("SPEC §4: a request variable wins over a parent variable of the same name")
    func requestVariablesWin() {
        let environment = ChildEnvironment.build(Self.inputs(
            headers: [("Host", "h")], parent: ["SERVER_NAME": "spoofed", "HTTP_HOST": "spoofed"],
            passEnv: ["SERVER_NAME", "HTTP_HOST"]))
        #expect(environment["SERVER_NAME"] == "h")
        #expect(environment["HTTP_HOST"] == "h")
    }

    /// Host header → SERVER_NAME.
    static let hosts: [(host: String?, name: String)] = [
        ("example.com", "example.com"),
        ("example.com:8080", "example.com"),
        ("[::1]:8080", "::1"),
        ("[::1]", "::1"),
        ("127.0.0.1:80", "127.0.0.1"),
        (nil, "127.0.0.1"),
    ]

    @Test("RFC 3875 §4.1.14: SERVER_NAME is the Host header's host (brackets off an IPv6 literal), else the local address", arguments: hosts)
    func serverName(host: String?, name: String) {
        let headers = host.map { [(name: "Host", value: $0)] } ?? []
        let environment = ChildEnvironment.build(Self.inputs(headers: headers))
        #expect(environment["SERVER_NAME"] == name)
        #expect(environment["HTTP_HOST"] == host)
    }

    @Test("SPEC §4: HTTPS=on with TLS only; WEBSOCKET_PROTOCOL only when a subprotocol was chosen")
    func tlsAndSubprotocol() {
        let plain = ChildEnvironment.build(Self.inputs(headers: [("Host", "h")]))
        #expect(plain["HTTPS"] == nil)
        #expect(plain["WEBSOCKET_PROTOCOL"] == nil)
        let secure = ChildEnvironment.build(Self.inputs(headers: [("Host", "h")], isTLS: true, subprotocol: "chat"))
        #expect(secure["HTTPS"] == "on")
        #expect(secure["WEBSOCKET_PROTOCOL"] == "chat")
    }

    @Test("SPEC §4: header names upper-cased with - as _; the raw query and target are kept undecoded")
    func namesAndRawQuery() {
        let environment = ChildEnvironment.build(Self.inputs(
            target: "/a%20b?q=%41&r=1+2", headers: [("Host", "h"), ("sec-websocket-extensions", "permessage-deflate")]))
        #expect(environment["HTTP_SEC_WEBSOCKET_EXTENSIONS"] == "permessage-deflate")
        #expect(environment["QUERY_STRING"] == "q=%41&r=1+2")
        #expect(environment["REQUEST_URI"] == "/a%20b?q=%41&r=1+2")
    }
}
