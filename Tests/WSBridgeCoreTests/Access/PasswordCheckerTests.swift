import Foundation
import Synchronization
import Testing
import WSPlatform
@testable import WSServer

/// `--basicauth`'s check queue, driven from two real event loops at once.
@Suite("PasswordChecker")
struct PasswordCheckerTests {
    /// `openssl passwd -6 -salt wsbridgetest round-secret`
    static let hash = "$6$wsbridgetest$AlT9NQ5iMJgutr6IWLlRJLLjYWEAtzo91CC84CxmdTKnWiFuaOKh6Ktr3taJh71jyJGOiSS3pJY9WuI27M755."

    @Test("300 rounds of the same new credentials checked from two loops at once: every request is answered exactly once (a race once dropped one loop's waiters)")
    func sameCredentialsFromTwoLoops() throws {
        let loops = (0..<2).map { _ in EventLoop(poller: EpollPoller()) }
        let threads = loops.map { loop in
            let thread = Thread { loop.run() }
            thread.start()
            return thread
        }
        defer { for loop in loops { loop.stop() } }
        _ = threads
        let password = Array("round-secret".utf8)
        var unanswered = 0
        for round in 0..<300 {
            // A new checker each round: nothing remembered, so every round starts a check.
            let checker = PasswordChecker(workers: 2)
            let answers = Mutex<[PasswordChecker.Outcome]>([])
            let start = DispatchGroup()
            start.enter()
            for (index, loop) in loops.enumerated() {
                loop.execute {
                    start.wait()
                    for request in 0..<3 {
                        checker.check(password, user: "ann", against: Self.hash, clientKey: "10.0.0.\(index * 3 + request)", on: loop) { outcome in
                            answers.withLock { $0.append(outcome) }
                        }
                    }
                }
            }
            start.leave()
            let answered = Deadline.poll(seconds: 10) { answers.withLock { $0.count } >= 6 }
            Thread.sleep(forTimeInterval: 0.002)  // a seventh answer would show up here
            let outcomes = answers.withLock { $0 }
            if !answered || outcomes.count != 6 { unanswered += 1 }
            #expect(outcomes.count == 6 && outcomes.allSatisfy { $0 == .matches }, "round \(round): \(outcomes)")
            if unanswered > 3 { break }
        }
        #expect(unanswered == 0)
    }
}

private enum Deadline {
    static func poll(seconds: Double, until condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(500)
        }
        return condition()
    }
}
