import Foundation
import Glibc
import Testing

/// SPEC §11 behind a real proxy: Debian's nginx on loopback, with its own configuration in a
/// temporary folder, forwards WebSocket upgrades and plain requests to wsbridge and adds
/// `X-Forwarded-For`. The client connects from 127.0.0.5; nginx talks to wsbridge from 127.0.0.1.
@Suite("Behind nginx")
struct NginxProxyTests {
    /// A running nginx in front of `port`, stopped (by its pid) and removed at the end.
    final class Nginx {
        let port: UInt16
        let folder: URL
        let process: Process

        init(forwardingTo port: UInt16) throws {
            let binary = try SystemTools.nginx()
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("wsb-nginx-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("tmp"), withIntermediateDirectories: true)
            self.port = try Self.freePort()
            let prefix = folder.path
            let configuration = """
                daemon off;
                master_process off;
                worker_processes 1;
                pid \(prefix)/nginx.pid;
                error_log \(prefix)/error.log;
                events { worker_connections 256; }
                http {
                    access_log off;
                    chunked_transfer_encoding off;
                    client_body_temp_path \(prefix)/tmp/body;
                    proxy_temp_path \(prefix)/tmp/proxy;
                    fastcgi_temp_path \(prefix)/tmp/fastcgi;
                    uwsgi_temp_path \(prefix)/tmp/uwsgi;
                    scgi_temp_path \(prefix)/tmp/scgi;
                    server {
                        listen 127.0.0.1:\(self.port);
                        location / {
                            proxy_pass http://127.0.0.1:\(port);
                            proxy_http_version 1.1;
                            proxy_set_header Host $host;
                            proxy_set_header Upgrade $http_upgrade;
                            proxy_set_header Connection $http_connection;
                            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                            proxy_set_header X-Forwarded-Proto $scheme;
                        }
                    }
                }
                """
            try configuration.write(to: folder.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
            process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["-p", prefix, "-c", folder.appendingPathComponent("nginx.conf").path]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let listening = Deadline.poll(for: .seconds(10)) {
                guard let probe = try? WebSocketTestClient(port: self.port, timeout: .milliseconds(200)) else { return false }
                _ = probe
                return true
            }
            guard listening else {
                stop()
                let log = (try? String(contentsOf: folder.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
                throw SystemTools.ToolError(message: "nginx did not listen on \(self.port): \(log)")
            }
        }

        func stop() {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                _ = Deadline.poll(for: .seconds(2)) { !self.process.isRunning }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: folder)
        }

        static func freePort() throws -> UInt16 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { Glibc.close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                    guard bind(fd, pointer, length) == 0 else { return -1 }
                    return getsockname(fd, pointer, &length)
                }
            }
            guard bound == 0 else { throw TestClientError.system("bind", errno) }
            return UInt16(bigEndian: address.sin_port)
        }
    }

    /// 127.0.0.5, the client's own loopback address.
    static let clientAddress: UInt32 = 0x7F00_0005

    @Test("SPEC §11: through nginx, with --trustedproxy=127.0.0.1 the child's REMOTE_ADDR is the client's 127.0.0.5, for upgrades and CGI; without it, nginx's 127.0.0.1 whatever the header says",
          arguments: ChildKind.allCases)
    func remoteAddressThroughNginx(kind: ChildKind) async throws {
        for (flags, expected) in [(["--trustedproxy=127.0.0.1/32"], "127.0.0.5"), ([], "127.0.0.1")] {
            try await withServer(flags: EnvironmentDump.flags + flags, command: []) { server in
                let nginx = try Nginx(forwardingTo: server.port)
                defer { nginx.stop() }
                let client = try WebSocketTestClient(port: nginx.port, source: Self.clientAddress)
                // The client forges an address in front; nginx appends the real one after it.
                let dump = try EnvironmentDump.read(kind, client: client, target: "/env.sh", headers: ["X-Forwarded-For: 6.6.6.6"])
                #expect(dump["REMOTE_ADDR"] == expected, "flags \(flags)")
                #expect(dump["HTTP_X_FORWARDED_FOR"] == "6.6.6.6, 127.0.0.5", "flags \(flags)")
                #expect(dump["HTTPS"] == nil, "nginx said http")
                if !flags.isEmpty {
                    #expect(server.waitForLog { $0["remote"] == "127.0.0.5" } != nil, "the log names the client:\n\(server.stderrText)")
                }
            }
        }
    }
}
