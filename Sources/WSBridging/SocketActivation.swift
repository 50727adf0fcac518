/// systemd socket activation (sd_listen_fds(3), SPEC §15): the listening sockets a service
/// manager passed, read from `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`. Pure: the caller
/// hands in the environment and its own pid, and adopts the fds.
public struct SocketActivation: Sendable, Equatable {
    /// The first passed fd (`SD_LISTEN_FDS_START`).
    public static let firstFD: Int32 = 3
    /// The variables, which describe fds of this process only: they never reach a child.
    public static let variableNames = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]

    /// The passed fds, from 3 on.
    public var fds: [Int32]
    /// Their names (`FileDescriptorName=` of the socket unit), when given.
    public var names: [String]

    /// Why the variables cannot be used.
    public struct Refusal: Error, Equatable, Sendable {
        public var message: String
    }

    /// The passed sockets, nil when none were passed to this process (no `LISTEN_PID`, or another
    /// process's: the variables were inherited past their owner). Malformed values are refused
    /// rather than guessed at.
    public static func parse(environment: [String: String], pid: Int32) throws(Refusal) -> SocketActivation? {
        guard let pidText = environment["LISTEN_PID"] else { return nil }
        guard let listenPID = Int32(pidText), listenPID > 0 else {
            throw Refusal(message: "LISTEN_PID=\(pidText) is not a process id")
        }
        guard listenPID == pid else { return nil }
        guard let countText = environment["LISTEN_FDS"], let count = Int32(countText), count >= 1, count <= 1024 else {
            throw Refusal(message: "LISTEN_FDS=\(environment["LISTEN_FDS"] ?? "") is not a count of passed sockets (1 to 1024)")
        }
        let fds = Array(firstFD..<(firstFD + count))
        var names: [String] = []
        if let text = environment["LISTEN_FDNAMES"] {
            names = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard names.count == fds.count else {
                throw Refusal(message: "LISTEN_FDNAMES names \(names.count) sockets, LISTEN_FDS says \(count)")
            }
        }
        return SocketActivation(fds: fds, names: names)
    }
}
