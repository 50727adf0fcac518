import Foundation
import Testing
import WSProtocol
import WSPlatform
import TestSupport
@testable import WSBridging

/// Explores the orderings of a shared child's events (STYLE.md "Explore the orderings"): its
/// spawn, clients leaving and coming back, `--linger`, the child's output and exit, a grandchild
/// holding stdout, a child that ignores signals, the ladder, the grace and a shutdown. After every
/// step: the clients are told the end once, with the exit status's code when the child ended by
/// itself; the ladder starts once; the session leaves the directory once; it finishes once,
/// unlisted, with no timer left; and it always can finish. Random schedules print their seed:
/// `WSBRIDGE_SHARED_SEED=N swift test --filter SharedChildLifecycle` replays one.
@Suite("SharedChildLifecycle exploration")
struct SharedChildLifecycleTests {
    struct Setup: Hashable {
        var spawnFails = false
        var exitsByItself = false
        var hasGrandchild = false
        var ignoresSignals = false
        var lingers = false
        var allowsShutdown = false
        /// How many times clients may leave (each time the last one).
        var departures = 1
    }

    struct World: Hashable {
        let setup: Setup
        var machine = SharedChildLifecycle()
        var spawned = false
        /// Whether the child (and its grandchild) still run.
        var childAlive = false
        var grandchildAlive = false
        var statusReported = false
        var outputEOF = false
        var outputReported = false
        var ladderRunning = false
        var signalled = false
        var clientsAttached = true
        var departures = 0
        var shutdowns = 0
        var lingerRunning = false
        var graceRunning = false
        var closes: [CloseCode] = []
        var ladders = 0
        var leaves = 0
        var finishes = 0
        var violations: [String] = []

        init(setup: Setup) { self.setup = setup }

        /// Nothing can happen, rightly: clients are attached to a child that runs on and nobody
        /// asked it to end. Any other state without a next step is a session that hangs.
        var isRightlyWaiting: Bool {
            clientsAttached && (childAlive || grandchildAlive) && !ladderRunning && !lingerRunning && !graceRunning
                && machine.acceptsClients
        }

        var possibleSteps: [SharedChildLifecycle.Event] {
            guard !machine.isFinished else { return [] }
            var events: [SharedChildLifecycle.Event] = []
            if !spawned { events.append(setup.spawnFails ? .childFailedToStart(reason: "no") : .childStarted) }
            // Clients come and go while the child starts, too.
            if clientsAttached && departures < setup.departures && machine.acceptsClients {
                events.append(.lastClientLeft(lingers: setup.lingers))
            }
            if !clientsAttached && machine.isLingering { events.append(.clientReturned) }
            if lingerRunning { events.append(.lingerExpired) }
            if spawned, !setup.spawnFails {
                if childAlive && setup.exitsByItself { events.append(.exitStatusKnown(.exited(2))) }
                if !childAlive && !statusReported { events.append(.exitStatusKnown(signalled ? .signalled(15) : .exited(2))) }
                if outputEOF && !outputReported && machine.deliversOutput { events.append(.outputEnded) }
                if ladderRunning {
                    // The ladder's steps: signals begin, then the group ends (gone, or it survived).
                    if !signalled { events.append(.ladderSignalling) } else { events.append(.groupEnded(isGone: !setup.ignoresSignals)) }
                }
                if graceRunning { events.append(.statusGraceExpired) }
            }
            if setup.allowsShutdown && shutdowns == 0 { events.append(.shutdownBegan) }
            return events
        }

        mutating func take(_ event: SharedChildLifecycle.Event) {
            switch event {
            case .childStarted:
                spawned = true
                childAlive = true
                grandchildAlive = setup.hasGrandchild
            case .childFailedToStart:
                spawned = true
            case .lastClientLeft:
                clientsAttached = false
                departures += 1
            case .clientReturned:
                clientsAttached = true
            case .lingerExpired:
                lingerRunning = false
            case .exitStatusKnown:
                statusReported = true
                if childAlive { childAlive = false }
                if !grandchildAlive { outputEOF = true }
            case .outputEnded:
                outputReported = true
            case .ladderSignalling:
                signalled = true
            case .groupEnded(let isGone):
                ladderRunning = false
                if isGone {
                    childAlive = false
                    grandchildAlive = false
                    outputEOF = true
                }
            case .statusGraceExpired:
                graceRunning = false
            case .shutdownBegan:
                shutdowns += 1
            }
            // Signals end the child (unless it ignores them) as soon as they start.
            if signalled && !setup.ignoresSignals && (childAlive || grandchildAlive) {
                childAlive = false
                grandchildAlive = false
                outputEOF = true
            }
            for action in machine.handle(event) { perform(action) }
        }

        private mutating func perform(_ action: SharedChildLifecycle.Action) {
            switch action {
            case .startLadder:
                ladders += 1
                if ladders > 1 { violations.append("a second ladder") }
                ladderRunning = true
            case .closeStdinNow:
                break
            case .closeOutput:
                outputReported = true
            case .closeClients(let code, _):
                closes.append(code)
                if closes.count > 1 { violations.append("clients told the end twice") }
                if machine.acceptsClients { violations.append("still accepting clients after the end") }
                if !setup.spawnFails && shutdowns == 0 && setup.exitsByItself && statusReported && outputReported
                    && code != ExitStatus.exited(2).closeCode && code != .internalError && code != ExitStatus.signalled(15).closeCode {
                    violations.append("the end's code \(code.rawValue) is not the exit status's")
                }
                if shutdowns > 0 && closes.count == 1 && code != .goingAway && statusReported == false {
                    violations.append("a shutdown closed with \(code.rawValue)")
                }
            case .leaveDirectory:
                leaves += 1
                if leaves > 1 { violations.append("left the directory twice") }
            case .startLinger:
                if lingerRunning { violations.append("linger started twice") }
                if clientsAttached { violations.append("linger with clients attached") }
                lingerRunning = true
            case .cancelLinger:
                lingerRunning = false
            case .startStatusGrace:
                graceRunning = true
            case .cancelStatusGrace:
                graceRunning = false
            case .finish:
                finishes += 1
                if finishes > 1 { violations.append("finished twice") }
                if machine.isListed { violations.append("finished while listed") }
                if lingerRunning || graceRunning { violations.append("finished with a timer running") }
                if clientsAttached && closes.isEmpty { violations.append("finished without telling its clients") }
                if spawned && !setup.spawnFails && ladders != 1 { violations.append("finished without the ladder") }
            }
        }
    }

    static var setups: [Setup] {
        var setups: [Setup] = []
        for bits in 0..<(1 << 6) {
            for departures in 0...2 {
                let bit = { (index: Int) in bits & (1 << index) != 0 }
                setups.append(Setup(spawnFails: bit(0), exitsByItself: bit(1), hasGrandchild: bit(2), ignoresSignals: bit(3),
                                    lingers: bit(4), allowsShutdown: bit(5), departures: departures))
            }
        }
        return setups
    }

    static func explore(_ setup: Setup) -> (states: Int, failure: String?) {
        var seen: Set<World> = []
        var stack: [(World, [SharedChildLifecycle.Event])] = [(World(setup: setup), [])]
        var states = 0
        while let (world, path) = stack.popLast() {
            guard seen.insert(world).inserted else { continue }
            states += 1
            if world.machine.isFinished { continue }
            let steps = world.possibleSteps
            if steps.isEmpty {
                if world.isRightlyWaiting { continue }
                return (states, "stuck: \(setup)\n  after \(path)\n  \(world.machine)")
            }
            for step in steps {
                var next = world
                next.take(step)
                if !next.violations.isEmpty {
                    return (states, "\(next.violations.joined(separator: "; "))\n  setup \(setup)\n  schedule \(path + [step])")
                }
                stack.append((next, path + [step]))
            }
        }
        return (states, nil)
    }

    @Test("Every reachable state of every small setup (192) keeps the invariants and can finish")
    func exhaustive() {
        let results = Self.setups.map(Self.explore)
        let failures = results.compactMap(\.failure)
        print("SharedChildLifecycle exploration: \(Self.setups.count) setups, \(results.reduce(0) { $0 + $1.states }) states")
        #expect(failures.isEmpty, "\(failures.count) setups failed, e.g.:\n\(failures.prefix(2).joined(separator: "\n\n"))")
    }

    @Test("20,000 seeded random schedules with many departures keep the invariants and finish")
    func randomSchedules() {
        let seed = ProcessInfo.processInfo.environment["WSBRIDGE_SHARED_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        var failure: String?
        for run in 0..<20_000 where failure == nil {
            let setup = Setup(spawnFails: random.chance(10), exitsByItself: random.chance(50), hasGrandchild: random.chance(30),
                              ignoresSignals: random.chance(20), lingers: random.chance(50), allowsShutdown: random.chance(30),
                              departures: random.below(8))
            var world = World(setup: setup)
            var schedule: [SharedChildLifecycle.Event] = []
            while !world.machine.isFinished {
                let steps = world.possibleSteps
                if steps.isEmpty && world.isRightlyWaiting { break }
                guard !steps.isEmpty, schedule.count < 300 else {
                    failure = "run \(run) stuck: \(setup)\n  \(schedule)"
                    break
                }
                let step = steps[random.below(steps.count)]
                schedule.append(step)
                world.take(step)
                if !world.violations.isEmpty {
                    failure = "run \(run): \(world.violations.joined(separator: "; "))\n  \(setup)\n  \(schedule)"
                    break
                }
            }
        }
        print("SharedChildLifecycle random schedules: 20000 runs, seed \(seed)")
        #expect(failure == nil, "seed \(seed) (replay: WSBRIDGE_SHARED_SEED=\(seed)): \(failure ?? "")")
    }

    @Test("The child's end reaches every client with its exit status's code once its output ended")
    func exitCodeToEveryClient() {
        var machine = SharedChildLifecycle()
        _ = machine.handle(.childStarted)
        #expect(machine.handle(.exitStatusKnown(.exited(3))) == [.startLadder])
        #expect(machine.handle(.outputEnded) == [.leaveDirectory, .closeClients(code: CloseCode(4003), reason: "exit 3")])
        #expect(!machine.acceptsClients)
    }

    @Test("With --linger the last client's departure keeps the child; a returning client cancels the end")
    func lingerAndReturn() {
        var machine = SharedChildLifecycle()
        _ = machine.handle(.childStarted)
        #expect(machine.handle(.lastClientLeft(lingers: true)) == [.startLinger])
        #expect(machine.handle(.clientReturned) == [.cancelLinger])
        #expect(machine.handle(.lastClientLeft(lingers: true)) == [.startLinger])
        #expect(machine.handle(.lingerExpired) == [.startLadder])
        #expect(!machine.isListed)
    }
}
