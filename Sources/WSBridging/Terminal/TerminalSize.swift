/// A pseudo-terminal's size in character cells (SPEC §12, `--pty`): what the child's
/// `TIOCGWINSZ`, `stty size` and `os.get_terminal_size()` report.
public struct TerminalSize: Sendable, Hashable {
    /// Columns, 1 to 1000.
    public let columns: Int
    /// Rows, 1 to 1000.
    public let rows: Int

    /// The size a client that names none gets: a VT100's 80x24, as every terminal emulator starts.
    public static let standard = TerminalSize(checkedColumns: 80, rows: 24)

    /// SPEC §12: each side is 1 to 1000 cells. A zero would read as "size unknown" to curses, and
    /// no screen is 1000 cells wide.
    public static let allowedCells = 1...1000

    /// A size whose sides are both in `allowedCells`, or nil.
    public init?(columns: Int, rows: Int) {
        guard Self.allowedCells.contains(columns), Self.allowedCells.contains(rows) else { return nil }
        self.columns = columns
        self.rows = rows
    }

    private init(checkedColumns columns: Int, rows: Int) {
        self.columns = columns
        self.rows = rows
    }

    /// The size a URL's raw query asks for (SPEC §12: `?cols=C&rows=R`): each side given once as
    /// a decimal number in `allowedCells`, else that side's standard value (80 columns, 24 rows).
    /// A side given twice is ambiguous and falls back too; other parameters are the script's.
    /// Digits are taken as written: a percent-encoded digit is not a number here.
    public static func requested(inQuery query: String) -> TerminalSize {
        var columns: Int?, rows: Int?
        var sawColumns = false, sawRows = false
        for parameter in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = parameter.firstIndex(of: UInt8(ascii: "="))
            let key = equals.map { parameter[..<$0] } ?? parameter
            let value = equals.map { parameter[parameter.index(after: $0)...] } ?? parameter[parameter.endIndex...]
            if key.elementsEqual("cols".utf8) {
                columns = sawColumns ? nil : cells(value)
                sawColumns = true
            } else if key.elementsEqual("rows".utf8) {
                rows = sawRows ? nil : cells(value)
                sawRows = true
            }
        }
        return TerminalSize(checkedColumns: columns ?? standard.columns, rows: rows ?? standard.rows)
    }

    /// A side's length in cells: ASCII digits only, in `allowedCells`; nil otherwise.
    static func cells(_ digits: Substring.UTF8View) -> Int? {
        // Four digits reach past the limit; more could only overflow.
        guard !digits.isEmpty, digits.count <= 4 else { return nil }
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return allowedCells.contains(value) ? value : nil
    }
}

/// How `--pty` sets up the child's pseudo-terminal (SPEC §12).
public enum TerminalMode: String, Sendable, Hashable, CaseIterable {
    /// `--pty`: for programs that buffer when stdout is not a terminal. Echo is off and output
    /// keeps its `\n` (no `\r\n`), so the child's lines read as they would through pipes.
    case program
    /// `--pty=tty`: the terminal's defaults (echo on, `\n` out as `\r\n`), for terminal
    /// front-ends such as xterm.js.
    case tty
}

/// The pseudo-terminal a child gets instead of pipes (`SpawnRequest.terminal`).
public struct TerminalSetup: Sendable, Hashable {
    /// How its line discipline is set up.
    public var mode: TerminalMode
    /// Its size when the child starts.
    public var size: TerminalSize

    /// Creates a setup.
    public init(mode: TerminalMode, size: TerminalSize) {
        self.mode = mode
        self.size = size
    }
}
