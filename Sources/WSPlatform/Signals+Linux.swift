#if canImport(Glibc)
import Glibc

/// SIGTERM and SIGINT, turned into reads on an eventfd so the main thread can wait for them.
///
/// Handlers, not `SIG_IGN` or blocked masks: a child inherits ignored signals and the blocked mask
/// across exec, but handled signals revert to their defaults, so children start clean. SIGPIPE gets
/// a no-op handler for the same reason: the server sees EPIPE, while children still die of SIGPIPE.
public enum ShutdownSignals {
    nonisolated(unsafe) private static var eventFD: Int32 = -1

    /// Installs the handlers and clears the inherited signal mask; call once, before any thread
    /// starts. A parent that started us from a thread with SIGTERM blocked (a dispatch worker, for
    /// example) would otherwise make us deaf to SIGTERM, and every child we start too.
    public static func install() {
        clearInheritedMask()
        eventFD = Syscalls.makeEventFD()
        handle([SIGTERM, SIGINT]) { _ in ShutdownSignals.notify(ShutdownSignals.eventFD) }
        handle([SIGPIPE]) { _ in }
    }

    /// Installs `handler` (a C function: it may only make async-signal-safe calls) for `signals`.
    private static func handle(_ signals: [Int32], with handler: @convention(c) (Int32) -> Void) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        for signal in signals { sigaction(signal, &action, nil) }
    }

    /// Wakes the main thread's poll on `fd` (write(2) is async-signal-safe).
    private static func notify(_ fd: Int32) {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(fd, $0.baseAddress, 8) }
    }

    /// Unblocks every signal the parent may have blocked for us (and so for our children).
    public static func clearInheritedMask() {
        var empty = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, nil)
    }

    nonisolated(unsafe) private static var reloadFD: Int32 = -1

    /// SIGHUP asks for a reload (SPEC §10: the TLS files) instead of ending the server; call after
    /// `install()`, and only when there is something to reload, so that a plain server still
    /// ends on a hangup as before.
    public static func installReload() {
        reloadFD = Syscalls.makeEventFD()
        handle([SIGHUP]) { _ in ShutdownSignals.notify(ShutdownSignals.reloadFD) }
    }

    /// What the main thread was woken for.
    public enum Request { case shutdown, reload }

    /// Blocks until SIGTERM or SIGINT (`.shutdown`) or, with `installReload()`, SIGHUP (`.reload`).
    public static func waitForRequest() -> Request {
        var pollFDs = [pollfd(fd: eventFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: reloadFD, events: Int16(POLLIN), revents: 0)]
        while true {
            // A negative fd is ignored by poll(2): without installReload() only shutdowns wake us.
            if poll(&pollFDs, 2, -1) > 0 {
                if pollFDs[0].revents != 0 {
                    Syscalls.drainEventFD(eventFD)
                    return .shutdown
                }
                if pollFDs[1].revents != 0 {
                    Syscalls.drainEventFD(reloadFD)
                    return .reload
                }
            }
        }
    }

    /// Whether a signal arrived within `milliseconds`.
    public static func wait(milliseconds: Int32) -> Bool {
        var pollFD = pollfd(fd: eventFD, events: Int16(POLLIN), revents: 0)
        if poll(&pollFD, 1, milliseconds) > 0 {
            Syscalls.drainEventFD(eventFD)
            return true
        }
        return false
    }
}
#endif
