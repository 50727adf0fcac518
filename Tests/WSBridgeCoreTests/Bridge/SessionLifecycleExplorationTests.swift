import Foundation
import Testing
@testable import WSBridging
import TestSupport

/// Explores the orderings of a session's events (STYLE.md "Explore the orderings"): every state
/// the simulated world can reach, for every small setup, and seeded random schedules of larger
/// ones, checking SPEC §3's invariants after every step. A failure prints its schedule, and a
/// random one its seed: `WSBRIDGE_LIFECYCLE_SEED=N swift test --filter SessionLifecycleExploration`
/// replays it.
@Suite("SessionLifecycle exploration")
struct SessionLifecycleExplorationTests {
    /// Every combination of what the client and the child may do, at small sizes, with at most
    /// one of the four outside interruptions (shutdown, ping timeout, protocol error, output
    /// error) at a time: with all four free to strike at any moment the states grow sixtyfold,
    /// and the random schedules below mix them freely.
    static var smallSetups: [LifecycleWorld.Setup] {
        var setups: [LifecycleWorld.Setup] = []
        for messages in [0, 2] {
            for lines in 0...1 {
                for flags in 0..<(1 << 5) {
                    for interruption in 0...4 {
                        let bit = { (index: Int) in flags & (1 << index) != 0 }
                        setups.append(LifecycleWorld.Setup(
                            messages: messages, lines: lines, readsStdin: bit(0), exitsByItself: bit(1),
                            ignoresSignals: bit(2), hasGrandchild: bit(3), allowsShutdown: interruption == 1,
                            allowsPingTimeout: interruption == 2, allowsProtocolError: interruption == 3,
                            allowsOutputError: interruption == 4, smallStdinBuffer: bit(4)))
                        // An event stream's client (SPEC §12) in the fullest of these worlds.
                        if messages == 2 && lines == 1 {
                            var eventStream = setups[setups.count - 1]
                            eventStream.isEventStream = true
                            setups.append(eventStream)
                        }
                    }
                }
            }
        }
        return setups
    }

    /// The result of exploring one world.
    struct Exploration {
        var states = 0
        var transitions = 0
        var finishedRuns = 0
        var failure: String?
    }

    /// Visits every state reachable from a fresh world with `setup` (each once), checking the
    /// invariants after every transition and that every state can still reach the end.
    static func explore(_ setup: LifecycleWorld.Setup) -> Exploration {
        var result = Exploration()
        var seen: Set<LifecycleWorld> = []
        var stack: [(LifecycleWorld, [LifecycleWorld.Step])] = [(LifecycleWorld(setup: setup), [])]
        while let (world, path) = stack.popLast() {
            guard seen.insert(world).inserted else { continue }
            result.states += 1
            let steps = world.possibleSteps
            if world.machine.isFinished {
                result.finishedRuns += 1
                continue
            }
            if steps.isEmpty {
                result.failure = "stuck before the session finished: \(setup)\n  after \(path)\n  machine \(world.machine)"
                return result
            }
            for step in steps {
                var next = world
                next.take(step)
                result.transitions += 1
                if !next.violations.isEmpty {
                    result.failure = "\(next.violations.joined(separator: "; "))\n  setup \(setup)\n  schedule \(path + [step])"
                    return result
                }
                stack.append((next, path + [step]))
            }
        }
        return result
    }

    @Test("Every reachable state of every small setup (640 setups, 160 of them with an event-stream client) keeps SPEC §3's invariants and can finish")
    func exhaustive() async {
        let setups = Self.smallSetups
        // On a thread of its own, not the test pool's: a minute of CPU there would starve the
        // integration tests' waits, which run on the same few pool threads.
        let explorations = await Self.onOwnThread { setups.map(Self.explore) }
        let states = explorations.reduce(0) { $0 + $1.states }
        let transitions = explorations.reduce(0) { $0 + $1.transitions }
        let failures = explorations.compactMap(\.failure)
        print("SessionLifecycle exploration: \(setups.count) setups, \(states) states, \(transitions) transitions checked")
        #expect(failures.isEmpty, "\(failures.count) setups failed, e.g.:\n\(failures.prefix(3).joined(separator: "\n\n"))")
    }

    /// Runs `work` on a new thread at the lowest priority and waits for its result without
    /// holding a pool thread: the servers and children of the integration tests, which run at
    /// the same time and have deadlines, come first.
    static func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                // On Linux the nice value belongs to the thread (setpriority(2), NOTES): this one alone.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
                continuation.resume(returning: work())
            }
        }
    }

    @Test("100,000 seeded random schedules of larger setups keep SPEC §3's invariants and finish")
    func randomSchedules() async {
        let seed = ProcessInfo.processInfo.environment["WSBRIDGE_LIFECYCLE_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 1...UInt64.max)
        let (steps, failure) = await Self.onOwnThread { Self.runRandomSchedules(seed: seed, runs: 100_000) }
        print("SessionLifecycle random schedules: 100000 runs, \(steps) steps, seed \(seed)")
        #expect(failure == nil, "seed \(seed) (replay: WSBRIDGE_LIFECYCLE_SEED=\(seed)): \(failure ?? "")")
    }

    /// Runs `runs` random schedules from `seed`; returns the steps taken and the first failure.
    static func runRandomSchedules(seed: UInt64, runs: Int) -> (steps: Int, failure: String?) {
        var random = SplitMix64(seed: seed)
        var steps = 0
        var failure: String?
        for run in 0..<runs {
            let setup = LifecycleWorld.Setup(
                messages: random.below(6), lines: random.below(6), readsStdin: random.chance(70),
                exitsByItself: random.chance(40), ignoresSignals: random.chance(20), hasGrandchild: random.chance(20),
                allowsShutdown: random.chance(20), allowsPingTimeout: random.chance(10), allowsProtocolError: random.chance(15),
                allowsOutputError: random.chance(10), smallStdinBuffer: random.chance(30), isEventStream: random.chance(25))
            var world = LifecycleWorld(setup: setup)
            var schedule: [LifecycleWorld.Step] = []
            while !world.machine.isFinished {
                let possible = world.possibleSteps
                guard !possible.isEmpty, schedule.count < 500 else {
                    failure = "run \(run) stuck: \(setup)\n  schedule \(schedule)\n  machine \(world.machine)"
                    break
                }
                let step = possible[random.below(possible.count)]
                schedule.append(step)
                world.take(step)
                steps += 1
                if !world.violations.isEmpty {
                    failure = "run \(run): \(world.violations.joined(separator: "; "))\n  setup \(setup)\n  schedule \(schedule)"
                    break
                }
            }
            if failure != nil { break }
        }
        return (steps, failure)
    }
}
