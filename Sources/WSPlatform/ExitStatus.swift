import WSProtocol

/// How a child ended, and the close frame that tells the browser (SPEC §3 table): the code minus
/// 4000 equals what a shell shows in `$?`.
public enum ExitStatus: Sendable, Hashable {
    /// `exit(N)`.
    case exited(Int32)
    /// Killed by signal S.
    case signalled(Int32)

    /// 1000 for exit 0, 4000+N for exit N, 4000+128+S for signal S.
    public var closeCode: CloseCode {
        switch self {
        case .exited(0): .normalClosure
        case .exited(let code): CloseCode(UInt16(4000 + Int(code & 0xFF)))
        case .signalled(let signal): CloseCode(UInt16(4000 + 128 + Int(signal & 0x7F)))
        }
    }

    /// "" for exit 0, "exit N", or "signal S (NAME)".
    public var closeReason: String {
        switch self {
        case .exited(0): ""
        case .exited(let code): "exit \(code)"
        case .signalled(let signal): "signal \(signal) (\(Syscalls.signalName(signal)))"
        }
    }

    /// For logs: "0", "3" or "signal 9".
    public var logValue: String {
        switch self {
        case .exited(let code): String(code)
        case .signalled(let signal): "signal \(signal)"
        }
    }
}
