import Foundation
import Synchronization
import Glibc
import Testing

/// SPEC §11 `--basicauth`: htpasswd files made by the real `htpasswd -B` (bcrypt) and
/// `openssl passwd -6` (SHA-crypt), checked with the system's libcrypt off the event loops.
@Suite("Basic authentication")
struct BasicAuthTests {
    /// A temporary folder with an htpasswd file: ann (bcrypt) and bob (SHA-512 crypt).
    final class PasswordFolder {
        let path: URL
        var file: String { path.appendingPathComponent("htpasswd").path }

        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("wsb-basic-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
            let htpasswd = try SystemTools.require("htpasswd", package: "apache2-utils")
            try SystemTools.run(htpasswd, ["-bcB", file, "ann", "s3cret-ann"])
            let sha = try SystemTools.run(try SystemTools.require("openssl", package: "openssl"), ["passwd", "-6", "-stdin"], stdin: "bob-pass\n")
            try append("bob:" + sha.trimmingCharacters(in: .whitespacesAndNewlines) + "\n")
        }

        func append(_ text: String) throws {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
            try handle.seekToEnd()
            handle.write(Data(text.utf8))
            try handle.close()
        }

        deinit { try? FileManager.default.removeItem(at: path) }
    }

    static func authorization(_ user: String, _ password: String) -> String {
        "Authorization: Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    static func status(_ server: ServerProcess, headers: [String]) throws -> HTTPTestResponse {
        let client = try WebSocketTestClient(port: server.port)
        let lines = ["GET /env.sh HTTP/1.1", "Host: 127.0.0.1", "Connection: close"] + headers
        try client.sendRaw(Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8))
        return try client.readResponse()
    }

    @Test("SPEC §11: valid credentials let upgrades and plain requests in with AUTH_TYPE=Basic and REMOTE_USER; the password never reaches the script or the log",
          arguments: ChildKind.allCases)
    func validCredentials(kind: ChildKind) async throws {
        let folder = try PasswordFolder()
        try await withServer(flags: EnvironmentDump.flags + ["--basicauth=\(folder.file)"], command: []) { server in
            for (user, password) in [("ann", "s3cret-ann"), ("bob", "bob-pass")] {
                let dump = try EnvironmentDump.read(kind, server: server, headers: [Self.authorization(user, password), "Origin: http://127.0.0.1"])
                #expect(dump["AUTH_TYPE"] == "Basic")
                #expect(dump["REMOTE_USER"] == user)
                #expect(dump["HTTP_AUTHORIZATION"] == nil, "the credentials reached the script")
                #expect(!server.stderrText.contains(password))
            }
        }
    }

    @Test("SPEC §11: no, wrong or unknown credentials get 401 with the Basic challenge and start no process")
    func refusals() async throws {
        let folder = try PasswordFolder()
        try await withServer(flags: EnvironmentDump.flags + ["--basicauth=\(folder.file)"], command: []) { server in
            let children = ProcessTable.spawnedChildren(of: server.pid).count
            for headers in [[], [Self.authorization("ann", "wrong")], [Self.authorization("nobody", "s3cret-ann")],
                            [Self.authorization("bob", "s3cret-ann")], ["Authorization: Basic !!notbase64"], ["Authorization: Bearer x"],
                            [Self.authorization("ann", "s3cret-ann"), Self.authorization("ann", "s3cret-ann")]] {
                let answer = try Self.status(server, headers: headers)
                #expect(answer.statusCode == 401, "\(headers)")
                #expect(answer.value(of: "WWW-Authenticate")?.hasPrefix(#"Basic realm="wsbridge""#) == true, "\(headers)")
            }
            let upgrade = try WebSocketTestClient(port: server.port)
            try upgrade.sendRaw(WebSocketTestClient.upgradeRequest(path: "/env.sh", key: WebSocketTestClient.randomKey(),
                                                                   extraHeaders: [Self.authorization("ann", "nope")]))
            #expect(try upgrade.readResponseHead().statusCode == 401)
            // SPEC §11: with --basicauth and no --origin, another site's page cannot use the
            // browser's cached credentials (cross-site WebSocket hijacking).
            let crossSite = try WebSocketTestClient(port: server.port)
            try crossSite.sendRaw(WebSocketTestClient.upgradeRequest(path: "/env.sh", key: WebSocketTestClient.randomKey(),
                                                                     extraHeaders: [Self.authorization("ann", "s3cret-ann"), "Origin: https://evil.example"]))
            #expect(try crossSite.readResponseHead().statusCode == 403)
            #expect(ProcessTable.spawnedChildren(of: server.pid).count == children, "a refused request started a process")
            #expect(!server.stderrText.contains("s3cret-ann"), "a password is in the log")
        }
    }

    @Test("SPEC §11: hashes other than bcrypt and SHA-crypt, and lines that are not user:hash, stop startup naming the line; a missing file too")
    func badFiles() throws {
        let folder = try PasswordFolder()
        let htpasswd = try SystemTools.require("htpasswd", package: "apache2-utils")
        for (flag, label) in [("-m", "MD5 $apr1$"), ("-s", "SHA-1 {SHA}"), ("-p", "plain text")] {
            let line = try SystemTools.run(htpasswd, ["-nb\(flag.dropFirst())", "carl", "pw"]).split(separator: "\n")[0]
            let file = folder.path.appendingPathComponent("bad").path
            try ("# users\n\nann:$2y$05$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01\n" + line + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let run = try runWSBridge(["--basicauth=\(file)", "/bin/cat"])
            #expect(run.exit == .exited(1), "\(label): \(run.stderr)")
            #expect(run.stderr.contains("line 4") && run.stderrLines.count == 1, "\(label): \(run.stderr)")
        }
        let garbage = folder.path.appendingPathComponent("garbage").path
        try "just-a-name\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        for path in [garbage, folder.path.appendingPathComponent("missing").path] {
            let run = try runWSBridge(["--basicauth=\(path)", "/bin/cat"])
            #expect(run.exit == .exited(1), "\(run.stderr)")
            #expect(run.stderr.contains("--basicauth"), "\(run.stderr)")
        }
    }

    @Test("SPEC §11: SIGHUP re-reads the file: a new user gets in; a broken file keeps the users loaded before")
    func reload() async throws {
        let folder = try PasswordFolder()
        try await withServer(flags: EnvironmentDump.flags + ["--basicauth=\(folder.file)"], command: []) { server in
            #expect(try Self.status(server, headers: [Self.authorization("carl", "carl-pw")]).statusCode == 401)
            try SystemTools.run(try SystemTools.require("htpasswd", package: "apache2-utils"), ["-bB", folder.file, "carl", "carl-pw"])
            kill(server.pid, SIGHUP)
            #expect(server.waitForLog { $0.message.contains("reloaded the --basicauth file") } != nil)
            #expect(try Self.status(server, headers: [Self.authorization("carl", "carl-pw")]).statusCode == 200)
            try "carl:plaintext\n".write(toFile: folder.file, atomically: true, encoding: .utf8)
            kill(server.pid, SIGHUP)
            #expect(server.waitForLog { $0.message.contains("--basicauth reload failed") } != nil)
            #expect(try Self.status(server, headers: [Self.authorization("ann", "s3cret-ann")]).statusCode == 200)
            #expect(server.isRunning)
        }
    }

    @Test("SPEC §11: a page's parallel first requests with the same new credentials share one check: none is turned away by the per-address limit")
    func parallelFirstRequests() async throws {
        let folder = try PasswordFolder()
        // Cost 10: each check takes long enough (tens of ms) for the requests to overlap.
        try SystemTools.run(try SystemTools.require("htpasswd", package: "apache2-utils"), ["-bB", "-C", "10", folder.file, "dee", "dee-pass"])
        try await withServer(flags: EnvironmentDump.flags + ["--basicauth=\(folder.file)"], command: []) { server in
            let statuses = Mutex<[Int]>([])
            let finished = DispatchGroup()
            for _ in 0..<12 {
                finished.enter()
                Thread.detachNewThread {
                    let code = (try? Self.status(server, headers: [Self.authorization("dee", "dee-pass")]))?.statusCode ?? 0
                    statuses.withLock { $0.append(code) }
                    finished.leave()
                }
            }
            #expect(finished.wait(timeout: .now() + 60) == .success)
            #expect(statuses.withLock { $0 } == [Int](repeating: 200, count: 12))
        }
    }

    @Test("SPEC §11: a burst of 1,000 wrong passwords from one address is refused (401, or 429 beyond 4 waiting checks) while a client from another address logs in and a logged-in one keeps being answered")
    func wrongPasswordBurst() async throws {
        let folder = try PasswordFolder()
        try await withServer(flags: EnvironmentDump.flags + ["--basicauth=\(folder.file)", "--trustedproxy=127.0.0.1"], command: []) { server in
            #expect(try Self.status(server, headers: [Self.authorization("bob", "bob-pass"), "X-Forwarded-For: 192.0.2.7"]).statusCode == 200)
            // Twenty threads of their own (not tasks: the cooperative pool has one thread per
            // core, and blocking sockets there would send the guesses one or two at a time).
            let statuses = Mutex<[Int: Int]>([:])
            let finished = DispatchGroup()
            for worker in 0..<20 {
                finished.enter()
                Thread.detachNewThread {
                    for attempt in 0..<50 {
                        let code = (try? Self.status(server, headers: [Self.authorization("ann", "guess-\(worker)-\(attempt)"),
                                                                       "X-Forwarded-For: 192.0.2.66"]))?.statusCode ?? 0
                        statuses.withLock { $0[code, default: 0] += 1 }
                    }
                    finished.leave()
                }
            }
            // Meanwhile a client that logged in before keeps getting answers (its check is
            // remembered), and one from another address logs in for the first time.
            var answered = 0
            for _ in 0..<20 {
                let answer = try Self.status(server, headers: [Self.authorization("bob", "bob-pass"), "X-Forwarded-For: 192.0.2.7"])
                #expect(answer.statusCode == 200)
                answered += 1
            }
            let firstLogin = try Self.status(server, headers: [Self.authorization("ann", "s3cret-ann"), "X-Forwarded-For: 192.0.2.8"])
            #expect(firstLogin.statusCode == 200)
            #expect(finished.wait(timeout: .now() + 120) == .success, "the burst did not end")
            let counted = statuses.withLock { $0 }
            print("wrong-password burst: \(counted) (status: count) while \(answered) logged-in requests were answered")
            #expect(counted[401, default: 0] + counted[429, default: 0] == 1000, "\(counted)")
            #expect(counted[429, default: 0] > 0, "one address kept more than 4 checks waiting: \(counted)")
        }
    }
}
