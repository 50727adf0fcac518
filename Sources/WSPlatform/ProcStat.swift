/// How an exited process ended, read from its `/proc/PID/stat` line (proc(5)): how the server
/// learns a child's exit status the moment its stdout ends, without waiting for the spawner
/// process (the child's parent, the only one `waitid` answers) to report it. Pure parsing.
///
/// The line is trusted only when the kernel vouches for it: the process is a zombie (state `Z`)
/// with one thread left, and the `wchan` field is 1. The kernel prints `exit_code` and sets
/// `wchan` only when the reader may ptrace-read the process, printing 0 for both otherwise (a
/// child that ran a set-user-ID program, say); kernels before 5.16 print 0 in `wchan` for a
/// zombie. In every other case the answer is nil and the spawner's report is awaited.
public enum ProcStat {
    /// The exit status in a stat line, or nil when the line does not vouch for one.
    public static func exitStatus(ofStatLine line: some Collection<UInt8>) -> ExitStatus? {
        let bytes = Array(line)
        // The command name (field 2) is in parentheses and may itself hold spaces and ')'.
        guard let nameEnd = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(nameEnd + 1)...].split(maxSplits: 51, whereSeparator: { $0 == 0x20 || $0 == 0x0A })
        func field(_ number: Int) -> String? {  // numbered as in proc(5): the state is field 3
            number - 3 < fields.count ? String(decoding: fields[number - 3], as: UTF8.self) : nil
        }
        guard field(3) == "Z", field(20) == "1", field(35) == "1",
              let waitStatus = field(52).flatMap({ Int32($0) }) else { return nil }
        return ExitStatus(waitStatus: waitStatus)
    }
}

extension ExitStatus {
    /// From a status word in waitpid(2)'s encoding: the exit code in bits 8–15, or the signal in
    /// bits 0–6 (bit 7 marks a core dump).
    public init(waitStatus: Int32) {
        let signal = waitStatus & 0x7F
        self = signal == 0 ? .exited((waitStatus >> 8) & 0xFF) : .signalled(signal)
    }
}
