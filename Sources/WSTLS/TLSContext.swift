import COpenSSL
import Glibc
import WSPlatform

/// What `--sslcert`, `--sslkey` and `--sslca` name (SPEC §10).
package struct TLSFiles: Sendable, Equatable {
    /// PEM: the leaf certificate first, then its chain.
    package var certificate: String
    /// PEM: an RSA, ECDSA or Ed25519 key, not encrypted.
    package var key: String
    /// PEM: the CAs that sign the client certificates it requires; nil asks for none.
    package var clientCA: String?

    package init(certificate: String, key: String, clientCA: String?) {
        self.certificate = certificate
        self.key = key
        self.clientCA = clientCA
    }
}

/// A file that cannot serve, in one line that names it and says what to do (SPEC §10).
package struct TLSConfigurationError: Error, Equatable {
    package let message: String
}

/// One loaded configuration (OpenSSL's `SSL_CTX`): certificate, key, client CAs and the protocol
/// settings of SPEC §10. Immutable once loaded, and shared by every loop: OpenSSL makes new
/// connections from one context on any thread. A reload (SIGHUP) loads a new one
/// (`TLSContextStore`); sessions keep the one they began with.
package final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    package let files: TLSFiles

    /// Whether handshakes require a client certificate signed by `--sslca`.
    package var requiresClientCertificate: Bool { files.clientCA != nil }

    private init(context: OpaquePointer, files: TLSFiles) {
        self.context = context
        self.files = files
    }

    deinit { SSL_CTX_free(context) }

    /// Loads `files`, checking each the way a user needs to hear about it: unreadable, DER or
    /// PKCS#12 instead of PEM, an encrypted key, a key that does not match the certificate.
    package static func load(_ files: TLSFiles) throws(TLSConfigurationError) -> TLSContext {
        try checkPEM(files.certificate, flag: "sslcert", kind: .certificate)
        try checkPEM(files.key, flag: "sslkey", kind: .key)
        if let ca = files.clientCA { try checkPEM(ca, flag: "sslca", kind: .certificate) }

        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSConfigurationError(message: "wsbridge: cannot create a TLS context: \(takeErrors())")
        }
        let loaded = TLSContext(context: context, files: files)
        _ = wsbridge_ssl_ctx_set_min_proto_version(context, TLS1_2_VERSION)
        SSL_CTX_set_options(context, wsbridge_ssl_op_no_renegotiation | wsbridge_ssl_op_ignore_unexpected_eof
                            | wsbridge_ssl_op_no_compression | wsbridge_ssl_op_cipher_server_preference)
        // OpenSSL gives its record buffers back whenever they empty, so an idle TLS connection
        // costs little more than a plain one (keeping them until the connection idled left the
        // heap fragmented: 36 KiB per idle connection instead of 23, measured with 300).
        _ = wsbridge_ssl_ctx_set_mode(context, wsbridge_ssl_mode_release_buffers | wsbridge_ssl_mode_enable_partial_write
                                      | wsbridge_ssl_mode_accept_moving_write_buffer)
        // Forward-secret AEAD suites only; AES-128-GCM first, as fast as any on hardware with AES
        // instructions and what Go's crypto/tls picks (OpenSSL's own order starts with AES-256).
        _ = SSL_CTX_set_ciphersuites(context, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384")
        _ = SSL_CTX_set_cipher_list(context, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    + "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                                    + "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384")
        // No server-side session cache: it would grow with every client (20,480 sessions by
        // default). Stateless tickets still let clients resume.
        _ = wsbridge_ssl_ctx_set_session_cache_mode(context, 0)
        // One TLS 1.3 ticket per handshake, as Go's crypto/tls sends: OpenSSL sends two by
        // default, each encrypted and written on the loop while the connection starts.
        _ = SSL_CTX_set_num_tickets(context, 1)
        _ = wsbridge_ssl_ctx_set_read_ahead(context, 1)
        // An encrypted key must fail with a message, not prompt on the terminal.
        SSL_CTX_set_default_passwd_cb(context) { _, _, _, _ in 0 }
        SSL_CTX_set_alpn_select_cb(context, selectALPN, nil)

        ERR_clear_error()
        guard SSL_CTX_use_certificate_chain_file(context, files.certificate) == 1 else {
            throw TLSConfigurationError(message: "wsbridge: --sslcert \(files.certificate): not a PEM certificate chain (\(takeErrors()))")
        }
        guard SSL_CTX_use_PrivateKey_file(context, files.key, SSL_FILETYPE_PEM) == 1 else {
            let codes = takeErrorCodes()
            // OpenSSL 3 checks a key against the certificate of its type as it loads it, so a
            // readable PEM key of another pair fails here (once reported as "not a PEM private
            // key"), not in SSL_CTX_check_private_key below.
            if codes.contains(where: { ERR_GET_LIB($0) == ERR_LIB_X509 && ERR_GET_REASON($0) == X509_R_KEY_VALUES_MISMATCH }) {
                throw TLSConfigurationError(message: "wsbridge: --sslkey \(files.key) does not match the certificate in --sslcert \(files.certificate)")
            }
            let reason = describe(codes)
            if isEncryptedPEM(files.key) {
                throw TLSConfigurationError(message: "wsbridge: --sslkey \(files.key) is encrypted; write it out unencrypted: openssl pkey -in \(files.key) -out key.pem")
            }
            throw TLSConfigurationError(message: "wsbridge: --sslkey \(files.key): not a PEM private key (\(reason))")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            _ = takeErrors()
            throw TLSConfigurationError(message: "wsbridge: --sslkey \(files.key) does not match the certificate in --sslcert \(files.certificate)")
        }
        if let ca = files.clientCA {
            guard SSL_CTX_load_verify_locations(context, ca, nil) == 1, let names = SSL_load_client_CA_file(ca) else {
                throw TLSConfigurationError(message: "wsbridge: --sslca \(ca): no PEM CA certificate in it (\(takeErrors()))")
            }
            SSL_CTX_set_client_CA_list(context, names)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
            // Resumed sessions carry their verified certificate; OpenSSL refuses to resume
            // under client verification without a context id.
            let id = Array("wsbridge".utf8)
            _ = SSL_CTX_set_session_id_context(context, id, UInt32(id.count))
        }
        return loaded
    }

    private enum Kind { case certificate, key }

    /// Refuses what is not PEM, naming the format it is and the command that converts it.
    private static func checkPEM(_ path: String, flag: String, kind: Kind) throws(TLSConfigurationError) {
        let bytes: [UInt8]
        switch readFile(path) {
        case .success(let contents): bytes = contents
        case .failure(let error):
            throw TLSConfigurationError(message: "wsbridge: --\(flag) \(path): cannot read it: \(Syscalls.describe(error.errno))")
        }
        if bytes.isEmpty {
            throw TLSConfigurationError(message: "wsbridge: --\(flag) \(path) is empty")
        }
        if bytes.starts(with: Array("-----BEGIN ".utf8)) || contains(bytes, "-----BEGIN ") { return }
        guard bytes.first == 0x30 else {
            throw TLSConfigurationError(message: "wsbridge: --\(flag) \(path) is not PEM (no -----BEGIN line)")
        }
        // DER: a PKCS#12 bundle, a certificate or a key.
        let isPKCS12 = bytes.withUnsafeBufferPointer { buffer -> Bool in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            guard let bundle = d2i_PKCS12(nil, &cursor, buffer.count) else { return false }
            PKCS12_free(bundle)
            return true
        }
        ERR_clear_error()
        if isPKCS12 {
            let out = kind == .key ? "key.pem" : "cert.pem"
            let what = kind == .key ? "-nocerts -nodes" : "-nokeys"
            throw TLSConfigurationError(message: "wsbridge: --\(flag) \(path) is PKCS#12; wsbridge reads PEM: openssl pkcs12 -in \(path) \(what) -out \(out)")
        }
        switch kind {
        case .certificate:
            throw TLSConfigurationError(message: "wsbridge: --\(flag) \(path) is DER; wsbridge reads PEM: openssl x509 -inform der -in \(path) -out cert.pem")
        case .key:
            throw TLSConfigurationError(message: "wsbridge: --\(flag) \(path) is DER; wsbridge reads PEM: openssl pkey -inform der -in \(path) -out key.pem")
        }
    }

    private static func isEncryptedPEM(_ path: String) -> Bool {
        guard case .success(let bytes) = readFile(path) else { return false }
        return contains(bytes, "ENCRYPTED")
    }

    private static func contains(_ bytes: [UInt8], _ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard bytes.count >= needle.count else { return false }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            if bytes[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    /// The whole file (key and certificate files are small: at most 1 MiB is read).
    private static func readFile(_ path: String) -> Result<[UInt8], FileError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(FileError(errno: errno)) }
        defer { close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while contents.count < 1 << 20 {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(FileError(errno: errno))
            }
            if count == 0 { break }
            contents.append(contentsOf: chunk[0..<count])
        }
        return .success(contents)
    }

    private struct FileError: Error { let errno: Int32 }

    /// OpenSSL's queued errors, as one line, and the queue emptied.
    static func takeErrors() -> String {
        describe(takeErrorCodes())
    }

    /// OpenSSL's queued error codes, oldest first, and the queue emptied.
    static func takeErrorCodes() -> [UInt] {
        var codes: [UInt] = []
        while true {
            let code = ERR_get_error()
            guard code != 0 else { break }
            codes.append(code)
        }
        return codes
    }

    /// Error codes as one line of their reasons.
    static func describe(_ codes: [UInt]) -> String {
        var reasons: [String] = []
        for code in codes {
            let reason = ERR_reason_error_string(code).map { String(cString: $0) } ?? "OpenSSL error \(code)"
            if !reasons.contains(reason) { reasons.append(reason) }
        }
        return reasons.isEmpty ? "no reason given" : reasons.joined(separator: "; ")
    }
}

/// ALPN (SPEC §10): `http/1.1` when the client offers it; a client offering only other protocols
/// goes on without ALPN rather than failing, as HTTP/1.1 is all it will get.
private let selectALPN: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
                                        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?) -> Int32 = { _, out, outLength, offered, offeredLength, _ in
    guard let out, let outLength, let offered else { return SSL_TLSEXT_ERR_NOACK }
    var index = 0
    let length = Int(offeredLength)
    while index < length {
        let nameLength = Int(offered[index])
        let start = index + 1
        guard start + nameLength <= length else { break }
        if nameLength == 8 && UnsafeBufferPointer(start: offered + start, count: 8).elementsEqual("http/1.1".utf8) {
            out.pointee = offered + start
            outLength.pointee = 8
            return SSL_TLSEXT_ERR_OK
        }
        index = start + nameLength
    }
    return SSL_TLSEXT_ERR_NOACK
}
