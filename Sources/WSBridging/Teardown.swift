import WSPlatform

/// The teardown ladder of SPEC §3 as data: each step acts on the child's whole process group,
/// then waits; the ladder stops as soon as the group is gone.
public struct TeardownStep: Sendable, Equatable {
    /// What a step does.
    public enum Action: Sendable, Equatable {
        /// Close the child's stdin (the polite request to finish).
        case closeStdin
        /// Send this signal to the process group.
        case signal(Int32)
    }

    /// What this step does.
    public var action: Action
    /// How long to wait for the group to go before the next step, in milliseconds.
    public var waitMilliseconds: Int
}

/// Builds the ladder.
public enum Teardown {
    /// How long to keep checking for the group after SIGKILL before giving up with a log line
    /// (a process in uninterruptible sleep cannot die sooner).
    public static let afterKillMilliseconds = 5_000

    /// close stdin, wait 100 ms + closems; SIGINT, wait 250 ms + closems; SIGTERM, wait 500 ms +
    /// closems; SIGKILL (SPEC §3).
    ///
    /// A `--pty` child's (`isTerminal`) signals start with SIGHUP, a terminal hanging up (SPEC
    /// §12): what shells, editors and REPLs expect when their terminal goes, and many save their
    /// state on it. Its step follows the end of input (^D, which lets `cat` finish with exit 0
    /// and its output delivered, as through pipes) and waits as long as that one, 100 ms +
    /// closems: a program that handles the hang-up has the time it has to finish on EOF, and the
    /// whole ladder grows by no more than that.
    public static func ladder(closeMilliseconds: Int, isTerminal: Bool = false) -> [TeardownStep] {
        let endOfInput = TeardownStep(action: .closeStdin, waitMilliseconds: 100 + closeMilliseconds)
        let hangUp = TeardownStep(action: .signal(Syscalls.hangUp), waitMilliseconds: 100 + closeMilliseconds)
        let signals = [
            TeardownStep(action: .signal(Syscalls.interrupt), waitMilliseconds: 250 + closeMilliseconds),
            TeardownStep(action: .signal(Syscalls.terminate), waitMilliseconds: 500 + closeMilliseconds),
            TeardownStep(action: .signal(Syscalls.forceKill), waitMilliseconds: afterKillMilliseconds),
        ]
        return [endOfInput] + (isTerminal ? [hangUp] : []) + signals
    }
}
