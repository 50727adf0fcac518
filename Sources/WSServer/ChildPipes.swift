import WSProtocol
import WSPlatform
import WSBridging

/// A child's stdin, stdout and stderr as the connection that runs it sees them (a WebSocket
/// session, a CGI request): the fds and their registrations on the connection's loop, what the
/// loop last reported about each, the bytes waiting for stdin and the stderr line being
/// assembled. Stored inline in its owner, which decides what the bytes mean and when each pipe
/// closes. A closed pipe's fd is -1.
struct ChildPipes {
    /// The registrations' sources; the owner's socket is 0.
    static let stdinSource: UInt8 = 1, stdoutSource: UInt8 = 2, stderrSource: UInt8 = 3

    private(set) var stdinFD: Int32 = -1
    private(set) var stdoutFD: Int32 = -1
    private(set) var stderrFD: Int32 = -1
    private var stdinRegistration, stdoutRegistration, stderrRegistration: EventLoop.Registration?
    /// Bytes waiting for the child's stdin (the socket → stdin buffer).
    var stdin = PendingWrites()
    var stdoutReadable = true
    var stderrReadable = true
    private var stderrLine = ByteBuffer()

    /// Whether stdin and stdout are the primary side of one pseudo-terminal (`--pty`, SPEC §12):
    /// two fds of one open file, each registered on its own.
    private(set) var isTerminal = false

    /// Takes the child's pipe ends (with `isTerminal`, its terminal's) and registers them on
    /// `loop` for `handler`.
    mutating func adopt(_ child: ChildProcess, on loop: EventLoop, for handler: any EventHandler, isTerminal: Bool = false) {
        self.isTerminal = isTerminal
        stdinFD = child.stdinFD
        stdoutFD = child.stdoutFD
        stderrFD = child.stderrFD
        stdinRegistration = loop.register(stdinFD, handler: handler, source: Self.stdinSource, interest: .write)
        stdoutRegistration = loop.register(stdoutFD, handler: handler, source: Self.stdoutSource, interest: .read)
        stderrRegistration = loop.register(stderrFD, handler: handler, source: Self.stderrSource, interest: .read)
    }

    /// The loop reported readiness on one of the pipes.
    mutating func becameReady(source: UInt8) {
        switch source {
        case Self.stdinSource: stdin.writerBecameWritable()
        case Self.stdoutSource: stdoutReadable = true
        case Self.stderrSource: stderrReadable = true
        default: preconditionFailure("\(source) is not a pipe's event source")
        }
    }

    /// Whether the last read of stdout was large: then the next one goes straight into the
    /// framing's buffer; small reads go through the loop's scratch buffer, so a quiet child's
    /// owner keeps only the bytes it got (SPEC §7).
    private var isStdoutReadBulk = false
    static let bulkReadBytes = 16 * 1024

    /// Reads stdout once into `framing`; a read that would block marks stdout not readable.
    mutating func readStdout(into framing: inout Framing, chunkBytes: Int, on loop: EventLoop) -> Syscalls.IOResult {
        let result: Syscalls.IOResult
        if isStdoutReadBulk {
            var read = Syscalls.ReadInto(stdoutFD)
            _ = framing.readStdout(minimumWritable: chunkBytes) { read.into($0) }
            result = read.result
        } else {
            result = loop.readThroughScratch(stdoutFD) { framing.appendStdout($0) }
        }
        switch result {
        case .bytes(let count): isStdoutReadBulk = count >= Self.bulkReadBytes
        case .wouldBlock: stdoutReadable = false
        case .endOfFile: break
        // A terminal's primary side reads EIO, not 0, once every holder of the secondary (the
        // child's whole group) has closed it: that is its end of file.
        case .failed(let error) where isTerminal && error == Syscalls.inputOutputError: return .endOfFile
        case .failed: break
        }
        return result
    }

    /// Sets the size of the child's terminal (`--pty`); false once both its fds are closed.
    /// The terminal is not the child's controlling terminal (Foundation makes it a group leader
    /// without a session), so the kernel signals nothing: `child`'s group gets SIGWINCH here.
    func resizeTerminal(_ size: TerminalSize, of child: ChildProcess) -> Bool {
        guard isTerminal else { return false }
        let fd = stdoutFD >= 0 ? stdoutFD : stdinFD
        guard fd >= 0 && Syscalls.setTerminalSize(fd, columns: size.columns, rows: size.rows) else { return false }
        child.signalGroup(Syscalls.windowChanged)
        return true
    }

    /// Nobody takes the child's output any more: it is read and dropped, so that a child writing
    /// on is not stopped by a full pipe before the ladder ends it, and stdout closes at its end.
    /// True when it read anything or stdout ended.
    mutating func discardStdout(on loop: EventLoop) -> Bool {
        switch loop.readThroughScratch(stdoutFD, { _ in }) {
        case .bytes:
            return true
        case .wouldBlock:
            stdoutReadable = false
            return false
        case .endOfFile, .failed:
            closeStdout(on: loop)
            return true
        }
    }

    /// Writes what the stdin pipe takes of the stdin buffer without blocking.
    mutating func flushStdin() -> Syscalls.DrainResult {
        let fd = stdinFD
        return stdin.flush { Syscalls.write(fd, from: $0, isSocket: false) }
    }

    /// Reads what the child wrote on stderr, at most `maxReads` times, and hands `log` each
    /// complete line; once stderr ends, the unterminated rest too, and stderr closes. True when
    /// it read anything or stderr ended.
    mutating func readStderrLines(maxReads: Int, on loop: EventLoop, _ log: (String) -> Void) -> Bool {
        guard stderrFD >= 0, stderrReadable else { return false }
        var hasRead = false
        for _ in 0..<maxReads {
            var read = Syscalls.ReadInto(stderrFD)
            stderrLine.writeWithUnsafeMutableBytes(minimumWritable: 4096) { read.into($0) }
            switch read.result {
            case .bytes:
                hasRead = true
                StderrLines.drain(&stderrLine, isFinal: false, log)
            case .wouldBlock:
                stderrReadable = false
                return hasRead
            case .endOfFile, .failed:
                StderrLines.drain(&stderrLine, isFinal: true, log)
                closeStderr(on: loop)
                return true
            }
        }
        return hasRead
    }

    /// Closes stdin, dropping what is queued for it; false when it was closed already.
    @discardableResult
    mutating func closeStdin(on loop: EventLoop) -> Bool {
        stdin.bytes.clear()
        guard stdinFD >= 0 else { return false }
        close(&stdinFD, &stdinRegistration, on: loop)
        return true
    }

    mutating func closeStdout(on loop: EventLoop) { close(&stdoutFD, &stdoutRegistration, on: loop) }

    /// Closing a terminal's fd leaves its registration in epoll while the other fd keeps the
    /// file open (epoll(7)), so it is removed first; a pipe's end is the only fd of its file.
    private func close(_ fd: inout Int32, _ registration: inout EventLoop.Registration?, on loop: EventLoop) {
        if isTerminal, fd >= 0, let registered = registration {
            loop.deregister(registered)
            registration = nil
        }
        loop.close(&fd, &registration)
    }

    mutating func closeStderr(on loop: EventLoop) { loop.close(&stderrFD, &stderrRegistration) }

    /// Closes every pipe still open, and forgets their registrations.
    mutating func closeAll(on loop: EventLoop) {
        closeStdin(on: loop)
        closeStdout(on: loop)
        closeStderr(on: loop)
    }

    /// Gives back the storage of the empty buffers; they grow again on the next bytes.
    mutating func releaseIdleMemory() {
        stdin.bytes.releaseCapacityIfEmpty(keeping: 0)
        stderrLine.releaseCapacityIfEmpty(keeping: 0)
    }
}
