/// What an fd is registered for.
public enum PollInterest: Sendable {
    /// A socket: readable and writable, edge-triggered.
    case readWrite
    /// A pipe we read from, edge-triggered.
    case read
    /// A pipe we write to, edge-triggered.
    case write
    /// A listening socket shared by every event loop: level-triggered, and only one loop is woken
    /// per connection (EPOLLEXCLUSIVE), so loops do not stampede on accept.
    case sharedListener
}

/// Readiness reported for one fd.
public struct PollEvents: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Data (or EOF) can be read.
    public static let readable = PollEvents(rawValue: 1)
    /// Data can be written.
    public static let writable = PollEvents(rawValue: 2)
    /// The peer hung up.
    public static let hangup = PollEvents(rawValue: 4)
    /// An error is pending on the fd.
    public static let error = PollEvents(rawValue: 8)
}

/// The readiness-notification seam: epoll on Linux (`EpollPoller`); kqueue can follow for macOS.
public protocol Poller: AnyObject {
    /// Starts watching `fd`; events carry `token`.
    func register(_ fd: Int32, token: UInt64, interest: PollInterest)
    /// Stops watching `fd` (call before closing it).
    func deregister(_ fd: Int32)
    /// Waits up to `timeoutMilliseconds` (-1 = forever) and calls `handle` for each ready fd.
    func wait(timeoutMilliseconds: Int32, _ handle: (UInt64, PollEvents) -> Void)
}
