import Foundation
import Glibc
import Synchronization

/// Drains one pipe on its own thread for as long as the process writes to it, so a child never
/// blocks on a full pipe, and keeps every byte for assertions and diagnostics.
final class OutputCollector: Sendable {
    private struct State {
        var bytes: [UInt8] = []
        var isFinished = false
        var isStopRequested = false
    }

    private let state = Mutex(State())
    /// The end of the pipe to hand to the child as its stdout or stderr.
    let writeHandle: FileHandle

    /// Creates the pipe and starts the draining thread.
    init() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw TestClientError.system("pipe", errno) }
        // Close-on-exec, so servers started concurrently by other tests never inherit this pipe;
        // Process dup2s the write end onto the child's descriptor, which clears the flag there.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        writeHandle = FileHandle(fileDescriptor: fds[1], closeOnDealloc: true)
        let readFD = fds[0]
        let thread = Thread { [self] in self.drain(readFD) }
        thread.name = "OutputCollector"
        thread.start()
    }

    private func drain(_ fd: Int32) {
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            if state.withLock({ $0.isStopRequested }) { break }
            // A short poll, not a blocking read: a grandchild may hold the write end open long
            // after the process under test has gone, and `stop()` must still end this thread.
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 50)
            if ready < 0, errno != EINTR { break }
            if ready <= 0 { continue }
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if count > 0 {
                state.withLock { $0.bytes.append(contentsOf: chunk[0..<count]) }
            } else if count == 0 || errno != EINTR {
                break
            }
        }
        Glibc.close(fd)
        state.withLock { $0.isFinished = true }
    }

    /// Closes the parent's copy of the write end; call once the child has started.
    func closeWriteEnd() {
        try? writeHandle.close()
    }

    /// Everything read so far, decoded as UTF-8 (invalid bytes become U+FFFD).
    var text: String {
        String(decoding: state.withLock { $0.bytes }, as: UTF8.self)
    }

    /// Whether the pipe reached end of file (or the collector was stopped).
    var isFinished: Bool { state.withLock { $0.isFinished } }

    /// Waits until the pipe ends, at most `timeout`; returns whether it did.
    @discardableResult
    func waitUntilFinished(timeout: Duration) -> Bool {
        Deadline.poll(for: timeout) { isFinished }
    }

    /// Ends the draining thread within about 50 ms, whether or not the pipe has ended.
    func stop() {
        state.withLock { $0.isStopRequested = true }
    }
}
