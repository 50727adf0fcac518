import Testing
@testable import WSProtocol
@testable import WSPlatform
@testable import WSBridging
@testable import WSServer

/// SPEC §4: the child's CGI/1.1 environment (RFC 3875 §4.1), built from a request head alone.
@Suite("ChildEnvironment.build")
struct ChildEnvironmentTests {
    /// Inputs for a request with `headers` on `target`, from 127.0.0.1:50000 to 127.0.0.1:8080.
    static func inputs(
        target: String = "/a/b?x=1&y=2",
        headers: [(name: String, value: String)],
        parent: [String: String] = ["PATH": "/bin", "HOME": "/root", "WSB_KEEP": "yes"],
        passEnv: [String] = ["PATH", "WSB_KEEP", "NOT_SET"],
        tls: TLSSessionInfo? = nil,
        subprotocol: String? = nil
    ) -> ChildEnvironment.Inputs {
        ChildEnvironment.Inputs(
            head: HTTPRequestHead(method: "GET", target: target, headers: HTTPHeaders(headers)),
            parentEnvironment: parent, passEnv: passEnv,
            remote: SocketAddress(host: "127.0.0.1", port: 50000), local: SocketAddress(host: "127.0.0.1", port: 8080),
            uniqueID: "42", scriptName: "/", pathInfo: "/a/b", pathTranslated: "/usr/local/bin/app",
            tls: tls, subprotocol: subprotocol)
    }

    /// A TLS 1.3 session without a client certificate.
    static let tls13 = TLSSessionInfo(protocolVersion: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", serverName: "h",
                                      clientCertificate: nil)

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

    @Test("SPEC §4: a variable wsbridge sets wins over a --passenv one; a --passenv one wins over a header")
    func layersOfTheEnvironment() {
        let environment = ChildEnvironment.build(Self.inputs(
            headers: [("Host", "h")], parent: ["SERVER_NAME": "spoofed", "HTTP_HOST": "operator"],
            passEnv: ["SERVER_NAME", "HTTP_HOST"]))
        #expect(environment["SERVER_NAME"] == "h")
        #expect(environment["HTTP_HOST"] == "operator")
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
        let secure = ChildEnvironment.build(Self.inputs(headers: [("Host", "h")], tls: Self.tls13, subprotocol: "chat"))
        #expect(secure["HTTPS"] == "on")
        #expect(secure["SSL_PROTOCOL"] == "TLSv1.3")
        #expect(secure["SSL_CIPHER"] == "TLS_AES_128_GCM_SHA256")
        #expect(secure["SSL_CLIENT_VERIFY"] == nil)
        #expect(secure["REMOTE_USER"] == "")
        #expect(secure["WEBSOCKET_PROTOCOL"] == "chat")
    }

    @Test("SPEC §10: a verified client certificate gives mod_ssl's SSL_CLIENT_* variables and REMOTE_USER = its CN; headers cannot forge them")
    func clientCertificate() {
        var tls = Self.tls13
        tls.clientCertificate = .init(subject: "CN=alice,O=Example", issuer: "CN=Test CA", serial: "1A2B", commonName: "alice")
        let environment = ChildEnvironment.build(Self.inputs(
            headers: [("Host", "h"), ("SSL-Client-Verify", "forged"), ("Remote-User", "mallory")], tls: tls))
        #expect(environment["SSL_CLIENT_VERIFY"] == "SUCCESS")
        #expect(environment["SSL_CLIENT_S_DN"] == "CN=alice,O=Example")
        #expect(environment["SSL_CLIENT_S_DN_CN"] == "alice")
        #expect(environment["SSL_CLIENT_I_DN"] == "CN=Test CA")
        #expect(environment["SSL_CLIENT_M_SERIAL"] == "1A2B")
        #expect(environment["REMOTE_USER"] == "alice")
        #expect(environment["HTTP_SSL_CLIENT_VERIFY"] == "forged")
        #expect(environment["HTTP_REMOTE_USER"] == "mallory")
    }

    @Test("SPEC §4: header names upper-cased with - as _; the raw query and target are kept undecoded")
    func namesAndRawQuery() {
        let environment = ChildEnvironment.build(Self.inputs(
            target: "/a%20b?q=%41&r=1+2", headers: [("Host", "h"), ("sec-websocket-extensions", "permessage-deflate")]))
        #expect(environment["HTTP_SEC_WEBSOCKET_EXTENSIONS"] == "permessage-deflate")
        #expect(environment["QUERY_STRING"] == "q=%41&r=1+2")
        #expect(environment["REQUEST_URI"] == "/a%20b?q=%41&r=1+2")
    }

    // MARK: Header hygiene (SPEC §4; issue 9 findings 3 and 4)

    /// A header name → the variable it becomes, or nil when it is dropped.
    static let headerNames: [(header: String, variable: String?)] = [
        ("X-Foo-Bar", "HTTP_X_FOO_BAR"),
        ("x-forwarded-for", "HTTP_X_FORWARDED_FOR"),
        ("Sec-WebSocket-Key", "HTTP_SEC_WEBSOCKET_KEY"),
        ("X-1", "HTTP_X_1"),
        ("Proxy-Authorization", "HTTP_PROXY_AUTHORIZATION"),
        // CVE-2016-5385 (httpoxy): HTTP_PROXY is where HTTP clients find their proxy.
        ("Proxy", nil),
        ("proxy", nil),
        ("PROXY", nil),
        // nginx underscores_in_headers off: X_Forwarded_For would pose as X-Forwarded-For.
        ("X-Foo_Bar", nil),
        ("X_Forwarded_For", nil),
        ("_", nil),
        // nginx ignore_invalid_headers, Apache 2.4: other token characters make odd variable names.
        ("X.Dotted", nil),
        ("X!Bang", nil),
        ("X~Tilde", nil),
        ("X+Plus", nil),
        ("Ünicode", nil),
        ("", nil),
    ]

    @Test("SPEC §4: letters, digits and - only, and never Proxy (CVE-2016-5385); names with _ are dropped as nginx does",
          arguments: headerNames)
    func headerVariableName(header: String, variable: String?) {
        #expect(ChildEnvironment.headerVariableName(header) == variable)
        let environment = ChildEnvironment.build(Self.inputs(headers: [("Host", "h"), (header, "value")]))
        let fromHeader = environment.filter { $0.value == "value" }.map(\.key)
        #expect(fromHeader == (variable.map { [$0] } ?? []))
    }

    @Test("Issue 9 finding 4: X-Foo_Bar and X-Foo-Bar no longer merge into one HTTP_X_FOO_BAR")
    func noNameCollisions() {
        let environment = ChildEnvironment.build(Self.inputs(headers: [("Host", "h"), ("X-Foo_Bar", "a"), ("X-Foo-Bar", "b")]))
        #expect(environment["HTTP_X_FOO_BAR"] == "b")
    }

    /// A --passenv variable, the header that maps onto it: the parent's value stays.
    static let passEnvOverrides: [(variable: String, header: String)] = [
        ("HTTP_PROXY", "Proxy"),
        ("HTTP_X_TRUSTED", "X-Trusted"),
        ("HTTP_X_TRUSTED", "x-trusted"),
        ("HTTP_HOST", "Host"),
        ("HTTP_USER_AGENT", "User-Agent"),
    ]

    @Test("SPEC §4: no request header sets or overrides a --passenv variable", arguments: passEnvOverrides)
    func headerCannotOverridePassEnv(variable: String, header: String) {
        let environment = ChildEnvironment.build(Self.inputs(
            headers: [("Host", "h"), (header, "client"), (header, "client again")],
            parent: [variable: "operator"], passEnv: [variable]))
        #expect(environment[variable] == "operator")
        #expect(!environment.values.contains { $0.contains("client") })
    }

    @Test("SPEC §4: a header can only become an HTTP_ variable that nothing else set")
    func headersNeverReplaceAnything() {
        let headers: [(name: String, value: String)] = Self.headerNames.map { ($0.header, "client") }
            + ["Server-Name", "Remote-Addr", "Remote-User", "Auth-Type", "Https", "Path", "Listen-Fds", "Content-Type",
               "Content-Length"].map { ($0, "client") }
        let environment = ChildEnvironment.build(Self.inputs(headers: [("Host", "h")] + headers))
        for (name, value) in environment where value.contains("client") {
            #expect(name.hasPrefix("HTTP_"), "\(name)=\(value) came from a header")
        }
        #expect(environment["HTTP_PROXY"] == nil)
    }

    /// Parent variables that no child gets, even with --passenv, and what the child sees instead
    /// over a plain connection and over TLS.
    static let withheld: [(name: String, plain: String?, tls: String?)] = [
        // SPEC §4, §10, §11: identity comes only from wsbridge.
        ("REMOTE_USER", "", ""),
        ("AUTH_TYPE", "", ""),
        ("REMOTE_IDENT", "", ""),
        ("HTTPS", nil, "on"),
        ("SSL_CLIENT_VERIFY", nil, nil),
        ("SSL_CLIENT_S_DN", nil, nil),
        ("SSL_CLIENT_S_DN_CN", nil, nil),
        ("SSL_CLIENT_I_DN", nil, nil),
        ("SSL_CLIENT_M_SERIAL", nil, nil),
        ("SSL_PROTOCOL", nil, "TLSv1.3"),
        ("SSL_CIPHER", nil, "TLS_AES_128_GCM_SHA256"),
        ("WEBSOCKET_PROTOCOL", nil, nil),
        // SPEC §15: systemd socket activation (sd_listen_fds(3)) describes wsbridge's fds.
        ("LISTEN_FDS", nil, nil),
        ("LISTEN_PID", nil, nil),
        ("LISTEN_FDNAMES", nil, nil),
    ]

    @Test("SPEC §4: identity, TLS and socket-activation variables never come from the parent, even with --passenv",
          arguments: withheld)
    func withheldFromPassEnv(name: String, plain: String?, tls: String?) {
        for isTLS in [false, true] {
            let environment = ChildEnvironment.build(Self.inputs(
                headers: [("Host", "h")], parent: [name: "parent", "PATH": "/bin"], passEnv: ["PATH", name],
                tls: isTLS ? Self.tls13 : nil))
            #expect(environment[name] == (isTLS ? tls : plain), "TLS: \(isTLS)")
            #expect(environment["PATH"] == "/bin")
        }
    }

    @Test("SPEC §4: passenv names that only look like withheld ones still pass", arguments: [
        "SSL_CERT_FILE", "SSL_CERT_DIR", "LISTEN", "REMOTE_USERS", "HTTPS_PROXY", "https_proxy",
    ])
    func similarNamesPass(name: String) {
        let environment = ChildEnvironment.build(Self.inputs(headers: [("Host", "h")], parent: [name: "parent"], passEnv: [name]))
        #expect(environment[name] == "parent")
    }

    // MARK: Control characters (issue 9 finding 5)

    /// Which input carries the text.
    enum Field: String, CaseIterable, Sendable {
        case pathInfo, scriptName, pathTranslated, target, remoteHost, hostHeader, headerValue
    }

    /// A request-derived value → the value the child sees.
    static let controlValues: [(raw: String, clean: String)] = [
        ("/x\nPATH=/evil", "/x PATH=/evil"),
        ("/a\r\nb", "/a  b"),
        ("/tab\there", "/tab here"),
        ("/nul\u{0}byte", "/nul byte"),
        ("/esc\u{1B}[2J", "/esc [2J"),
        ("/del\u{7F}", "/del "),
        ("/\u{1}\u{1F}", "/  "),
        ("/plain/é/ü", "/plain/é/ü"),
        ("/keeps%0a%00encoded", "/keeps%0a%00encoded"),
    ]

    @Test("Issue 9 finding 5: every C0 control and DEL in a value wsbridge derives from the request becomes one space",
          arguments: Field.allCases, controlValues)
    func controlCharactersBecomeSpaces(field: Field, value: (raw: String, clean: String)) {
        let (raw, clean) = value
        var headers: [(name: String, value: String)] = [("Host", field == .hostHeader ? raw : "h")]
        if field == .headerValue { headers.append(("X-Value", raw)) }
        var inputs = Self.inputs(target: field == .target ? raw : "/a/b?x=1&y=2", headers: headers)
        switch field {
        case .pathInfo: inputs.pathInfo = raw
        case .scriptName: inputs.scriptName = raw
        case .pathTranslated: inputs.pathTranslated = raw
        case .remoteHost: inputs.remoteHost = raw
        case .target, .hostHeader, .headerValue: break
        }
        let environment = ChildEnvironment.build(inputs)
        let variable = switch field {
        case .pathInfo: "PATH_INFO"
        case .scriptName: "SCRIPT_NAME"
        case .pathTranslated: "PATH_TRANSLATED"
        case .target: "REQUEST_URI"
        case .remoteHost: "REMOTE_HOST"
        case .hostHeader: "HTTP_HOST"
        case .headerValue: "HTTP_X_VALUE"
        }
        #expect(environment[variable] == clean)
        for (name, value) in environment {
            #expect(!value.utf8.contains { $0 < 0x20 || $0 == 0x7F }, "\(name) keeps a control character: \(value.debugDescription)")
        }
    }

    // MARK: Unix-socket peers (issue 9 finding 7)

    @Test("websocketd 0.5: a --unixsocket client is REMOTE_ADDR and REMOTE_HOST unix-socket, with an empty REMOTE_PORT",
          arguments: ["/run/wsbridge.sock", ""])
    func unixSocketPeer(path: String) {
        var inputs = Self.inputs(headers: [("Host", "h")])
        inputs.remote = SocketAddress(unixPath: path)
        inputs.local = SocketAddress(unixPath: "/run/wsbridge.sock")
        let environment = ChildEnvironment.build(inputs)
        #expect(environment["REMOTE_ADDR"] == "unix-socket")
        #expect(environment["REMOTE_HOST"] == "unix-socket")
        #expect(environment["REMOTE_PORT"] == "")
    }
}
