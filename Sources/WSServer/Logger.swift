import WSProtocol
import WSPlatform

/// Writes log lines to stderr (SPEC §8): text for people or one JSON object per line for machines.
/// Each line is one `write(2)`, so lines from several event loops never interleave mid-line.
public struct Logger: Sendable {
    /// Lines below this level are dropped.
    public var level: LogLevel
    /// How lines are written.
    public var format: LogFormat
    /// Where lines go (stderr; tests may pass a pipe).
    public var fd: Int32

    /// Creates a logger.
    public init(level: LogLevel, format: LogFormat, fd: Int32 = 2) {
        self.level = level
        self.format = format
        self.fd = fd
    }

    /// Whether a line at `level` would be written (to skip building it when not).
    @inline(__always)
    public func isEnabled(_ level: LogLevel) -> Bool {
        level >= self.level && level != .none
    }

    /// Writes one line: a message and its fields in order.
    public func log(_ level: LogLevel, _ message: String, _ fields: KeyValuePairs<String, String> = [:]) {
        log(level, message, fields: Array(fields))
    }

    /// Writes one line with fields given as an array (for context shared by a session's lines).
    public func log(_ level: LogLevel, _ message: String, fields: [(key: String, value: String)]) {
        guard isEnabled(level) else { return }
        var line: String
        switch format {
        case .text:
            line = "\(Self.timestamp()) \(level.rawValue) \(message)"
            for (key, value) in fields {
                line += " \(key)=\(Self.quotedIfNeeded(value))"
            }
        case .json:
            line = "{\"time\":\"\(Self.timestamp())\",\"level\":\"\(level.rawValue)\",\"msg\":\(JSON.quoted(message))"
            for (key, value) in fields {
                line += ",\(JSON.quoted(key)):\(JSON.quoted(value))"
            }
            line += "}"
        }
        line += "\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                switch Syscalls.write(fd, from: UnsafeRawBufferPointer(rebasing: raw[offset...]), isSocket: false) {
                case .bytes(let count): offset += count
                case .wouldBlock, .endOfFile, .failed: return  // a log that cannot be written is dropped
                }
            }
        }
    }

    /// RFC 3339 UTC time with milliseconds.
    static func timestamp() -> String {
        let now = Syscalls.wallClock()
        let date = Syscalls.utcCalendar(now.seconds)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(date.year, 4))-\(pad(date.month, 2))-\(pad(date.day, 2))T\(pad(date.hour, 2)):\(pad(date.minute, 2)):\(pad(date.second, 2)).\(pad(now.milliseconds, 3))Z"
    }

    /// Values with spaces, quotes or control characters are written as JSON strings, so a text
    /// line still splits unambiguously on spaces.
    static func quotedIfNeeded(_ value: String) -> String {
        if value.isEmpty { return "\"\"" }
        let needsQuotes = value.utf8.contains { $0 <= 0x20 || $0 == UInt8(ascii: "\"") || $0 == 0x7F }
        return needsQuotes ? JSON.quoted(value) : value
    }
}

