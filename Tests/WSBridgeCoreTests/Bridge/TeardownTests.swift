import Glibc
import Testing
@testable import WSPlatform
@testable import WSBridging

/// SPEC §3: the teardown ladder as data.
@Suite("Teardown ladder")
struct TeardownTests {
    @Test("SPEC §3: close stdin 100 ms, SIGINT 250 ms, SIGTERM 500 ms, then SIGKILL, with closems 0")
    func defaultLadder() {
        #expect(Teardown.ladder(closeMilliseconds: 0) == [
            TeardownStep(action: .closeStdin, waitMilliseconds: 100),
            TeardownStep(action: .signal(SIGINT), waitMilliseconds: 250),
            TeardownStep(action: .signal(SIGTERM), waitMilliseconds: 500),
            TeardownStep(action: .signal(SIGKILL), waitMilliseconds: Teardown.afterKillMilliseconds),
        ])
    }

    @Test("SPEC §1 --closems: added to each of the three waits before SIGKILL", arguments: [0, 1, 100, 250, 10_000])
    func closeMillisecondsAdded(closeMilliseconds: Int) {
        let ladder = Teardown.ladder(closeMilliseconds: closeMilliseconds)
        #expect(ladder.map(\.action) == [.closeStdin, .signal(SIGINT), .signal(SIGTERM), .signal(SIGKILL)])
        #expect(ladder.prefix(3).map(\.waitMilliseconds) == [100, 250, 500].map { $0 + closeMilliseconds })
        // The SIGKILL step's wait is only how long to watch for the group; no closems there.
        #expect(ladder[3].waitMilliseconds == Teardown.afterKillMilliseconds)
        // So SIGKILL goes out 850 ms + 3×closems after the ladder starts (issue 3: 1 s + 3×closems).
        #expect(ladder.prefix(3).reduce(0) { $0 + $1.waitMilliseconds } == 850 + 3 * closeMilliseconds)
    }

    @Test("SPEC §3: every signal goes to the group, in escalating order, and the last is SIGKILL")
    func signalsEscalate() {
        let signals = Teardown.ladder(closeMilliseconds: 0).compactMap { step -> Int32? in
            guard case .signal(let signal) = step.action else { return nil }
            return signal
        }
        #expect(signals == [Syscalls.interrupt, Syscalls.terminate, Syscalls.forceKill])
        #expect(Syscalls.interrupt == SIGINT && Syscalls.terminate == SIGTERM && Syscalls.forceKill == SIGKILL)
        #expect(Teardown.afterKillMilliseconds > 0)
    }

    @Test("SPEC §12: a --pty child's signals start with SIGHUP, waited for 100 ms + closems, after the end of input", arguments: [0, 40])
    func terminalLadder(closeMilliseconds: Int) {
        let ladder = Teardown.ladder(closeMilliseconds: closeMilliseconds, isTerminal: true)
        #expect(ladder.map(\.action) == [.closeStdin, .signal(SIGHUP), .signal(SIGINT), .signal(SIGTERM), .signal(SIGKILL)])
        #expect(ladder.prefix(4).map(\.waitMilliseconds) == [100, 100, 250, 500].map { $0 + closeMilliseconds })
        // The rest is section 3's ladder, step for step.
        #expect(Array(ladder.dropFirst(2)) == Array(Teardown.ladder(closeMilliseconds: closeMilliseconds).dropFirst()))
        #expect(Teardown.ladder(closeMilliseconds: closeMilliseconds, isTerminal: false) == Teardown.ladder(closeMilliseconds: closeMilliseconds))
    }
}
