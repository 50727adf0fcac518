import COpenSSL
import Glibc
import WSPlatform
import WSProtocol

/// A client's connection over TLS (SPEC §10), beneath the HTTP connection, the WebSocket session
/// and the CGI request like a plain socket (`Transport`): they read and write plaintext, in the
/// event loop's terms, and never learn that the bytes were encrypted.
///
/// OpenSSL reads the socket itself, through a BIO of our own (`SocketBIO`): records arrive in its
/// buffer with no copy in between, and a drained socket is "want read", which is `.wouldBlock`
/// here. Records it writes go to `ciphertext`, which the socket takes as it can, and which is
/// given back once the connection idles (`releaseIdleMemory`); OpenSSL gives its own record
/// buffers back whenever they empty (`SSL_MODE_RELEASE_BUFFERS`), so an idle TLS connection
/// stays small. (Memory BIOs, STYLE.md's first plan, would copy every record
/// once more and keep their high-water mark for good.)
///
/// The handshake needs no state of its own: the first reads drive it (`SSL_read` in accept state),
/// within the request head's 10 s deadline that the HTTP connection keeps. Every call happens on
/// the connection's loop.
package final class TLSTransport: Transport {
    package let fd: Int32
    private let ssl: OpaquePointer
    /// The context the connection began with: a reload does not change it.
    private let context: TLSContext
    /// Records OpenSSL wrote that the socket has not taken yet.
    private var ciphertext = ByteBuffer()
    /// `shutdownWrite()` was called: close_notify is queued, and the socket's write side shuts
    /// once it is out.
    private var isWriteShut = false
    private var shutsSocketAfterFlush = false
    /// What the socket said on the last read OpenSSL made, when it was not bytes.
    private var socketEnded = false
    private var socketError: Int32 = 0
    /// Socket bytes OpenSSL has read since the last plaintext it gave back, across calls: a
    /// flood of records without data (KeyUpdates) read in small pieces under load spreads over
    /// many short calls, and a count per call never reached its bound.
    private var socketBytesWithoutPlaintext = 0
    /// The client made OpenSSL read too much without plaintext, or answer too much unread
    /// (`readSocket`): the connection fails.
    private var isOverwhelmed = false
    /// The first bytes were not a TLS record but a plain HTTP request (SPEC §10: answered with a
    /// plain 400).
    private var hasSeenFirstByte = false
    private(set) var receivedPlainHTTP = false
    package private(set) var tlsSession: TLSSessionInfo?
    /// Why the connection failed, from OpenSSL, for the log.
    package private(set) var failureReason: String?

    /// A server-side TLS connection on the connected, non-blocking socket `fd`.
    package init?(fd: Int32, context: TLSContext) {
        guard let ssl = SSL_new(context.context) else { return nil }
        guard let bio = BIO_new(SocketBIO.method) else {
            SSL_free(ssl)
            return nil
        }
        self.fd = fd
        self.ssl = ssl
        self.context = context
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        // One BIO both ways: SSL_set_bio takes the single reference.
        SSL_set_bio(ssl, bio, bio)
        SSL_set_accept_state(ssl)
    }

    deinit { SSL_free(ssl) }

    /// Whether the handshake is done (the session's variables are known).
    package var isEstablished: Bool { tlsSession != nil }

    // MARK: Transport

    package func read(into buffer: UnsafeMutableRawBufferPointer) -> Syscalls.IOResult {
        if !ciphertext.isEmpty, case .failed(let error) = flushBufferedOutput() { return .failed(error) }
        ERR_clear_error()
        let count = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        let result: Syscalls.IOResult
        if count > 0 {
            socketBytesWithoutPlaintext = 0
            result = .bytes(Int(count))
        } else {
            result = outcome(ofFailedCall: count)
        }
        if tlsSession == nil && SSL_is_init_finished(ssl) == 1 { tlsSession = describeSession() }
        // A handshake flight, an alert or a ticket the call produced goes out now; what the
        // socket does not take waits for the next call.
        if !ciphertext.isEmpty { _ = flushBufferedOutput() }
        return result
    }

    package func write(from buffer: UnsafeRawBufferPointer) -> Syscalls.IOResult {
        if !ciphertext.isEmpty {
            switch flushBufferedOutput() {
            case .bytes: break
            case .wouldBlock: return .wouldBlock
            case .endOfFile: return .failed(EPIPE)
            case .failed(let error): return .failed(error)
            }
        }
        guard !isWriteShut else { return .failed(EPIPE) }
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .bytes(0) }
        ERR_clear_error()
        // Up to 64 KiB of plaintext per call, encrypted in records of at most 16 KiB: one write
        // to the socket carries them all, and what the socket leaves waits here (bounded).
        let limit = min(buffer.count, Self.plaintextPerWrite)
        var written = 0
        while written < limit {
            let count = SSL_write(ssl, base + written, Int32(min(limit - written, 16 * 1024)))
            guard count > 0 else {
                if written > 0 { break }
                return outcome(ofFailedCall: count)
            }
            written += Int(count)
        }
        _ = flushBufferedOutput()
        return .bytes(written)
    }

    static let plaintextPerWrite = 64 * 1024

    package var hasBufferedOutput: Bool { !ciphertext.isEmpty }

    package func flushBufferedOutput() -> Syscalls.IOResult {
        var written = 0
        while !ciphertext.isEmpty {
            switch ciphertext.withUnsafeReadableBytes({ Syscalls.write(fd, from: $0, isSocket: true) }) {
            case .bytes(let count):
                ciphertext.moveReaderIndex(forwardBy: count)
                written += count
            case .wouldBlock:
                return .wouldBlock
            case .endOfFile:
                return .endOfFile
            case .failed(let error):
                return .failed(error)
            }
        }
        if shutsSocketAfterFlush {
            shutsSocketAfterFlush = false
            Syscalls.shutdownWrite(fd)
        }
        return .bytes(written)
    }

    /// Sends close_notify (RFC 8446 §6.1), then shuts the socket's write side once it is out.
    package func shutdownWrite() {
        guard !isWriteShut else { return }
        isWriteShut = true
        if SSL_is_init_finished(ssl) == 1 {
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
            ERR_clear_error()
        }
        shutsSocketAfterFlush = true
        _ = flushBufferedOutput()
    }

    package func abortOnClose() { Syscalls.setResetOnClose(fd) }

    /// Gives back the ciphertext buffer when it is empty (kept while busy: one allocation per
    /// burst of writes otherwise).
    package func releaseIdleMemory() {
        ciphertext.releaseCapacityIfEmpty(keeping: 0)
    }

    // MARK: OpenSSL's results

    /// What a call that returned `count` <= 0 means for the caller.
    private func outcome(ofFailedCall count: Int32) -> Syscalls.IOResult {
        let error = SSL_get_error(ssl, count)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wouldBlock
        case SSL_ERROR_ZERO_RETURN:
            // close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) the socket's end without one.
            return .endOfFile
        default:
            if receivedPlainHTTP {
                answerPlainHTTP()
                return .failed(EPROTO)
            }
            if isOverwhelmed {
                _ = TLSContext.takeErrors()
                failureReason = "the client sent \(socketBytesWithoutPlaintext) bytes of TLS records without data, "
                    + "or left \(ciphertext.readableCount) bytes of answers unread"
                return .failed(ENOBUFS)
            }
            if socketError != 0 { return .failed(socketError) }
            if socketEnded { return .endOfFile }
            failureReason = TLSContext.takeErrors()
            return .failed(EPROTO)
        }
    }

    /// SPEC §10: a plain HTTP request on the TLS port gets a 400 in plain HTTP saying to use
    /// https. What was read of the request is dropped; the answer is small enough for any socket
    /// buffer, and the connection closes after it.
    private func answerPlainHTTP() {
        let body = "This port speaks TLS: use https:// (or wss://) for this address.\n"
        let response = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        ciphertext.clear()
        ciphertext.append(contentsOf: Array(response.utf8))
        isWriteShut = true
        shutsSocketAfterFlush = true
        _ = flushBufferedOutput()
        failureReason = "a plain HTTP request on the TLS port (answered 400)"
    }

    /// The session's variables for the child (SPEC §10).
    private func describeSession() -> TLSSessionInfo {
        let version = String(cString: SSL_get_version(ssl))
        let cipher = SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? ""
        let serverName = wsbridge_ssl_get_servername(ssl).map { String(cString: $0) }
        var client: TLSSessionInfo.ClientCertificate?
        if context.requiresClientCertificate, let certificate = SSL_get0_peer_certificate(ssl),
           SSL_get_verify_result(ssl) == X509_V_OK {
            client = CertificateNames.describe(certificate)
        }
        return TLSSessionInfo(protocolVersion: version, cipher: cipher, serverName: serverName, clientCertificate: client)
    }

    // MARK: The socket, for SocketBIO

    /// How many socket bytes OpenSSL may take without yielding plaintext: far
    /// more than any handshake (OpenSSL takes client certificate chains up to 100 KiB), while a
    /// record of data, at most 16 KiB, returns at once.
    static let maxSocketBytesWithoutPlaintext = 256 * 1024
    /// What may wait in `ciphertext`: one write's records (`plaintextPerWrite`, with their
    /// headers) plus generous room for a handshake flight and the answers reads produce.
    static let maxBufferedCiphertextBytes = plaintextPerWrite + 64 * 1024

    /// OpenSSL wants up to `count` bytes of records from the socket.
    fileprivate func readSocket(_ bio: OpaquePointer, into buffer: UnsafeMutablePointer<CChar>, count: Int32) -> Int32 {
        wsbridge_bio_clear_retry_flags(bio)
        // SSL_read returns only with plaintext or once the socket is drained. Records that carry
        // none keep it reading, and some make it answer: a TLS 1.3 KeyUpdate request obliges a
        // KeyUpdate back (RFC 8446 §4.6.3), a refused renegotiation gets an alert. A client
        // streaming KeyUpdate requests once held a loop inside one SSL_read for as long as it
        // sent, and the answers it never read grew `ciphertext` by tens of MiB (SPEC §7, §10).
        // Past these bounds the connection fails (no retry flag: SSL_ERROR_SYSCALL).
        if socketBytesWithoutPlaintext >= Self.maxSocketBytesWithoutPlaintext || ciphertext.readableCount > Self.maxBufferedCiphertextBytes {
            isOverwhelmed = true
            return -1
        }
        switch Syscalls.read(fd, into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(count))) {
        case .bytes(let read):
            socketBytesWithoutPlaintext += read
            if !hasSeenFirstByte {
                hasSeenFirstByte = true
                // Every TLS connection opens with a handshake record (content type 22); an
                // upper-case letter opens an HTTP request line.
                let first = UInt8(bitPattern: buffer[0])
                if first != 22 && first >= UInt8(ascii: "A") && first <= UInt8(ascii: "Z") {
                    receivedPlainHTTP = true
                    return -1
                }
            }
            return Int32(read)
        case .wouldBlock:
            wsbridge_bio_set_retry_read(bio)
            return -1
        case .endOfFile:
            socketEnded = true
            return 0
        case .failed(let error):
            socketError = error
            return -1
        }
    }

    /// OpenSSL wrote records: they wait here until the socket takes them.
    fileprivate func queueCiphertext(_ bytes: UnsafeRawBufferPointer) {
        ciphertext.append(bytes)
    }
}

/// The BIO between OpenSSL and a `TLSTransport`: reads come straight from the socket, writes go
/// to the transport's buffer.
private enum SocketBIO {
    nonisolated(unsafe) static let method: OpaquePointer = {
        let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsbridge socket")!
        BIO_meth_set_read(method) { bio, buffer, count in
            guard let bio, let buffer, count > 0 else { return 0 }
            return transport(of: bio).readSocket(bio, into: buffer, count: count)
        }
        BIO_meth_set_write(method) { bio, buffer, count in
            guard let bio, let buffer, count > 0 else { return 0 }
            transport(of: bio).queueCiphertext(UnsafeRawBufferPointer(start: buffer, count: Int(count)))
            return count
        }
        BIO_meth_set_ctrl(method) { _, command, _, _ in
            // Flushing is the transport's business (after each OpenSSL call); nothing else applies.
            command == BIO_CTRL_FLUSH ? 1 : 0
        }
        return method
    }()

    static func transport(of bio: OpaquePointer) -> TLSTransport {
        Unmanaged<TLSTransport>.fromOpaque(BIO_get_data(bio)).takeUnretainedValue()
    }
}
