/// How messages map to the child's stdin and stdout (SPEC.md §2).
public enum FramingMode: String, Sendable, Equatable, CaseIterable {
    /// Text messages as lines (websocketd's default mode).
    case line
    /// Bytes as they come, each stdout read one binary message (`--binary`).
    case raw
    /// A 5-byte header (opcode, 32-bit big-endian length) before every message, both ways.
    case length
}
