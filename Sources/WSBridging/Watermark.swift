/// Decides whether to keep reading a source into a bounded buffer, with hysteresis: reading stops
/// once more than `high` bytes are buffered and resumes only when the buffer has drained to `low`
/// or less (SPEC.md §7), so a buffer hovering near one threshold does not toggle on every byte.
public struct Watermark: Sendable, Equatable {
    /// Reading resumes when the buffered bytes fall to this many or fewer.
    public let low: Int
    /// Reading stops when the buffered bytes rise above this many.
    public let high: Int
    /// Whether the source is being read now.
    public private(set) var isReading = true

    /// Creates a watermark that starts out reading.
    public init(low: Int, high: Int) {
        precondition(low >= 0 && low <= high, "a watermark needs 0 <= low <= high")
        self.low = low
        self.high = high
    }

    /// Whether the reader of the source should keep reading given `buffered` bytes now held.
    public mutating func shouldRead(buffered: Int) -> Bool {
        if isReading {
            if buffered > high { isReading = false }
        } else if buffered <= low {
            isReading = true
        }
        return isReading
    }
}
