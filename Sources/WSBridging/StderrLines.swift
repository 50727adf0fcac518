import WSProtocol

/// Splits a child's stderr into log lines: at LF, one trailing CR removed, a line cut at
/// `maxLineBytes` so a child that never writes a newline cannot grow the buffer, and what is left
/// at EOF logged as a last line.
public enum StderrLines {
    /// The longest line logged as one.
    public static let maxLineBytes = 16 * 1024

    /// Removes each complete line from `buffer` and hands it to `emit`; with `isFinal` (stderr
    /// ended) the rest goes too.
    public static func drain(_ buffer: inout ByteBuffer, isFinal: Bool, _ emit: (String) -> Void) {
        while !buffer.isEmpty {
            let newline = buffer.readableBytes.firstIndex(of: 0x0A)
            let count: Int
            if let newline {
                count = newline - buffer.readableBytes.startIndex
            } else if isFinal || buffer.readableCount >= maxLineBytes {
                count = min(buffer.readableCount, maxLineBytes)
            } else {
                return
            }
            var line = buffer.readableBytes.prefix(count)
            if line.last == 0x0D { line = line.dropLast() }
            emit(String(decoding: line, as: UTF8.self))
            buffer.moveReaderIndex(forwardBy: newline != nil ? count + 1 : count)
        }
    }
}
