import Foundation

/// A point in time after which a wait gives up, so that no test can hang.
struct Deadline {
    /// When the wait ends.
    let instant: ContinuousClock.Instant

    /// A deadline `duration` from now.
    init(after duration: Duration) {
        instant = ContinuousClock.now.advanced(by: duration)
    }

    /// Whether the deadline is behind us.
    var hasPassed: Bool { ContinuousClock.now >= instant }

    /// Time left, never negative.
    var remaining: Duration {
        let left = instant - ContinuousClock.now
        return left > .zero ? left : .zero
    }

    /// Time left in whole milliseconds for poll(2), at least 0 and rounded up so a wait never spins.
    var pollMilliseconds: Int32 {
        let (seconds, attoseconds) = remaining.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }

    /// Polls `condition` every `interval` until it holds (true) or the deadline passes (false).
    static func poll(for duration: Duration, every interval: Duration = .milliseconds(10), until condition: () -> Bool) -> Bool {
        let deadline = Deadline(after: duration)
        while true {
            if condition() { return true }
            if deadline.hasPassed { return false }
            Thread.sleep(forTimeInterval: interval.seconds)
        }
    }
}

extension Duration {
    /// The duration in seconds as a Double, for Foundation APIs.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
