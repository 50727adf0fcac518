import Testing
import WSProtocol
import WSPlatform
import TestSupport
@testable import WSBridging
@testable import WSServer

/// The pure parts of shared sessions (SPEC §13): the query that names a session, the replay of
/// the latest output, and a client's queue of shared frames.
@Suite("Shared session parts")
struct SharedSessionPartsTests {
    // MARK: SharedSessionRequest

    @Test("session= takes 16 to 128 of [A-Za-z0-9_-]; view= takes 1 or 0; other parameters are the script's")
    func parsesNamesAndViewers() throws {
        let uuid = "3b241101-e2bb-4255-8caf-4136c566a962"
        #expect(try SharedSessionRequest.parse(query: "session=\(uuid)") == SharedSessionRequest(name: uuid))
        #expect(try SharedSessionRequest.parse(query: "a=1&session=\(uuid)&view=1&b") == SharedSessionRequest(name: uuid, isViewer: true))
        #expect(try SharedSessionRequest.parse(query: "view=0") == SharedSessionRequest())
        #expect(try SharedSessionRequest.parse(query: "") == SharedSessionRequest())
        let shortest = String(repeating: "a", count: 16), longest = String(repeating: "Z", count: 128)
        #expect(try SharedSessionRequest.parse(query: "session=\(shortest)").name == shortest)
        #expect(try SharedSessionRequest.parse(query: "session=\(longest)").name == longest)
        for bad in ["session=" + String(repeating: "a", count: 15), "session=" + String(repeating: "a", count: 129), "session=",
                    "session=aaaaaaaaaaaaaaa%41", "session=aaaaaaaaaaaaaaaa.", "session=aaaaaaaaaaaaaaaa+"] {
            #expect(throws: SharedSessionRequest.Refusal.badName, "\(bad)") { try SharedSessionRequest.parse(query: bad) }
        }
        #expect(throws: SharedSessionRequest.Refusal.repeated("session")) {
            try SharedSessionRequest.parse(query: "session=\(shortest)&session=\(longest)")
        }
        #expect(throws: SharedSessionRequest.Refusal.badView) { try SharedSessionRequest.parse(query: "view=yes") }
    }

    @Test("Seeded mutations of a valid query never crash and never accept a name outside the alphabet")
    func mutatedQueries() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        let base = Array("x=1&session=3b241101-e2bb-4255-8caf-4136c566a962&view=1".utf8)
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-".utf8)
        for _ in 0..<20_000 {
            var bytes = base
            for _ in 0...random.below(4) {
                let index = random.below(bytes.count + 1)
                switch random.below(3) {
                case 0 where index < bytes.count: bytes[index] = UInt8(truncatingIfNeeded: random.next())
                case 1 where index < bytes.count: bytes.remove(at: index)
                default: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: index)
                }
            }
            let query = String(decoding: bytes, as: UTF8.self)
            if let name = try? SharedSessionRequest.parse(query: query).name {
                #expect(SharedSessionRequest.nameLengths.contains(name.utf8.count) && name.utf8.allSatisfy(allowed.contains),
                        "seed \(seed): accepted \(name)")
            }
        }
    }

    // MARK: ReplayBuffer

    @Test("The replay keeps the latest whole messages within its capacity, against a model")
    func replayMatchesModel() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        var buffer = ReplayBuffer(capacity: 1000)
        var model: [[UInt8]] = []
        for step in 0..<20_000 {
            let size = random.chance(2) ? 1001 : random.below(300)
            let payload = [UInt8](repeating: UInt8(step & 0xFF), count: size)
            buffer.append(opcode: .binary, payload: payload[...])
            if size > 1000 {
                model.removeAll()
            } else {
                model.append(payload)
                while model.reduce(0, { $0 + $1.count }) > 1000 { model.removeFirst() }
            }
            #expect(buffer.contents.map(\.payload) == model, "seed \(seed), step \(step)")
            #expect(buffer.byteCount == model.reduce(0) { $0 + $1.count })
            if buffer.contents.map(\.payload) != model { break }
        }
    }

    // MARK: FrameQueue

    /// A transport that takes at most `budget` bytes per write, recording them.
    final class ChokedTransport: Transport {
        let fd: Int32 = -1
        var written: [UInt8] = []
        var budget = 0
        var gatheredWrites = 0
        func read(into buffer: UnsafeMutableRawBufferPointer) -> Syscalls.IOResult { .wouldBlock }
        func write(from buffer: UnsafeRawBufferPointer) -> Syscalls.IOResult { write(gathering: [buffer]) }
        func write(gathering buffers: [UnsafeRawBufferPointer]) -> Syscalls.IOResult {
            guard budget > 0 else { return .wouldBlock }
            gatheredWrites += 1
            var taken = 0
            for buffer in buffers {
                let count = min(buffer.count, budget - taken)
                written += buffer.prefix(count)
                taken += count
                if taken == budget { break }
            }
            budget -= taken
            return .bytes(taken)
        }
        var hasBufferedOutput: Bool { false }
        func flushBufferedOutput() -> Syscalls.IOResult { .bytes(0) }
        func shutdownWrite() {}
        func abortOnClose() {}
        var tlsSession: TLSSessionInfo? { nil }
        func releaseIdleMemory() {}
    }

    @Test("A queue of shared frames writes every byte once, in order, whatever the socket takes per write")
    func queueWritesInOrder() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        for _ in 0..<300 {
            var queue = FrameQueue()
            let transport = ChokedTransport()
            var expected: [UInt8] = []
            var counter: UInt8 = 0
            for _ in 0..<random.below(40) {
                var bytes = ByteBuffer()
                for _ in 0..<(1 + random.below(100)) {
                    bytes.append(counter)
                    counter &+= 1
                }
                expected += bytes.readableBytes
                queue.append(SharedFrames(bytes))
                if random.chance(30) {
                    transport.budget += random.below(150)
                    queue.writerBecameWritable()
                    _ = queue.flush(to: transport)
                }
            }
            #expect(queue.byteCount == expected.count - transport.written.count, "seed \(seed)")
            transport.budget = Int.max / 2
            queue.writerBecameWritable()
            let drained = queue.flush(to: transport)
            #expect(!drained.failed && queue.isEmpty, "seed \(seed)")
            #expect(transport.written == expected, "seed \(seed)")
        }
    }

    @Test("Dropping what has not begun keeps the frame being written, so the stream stays whole for a close")
    func dropKeepsPartialFrame() {
        var queue = FrameQueue()
        let transport = ChokedTransport()
        var first = ByteBuffer(), second = ByteBuffer()
        first.append(contentsOf: [1, 2, 3, 4])
        second.append(contentsOf: [5, 6])
        queue.append(SharedFrames(first))
        queue.append(SharedFrames(second))
        transport.budget = 2
        _ = queue.flush(to: transport)
        queue.dropUnstarted()
        #expect(queue.byteCount == 2)
        transport.budget = 100
        queue.writerBecameWritable()
        _ = queue.flush(to: transport)
        #expect(transport.written == [1, 2, 3, 4])
    }
}
