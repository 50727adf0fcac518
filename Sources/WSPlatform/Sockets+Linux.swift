#if canImport(Glibc)
import Glibc
import CLinuxSystem

/// A socket address as text: an IPv4 or IPv6 host (without brackets) and port, or a Unix socket path.
public struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
    /// "127.0.0.1" or "::1"; "" for a Unix socket.
    public var host: String
    /// The port number; 0 for a Unix socket.
    public var port: Int
    /// The path of a Unix socket (empty for an unnamed peer); nil for TCP.
    public var unixPath: String?
    /// Whether this is an IPv6 address.
    public var isIPv6: Bool { host.contains(":") }

    /// Creates a TCP address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Creates a Unix socket address.
    public init(unixPath: String) {
        self.host = ""
        self.port = 0
        self.unixPath = unixPath
    }

    /// "127.0.0.1:80", "[::1]:80" or "unix:/run/app.sock".
    public var description: String {
        if let unixPath { return "unix:\(unixPath)" }
        return isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// Why a listening socket could not be opened.
public struct ListenError: Error, Equatable, Sendable {
    /// One line for the user.
    public var message: String
}

extension Syscalls {
    /// Opens a non-blocking, close-on-exec TCP socket listening on `host` (IPv4 or IPv6 literal;
    /// "" = every interface, dual-stack) and `port` (0 = any free port). `reusePort` sets
    /// `SO_REUSEPORT`: other sockets with it may listen on the same port, and the kernel spreads
    /// new connections over them.
    public static func listen(host: String, port: Int, backlog: Int32 = 1024, reusePort: Bool = false) throws(ListenError) -> (fd: Int32, address: SocketAddress) {
        var storage = sockaddr_storage()
        var length: socklen_t
        let family: Int32
        if host.isEmpty || host.contains(":") {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = UInt16(port).bigEndian
            if !host.isEmpty {
                guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else {
                    throw ListenError(message: "wsbridge: --address=\(host) is not an IP address")
                }
            }
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: &address) { target.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
                throw ListenError(message: "wsbridge: --address=\(host) is not an IP address")
            }
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: &address) { target.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListenError(message: "wsbridge: cannot create a socket: \(describe(errno))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if reusePort {
            guard setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                let error = errno
                Glibc.close(fd)
                throw ListenError(message: "wsbridge: --reuseport: cannot set SO_REUSEPORT: \(describe(error))")
            }
        }
        if family == AF_INET6 {
            // "" means every interface, IPv4 included; an explicit IPv6 address means only IPv6.
            var v6only: Int32 = host.isEmpty ? 0 : 1
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &v6only, socklen_t(MemoryLayout<Int32>.size))
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, Glibc.listen(fd, backlog) == 0 else {
            let error = errno
            Glibc.close(fd)
            let shown = host.isEmpty ? "*:\(port)" : SocketAddress(host: host, port: port).description
            throw ListenError(message: "wsbridge: cannot listen on \(shown): \(describe(error))")
        }
        guard let local = localAddress(fd) else {
            Glibc.close(fd)
            throw ListenError(message: "wsbridge: cannot read the listening address: \(describe(errno))")
        }
        return (fd, local)
    }

    /// Whether the kernel hands the connections queued at a closing listener to another listener
    /// of its `SO_REUSEPORT` group (sysctl `net.ipv4.tcp_migrate_req`, Linux 5.14) instead of
    /// resetting them; nil when the setting cannot be read.
    public static func migratesQueuedConnections() -> Bool? {
        let fd = open("/proc/sys/net/ipv4/tcp_migrate_req", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var byte: UInt8 = 0
        guard Glibc.read(fd, &byte, 1) == 1 else { return nil }
        return byte != UInt8(ascii: "0")
    }

    /// Takes a listening socket a service manager passed (socket activation, SPEC §15): checks it
    /// is a listening stream socket, makes it non-blocking and close-on-exec (so no child or
    /// spawner inherits it), and returns its address (a Unix socket's path included).
    public static func adoptListener(_ fd: Int32) throws(ListenError) -> SocketAddress {
        var type: Int32 = 0, accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else {
            throw ListenError(message: "wsbridge: socket activation: fd \(fd) is not a socket: \(describe(errno))")
        }
        length = socklen_t(MemoryLayout<Int32>.size)
        guard type == Int32(SOCK_STREAM.rawValue), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0, accepting != 0 else {
            throw ListenError(message: "wsbridge: socket activation: fd \(fd) is not a listening stream socket (ListenStream= in the socket unit)")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        setNonBlocking(fd)
        guard let local = localAddress(fd) else {
            throw ListenError(message: "wsbridge: socket activation: cannot read fd \(fd)'s address: \(describe(errno))")
        }
        return local
    }

    /// Opens a non-blocking, close-on-exec Unix stream socket listening at `path` (websocketd 0.5
    /// `--unixsocket`): a stale socket file left by a dead server is replaced, a live one is an error.
    public static func listenUnix(path: String, backlog: Int32 = 1024) throws(ListenError) -> (fd: Int32, address: SocketAddress) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity else {
            throw ListenError(message: "wsbridge: --unixsocket=\(path) is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + 1)
        func makeSocket() -> Int32 {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        var status = stat()
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFSOCK else {
                throw ListenError(message: "wsbridge: --unixsocket=\(path) exists and is not a socket; remove it or pick another path")
            }
            // A socket file: live if something accepts on it, stale (and replaced) otherwise.
            let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            let isLive = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) == 0 }
            }
            Glibc.close(probe)
            guard !isLive else {
                throw ListenError(message: "wsbridge: --unixsocket=\(path) is in use by a running server")
            }
            unlink(path)
        }
        let fd = makeSocket()
        guard fd >= 0 else { throw ListenError(message: "wsbridge: cannot create a socket: \(describe(errno))") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, Glibc.listen(fd, backlog) == 0 else {
            let error = errno
            Glibc.close(fd)
            throw ListenError(message: "wsbridge: cannot listen on unix:\(path): \(describe(error))")
        }
        return (fd, SocketAddress(unixPath: path))
    }

    /// The name reverse DNS gives `address` (`--reverselookup`), or nil. Blocks: call it off the
    /// event loops.
    public static func reverseLookup(_ address: SocketAddress) -> String? {
        guard address.unixPath == nil else { return nil }
        var storage = sockaddr_storage()
        let length: socklen_t
        if address.isIPv6 {
            var ipv6 = sockaddr_in6()
            ipv6.sin6_family = sa_family_t(AF_INET6)
            guard inet_pton(AF_INET6, address.host, &ipv6.sin6_addr) == 1 else { return nil }
            withUnsafeMutableBytes(of: &storage) { target in withUnsafeBytes(of: &ipv6) { target.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var ipv4 = sockaddr_in()
            ipv4.sin_family = sa_family_t(AF_INET)
            guard inet_pton(AF_INET, address.host, &ipv4.sin_addr) == 1 else { return nil }
            withUnsafeMutableBytes(of: &storage) { target in withUnsafeBytes(of: &ipv4) { target.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        var name = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &name, socklen_t(name.count), nil, 0, NI_NAMEREQD)
            }
        }
        guard result == 0 else { return nil }
        return name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The result of accepting one connection.
    public enum AcceptResult {
        /// A new non-blocking, close-on-exec socket and its peer.
        case accepted(fd: Int32, peer: SocketAddress, local: SocketAddress)
        /// No connection is pending.
        case wouldBlock
        /// A transient failure (EMFILE, ECONNABORTED, ...): errno.
        case failed(Int32)
    }

    /// Accepts one pending connection.
    public static func accept(_ listener: Int32) -> AcceptResult {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        while true {
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept4(listener, $0, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd >= 0 {
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                let peer = address(from: &storage) ?? SocketAddress(host: "unknown", port: 0)
                let local = localAddress(fd) ?? SocketAddress(host: "unknown", port: 0)
                return .accepted(fd: fd, peer: peer, local: local)
            }
            let error = errno
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK { return .wouldBlock }
            return .failed(error)
        }
    }

    /// Makes the next `close` of `fd` reset the connection (SO_LINGER 0) instead of a graceful FIN.
    public static func setResetOnClose(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    }

    /// Ends the sending side of a socket (FIN) while still reading.
    public static func shutdownWrite(_ fd: Int32) {
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    private static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return result == 0 ? address(from: &storage) : nil
    }

    private static func address(from storage: inout sockaddr_storage) -> SocketAddress? {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer -> SocketAddress in
                    var address = pointer.pointee.sin_addr
                    inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                    return SocketAddress(host: text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, port: Int(UInt16(bigEndian: pointer.pointee.sin_port)))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer -> SocketAddress in
                    var address = pointer.pointee.sin6_addr
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                    var host = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; CGI wants a.b.c.d.
                    if host.hasPrefix("::ffff:") && host.contains(".") { host.removeFirst(7) }
                    return SocketAddress(host: host, port: Int(UInt16(bigEndian: pointer.pointee.sin6_port)))
                }
            }
        case AF_UNIX:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { pointer -> SocketAddress in
                    var path = pointer.pointee.sun_path
                    let text = withUnsafeBytes(of: &path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    return SocketAddress(unixPath: text)
                }
            }
        default:
            return nil
        }
    }
}
#endif
