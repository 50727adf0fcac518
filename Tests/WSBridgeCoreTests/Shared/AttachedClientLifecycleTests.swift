import Testing
import WSProtocol
@testable import WSBridging

/// Explores every ordering of what can happen to one client of a shared child (STYLE.md "Explore
/// the orderings"): the client's close, its reset, a protocol error, silence, the session's close
/// (the child ended, a shutdown, too slow), the socket's flush and every timer, up to each one's
/// bound, checking after every step that exactly one close frame goes (never after the socket
/// ended), the client is detached once and before the end, the write side shuts only after our
/// close, and the connection always finishes with no timer left.
@Suite("AttachedClientLifecycle exploration")
struct AttachedClientLifecycleTests {
    /// The machine and what the outside world around it has done.
    struct World: Hashable {
        var machine = AttachedClientLifecycle()
        var clientSentClose = false
        var socketReset = false
        var protocolErrors = 0
        var closeRequests = 0
        var silences = 0
        var timers: Set<AttachedClientLifecycle.Timer> = []
        var flushRequested = false
        var closesSent = 0
        var detaches = 0
        var finishes = 0
        var socketClosed = false
        var shutWrite = false
        var violations: [String] = []

        enum Step: Hashable, CustomStringConvertible {
            case event(AttachedClientLifecycle.Event)
            var description: String { if case .event(let event) = self { "\(event)" } else { "" } }
        }

        var possibleSteps: [Step] {
            guard !machine.isFinished else { return [] }
            var events: [AttachedClientLifecycle.Event] = []
            if machine.decodesInbound && !clientSentClose { events.append(.peerCloseReceived(code: CloseCode(1000))) }
            if machine.decodesInbound && !clientSentClose && protocolErrors == 0 { events.append(.protocolViolated(code: .protocolError, reason: "bad")) }
            if closeRequests < 2 { events.append(.closeRequested(code: closeRequests == 0 ? .tryAgainLater : .goingAway, reason: "x")) }
            if silences == 0 { events.append(.clientSilent) }
            if !socketReset && !socketClosed { events.append(.socketEnded) }
            if flushRequested && machine.socket == .flushing { events.append(.socketFlushed) }
            for timer in timers.sorted(by: { "\($0)" < "\($1)" }) { events.append(.timerFired(timer)) }
            return events.map(Step.event)
        }

        mutating func take(_ step: Step) {
            guard case .event(let event) = step else { return }
            switch event {
            case .peerCloseReceived: clientSentClose = true
            case .protocolViolated: protocolErrors += 1
            case .closeRequested: closeRequests += 1
            case .clientSilent: silences += 1
            case .socketEnded: socketReset = true
            case .socketFlushed: flushRequested = false
            case .timerFired(let timer): timers.remove(timer)
            }
            for action in machine.handle(event) { perform(action) }
        }

        private mutating func perform(_ action: AttachedClientLifecycle.Action) {
            switch action {
            case .detach:
                detaches += 1
                if detaches > 1 { violations.append("detached twice") }
                if finishes > 0 { violations.append("detached after the end") }
            case .sendClose:
                closesSent += 1
                if closesSent > 1 { violations.append("a second close frame") }
                if socketClosed || socketReset { violations.append("a close frame after the socket ended") }
                if shutWrite { violations.append("a close frame after the write side shut") }
            case .flushSocketThenReport:
                flushRequested = true
            case .shutdownSocketWrite:
                shutWrite = true
                if closesSent == 0 { violations.append("the write side shut before any close frame") }
            case .closeSocket:
                if socketClosed { violations.append("the socket closed twice") }
                socketClosed = true
            case .startTimer(let timer):
                timers.insert(timer)
            case .cancelTimer(let timer):
                timers.remove(timer)
            case .finish:
                finishes += 1
                if finishes > 1 { violations.append("finished twice") }
                if !socketClosed { violations.append("finished with the socket open") }
                if detaches != 1 { violations.append("finished without being detached once") }
                if !timers.isEmpty { violations.append("finished with timers running: \(timers)") }
            }
            if machine.isAttached == (detaches > 0) { violations.append("isAttached disagrees with the detach actions") }
        }
    }

    @Test("Every reachable state keeps the invariants and can finish")
    func exhaustive() {
        var seen: Set<World> = []
        var stack: [(World, [World.Step])] = [(World(), [])]
        var states = 0, transitions = 0, finished = 0
        var failure: String?
        explore: while let (world, path) = stack.popLast() {
            guard seen.insert(world).inserted else { continue }
            states += 1
            if world.machine.isFinished {
                finished += 1
                continue
            }
            let steps = world.possibleSteps
            if steps.isEmpty {
                failure = "stuck after \(path): \(world.machine)"
                break
            }
            for step in steps {
                var next = world
                next.take(step)
                transitions += 1
                if !next.violations.isEmpty {
                    failure = "\(next.violations.joined(separator: "; "))\n  schedule \(path + [step])"
                    break explore
                }
                stack.append((next, path + [step]))
            }
        }
        print("AttachedClientLifecycle exploration: \(states) states, \(transitions) transitions, \(finished) finished")
        #expect(failure == nil, "\(failure ?? "")")
        #expect(states > 100)
    }

    @Test("The client's close is answered at once with its code, and detaches the client first")
    func peerCloseAnsweredAtOnce() {
        var machine = AttachedClientLifecycle()
        let actions = machine.handle(.peerCloseReceived(code: CloseCode(1000)))
        #expect(actions == [.detach, .sendClose(code: CloseCode(1000), reason: ""), .flushSocketThenReport, .startTimer(.flushStall)])
    }

    @Test("The session's close (1013 too slow) waits for the client's answer")
    func sessionCloseWaitsForAnswer() {
        var machine = AttachedClientLifecycle()
        #expect(machine.handle(.closeRequested(code: .tryAgainLater, reason: "too slow"))
                == [.detach, .sendClose(code: .tryAgainLater, reason: "too slow"), .startTimer(.closeAnswer)])
        #expect(machine.decodesInbound, "the answer is still read")
        #expect(machine.handle(.peerCloseReceived(code: .tryAgainLater)) == [.cancelTimer(.closeAnswer), .flushSocketThenReport, .startTimer(.flushStall)])
    }
}
