import WSPlatform
import WSBridging

/// Runs the teardown ladder (SPEC §3, `Teardown`) on one child's process group from an event loop:
/// each step's action, then checks every few milliseconds until the group is gone or the step's
/// wait is over. Used by WebSocket sessions and CGI requests; loop-confined.
final class TeardownRunner {
    private unowned let loop: EventLoop
    private let child: ChildProcess
    private let steps: [TeardownStep]
    private var stepIndex = -1
    private var stepDeadline: UInt64 = 0
    private var timer: TimerQueue.TimerID?
    private var lastZombieScan: UInt64 = 0
    private let closeStdin: () -> Void
    private let signalling: () -> Void
    private let finished: (_ groupIsGone: Bool) -> Void
    private(set) var isDone = false

    /// Whether the first step (closing stdin) is over and signals are being sent.
    var isSignalling: Bool { stepIndex >= 1 }

    /// `closeStdin` performs the first step; `signalling` runs before each signal step (the owner
    /// stops waiting for the child's goodwill); `finished` runs once, when the group is gone (true)
    /// or survived SIGKILL's wait (false).
    /// `isTerminal`: a `--pty` child, whose signals start with SIGHUP (`Teardown.ladder`).
    init(loop: EventLoop, child: ChildProcess, closeMilliseconds: Int, isTerminal: Bool = false, closeStdin: @escaping () -> Void,
         signalling: @escaping () -> Void = {}, finished: @escaping (_ groupIsGone: Bool) -> Void) {
        self.loop = loop
        self.child = child
        self.steps = Teardown.ladder(closeMilliseconds: closeMilliseconds, isTerminal: isTerminal)
        self.closeStdin = closeStdin
        self.signalling = signalling
        self.finished = finished
    }

    /// Checks the group now instead of at the next tick (the child was just seen to exit).
    func checkNow() {
        guard stepIndex >= 0, !isDone else { return }
        if let timer { loop.cancel(timer) }
        check()
    }

    /// Starts the ladder (once).
    func start() {
        guard stepIndex < 0 else { return }
        run(step: 0)
    }

    /// Stops checking without signalling further (the owner is going away).
    func cancel() {
        if let timer { loop.cancel(timer) }
        timer = nil
        isDone = true
    }

    private func run(step index: Int) {
        stepIndex = index
        let step = steps[index]
        stepDeadline = Syscalls.monotonicNanoseconds() + UInt64(step.waitMilliseconds) * 1_000_000
        switch step.action {
        case .closeStdin: closeStdin()
        case .signal(let signal):
            signalling()
            child.signalGroup(signal)
        }
        check()
    }

    private func check() {
        timer = nil
        guard !isDone else { return }
        // After a signal, zombies waiting for init do not keep the group alive (see
        // `Syscalls.groupHasLiveMembers`); the /proc scan runs at most every 50 ms.
        let now = Syscalls.monotonicNanoseconds()
        var isGone = !child.groupExists
        if !isGone && stepIndex >= 1 && now - lastZombieScan >= 50_000_000 {
            lastZombieScan = now
            isGone = !child.groupHasLiveMembers
        }
        if isGone {
            isDone = true
            finished(true)
            return
        }
        if Syscalls.monotonicNanoseconds() >= stepDeadline {
            guard stepIndex + 1 < steps.count else {
                isDone = true
                finished(false)
                return
            }
            run(step: stepIndex + 1)
            return
        }
        // Often in the first step, where an exiting child usually ends within milliseconds.
        let interval: UInt64 = stepIndex == 0 ? 2_000_000 : 10_000_000
        timer = loop.schedule(afterNanoseconds: interval) { [weak self] in self?.check() }
    }
}
