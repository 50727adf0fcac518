import Foundation
import Glibc

/// A minimal WebSocket client over a blocking loopback TCP socket, written independently of
/// WSBridgeCore so that a bug in the server's own codecs cannot hide behind a matching bug here.
///
/// Every wait goes through poll(2) with a deadline. Bytes received but not yet consumed stay in
/// `inbound`, so frames that follow the 101 in the same read are never lost.
final class WebSocketTestClient {
    /// How long an operation waits when the caller passes no timeout.
    static let defaultTimeout: Duration = .seconds(5)

    /// The connected socket.
    let fd: Int32
    private var inbound: [UInt8] = []
    private var inboundStart = 0
    private var isClosed = false
    /// Whether the peer ended the stream (FIN or RST); no more bytes will arrive.
    private(set) var sawEndOfStream = false
    /// Whether the stream ended with ECONNRESET rather than a FIN.
    private(set) var sawReset = false

    /// Connects a TCP socket to `127.0.0.1:port`, from `source` (another loopback address such
    /// as 127.0.0.5, host byte order) when given.
    convenience init(port: UInt16, source: UInt32? = nil, timeout: Duration = WebSocketTestClient.defaultTimeout) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestClientError.system("socket", errno) }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = source.bigEndian
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { Glibc.close(fd); throw TestClientError.system("bind", errno) }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        // A nonblocking connect bounded by poll, so a wedged listener cannot hang the test.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            let code = errno
            guard code == EINPROGRESS else { Glibc.close(fd); throw TestClientError.system("connect", code) }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&pfd, 1, Deadline(after: timeout).pollMilliseconds) == 1 else {
                Glibc.close(fd)
                throw TestClientError.timedOut("TCP connect to port \(port)")
            }
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
            guard socketError == 0 else { Glibc.close(fd); throw TestClientError.system("connect", socketError) }
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        self.init(fileDescriptor: fd)
    }

    /// Wraps an already connected stream socket (for example one end of a socketpair); takes ownership.
    init(fileDescriptor: Int32) {
        fd = fileDescriptor
    }

    deinit {
        if !isClosed { Glibc.close(fd) }
    }

    // MARK: Sending

    /// Writes every byte of `bytes`, waiting for the socket to become writable as needed.
    func sendRaw(_ bytes: [UInt8], timeout: Duration = WebSocketTestClient.defaultTimeout) throws {
        let deadline = Deadline(after: timeout)
        var written = 0
        while written < bytes.count {
            try waitFor(events: POLLOUT, deadline: deadline, what: "the socket to accept \(bytes.count - written) more bytes")
            written += try sendSome(bytes, from: written)
        }
    }

    /// Writes all of `bytes` while reading whatever arrives into the inbound buffer, as a browser
    /// does: the client never stops reading, so a server that needs its echoes read to make
    /// progress can, and one that deadlocks shows up as a timeout.
    func pump(sending bytes: [UInt8], timeout: Duration = .seconds(30)) throws {
        let deadline = Deadline(after: timeout)
        var written = 0
        while written < bytes.count {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN | POLLOUT), revents: 0)
            let ready = poll(&pfd, 1, deadline.pollMilliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw TestClientError.system("poll", errno)
            }
            guard ready > 0 else {
                throw TestClientError.timedOut("the server to take \(bytes.count - written) of \(bytes.count) bytes (\(availableCount) unread bytes received)")
            }
            if pfd.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0, !sawEndOfStream {
                try receiveSome()
                if sawEndOfStream {
                    throw TestClientError.connectionClosed("the server to take \(bytes.count - written) more bytes")
                }
            }
            if pfd.revents & Int16(POLLOUT) != 0 {
                written += try sendSome(bytes, from: written)
            }
        }
    }

    private func sendSome(_ bytes: [UInt8], from offset: Int) throws -> Int {
        let count = min(bytes.count - offset, 256 * 1024)
        let sent = bytes.withUnsafeBytes { buffer in
            // MSG_NOSIGNAL: a closed peer must give EPIPE, not kill the test process with SIGPIPE.
            send(fd, buffer.baseAddress! + offset, count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
        }
        if sent >= 0 { return sent }
        let code = errno
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return 0 }
        if code == EPIPE || code == ECONNRESET { throw TestClientError.connectionClosed("a write of \(bytes.count - offset) bytes") }
        throw TestClientError.system("send", code)
    }

    // MARK: Receiving

    /// Number of received bytes not yet consumed.
    var availableCount: Int { inbound.count - inboundStart }

    /// Reads once from the socket into the inbound buffer; sets `sawEndOfStream` on FIN or RST.
    private func receiveSome() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let received = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
        if received > 0 {
            if inboundStart > 0, inboundStart >= inbound.count / 2 {
                inbound.removeFirst(inboundStart)
                inboundStart = 0
            }
            inbound.append(contentsOf: chunk[0..<received])
            return
        }
        if received == 0 { sawEndOfStream = true; return }
        let code = errno
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
        if code == ECONNRESET { sawEndOfStream = true; sawReset = true; return }
        throw TestClientError.system("recv", code)
    }

    private func waitFor(events: Int32, deadline: Deadline, what: String) throws {
        while true {
            var pfd = pollfd(fd: fd, events: Int16(events), revents: 0)
            let ready = poll(&pfd, 1, deadline.pollMilliseconds)
            if ready > 0 { return }
            if ready == 0 { throw TestClientError.timedOut(what) }
            if errno != EINTR { throw TestClientError.system("poll", errno) }
        }
    }

    /// Makes sure at least `count` unread bytes are buffered.
    func ensureAvailable(_ count: Int, deadline: Deadline, what: String) throws {
        while availableCount < count {
            if sawEndOfStream { throw TestClientError.connectionClosed(what) }
            try waitFor(events: POLLIN, deadline: deadline, what: what)
            try receiveSome()
        }
    }

    /// The unread byte at `offset` from the read position.
    func peekByte(at offset: Int) -> UInt8 { inbound[inboundStart + offset] }

    /// Index of the first occurrence of `pattern` among the unread bytes, relative to the read position.
    func firstIndex(of pattern: [UInt8]) -> Int? {
        guard availableCount >= pattern.count else { return nil }
        var index = inboundStart
        while index + pattern.count <= inbound.count {
            if inbound[index..<index + pattern.count].elementsEqual(pattern) { return index - inboundStart }
            index += 1
        }
        return nil
    }

    /// Removes and returns the next `count` unread bytes (which must be buffered).
    func consume(_ count: Int) -> [UInt8] {
        precondition(count <= availableCount, "consume past the buffered bytes")
        let bytes = Array(inbound[inboundStart..<inboundStart + count])
        inboundStart += count
        return bytes
    }

    /// Reads until the peer ends the stream and returns every unread byte; throws on timeout.
    @discardableResult
    func waitForEndOfStream(timeout: Duration = WebSocketTestClient.defaultTimeout) throws -> [UInt8] {
        let deadline = Deadline(after: timeout)
        while !sawEndOfStream {
            try waitFor(events: POLLIN, deadline: deadline, what: "the server to end the TCP connection")
            try receiveSome()
        }
        return consume(availableCount)
    }

    // MARK: Closing

    /// Closes the socket normally (FIN).
    func close() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    /// Closes with SO_LINGER 0, so the kernel sends a TCP RST instead of a FIN.
    func closeAbruptly() {
        guard !isClosed else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }
}
