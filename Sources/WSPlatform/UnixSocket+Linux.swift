#if canImport(Glibc)
import Glibc
import CLinuxSystem

/// Datagrams with attached fds over a Unix socket pair: how the spawner process hands a child's
/// pipes to the server (SCM_RIGHTS, unix(7)).
extension Syscalls {
    /// A connected, close-on-exec SOCK_SEQPACKET pair (message boundaries kept), or nil.
    public static func makeSeqpacketPair() -> (Int32, Int32)? {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { return nil }
        return (fds[0], fds[1])
    }

    /// Sends one datagram carrying `fds`; on a blocking socket waits until sent. False when the
    /// peer is gone or (non-blocking) the socket is full: `lastError` tells which.
    @discardableResult
    public static func sendMessage(_ fd: Int32, bytes: [UInt8], passing fds: [Int32] = []) -> Bool {
        var payload = bytes
        let controlLength = fds.isEmpty ? 0 : wsbridge_cmsg_space(fds.count * MemoryLayout<Int32>.size)
        var control = [UInt8](repeating: 0, count: max(controlLength, 1))
        return payload.withUnsafeMutableBytes { payloadBytes in
            control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: payloadBytes.baseAddress, iov_len: payloadBytes.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    if !fds.isEmpty {
                        message.msg_control = controlBytes.baseAddress
                        message.msg_controllen = controlLength
                        let header = wsbridge_cmsg_firsthdr(&message)!
                        header.pointee.cmsg_level = SOL_SOCKET
                        header.pointee.cmsg_type = Int32(SCM_RIGHTS)
                        header.pointee.cmsg_len = wsbridge_cmsg_len(fds.count * MemoryLayout<Int32>.size)
                        let data = UnsafeMutableRawPointer(wsbridge_cmsg_data(header)!)
                        for (index, passed) in fds.enumerated() {
                            data.storeBytes(of: passed, toByteOffset: index * MemoryLayout<Int32>.size, as: Int32.self)
                        }
                    }
                    while true {
                        if sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) >= 0 { return true }
                        if errno != EINTR { return false }
                    }
                }
            }
        }
    }

    /// The outcome of receiving one datagram.
    public enum ReceiveResult {
        /// A datagram of this many bytes, and the fds passed with it (close-on-exec).
        case message(count: Int, fds: [Int32])
        /// Nothing waiting (non-blocking receive only).
        case wouldBlock
        /// The peer closed, or the socket failed.
        case closed
    }

    /// Receives one datagram into `payload` (its size is the largest datagram accepted) and the
    /// fds passed with it; blocks unless `isNonBlocking`.
    public static func receiveMessage(_ fd: Int32, into payload: inout [UInt8], isNonBlocking: Bool = false) -> ReceiveResult {
        let controlLength = wsbridge_cmsg_space(8 * MemoryLayout<Int32>.size)
        var control = [UInt8](repeating: 0, count: controlLength)
        var received: [Int32] = []
        var error: Int32 = 0
        let count: Int = payload.withUnsafeMutableBytes { payloadBytes in
            control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: payloadBytes.baseAddress, iov_len: payloadBytes.count)
                return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                    var message = msghdr()
                    message.msg_iov = vectorPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlLength
                    let flags = Int32(MSG_CMSG_CLOEXEC) | (isNonBlocking ? Int32(MSG_DONTWAIT) : 0)
                    var result: Int
                    repeat {
                        result = recvmsg(fd, &message, flags)
                        error = result < 0 ? errno : 0
                    } while result < 0 && error == EINTR
                    guard result > 0 else { return result }
                    var header = wsbridge_cmsg_firsthdr(&message)
                    while let current = header {
                        if current.pointee.cmsg_level == SOL_SOCKET && current.pointee.cmsg_type == Int32(SCM_RIGHTS) {
                            let dataLength = Int(current.pointee.cmsg_len) - Int(wsbridge_cmsg_len(0))
                            let data = UnsafeRawPointer(wsbridge_cmsg_data(current)!)
                            for index in 0..<(dataLength / MemoryLayout<Int32>.size) {
                                received.append(data.loadUnaligned(fromByteOffset: index * 4, as: Int32.self))
                            }
                        }
                        header = wsbridge_cmsg_nxthdr(&message, current)
                    }
                    return result
                }
            }
        }
        if count > 0 { return .message(count: count, fds: received) }
        if count < 0 && (error == EAGAIN || error == EWOULDBLOCK) { return .wouldBlock }
        return .closed
    }
}
#endif
