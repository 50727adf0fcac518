#if canImport(Glibc)
import Glibc
import CLinuxSystem
import WSProtocol

/// The operating system as wsbridge uses it: the one file that calls Glibc for sockets, pipes,
/// processes and time, so that a port to another system replaces this file and `EpollPoller`.
public enum Syscalls {
    /// The outcome of a non-blocking read or write.
    public enum IOResult: Equatable {
        /// This many bytes moved (for a read, 0 is never returned here: see `.endOfFile`).
        case bytes(Int)
        /// The call would block: wait for readiness.
        case wouldBlock
        /// The peer closed (read returned 0).
        case endOfFile
        /// The call failed with this errno (EPIPE, ECONNRESET, ...).
        case failed(Int32)
    }

    /// Reads into `buffer` without blocking.
    @inline(__always)
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        while true {
            let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if count > 0 { return .bytes(count) }
            if count == 0 { return .endOfFile }
            let error = errno
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK { return .wouldBlock }
            return .failed(error)
        }
    }

    /// Writes from `buffer` without blocking. Sockets use `send` with MSG_NOSIGNAL so a vanished
    /// peer gives EPIPE instead of killing the server with SIGPIPE (SIGPIPE is ignored as well).
    @inline(__always)
    public static func write(_ fd: Int32, from buffer: UnsafeRawBufferPointer, isSocket: Bool) -> IOResult {
        while true {
            let count = isSocket
                ? Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
                : Glibc.write(fd, buffer.baseAddress, buffer.count)
            if count >= 0 { return .bytes(count) }
            let error = errno
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK { return .wouldBlock }
            return .failed(error)
        }
    }

    /// Writes `buffers` in order to a socket with one `sendmsg` (MSG_NOSIGNAL, as `write`): a
    /// shared session's frames go to each client from the one copy every client shares.
    public static func send(_ fd: Int32, gathering buffers: [UnsafeRawBufferPointer]) -> IOResult {
        var vectors = buffers.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        return vectors.withUnsafeMutableBufferPointer { vectors in
            var message = msghdr()
            message.msg_iov = vectors.baseAddress
            message.msg_iovlen = vectors.count
            while true {
                let count = Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
                if count >= 0 { return .bytes(count) }
                let error = errno
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK { return .wouldBlock }
                return .failed(error)
            }
        }
    }

    /// One non-blocking read straight into the free space a buffer lends (`writeWithUnsafeMutableBytes`
    /// and its kin), remembering the outcome for the caller: `var read = Syscalls.ReadInto(fd)`,
    /// `buffer.writeWithUnsafeMutableBytes(minimumWritable: n) { read.into($0) }`, then `read.result`.
    public struct ReadInto {
        /// The fd read from.
        public let fd: Int32
        /// What the read did (`.wouldBlock` until it ran).
        public private(set) var result = IOResult.wouldBlock

        /// Prepares a read from `fd`.
        public init(_ fd: Int32) { self.fd = fd }

        /// Reads into `space`; returns the byte count added (0 unless bytes arrived).
        public mutating func into(_ space: UnsafeMutableRawBufferPointer) -> Int {
            result = Syscalls.read(fd, into: space)
            if case .bytes(let count) = result { return count }
            return 0
        }
    }

    /// What writing a buffer out did.
    public struct DrainResult {
        /// Nothing written yet.
        public init() {}
        /// Whether any byte was written.
        public var wroteBytes = false
        /// The fd would block before the buffer emptied: wait for writability.
        public var wouldBlock = false
        /// The fd failed (EPIPE, ECONNRESET, ...): the reader is gone.
        public var failed = false
    }

    /// Writes as much of `buffer` to `fd` as it takes without blocking, consuming what was written.
    public static func drain(_ buffer: inout ByteBuffer, to fd: Int32, isSocket: Bool) -> DrainResult {
        drain(&buffer) { write(fd, from: $0, isSocket: isSocket) }
    }

    /// Writes as much of `buffer` as `write` takes without blocking, consuming what was written.
    public static func drain(_ buffer: inout ByteBuffer, through write: (UnsafeRawBufferPointer) -> IOResult) -> DrainResult {
        var outcome = DrainResult()
        while !buffer.isEmpty {
            switch buffer.withUnsafeReadableBytes(write) {
            case .bytes(let count):
                buffer.moveReaderIndex(forwardBy: count)
                outcome.wroteBytes = true
            case .wouldBlock:
                outcome.wouldBlock = true
                return outcome
            case .endOfFile, .failed:
                outcome.failed = true
                return outcome
            }
        }
        return outcome
    }

    /// Closes a file descriptor (EINTR is not retried: on Linux the fd is gone either way).
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Waits until `fd` is readable (or at its end, or in error), at most `milliseconds`; false
    /// when the time ran out first.
    public static func waitReadable(_ fd: Int32, milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&entry, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            return ready != 0
        }
    }

    /// Makes `fd` non-blocking.
    public static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    /// A close-on-exec pipe, or nil (`lastError` says why).
    public static func makePipe() -> (read: Int32, write: Int32)? {
        var fds: [Int32] = [-1, -1]
        guard pipe2(&fds, O_CLOEXEC) == 0 else { return nil }
        return (fds[0], fds[1])
    }

    /// A close-on-exec duplicate of `fd`, or -1.
    public static func duplicateCloseOnExec(_ fd: Int32) -> Int32 {
        fcntl(fd, F_DUPFD_CLOEXEC, 3)
    }

    /// The current errno as text.
    public static func describe(_ error: Int32) -> String {
        String(cString: strerror(error))
    }

    /// The last errno.
    public static var lastError: Int32 { errno }

    /// Opens a regular file for reading, close-on-exec and without following a final symlink
    /// (a file swapped for a link after `--staticdir` checked it is not served); nil on failure.
    public static func openForReading(_ path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        return fd >= 0 ? fd : nil
    }

    // MARK: Time

    /// Monotonic nanoseconds, for deadlines and durations.
    public static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Wall-clock time as seconds and milliseconds since the epoch, for log timestamps.
    public static func wallClock() -> (seconds: Int, milliseconds: Int) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return (Int(now.tv_sec), Int(now.tv_nsec) / 1_000_000)
    }

    /// UTC calendar fields for a time in seconds since the epoch.
    public static func utcCalendar(_ seconds: Int) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        var time = time_t(seconds)
        var fields = tm()
        gmtime_r(&time, &fields)
        return (Int(fields.tm_year) + 1900, Int(fields.tm_mon) + 1, Int(fields.tm_mday),
                Int(fields.tm_hour), Int(fields.tm_min), Int(fields.tm_sec))
    }

    // MARK: Processes

    /// Sends `signal` to every process of the group `groupID`; false when the group is gone (ESRCH).
    @discardableResult
    public static func signalGroup(_ groupID: Int32, _ signal: Int32) -> Bool {
        Glibc.kill(-groupID, signal) == 0 || errno != ESRCH
    }

    /// Whether any process (a zombie included) is still in the group.
    public static func groupExists(_ groupID: Int32) -> Bool {
        signalGroup(groupID, 0)
    }

    /// Whether the group has a member that is not a zombie, read from /proc. A killed grandchild
    /// whose parent died waits as a zombie until init reaps it, which can take a while (and
    /// never happens when wsbridge itself is PID 1); such a group is, for teardown, gone.
    public static func groupHasLiveMembers(_ groupID: Int32) -> Bool {
        !groupsWithLiveMembers(among: [groupID]).isEmpty
    }

    /// Which of `groups` have a member that is not a zombie (as `groupHasLiveMembers`), from one
    /// pass over /proc however many groups are asked about.
    public static func groupsWithLiveMembers(among groups: Set<Int32>) -> Set<Int32> {
        guard !groups.isEmpty else { return [] }
        guard let directory = opendir("/proc") else { return groups.filter(groupExists) }
        defer { closedir(directory) }
        var live: Set<Int32> = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            guard let first = name.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9") else { continue }
            let path = "/proc/" + String(decoding: name, as: UTF8.self) + "/stat"
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            // A process that vanished is skipped; any other failure (out of fds) cannot prove a
            // group empty, and a wrong "empty" would stop the ladder early.
            guard fd >= 0 else {
                if errno == ENOENT || errno == ESRCH { continue }
                return groups
            }
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            Glibc.close(fd)
            guard count > 0 else { continue }
            // "pid (comm) state ppid pgrp ...": comm may hold anything, so parse after the last ')'.
            let stat = buffer[0..<count]
            guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { continue }
            // After it: state, ppid, pgrp.
            let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "), maxSplits: 3)
            guard fields.count >= 3, let group = Int32(String(decoding: fields[2], as: UTF8.self)),
                  groups.contains(group) else { continue }
            if fields[0].first != UInt8(ascii: "Z") {
                live.insert(group)
                if live.count == groups.count { return live }
            }
        }
        return live
    }

    /// How a process ended, read with `waitid(WNOWAIT)`, so that the process stays unreaped for
    /// Foundation, which reaps it itself; reaping it here would let Foundation's blocking
    /// `waitpid` meet a recycled pid.
    public enum ExitPeek: Equatable {
        /// Still running.
        case running
        /// Exited with this status.
        case exited(Int32)
        /// Killed by this signal.
        case signalled(Int32)
        /// Already reaped (by Foundation): ask it.
        case reaped
    }

    /// Looks at `pid`'s exit without reaping it.
    public static func peekExit(_ pid: Int32) -> ExitPeek {
        var info = siginfo_t()
        while true {
            let result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if result == 0 { break }
            if errno == EINTR { continue }
            return .reaped
        }
        // The pid field sits at the start of the union; zero means "still running" (waitid(2)).
        let reportedPID = withUnsafeBytes(of: &info._sifields) { $0.load(as: Int32.self) }
        if reportedPID == 0 { return .running }
        let status = withUnsafeBytes(of: &info._sifields) { $0.load(fromByteOffset: 8, as: Int32.self) }
        switch info.si_code {
        case Int32(CLD_EXITED): return .exited(status)
        case Int32(CLD_KILLED), Int32(CLD_DUMPED): return .signalled(status)
        default: return .running
        }
    }

    /// The exit status of the process `pidFD` names once it has been reaped, by whoever reaped it
    /// (the spawner's Foundation, usually within moments of the exit): the kernel keeps it with
    /// the pidfd (PIDFD_GET_INFO, Linux 6.15). nil while the process is unreaped, and on kernels
    /// without the ioctl.
    public static func exitStatusFromProcessFD(_ pidFD: Int32) -> ExitStatus? {
        var waitStatus: Int32 = 0
        return wsbridge_pidfd_wait_status(pidFD, &waitStatus) == 1 ? ExitStatus(waitStatus: waitStatus) : nil
    }

    /// The exit status of `pid`, which `pidFD` names, read from /proc while it is an unreaped
    /// zombie (`ProcStat`); nil while it runs, once it is reaped, or where /proc does not say.
    /// The pidfd check after the read proves the line was this process's and not a later one's
    /// with the same pid: a process that is still unreaped then was unreaped during the read.
    public static func exitStatusFromProc(_ pid: Int32, pidFD: Int32) -> ExitStatus? {
        let fd = Glibc.open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = Glibc.close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2048) { buffer -> ExitStatus? in
            let count = Glibc.read(fd, buffer.baseAddress, buffer.count)
            guard count > 0, let status = ProcStat.exitStatus(ofStatLine: buffer.prefix(count)),
                  wsbridge_pidfd_send_signal(pidFD, 0) == 0 else { return nil }
            return status
        }
    }

    /// Whether this kernel has pidfds (Linux 5.3+).
    public static func hasProcessFDs() -> Bool {
        let fd = openProcessFD(getpid())
        if fd >= 0 { close(fd) }
        return fd >= 0
    }

    /// A close-on-exec pidfd for `pid` that polls readable once the process has exited, or -1
    /// (an old kernel, or the process is already gone).
    public static func openProcessFD(_ pid: Int32) -> Int32 {
        wsbridge_pidfd_open(pid)
    }

    /// Raises the open-files soft limit to the hard limit (SPEC §3); returns the new soft limit.
    @discardableResult
    public static func raiseOpenFileLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }

    /// Closes inherited fds numbered at or above the open-files limit. A parent can leave such fds
    /// open (bash keeps 255; valgrind keeps its own high ones), and Foundation's `Process.run()`
    /// then fails with EBADF, since it asks posix_spawn to close every fd up to the highest open one.
    public static func closeFileDescriptorsAboveLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        guard let directory = opendir("/proc/self/fd") else { return }
        var high: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), UInt64(fd) >= UInt64(limit.rlim_cur) { high.append(fd) }
        }
        closedir(directory)
        for fd in high { Glibc.close(fd) }
    }

    /// The conventional name of a signal, such as "SIGKILL".
    public static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
            SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGUSR1: "SIGUSR1",
            SIGSEGV: "SIGSEGV", SIGUSR2: "SIGUSR2", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
            SIGSTKFLT: "SIGSTKFLT", SIGCHLD: "SIGCHLD", SIGCONT: "SIGCONT", SIGSTOP: "SIGSTOP", SIGTSTP: "SIGTSTP",
            SIGTTIN: "SIGTTIN", SIGTTOU: "SIGTTOU", SIGURG: "SIGURG", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
            SIGVTALRM: "SIGVTALRM", SIGPROF: "SIGPROF", SIGWINCH: "SIGWINCH", SIGIO: "SIGIO", SIGPWR: "SIGPWR",
            SIGSYS: "SIGSYS",
        ]
        return names[signal] ?? "SIG\(signal)"
    }

    /// Signal numbers the teardown ladder sends.
    public static let interrupt = SIGINT, terminate = SIGTERM, forceKill = SIGKILL

    // MARK: Wake-ups

    /// A non-blocking, close-on-exec eventfd for waking an event loop from another thread.
    public static func makeEventFD() -> Int32 {
        eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
    }

    /// Adds one to an eventfd's counter.
    public static func signalEventFD(_ fd: Int32) {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(fd, $0.baseAddress, 8) }
    }

    /// Resets an eventfd's counter.
    public static func drainEventFD(_ fd: Int32) {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { Glibc.read(fd, $0.baseAddress, 8) }
    }

    /// Lowers the calling thread's CPU priority to `nice` (0 normal, 19 lowest).
    public static func setThreadNice(_ nice: Int32) {
        _ = wsbridge_set_thread_nice(nice)
    }

    /// The number of processors online.
    public static func processorCount() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// The number of open file descriptors of this process (for diagnostics and tests).
    public static func openFileDescriptorCount() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        return count - 3  // ".", ".." and the directory's own fd
    }
}
#endif
