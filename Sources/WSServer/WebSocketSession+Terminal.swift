import WSPlatform
import WSBridging

/// `--pty` (SPEC §12): the child's stdin, stdout and stderr are one pseudo-terminal.
///
/// Foundation starts the child as a process group leader without a session of its own, so the
/// terminal is not its controlling terminal: the kernel signals nothing on its behalf. A resize
/// sends SIGWINCH to the group here, the ladder's first signal is SIGHUP (`Teardown.ladder`),
/// and a ^C in the input is a byte like any other.
extension WebSocketSession {
    /// Sets the terminal's size and tells the child's group (SIGWINCH), or keeps the size for the
    /// moment the child has started.
    func resizeTerminal(_ size: TerminalSize) {
        guard let child else {
            pendingTerminalSize = size
            return
        }
        pendingTerminalSize = nil
        guard pipes.resizeTerminal(size, of: child) else { return }
        log(.debug, "terminal resized", [("cols", String(size.columns)), ("rows", String(size.rows))])
    }

    /// The ladder's first step closes stdin, which a terminal cannot do in one direction only:
    /// the terminal's end-of-file character follows the queued input instead (`TerminalInput`),
    /// and then the session's fd for stdin closes as a pipe's would, the terminal staying open
    /// through stdout's.
    func queueEndOfTerminalInput() {
        guard let terminalInput, pipes.stdinFD >= 0 else { return }
        pipes.stdin.bytes.append(contentsOf: terminalInput.endOfInput)
    }
}

extension ServerConfiguration {
    /// The terminal a child of a request with `query` gets (`--pty`), sized by `?cols=&rows=`;
    /// nil without `--pty`.
    func terminalSetup(query: String) -> TerminalSetup? {
        terminal.map { TerminalSetup(mode: $0, size: TerminalSize.requested(inQuery: query)) }
    }
}
