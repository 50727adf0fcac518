import WSProtocol

/// The byte stream under a client's connection, the one seam between the socket and everything
/// above it (STYLE.md "Pure codecs, I/O at the edges"): the HTTP connection, the WebSocket session
/// and the CGI request read and write the client's bytes only through it, so the TLS transport
/// (SPEC §10, `WSTLS`) fits beneath them without any of them, or any codec, knowing.
///
/// It speaks in the event loop's terms: each call moves what it can without blocking and says how
/// many bytes moved, that it would block (the loop reports readiness on `fd`), that the stream
/// ended, or that it failed.
package protocol Transport: AnyObject {
    /// The fd the event loop watches for this connection's readiness, and closes at its end.
    var fd: Int32 { get }
    /// Reads what is available into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Syscalls.IOResult
    /// Writes what it can of `buffer`. A transport may accept bytes it cannot put on the wire yet
    /// (TLS encrypts whole records): they wait in it, and `hasBufferedOutput` says so.
    func write(from buffer: UnsafeRawBufferPointer) -> Syscalls.IOResult
    /// Writes what it can of `buffers`, in order, as one stream (a plain socket gathers them in
    /// one `writev`; the default writes the first).
    func write(gathering buffers: [UnsafeRawBufferPointer]) -> Syscalls.IOResult
    /// Whether bytes a write accepted still wait inside the transport for the socket.
    var hasBufferedOutput: Bool { get }
    /// Writes what the transport holds; `.wouldBlock` while some of it remains.
    func flushBufferedOutput() -> Syscalls.IOResult
    /// Ends our direction of the stream: no more bytes will be written (after those it holds).
    func shutdownWrite()
    /// Makes the coming close abort the connection (an answer that cannot be completed must not
    /// look complete to the client, RFC 9112 §6.3).
    func abortOnClose()
    /// What the child learns of the TLS session (SPEC §10); nil on a plain socket.
    var tlsSession: TLSSessionInfo? { get }
    /// Gives back buffers that are empty, once the connection has been idle for a while.
    func releaseIdleMemory()
}

extension Transport {
    package func write(gathering buffers: [UnsafeRawBufferPointer]) -> Syscalls.IOResult {
        guard let first = buffers.first else { return .bytes(0) }
        return write(from: first)
    }

    /// Writes what the transport holds, then as much of `buffer` as it takes without blocking,
    /// consuming what was written. It would block while anything, in `buffer` or in the
    /// transport, is left.
    package func drain(_ buffer: inout ByteBuffer) -> Syscalls.DrainResult {
        var outcome = Syscalls.DrainResult()
        if hasBufferedOutput {
            switch flushBufferedOutput() {
            case .bytes(let count): outcome.wroteBytes = count > 0
            case .wouldBlock:
                outcome.wouldBlock = true
                return outcome
            case .endOfFile, .failed:
                outcome.failed = true
                return outcome
            }
        }
        let drained = Syscalls.drain(&buffer) { write(from: $0) }
        outcome.wroteBytes = outcome.wroteBytes || drained.wroteBytes
        outcome.failed = drained.failed
        outcome.wouldBlock = drained.wouldBlock || (!drained.failed && hasBufferedOutput)
        return outcome
    }

    /// Whether `buffer` and the transport are both empty: everything queued is on the wire.
    package func isFlushed(_ buffer: ByteBuffer) -> Bool { buffer.isEmpty && !hasBufferedOutput }
}

/// A read from a transport into space a buffer lends (`writeWithUnsafeMutableBytes`), remembering
/// what the read did.
package struct TransportRead {
    /// The transport read from.
    package let transport: any Transport
    /// What the read did (`.wouldBlock` until it ran).
    package private(set) var result = Syscalls.IOResult.wouldBlock

    /// Prepares a read from `transport`.
    package init(_ transport: any Transport) { self.transport = transport }

    /// Reads into `space`; returns the byte count added (0 unless bytes arrived).
    package mutating func into(_ space: UnsafeMutableRawBufferPointer) -> Int {
        result = transport.read(into: space)
        if case .bytes(let count) = result { return count }
        return 0
    }
}

/// What a TLS connection tells its child (SPEC §10: mod_ssl's variable names).
public struct TLSSessionInfo: Sendable, Equatable {
    /// `SSL_PROTOCOL`: "TLSv1.2" or "TLSv1.3".
    public var protocolVersion: String
    /// `SSL_CIPHER`: OpenSSL's name of the cipher suite.
    public var cipher: String
    /// The server name the client asked for (SNI), if it sent one.
    public var serverName: String?
    /// With `--sslca`: the verified client certificate.
    public var clientCertificate: ClientCertificate?

    public struct ClientCertificate: Sendable, Equatable {
        /// `SSL_CLIENT_S_DN`, RFC 2253.
        public var subject: String
        /// `SSL_CLIENT_I_DN`, RFC 2253.
        public var issuer: String
        /// `SSL_CLIENT_M_SERIAL`, upper-case hex.
        public var serial: String
        /// `REMOTE_USER`: the subject's common name.
        public var commonName: String?

        public init(subject: String, issuer: String, serial: String, commonName: String?) {
            self.subject = subject
            self.issuer = issuer
            self.serial = serial
            self.commonName = commonName
        }
    }

    public init(protocolVersion: String, cipher: String, serverName: String?, clientCertificate: ClientCertificate?) {
        self.protocolVersion = protocolVersion
        self.cipher = cipher
        self.serverName = serverName
        self.clientCertificate = clientCertificate
    }
}

/// A plain TCP or Unix stream socket.
package final class SocketTransport: Transport {
    package let fd: Int32

    /// Wraps a connected, non-blocking socket.
    package init(fd: Int32) { self.fd = fd }

    package func read(into buffer: UnsafeMutableRawBufferPointer) -> Syscalls.IOResult { Syscalls.read(fd, into: buffer) }

    // MSG_NOSIGNAL: a vanished client is an error to handle, not a SIGPIPE.
    package func write(from buffer: UnsafeRawBufferPointer) -> Syscalls.IOResult { Syscalls.write(fd, from: buffer, isSocket: true) }

    package func write(gathering buffers: [UnsafeRawBufferPointer]) -> Syscalls.IOResult { Syscalls.send(fd, gathering: buffers) }

    package var hasBufferedOutput: Bool { false }

    package func flushBufferedOutput() -> Syscalls.IOResult { .bytes(0) }

    package func shutdownWrite() { Syscalls.shutdownWrite(fd) }

    package func abortOnClose() { Syscalls.setResetOnClose(fd) }

    package var tlsSession: TLSSessionInfo? { nil }

    package func releaseIdleMemory() {}
}
