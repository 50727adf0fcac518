import Foundation
import Glibc
import Testing

/// SPEC §10, line by line, against the real server and peers that share none of its code:
/// Python's `ssl` (`Fixtures/tls_probe.py`, which also relays wss:// for the Swift WebSocket test
/// client), `openssl s_client` and `curl`. Certificates are made per test (`TestCertificates`).
@Suite("TLS")
struct TLSTests {
    /// Prints its pid, then echoes stdin.
    static var echo: [String] { [TestPaths.fixture("echo-cat.sh")] }
    static var site: String { TestPaths.fixture("site") }

    /// `--ssl` with the certificate and key of `name`.
    static func tlsFlags(_ certificates: TestCertificates, _ name: String = "server") -> [String] {
        ["--ssl", "--sslcert=\(certificates.certificate(name))", "--sslkey=\(certificates.key(name))"]
    }

    /// `--ssl --sslca`: a server certificate signed by the test CA, clients signed by it required.
    static func clientCAFlags(_ certificates: TestCertificates) -> [String] {
        tlsFlags(certificates, "ca-server") + ["--sslca=\(certificates.certificate("ca"))"]
    }

    /// A probe that checks the server against the self-signed certificate and pins `version`.
    static func verified(_ certificates: TestCertificates, version: String? = nil) -> TLSProbeOptions {
        TLSProbeOptions(caFile: certificates.certificate("server"), minVersion: version, maxVersion: version)
    }

    /// A probe that presents `client`'s certificate (nil: none) to a `--sslca` server as `localhost`.
    static func asClient(_ client: String?, _ certificates: TestCertificates, version: String? = nil) -> TLSProbeOptions {
        TLSProbeOptions(serverName: "localhost", caFile: certificates.certificate("ca"),
                        clientCertificate: client.map { (certificates.certificate($0), certificates.key($0)) },
                        minVersion: version, maxVersion: version)
    }

    /// Runs `openssl s_client` against `port` with `arguments`, stdin `input` then its end.
    static func sClient(port: UInt16, _ arguments: [String], input: String = "") throws -> CommandResult {
        try PeerProcess.run("openssl", ["s_client", "-connect", "127.0.0.1:\(port)"] + arguments, input: input, timeout: .seconds(15))
    }

    /// The log lines of failed TLS connections so far.
    static func tlsFailures(_ server: ServerProcess) -> [LogRecord] {
        server.logRecords().filter { $0.message == "TLS HANDSHAKE FAILED" || $0.message == "TLS FAILED" }
    }

    // MARK: Protocol versions and ALPN

    @Test("SPEC §10: wss:// echoes through cat over TLS 1.2 and over TLS 1.3, a 100 KB message included", arguments: ["1.2", "1.3"])
    func echoOverTLS(version: String) async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.tlsFlags(certificates), command: Self.echo) { server in
            let relay = try TLSRelay.connect(port: server.port, Self.verified(certificates, version: version))
            #expect(relay.handshake.version == "TLSv\(version)")
            #expect(relay.handshake.peerCommonName == "localhost", "the probe verified the server's certificate")
            let pid = try relay.client.receivePID()
            try relay.client.sendText("hello over TLS \(version)")
            #expect(try relay.client.receiveMessage() == .text("hello over TLS \(version)"))
            // Several records each way, and a message split across them.
            let large = String((0..<100_000).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
            try relay.client.sendText(large, fragmentSize: 7_000)
            #expect(try relay.client.receiveMessage(timeout: .seconds(10)) == .text(large))
            let (_, close) = try relay.client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
            relay.finish()
            #expect(Self.tlsFailures(server).isEmpty, "\(Self.tlsFailures(server))")
        }
    }

    @Test("SPEC §10: TLS 1.0 and 1.1 are refused with a protocol_version alert (Python's ssl and openssl s_client), each logged once",
          arguments: ["1.0", "1.1"])
    func oldVersionsRefused(version: String) async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.tlsFlags(certificates), command: Self.echo) { server in
            let report = try TLSProbe.handshake(port: server.port, TLSProbeOptions(maxVersion: version))
            #expect(!report.ok && report.stage == "handshake", "\(report)")
            // The server's alert, not the client's own refusal to offer the version.
            #expect(report.error?.contains("PROTOCOL_VERSION") == true, "\(report)")

            let flag = version == "1.0" ? "-tls1" : "-tls1_1"
            let result = try Self.sClient(port: server.port, [flag, "-cipher", "DEFAULT@SECLEVEL=0"])
            #expect(result.exit != .exited(0), "s_client \(flag) succeeded:\n\(result.stdout)")
            #expect((result.stdout + result.stderr).contains("alert protocol version"), "\(result.stdout)\n\(result.stderr)")

            _ = server.waitForLog { _ in Self.tlsFailures(server).count >= 2 }
            let failures = Self.tlsFailures(server)
            #expect(failures.count == 2, "\(failures)")
            #expect(failures.allSatisfy { $0.message == "TLS HANDSHAKE FAILED" && $0["reason"] == "unsupported protocol" }, "\(failures)")
            #expect(!server.logRecords().contains { $0.message == "CONNECT" })
        }
    }

    @Test("SPEC §10: ALPN selects http/1.1 when offered; a client offering only h2 connects with no protocol selected",
          arguments: [(["http/1.1"], "http/1.1"), (["h2"], nil), (["h2", "http/1.1"], "http/1.1")] as [([String], String?)])
    func alpn(offered: [String], selected: String?) async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.tlsFlags(certificates), command: Self.echo) { server in
            for version in ["1.2", "1.3"] {
                var options = Self.verified(certificates, version: version)
                options.alpn = offered
                let report = try TLSProbe.handshake(port: server.port, options)
                #expect(report.ok, "\(report)")
                #expect(report.alpn == selected, "TLS \(version): \(report)")
                // SPEC §5: a plain GET on a WebSocket endpoint, answered over the connection.
                #expect(report.response?.status == 426, "TLS \(version): \(report)")
            }
            if offered == ["h2"] {
                let result = try Self.sClient(port: server.port, ["-alpn", "h2", "-CAfile", certificates.certificate("server")])
                #expect(result.stdout.contains("No ALPN negotiated"), "\(result.stdout)")
                #expect(result.stdout.contains("Verify return code: 0 (ok)"), "\(result.stdout)")
            }
        }
    }

    // MARK: Plain requests over TLS

    @Test("SPEC §10: https:// serves --staticdir files to curl --cacert (HTTP/1.1 and an h2 offer alike) and logs each request")
    func httpsStaticFiles() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let expected = try String(contentsOfFile: Self.site + "/index.html", encoding: .utf8)
        try await withServer(flags: Self.tlsFlags(certificates) + ["--staticdir=\(Self.site)"], command: Self.echo) { server in
            for extra in [["--http1.1"], ["--http2"]] {
                let result = try PeerProcess.run("curl", ["-sS", "--max-time", "10", "--cacert", certificates.certificate("server"),
                                                          "-w", "\n%{http_code} %{http_version} %{ssl_verify_result}",
                                                          "https://127.0.0.1:\(server.port)/index.html"] + extra)
                #expect(result.exit == .exited(0), "curl \(extra): \(result.stderr)")
                #expect(result.stdout == expected + "\n200 1.1 0", "curl \(extra): \(result.stdout.suffix(200))")
            }
            let requests = server.logRecords().filter { $0.message == "HTTP" && $0["path"] == "/index.html" }
            #expect(requests.count == 2 && requests.allSatisfy { $0["status"] == "200" }, "\(requests)")
        }
    }

    // MARK: Both directions over TLS (SPEC §7)

    @Test("SPEC §7, §10: over wss:// a client sending 2 MiB ahead while cat echoes completes, every echo in order", .timeLimit(.minutes(1)))
    func fullDuplexOverTLS() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.tlsFlags(certificates), command: Self.echo) { server in
            let relay = try TLSRelay.connect(port: server.port, Self.verified(certificates))
            let pid = try relay.client.receivePID()
            let count = 2048
            let lines = (0..<count).map { "\($0) " + String(repeating: "d", count: 1000) }
            try relay.client.pump(sending: lines.flatMap { WebSocketTestClient.encodeText($0) })
            let echoes = try relay.client.receiveMessages(count)
            #expect(echoes == lines.map { .text($0) }, "\(echoes.count) echoes, first difference at \(zip(echoes, lines).enumerated().first { $0.element.0 != TestMessage.text($0.element.1) }?.offset ?? -1)")
            #expect(try relay.client.closeHandshake().close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
            relay.finish()
        }
    }

    @Test("SPEC §7, §10: 4 MB that a child writes just before it exits all reach a slow wss:// reader, in order, then close 1000",
          .timeLimit(.minutes(1)))
    func lastOutputReachesSlowReader() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let count = 40_000
        let padding = String(repeating: "p", count: 100)
        let command = ["/bin/sh", "-c", "echo $$; seq 1 \(count) | sed 's/$/ \(padding)/'"]
        try await withServer(flags: Self.tlsFlags(certificates), command: command) { server in
            let relay = try TLSRelay.connect(port: server.port, Self.verified(certificates))
            let pid = try relay.client.receivePID()
            // Every buffer fills before the first read.
            try await Task.sleep(for: .milliseconds(300))
            var numbers: [Int] = []
            var close: TestMessage?
            let deadline = Deadline(after: .seconds(40))
            while close == nil && !deadline.hasPassed {
                let message = try relay.client.receiveMessage(timeout: .seconds(5))
                switch message {
                case .text(let text):
                    numbers.append(Int(text.prefix { $0 != " " }) ?? -1)
                    if numbers.count % 4000 == 0 { try await Task.sleep(for: .milliseconds(100)) }
                case .close:
                    close = message
                case .binary:
                    Issue.record("a binary message in line mode")
                }
            }
            #expect(numbers.count == count && numbers == Array(1...count),
                    "got \(numbers.count) lines, first gap at \(zip(numbers, 1...).first { $0 != $1 }.map { "\($0)" } ?? "-")")
            #expect(close == .close(code: 1000, reason: ""))
            try relay.client.answerCloseAndWaitForEnd(code: 1000)
            ProcessGroupProbe.expectGone(pid, server: server)
            relay.finish()
        }
    }

    // MARK: Client certificates

    @Test("SPEC §10: without --sslca the server never asks for a client certificate (Python sees no CertificateRequest; s_client: no CA names)")
    func noCertificateRequestWithoutClientCA() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.tlsFlags(certificates), command: Self.echo) { server in
            for version in ["1.2", "1.3"] {
                let report = try TLSProbe.handshake(port: server.port, Self.verified(certificates, version: version))
                #expect(report.ok && report.certificateRequested == false, "TLS \(version): \(report)")
            }
            for flag in ["-tls1_2", "-tls1_3"] {
                let result = try Self.sClient(port: server.port, [flag])
                #expect(result.stdout.contains("No client certificate CA names sent"), "s_client \(flag):\n\(result.stdout)")
            }
        }
    }

    @Test("SPEC §10: with --sslca the server asks for a certificate naming its CA; none, or one from another CA, fails the handshake and starts nothing",
          arguments: ["1.2", "1.3"])
    func clientCertificateRequired(version: String) async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.clientCAFlags(certificates), command: Self.echo) { server in
            let flag = version == "1.2" ? "-tls1_2" : "-tls1_3"
            let result = try Self.sClient(port: server.port, [flag, "-servername", "localhost"])
            #expect(result.stdout.contains("Acceptable client certificate CA names"), "s_client:\n\(result.stdout)")
            #expect(result.stdout.contains("CN = wsbridge test CA") || result.stdout.contains("CN=wsbridge test CA"), "s_client:\n\(result.stdout)")

            let before = Self.tlsFailures(server).count
            for client in [nil, "impostor"] as [String?] {
                let report = try TLSProbe.handshake(port: server.port, Self.asClient(client, certificates, version: version))
                #expect(!report.ok, "\(client ?? "no certificate") over TLS \(version) got through: \(report)")
                #expect(report.certificateRequested == true, "\(report)")
                #expect(report.response == nil, "an answer without a valid certificate: \(report)")
            }
            // One failure line each (s_client above sent no certificate either).
            let failed = server.waitForLog { _ in Self.tlsFailures(server).count >= before + 2 } != nil
            #expect(failed, "\(Self.tlsFailures(server))")
            #expect(Self.tlsFailures(server).allSatisfy { $0.message == "TLS HANDSHAKE FAILED" }, "\(Self.tlsFailures(server))")
            #expect(!server.logRecords().contains { $0.message == "CONNECT" || $0.message == "HTTP" || $0.message == "REFUSED" })
        }
    }

    @Test("SPEC §10: alice's certificate (signed by --sslca) gets in; the child sees SSL_CLIENT_VERIFY, SSL_CLIENT_S_DN, SSL_CLIENT_I_DN, SSL_CLIENT_M_SERIAL as openssl x509 prints them, and REMOTE_USER=alice",
          arguments: ChildKind.allCases)
    func clientCertificateVariables(kind: ChildKind) async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let subject = try certificates.x509Field("subject", of: "alice")
        let issuer = try certificates.x509Field("issuer", of: "alice")
        let serial = try certificates.x509Field("serial", of: "alice")
        #expect(subject == "CN=alice,O=wsbridge tests" && issuer == "CN=wsbridge test CA,O=wsbridge tests" && serial == "0A5E71A1CE")
        try await withServer(flags: Self.clientCAFlags(certificates) + EnvironmentDump.flags, command: []) { server in
            let relay = try TLSRelay.open(port: server.port, Self.asClient("alice", certificates))
            #expect(relay.handshake.certificateRequested == true)
            let dump = try EnvironmentDump.read(kind, client: relay.client, target: "/env.sh", host: "localhost:\(server.port)")
            #expect(dump["SSL_CLIENT_VERIFY"] == "SUCCESS")
            #expect(dump["SSL_CLIENT_S_DN"] == subject)
            #expect(dump["SSL_CLIENT_S_DN_CN"] == "alice")
            #expect(dump["SSL_CLIENT_I_DN"] == issuer)
            #expect(dump["SSL_CLIENT_M_SERIAL"] == serial)
            #expect(dump["REMOTE_USER"] == "alice")
            #expect(dump["HTTPS"] == "on")
            #expect(dump["SSL_PROTOCOL"] == relay.handshake.version)
            #expect(dump["SSL_CIPHER"] == relay.handshake.cipher)
            expectGroupGone(dump.pid, within: ProcessGroupProbe.defaultTimeout, server: server)
            relay.finish()
        }
    }

    /// The NAME=value lines of a CGI `env.sh` answer.
    static func variables(in body: String) -> [String: String] {
        var variables: [String: String] = [:]
        for line in body.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            variables[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return variables
    }

    @Test("SPEC §10: a resumed session (a ticket) gives the child the same variables, the client certificate's included",
          arguments: ["1.2", "1.3"])
    func resumedSessionVariables(version: String) async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let subject = try certificates.x509Field("subject", of: "alice")
        let serial = try certificates.x509Field("serial", of: "alice")
        try await withServer(flags: Self.clientCAFlags(certificates) + EnvironmentDump.flags, command: []) { server in
            var options = Self.asClient("alice", certificates, version: version)
            options.resumes = true
            options.path = "/env.sh"
            let report = try TLSProbe.handshake(port: server.port, options)
            #expect(report.ok && report.sessionReused == true, "\(report)")
            #expect(report.response?.status == 200, "\(report)")
            let variables = Self.variables(in: report.response?.body ?? "")
            #expect(variables["SSL_CLIENT_VERIFY"] == "SUCCESS")
            #expect(variables["SSL_CLIENT_S_DN"] == subject)
            #expect(variables["SSL_CLIENT_M_SERIAL"] == serial)
            #expect(variables["REMOTE_USER"] == "alice")
            #expect(variables["HTTPS"] == "on")
            #expect(variables["SSL_PROTOCOL"] == "TLSv\(version)")
        }
    }

    @Test("Issue 11: a TLS 1.3 handshake sends one session ticket (OpenSSL's default is two; Go's crypto/tls sends one), and the request is answered")
    func oneTicketPerHandshake() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.tlsFlags(certificates) + ["--staticdir=\(Self.site)"], command: Self.echo) { server in
            let result = try Self.sClient(port: server.port, ["-tls1_3", "-msg", "-quiet"],
                                          input: "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            let output = result.stdout + result.stderr
            let tickets = output.split(separator: "\n").filter { $0.contains("NewSessionTicket") }
            #expect(tickets.count == 1, "\(output)")
            #expect(output.contains("HTTP/1.1 200"), "\(output)")
        }
    }

    @Test("SPEC §10: with --sslca a request whose Host differs from the SNI gets 421; the same name in another case or with a port does not")
    func misdirectedRequest() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.clientCAFlags(certificates), command: Self.echo) { server in
            for (host, status) in [("elsewhere.example", 421), ("127.0.0.1:\(server.port)", 421), ("LocalHost:\(server.port)", 426),
                                   ("localhost", 426)] {
                var options = Self.asClient("alice", certificates)
                options.hostHeader = host
                let report = try TLSProbe.handshake(port: server.port, options)
                #expect(report.ok && report.response?.status == status, "Host \(host): \(report)")
            }
            let refused = server.logRecords().filter { $0.message == "REFUSED" && $0["status"] == "421" }
            #expect(refused.count == 2, "\(refused)")
        }
    }

    // MARK: Every TLS session

    @Test("SPEC §10: every TLS session gives the child HTTPS=on, SSL_PROTOCOL and SSL_CIPHER as negotiated, and no client variables without --sslca",
          arguments: ChildKind.allCases, ["1.2", "1.3"])
    func sessionVariables(kind: ChildKind, version: String) async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.tlsFlags(certificates) + EnvironmentDump.flags, command: []) { server in
            let relay = try TLSRelay.open(port: server.port, Self.verified(certificates, version: version))
            let dump = try EnvironmentDump.read(kind, client: relay.client, target: "/env.sh")
            #expect(dump["HTTPS"] == "on")
            #expect(dump["SSL_PROTOCOL"] == "TLSv\(version)")
            #expect(dump["SSL_CIPHER"] == relay.handshake.cipher && relay.handshake.cipher?.isEmpty == false)
            #expect(dump["SERVER_PORT"] == String(server.port))
            #expect(dump["REMOTE_USER"] ?? "" == "")
            #expect(!dump.names.contains { $0.hasPrefix("SSL_CLIENT_") }, "\(dump.names.filter { $0.hasPrefix("SSL_") })")
            expectGroupGone(dump.pid, within: ProcessGroupProbe.defaultTimeout, server: server)
            relay.finish()
        }
    }

    @Test("SPEC §1, §10: the startup line shows wss:// URLs, and https:// when pages are served (--staticdir, --devconsole)",
          arguments: [([], "wss://"), (["--staticdir=\(TestPaths.fixture("site"))"], "https://"), (["--devconsole"], "https://")]
            as [([String], String)])
    func startupLine(flags: [String], scheme: String) async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.tlsFlags(certificates) + flags, command: Self.echo) { server in
            let line = server.stderrText.split(separator: "\n").first { $0.contains("listening") }.map(String.init) ?? ""
            #expect(line.contains("\(scheme)127.0.0.1:\(server.port)/"), "\(line)")
            #expect(!line.contains("ws://") && !line.contains("http://"), "\(line)")
        }
    }

    @Test("SPEC §1, §10: with --ssl and no --port the server listens on 443 (or names 443 when it cannot)")
    func defaultPort443() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let stdout = try OutputCollector()
        let stderr = try OutputCollector()
        let process = try ServerProcess.launch(arguments: ["--address=127.0.0.1"] + Self.tlsFlags(certificates) + Self.echo,
                                               stdout: stdout, stderr: stderr)
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            if ServerProcess.waitForExit(process, timeout: .seconds(5)) == nil { kill(process.processIdentifier, SIGKILL) }
            stdout.stop()
            stderr.stop()
        }
        let settled = Deadline.poll(for: .seconds(10)) { stderr.text.contains("listening") || !process.isRunning }
        #expect(settled, "\(stderr.text)")
        if process.isRunning {
            #expect(stderr.text.contains("wss://127.0.0.1:443/"), "\(stderr.text)")
        } else {
            // Port 443 taken, or no permission to bind it: the error says which port (SPEC §1: exit 3).
            #expect(ServerProcess.waitForExit(process, timeout: .seconds(1)) == .exited(3), "\(stderr.text)")
            #expect(stderr.text.contains("443"), "\(stderr.text)")
        }
    }

    @Test("SPEC §10: --unixsocket stays plain beside the TLS port: ws:// there without HTTPS, wss:// on TCP with it")
    func unixSocketStaysPlain() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let path = UnixSocketTests.temporarySocketPath()
        try await withServer(flags: Self.tlsFlags(certificates) + EnvironmentDump.flags + ["--unixsocket=\(path)"], command: []) { server in
            let plain = try EnvironmentDump.read(.webSocket, client: try UnixSocketTests.connectUnix(path), target: "/env.sh")
            #expect(plain["HTTPS"] == nil)
            #expect(plain["SSL_PROTOCOL"] == nil)
            #expect(plain["REMOTE_ADDR"] == "unix-socket")
            expectGroupGone(plain.pid, within: ProcessGroupProbe.defaultTimeout, server: server)

            let relay = try TLSRelay.open(port: server.port, Self.verified(certificates))
            let secure = try EnvironmentDump.read(.webSocket, client: relay.client, target: "/env.sh")
            #expect(secure["HTTPS"] == "on")
            expectGroupGone(secure.pid, within: ProcessGroupProbe.defaultTimeout, server: server)
            relay.finish()
            #expect(Deadline.poll(for: .seconds(5)) { server.stderrText.contains("unix:\(path)") }, "\(server.stderrText)")
        }
    }

    // MARK: Plain HTTP: --redirport, and on the TLS port

    /// A TCP port that was free a moment ago (for flags that do not take 0).
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestClientError.system("socket", errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestClientError.system("bind", errno) }
        return UInt16(bigEndian: address.sin_port)
    }

    /// Sends `request` on a plain connection to `port` and reads the whole answer.
    static func plainRequest(port: UInt16, _ request: String) throws -> HTTPTestResponse {
        let client = try WebSocketTestClient(port: port)
        try client.sendRaw(Array(request.utf8))
        return try client.readResponse()
    }

    @Test("SPEC §10: --redirport answers 301 to https://HOST:PORT/path?query keeping path and query, 400 without Host; curl -L follows it")
    func redirectPort() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let redirect = try Self.freePort()
        try await withServer(flags: Self.tlsFlags(certificates) + ["--redirport=\(redirect)", "--staticdir=\(Self.site)"],
                             command: Self.echo) { server in
            // The line after the startup line that `withServer` waited for: it may still be on its way.
            #expect(Deadline.poll(for: .seconds(5)) { server.stderrText.contains("redirecting plain HTTP on 127.0.0.1:\(redirect) to https") },
                    "\(server.stderrText)")
            let tls = server.port
            for (host, target, location) in [
                ("127.0.0.1:\(redirect)", "/docs/a%20b.txt?x=1&y=%2F", "https://127.0.0.1:\(tls)/docs/a%20b.txt?x=1&y=%2F"),
                ("localhost:\(redirect)", "/", "https://localhost:\(tls)/"),
                ("example.test", "/index.html?", "https://example.test:\(tls)/index.html?"),
                ("[::1]:\(redirect)", "/v6", "https://[::1]:\(tls)/v6"),
            ] {
                let response = try Self.plainRequest(port: redirect, "GET \(target) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n")
                #expect(response.statusCode == 301, "\(host) \(target): \(response.headText)")
                #expect(response.value(of: "Location") == location, "\(host) \(target): \(response.headText)")
            }
            // An upgrade request is redirected too: the redirect port never starts a session.
            let upgrade = try WebSocketTestClient(port: redirect)
            try upgrade.sendRaw(WebSocketTestClient.upgradeRequest(path: "/ws?q=1", key: WebSocketTestClient.randomKey()))
            let upgradeResponse = try upgrade.readResponseHead()
            #expect(upgradeResponse.statusCode == 301 && upgradeResponse.value(of: "Location") == "https://127.0.0.1:\(tls)/ws?q=1",
                    "\(upgradeResponse.headText)")
            // No Host, or an empty one (RFC 9112 §3.2 allows it), so nowhere to send the client.
            for request in ["GET /x HTTP/1.1\r\nConnection: close\r\n\r\n", "GET /x HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
                            "GET /x HTTP/1.1\r\nHost: :\(redirect)\r\nConnection: close\r\n\r\n"] {
                let response = try Self.plainRequest(port: redirect, request)
                #expect(response.statusCode == 400, "\(request.debugDescription): \(response.headText)")
                #expect(response.value(of: "Location") == nil)
            }
            let expected = try String(contentsOfFile: Self.site + "/index.html", encoding: .utf8)
            let curl = try PeerProcess.run("curl", ["-sS", "-L", "--max-time", "10", "--cacert", certificates.certificate("server"),
                                                    "-w", "\n%{num_redirects} %{url_effective}", "http://127.0.0.1:\(redirect)/index.html"])
            #expect(curl.exit == .exited(0), "\(curl.stderr)")
            #expect(curl.stdout == expected + "\n1 https://127.0.0.1:\(tls)/index.html", "\(curl.stdout.suffix(200))")
            #expect(!server.logRecords().contains { $0.message == "CONNECT" })
        }
    }

    @Test("SPEC §10: a plain HTTP request on the TLS port gets a plain-text 400 saying to use https, then the connection closes")
    func plainHTTPOnTLSPort() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        try await withServer(flags: Self.tlsFlags(certificates), command: Self.echo) { server in
            for request in ["GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
                            "G"] {
                let client = try WebSocketTestClient(port: server.port)
                try client.sendRaw(Array(request.utf8))
                let response = try client.readResponse()
                #expect(response.statusCode == 400, "\(request.debugDescription): \(response.headText)")
                #expect(response.value(of: "Content-Type")?.hasPrefix("text/plain") == true)
                #expect(String(decoding: response.body, as: UTF8.self).contains("https://"), "\(response.body)")
                try client.waitForEndOfStream()
            }
            // Logged once the answer is out, so possibly after the client read it.
            _ = server.waitForLog { _ in Self.tlsFailures(server).count >= 3 }
            let failures = Self.tlsFailures(server)
            #expect(failures.count == 3 && failures.allSatisfy { $0["reason"]?.contains("plain HTTP") == true }, "\(failures)")
            // The TLS port still speaks TLS.
            let report = try TLSProbe.handshake(port: server.port, Self.verified(certificates))
            #expect(report.ok && report.response?.status == 426, "\(report)")
        }
    }

    // MARK: Startup errors

    /// A file that cannot serve, and which flag gets it.
    enum BadFile: String, CaseIterable, CustomTestStringConvertible {
        case missingCertificate, directoryAsKey, emptyCertificate, derCertificate, derKey, pkcs12Certificate, pkcs12Key,
             encryptedKey, keyOfAnotherCertificate, keyOfAnotherType, keyAsCertificate, derClientCA, missingClientCA

        var testDescription: String { rawValue }

        /// Makes the bad file (with `openssl` where it is a conversion) and returns the flags and
        /// the path the error line must name.
        func prepare(_ certificates: TestCertificates) throws -> (flags: [String], path: String) {
            let certificate = certificates.certificate("server")
            let key = certificates.key("server")
            func flags(certificate: String = certificate, key: String = key, ca: String? = nil) -> [String] {
                ["--ssl", "--sslcert=\(certificate)", "--sslkey=\(key)"] + (ca.map { ["--sslca=\($0)"] } ?? [])
            }
            switch self {
            case .missingCertificate:
                let path = certificates.path("no-such-cert.pem")
                return (flags(certificate: path), path)
            case .directoryAsKey:
                return (flags(key: certificates.directory), certificates.directory)
            case .emptyCertificate:
                let path = certificates.path("empty.pem")
                _ = FileManager.default.createFile(atPath: path, contents: Data())
                return (flags(certificate: path), path)
            case .derCertificate:
                let path = certificates.path("server.der")
                try certificates.openssl(["x509", "-in", certificate, "-outform", "DER", "-out", path])
                return (flags(certificate: path), path)
            case .derKey:
                let path = certificates.path("server-key.der")
                try certificates.openssl(["pkey", "-in", key, "-outform", "DER", "-out", path])
                return (flags(key: path), path)
            case .pkcs12Certificate, .pkcs12Key:
                let path = certificates.path("server.p12")
                try certificates.openssl(["pkcs12", "-export", "-in", certificate, "-inkey", key, "-passout", "pass:", "-out", path])
                return self == .pkcs12Certificate ? (flags(certificate: path), path) : (flags(key: path), path)
            case .encryptedKey:
                let path = certificates.path("encrypted.key")
                try certificates.openssl(["pkey", "-in", key, "-aes256", "-passout", "pass:secret", "-out", path])
                return (flags(key: path), path)
            case .keyOfAnotherCertificate:
                let other = certificates.key("reloaded")
                return (flags(key: other), other)
            case .keyOfAnotherType:
                let path = certificates.path("ed25519.key")
                try certificates.openssl(["genpkey", "-algorithm", "ed25519", "-out", path])
                return (flags(key: path), path)
            case .keyAsCertificate:
                return (flags(certificate: key), key)
            case .derClientCA:
                let path = certificates.path("ca.der")
                try certificates.openssl(["x509", "-in", certificates.certificate("ca"), "-outform", "DER", "-out", path])
                return (flags(ca: path), path)
            case .missingClientCA:
                let path = certificates.path("no-such-ca.pem")
                return (flags(ca: path), path)
            }
        }
    }

    @Test("SPEC §10: an unreadable, empty, DER, PKCS#12 or encrypted file, or a key not matching the certificate: one line naming the file, exit 1",
          arguments: BadFile.allCases)
    func startupFileErrors(_ bad: BadFile) throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let (flags, path) = try bad.prepare(certificates)
        let result = try runWSBridge(["--port=0", "--address=127.0.0.1"] + flags + Self.echo)
        #expect(result.exit == .exited(1), "stderr: \(result.stderr)")
        #expect(result.stderrLines.count == 1, "stderr: \(result.stderr)")
        #expect(result.stderr.contains(path), "the line does not name \(path): \(result.stderr)")
        #expect(!result.stderr.contains("listening"))
        switch bad {
        case .derCertificate, .derKey, .pkcs12Certificate, .pkcs12Key, .derClientCA:
            // What to do: the conversion command.
            #expect(result.stderr.contains("openssl "), "no conversion command: \(result.stderr)")
        case .encryptedKey:
            #expect(result.stderr.contains("encrypted"), "\(result.stderr)")
        case .keyOfAnotherCertificate, .keyOfAnotherType:
            #expect(result.stderr.contains("does not match"), "\(result.stderr)")
        case .missingCertificate, .directoryAsKey, .emptyCertificate, .keyAsCertificate, .missingClientCA:
            break
        }
    }

    @Test("SPEC §10: --sslcert, --sslkey, --sslca or --redirport without --ssl, and --ssl without both files: exit 1, one line",
          arguments: [["--sslcert=C"], ["--sslkey=K"], ["--sslca=A"], ["--redirport=8443"], ["--ssl=false", "--sslcert=C", "--sslkey=K"],
                      ["--ssl"], ["--ssl", "--sslcert=C"], ["--ssl", "--sslkey=K"]])
    func flagsWithoutSSL(_ flags: [String]) throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let resolved = flags.map {
            $0.replacingOccurrences(of: "=C", with: "=" + certificates.certificate("server"))
                .replacingOccurrences(of: "=K", with: "=" + certificates.key("server"))
                .replacingOccurrences(of: "=A", with: "=" + certificates.certificate("ca"))
        }
        let result = try runWSBridge(["--port=0", "--address=127.0.0.1"] + resolved + Self.echo)
        #expect(result.exit == .exited(1), "\(resolved): \(result.stderr)")
        #expect(result.stderrLines.count == 1, "\(resolved): \(result.stderr)")
        #expect(result.stderr.contains("--ssl"), "\(result.stderr)")
        #expect(!result.stderr.contains("listening"))
    }

    // MARK: SIGHUP

    /// `--ssl` on copies of the server's files that a test may replace (`live.pem`, `live.key`).
    static func liveFiles(_ certificates: TestCertificates, from name: String) throws -> [String] {
        let manager = FileManager.default
        for (source, target) in [(certificates.certificate(name), certificates.path("live.pem")), (certificates.key(name), certificates.path("live.key"))] {
            // Written whole and renamed into place, as a deployment would.
            try manager.contentsOfFile(source).write(to: URL(fileURLWithPath: target), options: .atomic)
        }
        return ["--ssl", "--sslcert=\(certificates.path("live.pem"))", "--sslkey=\(certificates.path("live.key"))"]
    }

    /// Verifies against both the first and the reloaded certificate, so the probe reports either's CN.
    static func eitherCertificate(_ certificates: TestCertificates) throws -> TLSProbeOptions {
        let bundle = certificates.path("both.pem")
        let data = try FileManager.default.contentsOfFile(certificates.certificate("server"))
            + FileManager.default.contentsOfFile(certificates.certificate("reloaded"))
        try data.write(to: URL(fileURLWithPath: bundle))
        return TLSProbeOptions(caFile: bundle)
    }

    @Test("SPEC §10: SIGHUP loads replaced files: a new handshake gets the new certificate while a session opened before keeps working")
    func reloadOnSIGHUP() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let options = try Self.eitherCertificate(certificates)
        try await withServer(flags: try Self.liveFiles(certificates, from: "server"), command: Self.echo) { server in
            let before = try TLSRelay.connect(port: server.port, options)
            #expect(before.handshake.peerCommonName == "localhost")
            let pid = try before.client.receivePID()
            try before.client.sendText("before the reload")
            #expect(try before.client.receiveMessage() == .text("before the reload"))

            _ = try Self.liveFiles(certificates, from: "reloaded")
            server.signal(SIGHUP)
            let reloaded = server.waitForLog { $0.message.hasPrefix("reloaded the TLS") }
            #expect(reloaded?.level == "info", "\(server.stderrText)")
            let after = try TLSProbe.handshake(port: server.port, options)
            #expect(after.ok && after.peerCommonName == "reloaded.localhost", "\(after)")

            try before.client.sendText("after the reload")
            #expect(try before.client.receiveMessage() == .text("after the reload"))
            let (_, close) = try before.client.closeHandshake()
            #expect(close == .close(code: 1000, reason: ""))
            ProcessGroupProbe.expectGone(pid, server: server)
            before.finish()
            #expect(server.isRunning)
            #expect(!server.logRecords().contains { $0.level == "error" }, "\(server.stderrText)")
        }
    }

    @Test("SPEC §10: SIGHUP re-reads --sslca: once it names another CA, alice is refused (her ticket from before too) and that CA's client gets in, while alice's open session keeps working",
          arguments: ["1.2", "1.3"])
    func reloadClientCA(version: String) async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let liveCA = certificates.path("live-ca.pem")
        try FileManager.default.contentsOfFile(certificates.certificate("ca")).write(to: URL(fileURLWithPath: liveCA), options: .atomic)
        try await withServer(flags: Self.tlsFlags(certificates, "ca-server") + ["--sslca=\(liveCA)"], command: Self.echo) { server in
            // No SNI: the test client's upgrade says `Host: 127.0.0.1`, which SNI localhost would make a 421.
            var open = Self.asClient("alice", certificates, version: version)
            open.serverName = nil
            let session = try TLSRelay.connect(port: server.port, open)
            let pid = try session.client.receivePID()
            // A ticket taken before the reload, presented after it.
            var resuming = Self.asClient("alice", certificates, version: version)
            resuming.resumes = true
            resuming.pausesBeforeResuming = true
            let ticketHolder = try TLSProbe.start("handshake", resuming.arguments(port: server.port))
            #expect(ticketHolder.waitForOutput { $0.contains("\"first\"") }, "\(ticketHolder.stderrText)")

            try FileManager.default.contentsOfFile(certificates.certificate("other-ca")).write(to: URL(fileURLWithPath: liveCA), options: .atomic)
            server.signal(SIGHUP)
            #expect(server.waitForLog { $0.message.hasPrefix("reloaded the TLS") } != nil, "\(server.stderrText)")

            let alice = try TLSProbe.handshake(port: server.port, Self.asClient("alice", certificates, version: version))
            #expect(!alice.ok && alice.response == nil, "alice got in after her CA was dropped: \(alice)")
            try ticketHolder.send("\n")
            #expect(ticketHolder.waitForExit() != nil)
            let resumed = try TLSProbeReport.parse(String(ticketHolder.stdoutText.split(separator: "\n").last ?? ""))
            #expect(!resumed.ok && resumed.response == nil, "alice's ticket from before the reload got her in: \(resumed)")
            #expect(resumed.sessionReused != true, "\(resumed)")
            var other = Self.asClient("impostor", certificates, version: version)
            other.hostHeader = "localhost"
            let impostor = try TLSProbe.handshake(port: server.port, other)
            #expect(impostor.ok && impostor.response?.status == 426, "the new CA's client was refused: \(impostor)")

            try session.client.sendText("still alice")
            #expect(try session.client.receiveMessage() == .text("still alice"))
            _ = try session.client.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
            session.finish()
        }
    }

    @Test("SPEC §10: a file that fails to load on SIGHUP logs one error line naming it; the server keeps the old certificate, and a fixed file loads on the next SIGHUP")
    func failedReloadKeepsOldFiles() async throws {
        let certificates = try TestCertificates()
        defer { certificates.remove() }
        let options = try Self.eitherCertificate(certificates)
        try await withServer(flags: try Self.liveFiles(certificates, from: "server"), command: Self.echo) { server in
            let session = try TLSRelay.connect(port: server.port, options)
            let pid = try session.client.receivePID()

            let live = certificates.path("live.pem")
            try Data("this is not a certificate\n".utf8).write(to: URL(fileURLWithPath: live), options: .atomic)
            server.signal(SIGHUP)
            let failed = server.waitForLog { $0.level == "error" }
            #expect(failed?.message.contains("TLS reload failed") == true, "\(server.stderrText)")
            #expect(failed?["error"]?.contains(live) == true, "the line does not name \(live): \(failed.map(String.init(describing:)) ?? "none")")
            let report = try TLSProbe.handshake(port: server.port, options)
            #expect(report.ok && report.peerCommonName == "localhost", "\(report)")
            try session.client.sendText("still here")
            #expect(try session.client.receiveMessage() == .text("still here"))
            #expect(server.logRecords().filter { $0.level == "error" }.count == 1, "\(server.stderrText)")

            // A key that does not match: refused the same way, whole (never a certificate with another's key).
            _ = try Self.liveFiles(certificates, from: "server")
            try FileManager.default.contentsOfFile(certificates.key("reloaded"))
                .write(to: URL(fileURLWithPath: certificates.path("live.key")), options: .atomic)
            server.signal(SIGHUP)
            _ = server.waitForLog { _ in server.logRecords().filter { $0.level == "error" }.count >= 2 }
            #expect(server.logRecords().filter { $0.level == "error" }.count == 2, "\(server.stderrText)")
            let unchanged = try TLSProbe.handshake(port: server.port, options)
            #expect(unchanged.ok && unchanged.peerCommonName == "localhost", "\(unchanged)")

            _ = try Self.liveFiles(certificates, from: "reloaded")
            server.signal(SIGHUP)
            #expect(server.waitForLog { $0.message.hasPrefix("reloaded the TLS") } != nil, "\(server.stderrText)")
            let fixed = try TLSProbe.handshake(port: server.port, options)
            #expect(fixed.ok && fixed.peerCommonName == "reloaded.localhost", "\(fixed)")

            _ = try session.client.closeHandshake()
            ProcessGroupProbe.expectGone(pid, server: server)
            session.finish()
        }
    }
}

extension FileManager {
    /// The bytes of the file at `path`.
    func contentsOfFile(_ path: String) throws -> Data {
        guard let data = contents(atPath: path) else { throw PeerError.failed("cannot read \(path)") }
        return data
    }
}
