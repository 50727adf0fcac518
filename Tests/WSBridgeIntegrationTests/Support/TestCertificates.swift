import Foundation

/// Certificates and keys for the TLS tests (SPEC §10), made with the `openssl` command in a fresh
/// temporary directory, all ECDSA P-256, valid for two days, with a configuration of our own so
/// that the system's `openssl.cnf` changes nothing:
/// - `server`: self-signed, CN=localhost, for `localhost` and `127.0.0.1`;
/// - `reloaded`: the same names, CN=reloaded.localhost (what SIGHUP swaps in);
/// - `ca`: a test CA, which signs `ca-server` (a server certificate) and `alice` (a client
///   certificate, CN=alice, serial 0A5E71A1CE);
/// - `other-ca`: another CA, which signs `impostor` (a client certificate, also CN=alice).
/// `remove()` deletes the directory.
struct TestCertificates {
    /// The directory holding every file.
    let directory: String

    /// The serial number of alice's certificate: its leading zero nibble and odd number of
    /// digits are where hex renderings of an ASN.1 integer tend to differ.
    static let aliceSerial = "0x0A5E71A1CE"

    /// Makes every certificate and key.
    init() throws {
        directory = NSTemporaryDirectory() + "wsbridge-tls-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        try Self.configuration.write(toFile: path("openssl.cnf"), atomically: true, encoding: .utf8)
        try selfSigned("server", subject: "/CN=localhost", extensions: "server_ext")
        try selfSigned("reloaded", subject: "/CN=reloaded.localhost", extensions: "server_ext")
        try selfSigned("ca", subject: "/O=wsbridge tests/CN=wsbridge test CA", extensions: "ca_ext")
        try selfSigned("other-ca", subject: "/O=somebody else/CN=another CA", extensions: "ca_ext")
        try signed("ca-server", subject: "/CN=localhost", by: "ca", extensions: "server_ext", serial: "0x1001")
        try signed("alice", subject: "/O=wsbridge tests/CN=alice", by: "ca", extensions: "client_ext", serial: Self.aliceSerial)
        try signed("impostor", subject: "/O=wsbridge tests/CN=alice", by: "other-ca", extensions: "client_ext", serial: "0x1002")
    }

    /// The path of `name` in the directory.
    func path(_ name: String) -> String { directory + "/" + name }

    /// The certificate of `name` (`NAME.pem`).
    func certificate(_ name: String) -> String { path(name + ".pem") }

    /// The private key of `name` (`NAME.key`, PEM, not encrypted).
    func key(_ name: String) -> String { path(name + ".key") }

    /// Deletes the directory and everything in it.
    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `openssl ARGUMENTS` in the directory's terms; its stdout, or an error with its stderr.
    @discardableResult
    func openssl(_ arguments: [String]) throws -> String {
        let result = try PeerProcess.run("openssl", arguments, timeout: .seconds(20))
        guard result.exit == .exited(0) else {
            throw PeerError.failed("openssl \(arguments.joined(separator: " ")): \(result.exit)\n\(result.stderr)")
        }
        return result.stdout
    }

    /// What `openssl x509 -noout FIELD -nameopt RFC2253` prints for `name`'s certificate, after
    /// its `field=` prefix: the subject, the issuer or the serial as mod_ssl would show them.
    func x509Field(_ field: String, of name: String) throws -> String {
        let line = try openssl(["x509", "-in", certificate(name), "-noout", "-" + field, "-nameopt", "RFC2253"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard let equals = line.firstIndex(of: "=") else { throw PeerError.failed("openssl x509 -\(field) printed \(line)") }
        return String(line[line.index(after: equals)...])
    }

    private func selfSigned(_ name: String, subject: String, extensions: String) throws {
        try openssl(["req", "-x509", "-config", path("openssl.cnf"), "-extensions", extensions, "-newkey", "ec",
                     "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key(name), "-out", certificate(name),
                     "-days", "2", "-subj", subject])
    }

    private func signed(_ name: String, subject: String, by issuer: String, extensions: String, serial: String) throws {
        try openssl(["req", "-new", "-config", path("openssl.cnf"), "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", key(name), "-out", path(name + ".csr"), "-subj", subject])
        try openssl(["x509", "-req", "-in", path(name + ".csr"), "-CA", certificate(issuer), "-CAkey", key(issuer),
                     "-set_serial", serial, "-days", "2", "-extfile", path("openssl.cnf"), "-extensions", extensions,
                     "-out", certificate(name)])
    }

    private static let configuration = """
        [req]
        distinguished_name = dn
        prompt = no
        [dn]
        [ca_ext]
        basicConstraints = critical, CA:TRUE
        keyUsage = critical, keyCertSign, cRLSign
        subjectKeyIdentifier = hash
        [server_ext]
        basicConstraints = CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = serverAuth
        subjectAltName = DNS:localhost, IP:127.0.0.1
        [client_ext]
        basicConstraints = CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = clientAuth

        """
}
