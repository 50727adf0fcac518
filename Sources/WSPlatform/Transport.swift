import WSProtocol
import WSPlatform

/// The byte stream under a client's connection, the one seam between the socket and everything
/// above it (STYLE.md "Pure codecs, I/O at the edges"): the HTTP connection, the WebSocket session
/// and the CGI request read and write the client's bytes only through it, so a TLS transport
/// (SPEC §10) fits beneath them without any of them, or any codec, knowing.
///
/// It speaks in the event loop's terms: each call moves what it can without blocking and says how
/// many bytes moved, that it would block (the loop reports readiness on `fd`), that the stream
/// ended, or that it failed.
protocol Transport: AnyObject {
    /// The fd the event loop watches for this connection's readiness, and closes at its end.
    var fd: Int32 { get }
    /// Reads what is available into `buffer`.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Syscalls.IOResult
    /// Writes what it can of `buffer`.
    func write(from buffer: UnsafeRawBufferPointer) -> Syscalls.IOResult
    /// Ends our direction of the stream: no more bytes will be written.
    func shutdownWrite()
    /// Makes the coming close abort the connection (an answer that cannot be completed must not
    /// look complete to the client, RFC 9112 §6.3).
    func abortOnClose()
}

extension Transport {
    /// Writes as much of `buffer` as the transport takes without blocking, consuming what was written.
    func drain(_ buffer: inout ByteBuffer) -> Syscalls.DrainResult {
        Syscalls.drain(&buffer) { write(from: $0) }
    }
}

/// A read from a transport into space a buffer lends (`writeWithUnsafeMutableBytes`), remembering
/// what the read did.
struct TransportRead {
    /// The transport read from.
    let transport: any Transport
    /// What the read did (`.wouldBlock` until it ran).
    private(set) var result = Syscalls.IOResult.wouldBlock

    /// Prepares a read from `transport`.
    init(_ transport: any Transport) { self.transport = transport }

    /// Reads into `space`; returns the byte count added (0 unless bytes arrived).
    mutating func into(_ space: UnsafeMutableRawBufferPointer) -> Int {
        result = transport.read(into: space)
        if case .bytes(let count) = result { return count }
        return 0
    }
}

/// A plain TCP or Unix stream socket.
final class SocketTransport: Transport {
    let fd: Int32

    /// Wraps a connected, non-blocking socket.
    init(fd: Int32) { self.fd = fd }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Syscalls.IOResult { Syscalls.read(fd, into: buffer) }

    // MSG_NOSIGNAL: a vanished client is an error to handle, not a SIGPIPE.
    func write(from buffer: UnsafeRawBufferPointer) -> Syscalls.IOResult { Syscalls.write(fd, from: buffer, isSocket: true) }

    func shutdownWrite() { Syscalls.shutdownWrite(fd) }

    func abortOnClose() { Syscalls.setResetOnClose(fd) }
}
