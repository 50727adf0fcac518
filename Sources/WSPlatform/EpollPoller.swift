#if canImport(Glibc)
import Glibc
import CLinuxSystem

/// `Poller` on Linux: one epoll instance, edge-triggered, so a registration is made once per fd
/// and readiness is remembered by the owner until a read or write returns EAGAIN.
public final class EpollPoller: Poller {
    private let epollFD: Int32
    private var events: [epoll_event]

    /// Creates an epoll instance that reports up to `batchSize` events per wait.
    public init(batchSize: Int = 256) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epollFD >= 0, "epoll_create1 failed: \(Syscalls.describe(errno))")
        events = [epoll_event](repeating: epoll_event(), count: batchSize)
    }

    deinit { Glibc.close(epollFD) }

    public func register(_ fd: Int32, token: UInt64, interest: PollInterest) {
        var event = epoll_event()
        event.events = Self.mask(interest)
        event.data.u64 = token
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) != 0 {
            preconditionFailure("epoll_ctl ADD \(fd) failed: \(Syscalls.describe(errno))")
        }
    }

    public func deregister(_ fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
    }

    public func wait(timeoutMilliseconds: Int32, _ handle: (UInt64, PollEvents) -> Void) {
        let count = events.withUnsafeMutableBufferPointer { buffer in
            epoll_wait(epollFD, buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
        }
        guard count > 0 else { return }
        for index in 0..<Int(count) {
            let event = events[index]
            let flags = event.events
            var ready: PollEvents = []
            if flags & EPOLLIN.rawValue != 0 { ready.insert(.readable) }
            if flags & EPOLLOUT.rawValue != 0 { ready.insert(.writable) }
            if flags & (EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 { ready.insert(.hangup) }
            if flags & EPOLLERR.rawValue != 0 { ready.insert(.error) }
            handle(event.data.u64, ready)
        }
    }

    private static func mask(_ interest: PollInterest) -> UInt32 {
        switch interest {
        case .readWrite: EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
        case .read: EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
        case .write: EPOLLOUT.rawValue | EPOLLET.rawValue
        case .sharedListener: EPOLLIN.rawValue | EPOLLEXCLUSIVE.rawValue
        }
    }
}
#endif
