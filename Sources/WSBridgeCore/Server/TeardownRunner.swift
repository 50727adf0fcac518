/// Runs the teardown ladder (SPEC §3, `Teardown`) on one child's process group from an event loop:
/// each step's action, then checks every few milliseconds until the group is gone or the step's
/// wait is over. Used by CGI requests; loop-confined.
final class TeardownRunner {
    private unowned let loop: EventLoop
    private let child: ChildProcess
    private let steps: [TeardownStep]
    private var stepIndex = -1
    private var stepDeadline: UInt64 = 0
    private var timer: TimerQueue.TimerID?
    private var lastZombieScan: UInt64 = 0
    private let closeStdin: () -> Void
    private let finished: (_ groupIsGone: Bool) -> Void
    private(set) var isDone = false

    /// `closeStdin` performs the first step; `finished` runs once, when the group is gone (true)
    /// or survived SIGKILL's wait (false).
    init(loop: EventLoop, child: ChildProcess, closeMilliseconds: Int,
         closeStdin: @escaping () -> Void, finished: @escaping (_ groupIsGone: Bool) -> Void) {
        self.loop = loop
        self.child = child
        self.steps = Teardown.ladder(closeMilliseconds: closeMilliseconds)
        self.closeStdin = closeStdin
        self.finished = finished
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
        case .signal(let signal): child.signalGroup(signal)
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
        timer = loop.schedule(afterNanoseconds: 5_000_000) { [weak self] in self?.check() }
    }
}
