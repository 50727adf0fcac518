import Foundation
import Synchronization
import Testing
import TestSupport
@testable import WSServer

/// The one counter behind `--maxconnsperip`, the `--authcmd` bounds and the password queue.
@Suite("PerClientSlots")
struct PerClientSlotsTests {
    @Test("seeded reserves and releases over 5 clients agree with a model after every step: the bound in all, the bound per client, 503 before 429")
    func agreesWithModel() {
        let seed = UInt64(0x5107_5EED)
        var random = SplitMix64(seed: seed)
        let slots = PerClientSlots(total: 7, perClient: 3)
        var model: [String: Int] = [:]
        for step in 0..<20_000 {
            let key = "client-\(random.below(5))"
            if random.chance(55) {
                let expected: PerClientSlots.Admission = model.values.reduce(0, +) >= 7 ? .busy
                    : model[key, default: 0] >= 3 ? .clientBusy : .admitted
                #expect(slots.reserve(key) == expected, "seed \(seed), step \(step)")
                if expected == .admitted { model[key, default: 0] += 1 }
            } else if model[key, default: 0] > 0 {
                slots.release(key)
                model[key]! -= 1
            }
        }
        // Everything given back: every client may take its full share again.
        for (key, count) in model { for _ in 0..<count { slots.release(key) } }
        for client in 0..<2 {
            for _ in 0..<3 { #expect(slots.reserve("client-\(client)") == .admitted) }
            #expect(slots.reserve("client-\(client)") == .clientBusy)
        }
    }

    @Test("8 threads reserving and releasing at once never exceed either bound and leave nothing held")
    func concurrent() {
        let slots = PerClientSlots(total: 6, perClient: 2)
        let violations = Atomic<Int>(0)
        let held = Mutex<[String: Int]>([:])
        let finished = DispatchGroup()
        for thread in 0..<8 {
            finished.enter()
            Thread.detachNewThread {
                let key = "client-\(thread % 3)"
                for _ in 0..<5_000 {
                    guard slots.reserve(key) == .admitted else { continue }
                    let over = held.withLock { held -> Bool in
                        held[key, default: 0] += 1
                        return held[key]! > 2 || held.values.reduce(0, +) > 6
                    }
                    if over { violations.add(1, ordering: .relaxed) }
                    held.withLock { $0[key]! -= 1 }
                    slots.release(key)
                }
                finished.leave()
            }
        }
        #expect(finished.wait(timeout: .now() + 60) == .success)
        #expect(violations.load(ordering: .relaxed) == 0)
        for client in 0..<3 {
            for _ in 0..<2 { #expect(slots.reserve("client-\(client)") == .admitted) }
        }
        #expect(slots.reserve("client-0") == .busy)
    }
}
