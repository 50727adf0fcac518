#if canImport(Glibc)
import Glibc
import CLinuxSystem

/// Pseudo-terminals for `--pty` children (SPEC §12).
extension Syscalls {
    /// Opens a pseudo-terminal pair, both sides close-on-exec and nobody's controlling terminal,
    /// and sets up its line discipline and size; nil when it cannot (`lastError` says why).
    ///
    /// Canonical mode and signal characters stay on either way, and VEOF is ^D (what ends the
    /// child's input, `TerminalInput.endOfInput`); IUTF8 lets erase remove a whole UTF-8
    /// character, as terminal emulators set it. Unless `keepsDefaults` (`--pty=tty`), echo is off,
    /// output `\n` stays `\n` (no ONLCR), and a ^S in the input cannot freeze the output (no IXON):
    /// the child's lines read as through pipes.
    public static func openTerminal(columns: Int, rows: Int, keepsDefaults: Bool) -> (primary: Int32, secondary: Int32)? {
        var primary: Int32 = -1, secondary: Int32 = -1
        guard wsbridge_open_pty(&primary, &secondary) == 0 else { return nil }
        var settings = termios()
        guard tcgetattr(secondary, &settings) == 0 else {
            closeKeepingError(primary, secondary)
            return nil
        }
        settings.c_iflag |= tcflag_t(IUTF8)
        if !keepsDefaults {
            settings.c_lflag &= ~tcflag_t(ECHO | ECHOE | ECHOK | ECHONL)
            settings.c_oflag &= ~tcflag_t(ONLCR)
            settings.c_iflag &= ~tcflag_t(IXON)
        }
        withUnsafeMutableBytes(of: &settings.c_cc) { $0[Int(VEOF)] = 0x04 }
        guard tcsetattr(secondary, TCSANOW, &settings) == 0, setTerminalSize(primary, columns: columns, rows: rows) else {
            closeKeepingError(primary, secondary)
            return nil
        }
        return (primary, secondary)
    }

    /// Sets the size of the terminal whose side `fd` is (TIOCSWINSZ); false on failure.
    @discardableResult
    public static func setTerminalSize(_ fd: Int32, columns: Int, rows: Int) -> Bool {
        wsbridge_set_window_size(fd, UInt16(clamping: columns), UInt16(clamping: rows)) == 0
    }

    /// Whether `fd` is a terminal.
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// EIO: what reading a terminal's primary side fails with once its secondary side is closed
    /// everywhere.
    public static let inputOutputError = EIO

    /// SIGHUP, a terminal's hang-up: the first signal of a `--pty` child's ladder.
    public static let hangUp = SIGHUP
    /// SIGWINCH, a terminal's change of size.
    public static let windowChanged = SIGWINCH

    private static func closeKeepingError(_ fds: Int32...) {
        let saved = errno
        for fd in fds { Glibc.close(fd) }
        errno = saved
    }
}
#endif
