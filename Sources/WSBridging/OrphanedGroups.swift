import Foundation
import WSPlatform

/// Ends the process groups a spawner started once its server is gone (SPEC §3 "Nothing leaks",
/// even after `kill -9` of the server).
///
/// The server's death is, for every session, "the socket fails", so each group gets the same
/// teardown ladder a client disconnect gives it, all groups at once as in a graceful shutdown.
/// Its first step, closing stdin, has already happened: the server held the only write end of
/// every child's stdin. Nobody reads the children's output any more, but a child that cleans up
/// on EOF, SIGINT or SIGTERM still gets the time the ladder promises. Children that ignore
/// stdin (`sleep 1000`), ignore signals or leave background grandchildren (`cmd &`) end at
/// SIGKILL at the latest, since every signal goes to the whole group.
enum OrphanedGroups {
    /// How often the groups are checked between steps.
    private static let pollMicroseconds: UInt32 = 10_000

    /// Runs the ladder over `groups` and returns once none has a live member, or SIGKILL's wait
    /// is over (a process in uninterruptible sleep cannot die sooner). Zombies do not count: they
    /// are this process's children or orphans, reaped once it exits. `terminalGroups` (`--pty`
    /// children) get SIGHUP first, as their sessions' ladders give it (SPEC §12): the kernel
    /// sends none when the server's side of their terminal closes, since it is no one's
    /// controlling terminal.
    static func end(_ groups: Set<Int32>, terminalGroups: Set<Int32> = [], closeMilliseconds: Int) {
        var remaining = Syscalls.groupsWithLiveMembers(among: groups)
        for step in Teardown.ladder(closeMilliseconds: closeMilliseconds, isTerminal: !terminalGroups.isEmpty) {
            guard !remaining.isEmpty else { return }
            switch step.action {
            case .closeStdin:
                break  // closed when the server's end went
            case .signal(let signal):
                let targets = signal == Syscalls.hangUp ? remaining.intersection(terminalGroups) : remaining
                for group in targets { Syscalls.signalGroup(group, signal) }
            }
            let deadline = Syscalls.monotonicNanoseconds() + UInt64(step.waitMilliseconds) * 1_000_000
            while !remaining.isEmpty && Syscalls.monotonicNanoseconds() < deadline {
                usleep(pollMicroseconds)
                remaining = Syscalls.groupsWithLiveMembers(among: remaining)
            }
        }
    }
}
