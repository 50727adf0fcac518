/// How a connection with a child (a WebSocket session, a CGI request) moves bytes: one pass runs
/// each of its steps once (read, decode, write), and passes repeat while they move anything.
/// Bounded per call so that one busy connection cannot starve the others on its loop; the owner
/// continues after the loop's next poll.
///
/// Nothing here is stored: a step may end the connection or pump again from within a pass.
enum Pump {
    /// Passes per call.
    static let passesPerCall = 16

    /// Why a call stopped.
    enum Outcome {
        /// The connection is over.
        case finished
        /// A pass moved nothing: everything waits for readiness.
        case idle
        /// Every pass moved something: there may be more, for the owner to continue soon.
        case passesSpent
    }

    /// Runs `pass` (true when it moved anything) until it moves nothing or `isFinished`.
    static func run(isFinished: () -> Bool, pass: () -> Bool) -> Outcome {
        guard !isFinished() else { return .finished }
        for _ in 0..<passesPerCall {
            let progressed = pass()
            if isFinished() { return .finished }
            if !progressed { return .idle }
        }
        return .passesSpent
    }
}
